/**
 * Kubelet restarts on Kubernetes CA changes of its own node: the Service resource goes away and comes
 * back running and healthy; the client certificate is kept while it verifies against the node's own
 * trusted CAs and replaced by a new TLS bootstrap (signed by the controller-manager leader's issuing CA)
 * when it no longer does. A config whose Kubernetes CA Talos cannot use restarts nothing.
 */
import t from 'tap';
import { fingerprintOfPem, isSignedBy } from '../../../src/pki/index.js';
import type { KubeletServiceState, NodeRoots } from '../../../src/lab/core/model.js';
import { applyAndWaitKubelet, makeCas, phaseRoots, sleep, startLab, type Cas, type TestLab } from './fixtures/lab.js';

let cas: Cas;
let lab: TestLab;

t.before(async () => {
  cas = await makeCas();
  lab = await startLab({ cas });
  await lab.side.whenAllReady(15_000);
});
t.teardown(async () => {
  await lab?.stop();
});

t.test('adding an accepted CA restarts every kubelet but keeps its OLD-signed certificate', async (t) => {
  const w1 = lab.workers[0]!;
  const before = new Map(lab.cluster.nodes.map((n) => [n.address, lab.side.kubeletCertPem(n.address)!]));
  for (const pem of before.values()) t.ok(isSignedBy(pem, cas.old.certPem), 'signed by OLD before');

  const events: Array<KubeletServiceState | null> = [];
  const record = (s: KubeletServiceState | null): void => void events.push(s);
  w1.on('kubelet', record);
  for (const n of [...lab.cps, ...lab.workers]) await applyAndWaitKubelet(n, phaseRoots(cas, n.role, 'add'));
  w1.off('kubelet', record);

  t.same(
    events,
    [null, { running: true, healthy: false }, { running: true, healthy: true }],
    'Service destroyed, then back running, then healthy',
  );
  // The ledger's kubelet log (the benchmark's kubelet restart time): one CA-change restart per node, each
  // `stopped` followed by its `running`, in seq order.
  const kubelets = lab.cluster.ledger.snapshot().kubelets;
  t.equal(kubelets.caChangeRestarts, lab.cluster.nodes.length, 'one CA-change restart per node');
  for (const n of lab.cluster.nodes) {
    const mine = kubelets.log.filter((e) => e.node === n.address && e.cause === 'ca-change');
    t.same(
      mine.map((e) => e.event),
      ['stopped', 'running'],
      `${n.hostname}: stopped, then running`,
    );
    t.ok(mine[0]!.seq < mine[1]!.seq && mine[0]!.at <= mine[1]!.at, `${n.hostname}: in order`);
  }
  for (const n of lab.cluster.nodes) {
    const after = lab.side.kubeletCertPem(n.address)!;
    t.equal(fingerprintOfPem(after), fingerprintOfPem(before.get(n.address)!), `${n.hostname} kept its certificate`);
    t.ok(isSignedBy(after, cas.old.certPem), `${n.hostname} cert still signed by OLD`);
    t.equal(lab.side.kubeletBootstraps(n.address), 1, `${n.hostname} did not bootstrap again`);
  }
  t.equal(lab.cluster.ledger.snapshot().trustFailures['kubelet-apiserver'], 0);
});

t.test('a certificate that no longer verifies against its own node is replaced by a new bootstrap', async (t) => {
  for (const cp of lab.cps) await applyAndWaitKubelet(cp, phaseRoots(cas, 'controlplane', 'swap'));
  t.equal(lab.side.controllerManagerLeader(), lab.cps[0]!.address, 'leader: first control plane');
  for (const cp of lab.cps)
    t.ok(
      isSignedBy(lab.side.kubeletCertPem(cp.address)!, cas.old.certPem),
      `${cp.hostname} kept its OLD cert through the swap`,
    );

  // worker-1 drops OLD: its OLD-signed certificate no longer verifies against its own CAs.
  const w1 = lab.workers[0]!;
  const oldCert = lab.side.kubeletCertPem(w1.address)!;
  await applyAndWaitKubelet(w1, phaseRoots(cas, 'worker', 'drop'));
  const newCert = lab.side.kubeletCertPem(w1.address)!;
  t.not(fingerprintOfPem(newCert), fingerprintOfPem(oldCert), 'a new certificate');
  t.ok(isSignedBy(oldCert, cas.old.certPem), 'before: signed by OLD');
  t.ok(isSignedBy(newCert, cas.new.certPem), "after: signed by NEW, the leader's issuing CA");
  t.notOk(isSignedBy(newCert, cas.old.certPem));
  t.equal(lab.side.kubeletBootstraps(w1.address), 2, 'one more bootstrap');

  // worker-2 also gets a change, but its OLD cert still verifies against [OLD, NEW]: kept.
  const w2 = lab.workers[1]!;
  const w2Cert = lab.side.kubeletCertPem(w2.address)!;
  await applyAndWaitKubelet(w2, phaseRoots(cas, 'worker', 'swap'));
  t.equal(lab.side.kubeletCertPem(w2.address), w2Cert, 'worker-2 kept its certificate');
  t.equal(lab.side.kubeletBootstraps(w2.address), 1);
  await lab.side.whenAllReady(5_000);
});

t.test('a config whose Kubernetes CA is unusable restarts neither kubelet nor apiserver', async (t) => {
  const cp3 = lab.cps[2]!;
  const events: Array<KubeletServiceState | null> = [];
  const record = (s: KubeletServiceState | null): void => void events.push(s);
  cp3.on('kubelet', record);
  const broken: NodeRoots = {
    talos: cp3.roots.talos,
    kubernetes: {
      issuing: null,
      issuingCert: null,
      trusted: [],
      error: 'issuing CA key does not match its certificate',
    },
  };
  const change = cp3.applyConfig('config-broken', broken);
  t.ok(change.kubernetesChanged, 'the derived Kubernetes CA state changed');
  t.ok(lab.side.apiserverUp(cp3.address), 'apiserver keeps serving');
  await sleep(1_000);
  cp3.off('kubelet', record);
  t.same(events, [], 'no kubelet restart');
  t.ok(lab.side.apiserverUp(cp3.address), 'apiserver still up');
  t.ok(lab.side.nodeReady(cp3.address), 'Node still Ready');
});
