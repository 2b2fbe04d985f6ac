/**
 * Node readiness and power faults: a node that is down stops heartbeating and turns NotReady after the
 * grace period, counted once; it comes back Ready when up. A control plane going down moves the
 * controller-manager leader lease (which then signs kubelet certificates with its own issuing CA) and the
 * VIP; the cluster endpoint skips the apiserver that refuses connections.
 */
import t from 'tap';
import { isSignedBy } from '../../../src/pki/index.js';
import {
  applyAndWaitKubelet,
  kubectl,
  makeCas,
  phaseRoots,
  sleep,
  startLab,
  waitFor,
  type Cas,
  type TestLab,
} from './fixtures/lab.js';

const GRACE_MS = 1_500;
let cas: Cas;
let lab: TestLab;

t.before(async () => {
  cas = await makeCas();
  lab = await startLab({ cas, vip: true, timings: { nodeGraceMs: GRACE_MS } });
  await lab.side.whenAllReady(15_000);
});
t.teardown(async () => {
  await lab?.stop();
});

t.test('a node that is down turns NotReady after the grace period, counted once', async (t) => {
  const w2 = lab.workers[1]!;
  t.equal(lab.cluster.ledger.snapshot().notReadyEvents, 0, 'nothing before');
  w2.setDown(true);
  t.equal(w2.kubelet, null, 'kubelet Service gone while the node is down');
  await waitFor('worker-2 NotReady', () => !lab.side.nodeReady(w2.address));
  await waitFor('NotReady recorded', () => lab.cluster.ledger.snapshot().notReadyEvents > 0);
  await sleep(2 * GRACE_MS);
  const snap = lab.cluster.ledger.snapshot();
  t.equal(snap.notReadyEvents, 1, 'one Ready→NotReady transition');
  t.equal(snap.notReadyLog[0]!.node, w2.address);
  t.ok(snap.notReadyLog[0]!.lastHeartbeat, 'last heartbeat recorded');
  t.notOk(lab.side.allReady());
  for (const n of lab.cluster.nodes.filter((n) => n !== w2))
    t.ok(lab.side.nodeReady(n.address), `${n.hostname} still Ready`);

  const kubeconfig = await lab.side.adminKubeconfig();
  const r = await kubectl(kubeconfig, ['get', 'nodes']);
  t.equal(r.code, 0, `kubectl (stderr: ${r.stderr})`);
  t.match(r.stdout, /worker-2\s+NotReady\s+<none>/, 'kubectl shows worker-2 NotReady');
  t.match(r.stdout, /worker-1\s+Ready\s+<none>/);

  w2.setDown(false);
  await waitFor('worker-2 kubelet back', () => w2.kubelet?.healthy === true);
  await lab.side.whenAllReady(5_000);
  t.equal(lab.cluster.ledger.snapshot().notReadyEvents, 1, 'coming back is not another event');
  t.equal(lab.cluster.ledger.snapshot().trustFailures['kubelet-apiserver'], 0, 'power faults are not trust failures');
});

t.test('a control plane going down moves the leader lease and the VIP; the endpoint skips it', async (t) => {
  const [cp1, cp2, cp3] = lab.cps as [(typeof lab.cps)[0], (typeof lab.cps)[0], (typeof lab.cps)[0]];
  t.equal(lab.side.controllerManagerLeader(), cp1.address);
  t.equal(lab.side.vipHolder(), cp1.address);
  cp1.setDown(true);
  t.notOk(lab.side.apiserverUp(cp1.address), "cp-1's apiserver is closed");
  t.equal(lab.side.controllerManagerLeader(), cp2.address, 'leader lease moved to cp-2');
  t.equal(lab.side.vipHolder(), cp2.address, 'VIP moved to cp-2');

  const kubeconfig = await lab.side.adminKubeconfig({ via: cp2 });
  for (let i = 0; i < 3; i++) {
    const r = await kubectl(kubeconfig, ['get', 'nodes', '-o', 'name']);
    t.equal(r.code, 0, `kubectl through the cluster endpoint #${i + 1} (stderr: ${r.stderr})`);
  }
  const vip = await lab.side.adminKubeconfig({ via: cp2, server: `https://${lab.cluster.vipAddress}:6443` });
  const rv = await kubectl(vip, ['get', 'nodes', '-o', 'name']);
  t.equal(rv.code, 0, `kubectl through the VIP (stderr: ${rv.stderr})`);

  // The new leader signs with its own issuing CA: swap cp-2 and cp-3 to NEW, then worker-1 drops OLD.
  await applyAndWaitKubelet(cp2, phaseRoots(cas, 'controlplane', 'swap'));
  await applyAndWaitKubelet(cp3, phaseRoots(cas, 'controlplane', 'swap'));
  const w1 = lab.workers[0]!;
  await applyAndWaitKubelet(w1, phaseRoots(cas, 'worker', 'drop'));
  t.ok(
    isSignedBy(lab.side.kubeletCertPem(w1.address)!, cas.new.certPem),
    "worker-1's new cert signed by cp-2's issuing CA (NEW)",
  );

  cp1.setDown(false);
  await waitFor('cp-1 apiserver up', () => lab.side.apiserverUp(cp1.address));
  t.equal(lab.side.controllerManagerLeader(), cp2.address, 'the lease stays with cp-2');
  t.equal(lab.side.vipHolder(), cp2.address, 'the VIP stays with cp-2');
  const snap = lab.cluster.ledger.snapshot();
  t.ok(
    snap.notReadyLog.some((e) => e.node === cp1.address),
    'cp-1 turned NotReady while down',
  );
  t.equal(snap.trustFailures['client-apiserver'], 0);
});
