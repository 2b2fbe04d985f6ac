/**
 * The classic mistake: dropping the OLD Kubernetes CA on one control plane while kubelets still hold
 * OLD-signed client certificates. That apiserver rejects them (counted by the kubelets as
 * kubelet-apiserver trust failures refused by the server), and Nodes stay Ready because KubePrism's next
 * heartbeats go to the other control planes.
 */
import t from 'tap';
import { isSignedBy } from '../../../src/pki/index.js';
import {
  applyAndWaitKubelet,
  cpKube,
  makeCas,
  phaseRoots,
  sleep,
  startLab,
  waitFor,
  type Cas,
  type TestLab,
} from './fixtures/lab.js';

/**
 * Short against the default 40 s, so that Nodes kept Ready prove the other control planes answer
 * (heartbeats every 300 ms, every third one refused), yet above a kubelet restart with a re-bootstrap
 * (cp-1's own) on a loaded machine.
 */
const GRACE_MS = 3_000;
let cas: Cas;
let lab: TestLab;

t.before(async () => {
  cas = await makeCas();
  // Every node trusts OLD + NEW (issuing OLD): kubelets bootstrap OLD-signed certificates. Then the swap
  // (issuing NEW, OLD accepted) on every node, control planes first: the certificates stay OLD-signed.
  lab = await startLab({ cas, phase: 'add', timings: { nodeGraceMs: GRACE_MS } });
  await lab.side.whenAllReady(15_000);
  for (const n of lab.cluster.nodes) await applyAndWaitKubelet(n, phaseRoots(cas, n.role, 'swap'));
});
t.teardown(async () => {
  await lab?.stop();
});

t.test(
  'an apiserver that no longer trusts OLD rejects OLD-signed kubelets; Nodes stay Ready via the others',
  async (t) => {
    for (const n of lab.cluster.nodes)
      t.ok(isSignedBy(lab.side.kubeletCertPem(n.address)!, cas.old.certPem), `${n.hostname} holds an OLD-signed cert`);
    t.equal(lab.cluster.ledger.snapshot().trustFailures['kubelet-apiserver'], 0, 'no failure through add and swap');

    const cp1 = lab.cps[0]!;
    await applyAndWaitKubelet(cp1, { talos: cp1.roots.talos, kubernetes: cpKube(cas.new, []) });
    t.ok(
      isSignedBy(lab.side.kubeletCertPem(cp1.address)!, cas.new.certPem),
      "cp1's own kubelet re-bootstrapped with a NEW-signed cert",
    );

    const others = lab.cluster.nodes.filter((n) => n !== cp1);
    await waitFor('every other kubelet rejected by cp1', () => {
      const from = new Set(
        lab.cluster.ledger
          .snapshot()
          .trustFailureLog.filter((e) => e.edge === 'kubelet-apiserver')
          .map((e) => e.from),
      );
      return others.every((n) => from.has(n.address));
    });
    // Two grace periods of heartbeats: the rejected third of them does not turn any Node NotReady.
    await sleep(2 * GRACE_MS);

    const snap = lab.cluster.ledger.snapshot();
    const failures = snap.trustFailureLog.filter((e) => e.edge === 'kubelet-apiserver');
    t.ok(snap.trustFailures['kubelet-apiserver'] > 0, 'kubelet-apiserver trust failures counted');
    t.ok(
      failures.every((e) => e.to === cp1.address && e.refusedBy === 'server' && e.reason === 'unknown-ca'),
      'all refused by cp1 (the server), unknown CA',
    );
    t.same(
      [...new Set(failures.map((e) => e.from))].sort(),
      others.map((n) => n.address).sort(),
      'every kubelet but cp1 is rejected',
    );
    // KubePrism is a TCP balancer: a heartbeat connection that lands on cp1 is answered 401 there, and the
    // kubelet reconnects (to the next upstream) after its second failed try; it does not come back to cp1
    // on every heartbeat. So the rejections stop, and no kubelet's connection stays on cp1.
    const settled = snap.trustFailures['kubelet-apiserver'];
    await sleep(GRACE_MS);
    t.equal(
      lab.cluster.ledger.snapshot().trustFailures['kubelet-apiserver'],
      settled,
      'no new rejection once the kubelets moved off cp1',
    );
    for (const n of others)
      t.not(lab.side.kubeletUpstream(n.address), cp1.address, `${n.hostname} heartbeats through another apiserver`);
    t.equal(snap.notReadyEvents, 0, 'no Node turned NotReady');
    t.ok(lab.side.allReady(), 'all Nodes Ready thanks to the other control planes');
    t.equal(snap.trustFailures['client-apiserver'], 0, 'nothing counted as an outside client');
  },
);
