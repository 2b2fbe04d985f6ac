/**
 * Faults set by the process side on `node.faults`: a node down (listeners closed, unreachable, counted as
 * unavailability, never as a trust failure), failApply, dropApplyReply, the VIP moving when its holder goes
 * down, and a v1.13 REBOOT apply. Waits are bounds, generous for a loaded machine: a passing run takes what
 * the lab needs, not the bound.
 */
import t from 'tap';
import { generateTalosCa } from '../../../src/pki/index.js';
import { addAccepted } from './fixtures/patch.js';
import { eventually, failure, startTestLab, type TestLab } from './fixtures/lab.js';

let lab: TestLab;

t.before(async () => {
  lab = await startTestLab({
    controlPlanes: 2,
    workers: 1,
    style: 'legacy',
    vip: true,
    timings: { probeIntervalMs: 500 },
  });
});
t.teardown(() => lab.stop());

const up = (c: ReturnType<TestLab['client']>, node: string) =>
  eventually(
    async () =>
      c.version(node).then(
        () => true,
        () => false,
      ),
    30_000,
    `${node} answering`,
  );

t.test('a node that is down is unreachable and counted as unavailable, not as a trust failure', async (t) => {
  const w = lab.cluster.workers[0]!;
  const c = lab.client();
  const before = lab.cluster.ledger.snapshot();
  w.setDown(true);
  const e = await failure(c.version(w.address));
  t.equal(e.kind, 'unreachable');
  t.match(e.detail, /ECONNREFUSED|connection refused/);
  const direct = lab.client({ endpoints: [w.address] });
  t.equal((await failure(direct.version())).kind, 'unreachable');
  direct.close();
  await eventually(
    () => lab.cluster.ledger.snapshot().unavailable['apid-proxy'] > before.unavailable['apid-proxy'],
    15_000,
    'unavailability counted',
  );
  w.setDown(false);
  await up(c, w.address);
  await lab.talos.settle();
  const after = lab.cluster.ledger.snapshot();
  t.same(after.trustFailures, before.trustFailures, 'no trust failure from a power cut');
});

t.test('failApply: the next N applies fail with Unavailable and apply nothing', async (t) => {
  const w = lab.cluster.workers[0]!;
  const c = lab.client();
  const extra = await generateTalosCa();
  const next = addAccepted(w.config, extra.certPem);
  w.faults.failApply = 2;
  const version = w.configVersion;
  for (let i = 0; i < 2; i++) {
    const e = await failure(c.applyConfiguration(w.address, next, { mode: 'NO_REBOOT' }));
    t.equal(e.grpcCode, 14);
  }
  t.equal(w.configVersion, version, 'nothing applied');
  await c.applyConfiguration(w.address, next, { mode: 'NO_REBOOT' });
  t.equal(w.config, next, 'the third one applies');
});

t.test('dropApplyReply: the config is applied, but the caller sees the connection reset', async (t) => {
  const cp = lab.cluster.controlPlanes[1]!;
  const c = lab.client({ endpoints: [cp.address] });
  const extra = await generateTalosCa();
  const next = addAccepted(cp.config, extra.certPem);
  cp.faults.dropApplyReply = 1;
  const e = await failure(c.applyConfiguration(cp.address, next, { mode: 'NO_REBOOT' }));
  t.equal(e.kind, 'unreachable', `no answer (${e.message})`);
  t.equal(cp.config, next, 'applied anyway');
  t.equal(cp.faults.dropApplyReply, 0);
  // Through a proxy the endpoint sees its upstream connection reset: Unavailable too.
  const w = lab.cluster.workers[0]!;
  w.faults.dropApplyReply = 1;
  const viaProxy = lab.client({ endpoints: [lab.cps[0]!] });
  const e2 = await failure(viaProxy.applyConfiguration(w.address, w.config, { mode: 'NO_REBOOT' }));
  t.equal(e2.grpcCode, 14);
});

t.test('the VIP forwards to its holder and moves when the holder goes down', async (t) => {
  const holder = lab.cluster.vipHolder()!;
  const viaVip = lab.client({ endpoints: [lab.cluster.vipAddress!] });
  t.equal((await viaVip.getIdentity(undefined)).nodeId, holder.nodeId);
  holder.setDown(true);
  try {
    const next = lab.cluster.vipHolder()!;
    t.not(next, holder);
    await eventually(
      async () =>
        (await viaVip.getIdentity(undefined).then(
          (i) => i.nodeId,
          () => '',
        )) === next.nodeId,
      30_000,
      'the VIP on the next control plane',
    );
    t.pass('the VIP answers from the next control plane');
  } finally {
    holder.setDown(false);
  }
  await up(lab.client(), holder.address);
});

t.test('REBOOT on v1.13: persisted, the node reboots into it', async (t) => {
  const w = lab.cluster.workers[0]!;
  const c = lab.client();
  const extra = await generateTalosCa();
  const next = addAccepted(w.config, extra.certPem);
  const downs: boolean[] = [];
  w.on('down', () => downs.push(true));
  const r = await c.applyConfiguration(w.address, next, { mode: 'REBOOT' });
  t.equal(r.mode, 'REBOOT');
  t.equal(r.modeDetails, 'Applied configuration with a reboot');
  await eventually(() => w.config === next, 30_000, 'the config after the reboot');
  t.same(downs, [true], 'it went down once');
  await up(c, w.address);
});
