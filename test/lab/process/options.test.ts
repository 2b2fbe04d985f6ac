import t from 'tap';

import { DEFAULT_TIMINGS } from '../../../src/lab/core/model.js';
import { MAX_NODES } from '../../../src/lab/process/address-block.js';
import {
  MAX_HEARTBEATS_PER_S,
  deriveTimings,
  resolveFaultChange,
  resolveLabConfig,
} from '../../../src/lab/process/options.js';

t.test('lab up defaults: 3 control planes, 2 workers, document style, no VIP', async (t) => {
  const c = resolveLabConfig({});
  t.equal(c.controlPlanes, 3);
  t.equal(c.workers, 2);
  t.equal(c.kubernetesCaStyle, 'document');
  t.equal(c.vip, false);
  t.equal(c.timings.nodeGraceMs, DEFAULT_TIMINGS.nodeGraceMs);
  t.equal(c.timings.kubeletRestartMs, DEFAULT_TIMINGS.kubeletRestartMs);
  t.equal(c.timings.applyLatencyMs, DEFAULT_TIMINGS.applyLatencyMs);
  t.ok(c.timings.staticPodDelayMs > 0, 'control-plane static pods are re-created some time after a change by default');
});

t.test('flags map to cluster timings', async (t) => {
  const c = resolveLabConfig({
    nodeGraceS: 5,
    kubeletRestartMs: 2500,
    applyLatencyMs: 120,
    kubernetesCaStyle: 'legacy',
    vip: true,
    controlPlanes: 1,
    workers: 0,
  });
  t.equal(c.timings.nodeGraceMs, 5000);
  t.equal(c.timings.kubeletRestartMs, 2500);
  t.equal(c.timings.applyLatencyMs, 120);
  t.equal(resolveLabConfig({ staticPodDelayMs: 7000 }).timings.staticPodDelayMs, 7000, '--static-pod-delay-ms');
  t.equal(resolveLabConfig({ heartbeatMs: 500 }).timings.heartbeatIntervalMs, 500, '--heartbeat-ms');
  t.equal(
    resolveLabConfig({ heartbeatMs: 500, workers: 197 }).timings.heartbeatIntervalMs,
    500,
    '--heartbeat-ms wins over the period derived from the size',
  );
  t.equal(resolveLabConfig({ heartbeatMs: 1250, nodeGraceS: 5 }).timings.heartbeatIntervalMs, 1250, 'a quarter');
  t.equal(c.kubernetesCaStyle, 'legacy');
  t.equal(c.vip, true);
  t.ok(c.timings.heartbeatIntervalMs <= 5000 / 4, 'the heartbeat stays well inside a short grace period');
  t.equal(resolveLabConfig({ nodeGraceS: 0.5 }).timings.nodeGraceMs, 500, 'fractions of a second');
});

t.test('in-cluster clients: 2 per node by default, 0 for none, re-read every 300 s unless told', async (t) => {
  const c = resolveLabConfig({});
  t.equal(c.podsPerNode, 2);
  t.equal(c.timings.podCaReloadMs, 300_000, "client-go's period");
  t.equal(resolveLabConfig({ podsPerNode: 0 }).podsPerNode, 0);
  t.equal(resolveLabConfig({ podCaReloadS: 2.5 }).timings.podCaReloadMs, 2_500);
  t.ok(c.timings.podCallIntervalMs >= c.timings.heartbeatIntervalMs, 'pods call no more often than kubelets heartbeat');
});

t.test('workloads: none by default, the standard set on request, anything else refused', async (t) => {
  t.equal(resolveLabConfig({}).workloads, 'none');
  t.equal(resolveLabConfig({ workloads: 'standard' }).workloads, 'standard');
  t.throws(() => resolveLabConfig({ workloads: 'many' }), {
    code: 'LAB_BAD_OPTION',
    message: /--workloads must be none or standard/,
  });
});

t.test("service-account key: RSA 4096 as Talos generates today, ECDSA P-256 (old clusters') on request", async (t) => {
  t.equal(resolveLabConfig({}).serviceAccountKey, 'rsa-4096');
  t.equal(resolveLabConfig({ serviceAccountKey: 'ecdsa-p256' }).serviceAccountKey, 'ecdsa-p256');
  t.throws(() => resolveLabConfig({ serviceAccountKey: 'rsa-2048' }), {
    code: 'LAB_BAD_OPTION',
    message: /--service-account-key must be rsa-4096 or ecdsa-p256 \(got "rsa-2048"\)/,
  });
});

