/**
 * The judge's verdicts on Talos API CA rotations, driven with OUR client applying configs patched with
 * plain YAML edits:
 * - the classic mistake (a control plane issuing from a NEW CA before the workers accept it) breaks apid
 *   proxying to the workers and the workers' view of trustd, and the ledger shows it;
 * - the `talosctl rotate-ca` order (talos-behaviour.md §2.2: add NEW as accepted everywhere, control planes first; then
 *   swap, control planes first; then drop OLD) leaves every Talos edge without a single trust failure.
 */
import t from 'tap';
import { generateTalosCa, type CaMaterial } from '../../../src/pki/index.js';
import { TalosApiError } from '../../../src/talos/errors.js';
import type { LabNode } from '../../../src/lab/core/model.js';
import { addAccepted, removeAccepted, setMachineCa } from './fixtures/patch.js';
import { startTestLab, type Asserts, type TestLab } from './fixtures/lab.js';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

const talosEdges = (lab: TestLab) => {
  const f = lab.cluster.ledger.snapshot().trustFailures;
  return { 'operator-apid': f['operator-apid'], 'apid-proxy': f['apid-proxy'], 'worker-trustd': f['worker-trustd'] };
};

// Large labs make their probes and trustd requests on a dial thread (dial-thread.ts): the verdicts must not
// depend on where the dials run.
for (const dialThread of [false, true])
  t.test(
    `classic mistake: swapping a control plane to a NEW CA before workers accept it breaks proxying (dials on ${
      dialThread ? 'the dial thread' : "the lab's thread"
    })`,
    (t) => classicMistake(t, dialThread),
  );

async function classicMistake(t: TapTest, dialThread: boolean): Promise<void> {
  const lab = await startTestLab({
    controlPlanes: 2,
    workers: 2,
    style: 'legacy',
    timings: { probeIntervalMs: 1_000 },
    dialThread,
  });
  t.teardown(() => lab.stop());
  t.equal(
    lab.talos.dialThreaded(),
    dialThread,
    dialThread ? 'dials run on the dial thread' : "dials run on the lab's thread",
  );
  const OLD = lab.secrets.os;
  const NEW = await generateTalosCa();
  const cp1 = lab.cluster.controlPlanes[0]!;
  const c = lab.client({ caPem: `${OLD.certPem}${NEW.certPem}` });
  for (const n of lab.cluster.nodes) await c.version(n.address);
  await lab.talos.settle();
  t.same(talosEdges(lab), { 'operator-apid': 0, 'apid-proxy': 0, 'worker-trustd': 0 }, 'clean before');

  await c.applyConfiguration(
    cp1.address,
    addAccepted(setMachineCa(cp1.config, NEW.certPem, NEW.key.reveal()), OLD.certPem),
    { mode: 'NO_REBOOT' },
  );
  await lab.talos.settle();
  const after = talosEdges(lab);
  t.ok(after['apid-proxy'] > 0, `apid-proxy trust failures: ${after['apid-proxy']}`);
  t.ok(after['worker-trustd'] > 0, `worker-trustd trust failures: ${after['worker-trustd']}`);
  const log = lab.cluster.ledger.snapshot().trustFailureLog;
  t.ok(
    log.some(
      (e) =>
        e.edge === 'apid-proxy' && e.from === cp1.address && lab.workers.includes(e.to) && e.refusedBy === 'server',
    ),
    "the workers refuse cp1's new impersonator certificate",
  );
  t.ok(
    log.some(
      (e) =>
        e.edge === 'worker-trustd' && e.to === cp1.address && e.refusedBy === 'client' && e.reason === 'unknown-ca',
    ),
    "the workers do not trust cp1's trustd any more",
  );
  // And the operator sees it: Version through cp1 to a worker fails.
  try {
    await c.version(lab.workers[0]);
    t.fail('proxying to a worker must fail');
  } catch (err) {
    t.ok(TalosApiError.isTalosApiError(err));
    t.equal((err as TalosApiError).kind, 'unreachable');
    t.match((err as TalosApiError).detail, /bad certificate/);
  }
}

async function applyAll(
  lab: TestLab,
  client: ReturnType<TestLab['client']>,
  patch: (n: LabNode) => string,
): Promise<void> {
  // rotate-ca's order: init/control planes, then workers.
  for (const n of [...lab.cluster.controlPlanes, ...lab.cluster.workers]) {
    await client.applyConfiguration(n.address, patch(n), { mode: 'NO_REBOOT' });
  }
  // Wait for the cluster to settle (workers re-register with trustd) before the next phase, as a careful tool does.
  await lab.talos.settle();
}

async function verifyAll(t: Asserts, lab: TestLab, client: ReturnType<TestLab['client']>): Promise<void> {
  for (const n of lab.cluster.nodes) t.equal((await client.version(n.address)).tag, n.talosTag, `${n.address} OK`);
}

t.test('the talosctl rotate-ca order leaves every Talos edge without a trust failure (v1.14 layout)', async (t) => {
  const lab = await startTestLab({
    controlPlanes: 3,
    workers: 2,
    style: 'document',
    timings: { probeIntervalMs: 1_000 },
    // As large labs run: probes and the workers' trustd requests on the dial thread.
    dialThread: true,
  });
  t.teardown(() => lab.stop());
  t.ok(lab.talos.dialThreaded(), 'dials run on the dial thread');
  const OLD: CaMaterial = lab.secrets.os;
  const NEW = await generateTalosCa();
  const endpoints = lab.cps;
  const current = lab.client({ endpoints });
  const newCert = await lab.clientCert(NEW);
  // The intermediate talosconfig: new client certificate; it trusts old + new (the safe variant, talos-behaviour.md
  // §2.2).
  const intermediate = lab.client({ endpoints, cert: newCert, caPem: `${OLD.certPem}${NEW.certPem}` });
  const fresh = lab.client({ endpoints, cert: newCert, caPem: NEW.certPem });
  const probesBefore = lab.talos.probeStats();

  await verifyAll(t, lab, current);
  await applyAll(lab, current, (n) => addAccepted(n.config, NEW.certPem));
  await verifyAll(t, lab, intermediate);
  await applyAll(lab, intermediate, (n) =>
    setMachineCa(
      removeAccepted(addAccepted(n.config, OLD.certPem), NEW.certPem),
      NEW.certPem,
      n.role === 'controlplane' ? NEW.key.reveal() : null,
    ),
  );
  await verifyAll(t, lab, fresh);
  await applyAll(lab, fresh, (n) => removeAccepted(n.config, OLD.certPem));
  await verifyAll(t, lab, fresh);

  for (const n of lab.cluster.nodes) {
    t.same(
      n.roots.talos.trusted.map((c) => c.fingerprint),
      [NEW.fingerprint],
      `${n.address} trusts only NEW`,
    );
    t.equal(n.roots.talos.issuing?.fingerprint ?? null, n.role === 'controlplane' ? NEW.fingerprint : null);
  }
  const probes = lab.talos.probeStats();
  t.ok(
    probes.apid - probesBefore.apid >= 3 * lab.cluster.nodes.length * 3,
    `the edges were exercised (${probes.apid - probesBefore.apid} apid probes)`,
  );
  t.ok(probes.trustd > probesBefore.trustd, `trustd probes: ${probes.trustd - probesBefore.trustd}`);
  t.same(
    talosEdges(lab),
    { 'operator-apid': 0, 'apid-proxy': 0, 'worker-trustd': 0 },
    'zero trust failures on Talos edges',
  );
  t.same(lab.cluster.ledger.snapshot().trustFailureLog, []);
});
