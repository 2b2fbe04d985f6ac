/**
 * The Kubernetes CA rotation in talosctl's order (talos-behaviour.md §2.3: add NEW as accepted on every node, control
 * planes first; swap; drop OLD, control planes first; each apply followed by the kubelet-restart wait and,
 * on a control plane, by the wait for its static pods to run from the new config — which talosctl does not
 * do; without it the apiserver switches some time later and the pattern below shifts)
 * produces exactly the rejections talos-behaviour.md §4.3 predicts: in the drop phase a kubelet is rejected by every
 * control plane that dropped OLD before its own node did (worker kubelets by all of them, until their own
 * node drops OLD), nothing in the add and swap phases, and no NotReady with a normal grace period.
 * Dropping OLD on the workers first leaves only the control-plane window: no worker kubelet is rejected.
 */
import t, { type TAP } from 'tap';
import { isSignedBy } from '../../../src/pki/index.js';
import type { LabNode } from '../../../src/lab/core/model.js';
import { DEFAULT_TIMINGS } from '../../../src/lab/core/model.js';
import {
  applyAndWaitKubelet,
  kubeletRejectionPairs,
  makeCas,
  phaseRoots,
  startLab,
  waitFor,
  where,
  type Cas,
  type TestLab,
} from './fixtures/lab.js';

/** Pairs `kubelet->apiserver` talos-behaviour.md §4.3 predicts for a drop phase in `order`. */
function predictedDropRejections(order: LabNode[]): Set<string> {
  const pairs = new Set<string>();
  order.forEach((kubeletNode, k) => {
    for (const earlier of order.slice(0, k)) {
      if (earlier.role === 'controlplane') pairs.add(`${kubeletNode.address}->${earlier.address}`);
    }
  });
  return pairs;
}

async function rotate(t: Tap, cas: Cas, lab: TestLab, dropOrder: LabNode[]): Promise<{ dropAt: Map<string, number> }> {
  const applyAndWait = async (n: LabNode, phase: 'add' | 'swap' | 'drop'): Promise<void> => {
    await applyAndWaitKubelet(n, phaseRoots(cas, n.role, phase));
    if (n.role === 'controlplane')
      await waitFor(`${n.hostname} static pods`, () => lab.side.staticPods(n.address)?.lagging === false, 20_000);
  };
  const talosctlOrder = [...lab.cps, ...lab.workers];
  for (const n of talosctlOrder) await applyAndWait(n, 'add');
  t.equal(lab.cluster.ledger.snapshot().trustFailures['kubelet-apiserver'], 0, 'add phase: no rejection');
  for (const n of talosctlOrder) await applyAndWait(n, 'swap');
  t.equal(lab.cluster.ledger.snapshot().trustFailures['kubelet-apiserver'], 0, 'swap phase: no rejection');
  for (const n of lab.cluster.nodes)
    t.ok(
      isSignedBy(lab.side.kubeletCertPem(n.address)!, cas.old.certPem),
      `${n.hostname} still holds its OLD-signed cert after the swap`,
    );
  const dropAt = new Map<string, number>();
  for (const n of dropOrder) {
    dropAt.set(n.address, Date.now());
    await applyAndWait(n, 'drop');
  }
  await lab.side.whenAllReady(10_000);
  for (const n of lab.cluster.nodes)
    t.ok(
      isSignedBy(lab.side.kubeletCertPem(n.address)!, cas.new.certPem),
      `${n.hostname} re-bootstrapped with a NEW-signed cert`,
    );
  return { dropAt };
}

/** The assertions rotate() makes (a subtest has them all). */
type Tap = Pick<TAP, 'equal' | 'ok'>;

for (const dialThread of [false, true])
  t.test(
    "talosctl's order: worker kubelets rejected by dropped control planes until their own node drops OLD " +
      `(${where(dialThread)})`,
    async (t) => {
      const cas = await makeCas();
      const lab = await startLab({ cas, timings: { nodeGraceMs: DEFAULT_TIMINGS.nodeGraceMs }, dialThread });
      t.teardown(() => lab.stop());
      t.equal(lab.side.dialThreaded(), dialThread, `requests made on ${where(dialThread)}`);
      await lab.side.whenAllReady(15_000);
      const order = [...lab.cps, ...lab.workers];
      const { dropAt } = await rotate(t, cas, lab, order);

      const snap = lab.cluster.ledger.snapshot();
      const failures = snap.trustFailureLog.filter((e) => e.edge === 'kubelet-apiserver');
      // Predicted = possible: a pair whose window is only the moment between a control plane's new apiserver
      // coming up and the next node's patch (the last control plane before the workers) may not be dialled.
      const predicted = predictedDropRejections(order);
      const unexpected = [...kubeletRejectionPairs(lab.cluster)].filter((p) => !predicted.has(p));
      t.same(unexpected, [], 'no kubelet->apiserver rejection outside the predicted ones');
      for (const w of lab.workers) {
        for (const cp of lab.cps.slice(0, -1))
          t.ok(
            failures.some((e) => e.from === w.address && e.to === cp.address),
            `${w.hostname} rejected by ${cp.hostname}`,
          );
      }
      t.ok(
        failures.every((e) => e.refusedBy === 'server' && e.reason === 'unknown-ca'),
        'every rejection: the apiserver refused the kubelet client cert (unknown CA)',
      );
      t.ok(
        failures.every((e) => {
          const at = Date.parse(e.at);
          return at >= dropAt.get(e.to)! && at < dropAt.get(e.from)!;
        }),
        "each rejection happened after the apiserver's node dropped OLD and before the kubelet's node did",
      );
      t.equal(snap.notReadyEvents, 0, 'no Node turned NotReady (normal grace period)');
      t.equal(snap.trustFailures['client-apiserver'], 0);
    },
  );

t.test('dropping OLD on workers first: no worker kubelet is rejected', async (t) => {
  const cas = await makeCas();
  const lab = await startLab({ cas, timings: { nodeGraceMs: DEFAULT_TIMINGS.nodeGraceMs } });
  t.teardown(() => lab.stop());
  await lab.side.whenAllReady(15_000);
  const order = [...lab.workers, ...lab.cps];
  await rotate(t, cas, lab, order);

  const pairs = kubeletRejectionPairs(lab.cluster);
  const predicted = predictedDropRejections(order);
  t.same(
    [...pairs].filter((p) => !predicted.has(p)),
    [],
    'only the control-plane window remains',
  );
  const workerAddresses = new Set(lab.workers.map((w) => w.address));
  t.notOk(
    [...pairs].some((p) => workerAddresses.has(p.split('->')[0]!)),
    'no worker kubelet rejected',
  );
  t.equal(lab.cluster.ledger.snapshot().notReadyEvents, 0, 'no NotReady');
});