t.test('bad lab up options are refused with the flag named', async (t) => {
  const cases: Array<[Parameters<typeof resolveLabConfig>[0], RegExp]> = [
    [{ controlPlanes: 0 }, /--control-planes/],
    [{ controlPlanes: 1.5 }, /--control-planes/],
    [{ controlPlanes: Number.NaN }, /--control-planes/],
    [{ workers: -1 }, /--workers/],
    [{ controlPlanes: 3, workers: MAX_NODES }, /at most 245 nodes/],
    [{ kubernetesCaStyle: 'modern' }, /--kubernetes-ca-style/],
    [{ nodeGraceS: 0 }, /--node-grace-s/],
    [{ kubeletRestartMs: -5 }, /--kubelet-restart-ms/],
    [{ staticPodDelayMs: -1 }, /--static-pod-delay-ms/],
    [{ heartbeatMs: 100 }, /--heartbeat-ms must be a whole number from 200/],
    [{ heartbeatMs: 10_001 }, /--heartbeat-ms must be at most a quarter of the grace period \(40000 ms\)/],
    [{ heartbeatMs: 1300, nodeGraceS: 5 }, /--heartbeat-ms must be at most a quarter of the grace period \(5000 ms\)/],
    [{ applyLatencyMs: 1.5 }, /--apply-latency-ms/],
    [{ podsPerNode: -1 }, /--pods-per-node/],
    [{ podsPerNode: 1.5 }, /--pods-per-node/],
    [{ podCaReloadS: 0 }, /--pod-ca-reload-s/],
  ];
  for (const [input, message] of cases) {
    t.throws(() => resolveLabConfig(input), { code: 'LAB_BAD_OPTION', message }, JSON.stringify(input));
  }
  t.doesNotThrow(() => resolveLabConfig({ controlPlanes: 3, workers: MAX_NODES - 3 }), 'a full /24 is fine');
});

t.test('heartbeat and probe periods grow with the lab so that a big lab idles cheaply', async (t) => {
  const small = deriveTimings({ controlPlanes: 3, workers: 2 });
  const big = deriveTimings({ controlPlanes: 3, workers: 197 });
  t.equal(small.heartbeatIntervalMs, DEFAULT_TIMINGS.heartbeatIntervalMs);
  t.equal(small.probeIntervalMs, DEFAULT_TIMINGS.probeIntervalMs);
  t.ok(big.heartbeatIntervalMs > small.heartbeatIntervalMs);
  t.ok(200 / (big.heartbeatIntervalMs / 1000) <= MAX_HEARTBEATS_PER_S, 'heartbeats per second within the target');
  t.ok(big.probeIntervalMs > small.probeIntervalMs);
  t.ok(big.heartbeatIntervalMs * 4 <= big.nodeGraceMs, 'still four heartbeats per grace period');
  t.equal(
    deriveTimings({ controlPlanes: 3, workers: 197 }, { heartbeatIntervalMs: 1234 }).heartbeatIntervalMs,
    1234,
    'an explicit value wins',
  );
});

t.test('lab fault flags', async (t) => {
  t.same(resolveFaultChange({ node: '127.1.2.10', down: true }), { node: '127.1.2.10', down: true });
  t.same(resolveFaultChange({ node: '127.1.2.10', up: true }), { node: '127.1.2.10', down: false });
  t.same(
    resolveFaultChange({ node: '127.1.2.10', delayMs: 0, failApply: 2, dropApplyReply: 1, kubeletRestartMs: 3000 }),
    {
      node: '127.1.2.10',
      delayMs: 0,
      failApply: 2,
      dropApplyReply: 1,
      kubeletRestartMs: 3000,
    },
  );
  t.throws(() => resolveFaultChange({ node: '127.1.2.10' }), { code: 'LAB_BAD_OPTION', message: /needs a fault/ });
  t.throws(() => resolveFaultChange({ node: '127.1.2.10', down: true, up: true }), {
    code: 'LAB_BAD_OPTION',
    message: /--down and --up/,
  });
  t.throws(() => resolveFaultChange({ node: '', down: true }), { code: 'LAB_BAD_OPTION', message: /--node/ });
  t.throws(() => resolveFaultChange({ node: '127.1.2.10', failApply: -1 }), {
    code: 'LAB_BAD_OPTION',
    message: /--fail-apply/,
  });
  t.throws(() => resolveFaultChange({ node: '127.1.2.10', delayMs: 2.5 }), {
    code: 'LAB_BAD_OPTION',
    message: /--delay-ms/,
  });
  t.same(resolveFaultChange({ node: '127.1.2.10', holdApplyLockMs: 5000 }), {
    node: '127.1.2.10',
    holdApplyLockMs: 5000,
  });
  t.same(
    resolveFaultChange({ node: '127.1.2.10', holdApplyLockMs: 0 }),
    { node: '127.1.2.10', holdApplyLockMs: 0 },
    '0 releases a hold',
  );
  t.throws(() => resolveFaultChange({ node: '127.1.2.10', holdApplyLockMs: -5 }), {
    code: 'LAB_BAD_OPTION',
    message: /--hold-apply-lock-ms/,
  });
});
