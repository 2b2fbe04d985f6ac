/**
 * When a worker asks trustd again (talos-behaviour.md §5.3, internal/app/machined/pkg/controllers/secrets/api.go): not
 * only on its own Talos CA change, but whenever the `k8s.Endpoint` list changes (an apiserver stops or
 * starts), on a `.machine.certSANs` change, and every 12 h; and it asks the LISTED endpoints in turn, so
 * which control plane answers (and so which bundle it gets) depends on that list. The Kubernetes side
 * publishes the list (the `kubernetes` EndpointSlice); here it is driven through LabCluster directly.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { generateTalosCa } from '../../../src/pki/index.js';
import { addAccepted, setRaw } from './fixtures/patch.js';
import { eventually, startTestLab } from './fixtures/lab.js';

t.test('a worker re-registers when the endpoint list changes, asking only the listed endpoints', async (t) => {
  const lab = await startTestLab({ controlPlanes: 3, workers: 2, style: 'legacy' });
  t.teardown(() => lab.stop());
  const [cp1, cp2, cp3] = lab.cps as [string, string, string];
  const certOf = (w: string) => lab.talos.runtime(w)!.credentials!.server.certPem;
  const issuerOf = (w: string) => lab.talos.runtime(w)!.credentials!.issuer;

  // The EndpointSlice lists cp-1 only: every worker registers again, with cp-1.
  let before = lab.workers.map(certOf);
  lab.cluster.setApiserverServing(cp1, true);
  await lab.talos.settle();
  lab.workers.forEach((w, i) => {
    t.not(certOf(w), before[i], `${w}: a new registration after the list changed`);
    t.equal(issuerOf(w), cp1, `${w}: with the only listed endpoint`);
  });

  // cp-2 joins, cp-1 leaves: the list is [cp-2]; both changes are triggers, the last one wins.
  lab.cluster.setApiserverServing(cp2, true);
  lab.cluster.setApiserverServing(cp1, false);
  await lab.talos.settle();
  for (const w of lab.workers) t.equal(issuerOf(w), cp2, `${w}: registered with cp-2, the only listed endpoint now`);

  // No change of the list, no registration.
  before = lab.workers.map(certOf);
  lab.cluster.setApiserverServing(cp2, true);
  await lab.talos.settle();
  t.same(lab.workers.map(certOf), before, 'an unchanged list triggers nothing');

  // Uneven Talos trust: cp-3 alone also accepts X. Whoever trustd answers decides the worker's bundle.
  const X = await generateTalosCa();
  const admin = lab.client();
  const n3 = lab.cluster.node(cp3)!;
  await admin.applyConfiguration(cp3, addAccepted(n3.config, X.certPem), { mode: 'NO_REBOOT' });
  await lab.talos.settle();
  for (const w of lab.workers)
    t.notOk(
      lab.talos.runtime(w)!.credentials!.clientCas.includes(X.certPem),
      `${w}: cp-3's change alone does not reach it`,
    );
  lab.cluster.setApiserverServing(cp3, true);
  lab.cluster.setApiserverServing(cp2, false);
  await lab.talos.settle();
  for (const w of lab.workers) {
    t.equal(issuerOf(w), cp3, `${w}: registered with cp-3`);
    t.ok(
      lab.talos.runtime(w)!.credentials!.clientCas.includes(X.certPem),
      `${w}: its apid now trusts X, which only cp-3 accepts`,
    );
  }
  t.equal(lab.cluster.ledger.snapshot().trustFailures['worker-trustd'], 0, 'no trust failure on the way');
});

t.test('a worker re-registers when its .machine.certSANs change', async (t) => {
  const lab = await startTestLab({ controlPlanes: 1, workers: 1, style: 'legacy' });
  t.teardown(() => lab.stop());
  const w = lab.workers[0]!;
  const node = lab.cluster.node(w)!;
  const before = lab.talos.runtime(w)!.credentials!.server.certPem;
  const sans = [
    ...((node.config.match(/certSANs:\n((?:\s+- .*\n)+)/)?.[1] ?? '').match(/- (.*)/g) ?? []).map((l) =>
      l.slice(2).trim(),
    ),
    'worker.example.test',
  ];
  await lab.client().applyConfiguration(w, setRaw(node.config, ['machine', 'certSANs'], sans), { mode: 'NO_REBOOT' });
  await eventually(() => lab.talos.runtime(w)!.credentials!.server.certPem !== before, 10_000, 'a new registration');
  await lab.talos.settle();
  t.match(lab.talos.runtime(w)!.credentials!.server.certPem, /BEGIN CERTIFICATE/);
  t.pass('the worker asked trustd again');
});

t.test('control planes dial a re-registered worker again only when what they verify of it changed', async (t) => {
  // No periodic probes during the test: only the bursts that follow changes are counted.
  const lab = await startTestLab({
    controlPlanes: 3,
    workers: 2,
    style: 'legacy',
    timings: { probeIntervalMs: 600_000 },
  });
  t.teardown(() => lab.stop());
  const [cp1, cp2] = lab.cps as [string, string];
  await lab.talos.settle();
  const certOf = (w: string) => lab.talos.runtime(w)!.credentials!.server.certPem;
  const apidProbes = () => lab.talos.probeStats().apid;

  // An endpoint change: every worker registers again (a new certificate), signed by the same CA, with the
  // same names and bundle: the proxies' handshakes with it end as before, so no control plane dials it.
  let before = lab.workers.map(certOf);
  let probes = apidProbes();
  lab.cluster.setApiserverServing(cp1, true);
  await lab.talos.settle();
  lab.workers.forEach((w, i) => t.not(certOf(w), before[i], `${w}: registered again`));
  t.equal(apidProbes() - probes, 0, 'no apid dial after a registration that changed nothing they verify');

  // cp-2 alone also accepts X: a registration with cp-2 brings a new bundle, and every control plane dials
  // every worker again.
  const X = await generateTalosCa();
  const n2 = lab.cluster.node(cp2)!;
  await lab.client().applyConfiguration(cp2, addAccepted(n2.config, X.certPem), { mode: 'NO_REBOOT' });
  await lab.talos.settle();
  before = lab.workers.map(certOf);
  probes = apidProbes();
  lab.cluster.setApiserverServing(cp2, true);
  lab.cluster.setApiserverServing(cp1, false);
  await lab.talos.settle();
  lab.workers.forEach((w, i) => t.not(certOf(w), before[i], `${w}: registered again`));
  t.ok(
    apidProbes() - probes >= lab.cps.length * lab.workers.length,
    `every control plane dialled every worker after its bundle changed (${apidProbes() - probes} apid dials)`,
  );
  t.equal(lab.cluster.ledger.snapshot().trustFailures['apid-proxy'], 0, 'no apid-proxy trust failure');
});

t.test("a worker's apid hands every new connection its newest certificate", async (t) => {
  const lab = await startTestLab({ controlPlanes: 2, workers: 1, style: 'legacy' });
  t.teardown(() => lab.stop());
  const [cp1, cp2] = lab.cps as [string, string];
  const w = lab.workers[0]!;
  const current = () => new X509Certificate(lab.talos.runtime(w)!.credentials!.server.certPem).fingerprint256;
  // The certificate the worker's apid serves to the operator's own (fully verified) handshake.
  const served = async () => (await lab.servedCertificate(w)).fingerprint256;

  const first = await served();
  t.equal(first, current(), 'served the certificate it registered with');
  // Two re-registrations before anyone connects again (each endpoint change is a trigger): the next
  // connection gets the last certificate, not one built in between.
  let before = current();
  lab.cluster.setApiserverServing(cp1, true);
  await lab.talos.settle();
  t.not(current(), before, 're-registered once');
  before = current();
  lab.cluster.setApiserverServing(cp2, true);
  await lab.talos.settle();
  t.not(current(), before, 're-registered twice');
  const second = await served();
  t.equal(second, current(), 'a new connection is served the newest certificate');
  t.not(second, first, 'not the first one');
  t.equal(lab.cluster.ledger.snapshot().trustFailures['operator-apid'], 0, 'no refusal on the way');
});
