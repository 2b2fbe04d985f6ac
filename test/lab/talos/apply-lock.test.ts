/**
 * machined's apply lock as Talos has it (v1alpha1_server.go: `applyConfigMu.TryLock()` before anything
 * else): dry runs and callers without os:admin are refused with FailedPrecondition while it is held; the
 * lab counts the calls that overlapped; a foreign operator can hold it (the holdApplyLockMs fault); and
 * v1.13.9's "already applied and node is rebooting" refusal, which is not the lock.
 */
import t from 'tap';
import { generateTalosCa } from '../../../src/pki/index.js';
import { isApplyLockHeld } from '../../../src/talos/errors.js';
import { applyFault } from '../../../src/lab/process/control-api.js';
import { buildInspectReport } from '../../../src/lab/process/inspect.js';
import { inspectReportProblems } from '../../../src/lab/process/contracts.js';
import { addAccepted } from './fixtures/patch.js';
import { eventually, failure, startTestLab, type TestLab } from './fixtures/lab.js';

let lab: TestLab;

t.before(async () => {
  lab = await startTestLab({ controlPlanes: 1, workers: 1, style: 'legacy' });
});
t.teardown(() => lab.stop());

t.test('two overlapping applies on one node: the second is refused and both count as concurrent', async (t) => {
  const w = lab.cluster.workers[0]!;
  const c = lab.client();
  const before = w.applyLock.stats();
  t.same(before, { calls: 0, maxConcurrent: 0, refusedInProgress: 0, foreignHoldUntil: null }, 'nothing seen yet');
  lab.cluster.timings.applyLatencyMs = 400;
  try {
    const first = c.applyConfiguration(w.address, w.config, { mode: 'NO_REBOOT' });
    // The second call is sent once the first one holds the lock (not after a guessed delay).
    await eventually(() => w.applyLock.heldByCall, 5_000, 'the first apply holding the lock');
    const second = await failure(c.applyConfiguration(w.address, w.config, { mode: 'NO_REBOOT', dryRun: true }));
    t.equal(second.grpcCode, 9, 'FailedPrecondition');
    t.equal(second.detail, 'another apply configuration is already in progress');
    t.ok(isApplyLockHeld(second), 'the client recognises the lock refusal');
    await first;
  } finally {
    lab.cluster.timings.applyLatencyMs = 0;
  }
  t.same(w.applyLock.stats(), { calls: 2, maxConcurrent: 2, refusedInProgress: 1, foreignHoldUntil: null });
  const report = buildInspectReport(lab.cluster, () => true);
  t.same(inspectReportProblems(report), [], 'the report with the new key still conforms');
  t.same(report.nodes.find((n) => n.address === w.address)!.applyConfiguration, {
    calls: 2,
    maxConcurrent: 2,
    refusedInProgress: 1,
    foreignHoldUntil: null,
  });
  t.equal(
    report.nodes.find((n) => n.address !== w.address)!.applyConfiguration.maxConcurrent,
    0,
    'the other node saw none',
  );
});

t.test('applies one after the other never count as concurrent', async (t) => {
  const cp = lab.cluster.controlPlanes[0]!;
  const c = lab.client();
  for (let i = 0; i < 3; i++)
    await c.applyConfiguration(cp.address, cp.config, { mode: 'NO_REBOOT', dryRun: i % 2 === 0 });
  t.same(cp.applyLock.stats(), { calls: 3, maxConcurrent: 1, refusedInProgress: 0, foreignHoldUntil: null });
});

t.test('a foreign hold refuses every apply, dry runs and non-admin callers included, until released', async (t) => {
  const w = lab.cluster.workers[0]!;
  const c = lab.client();
  const extra = await generateTalosCa();
  const next = addAccepted(w.config, extra.certPem);
  const version = w.configVersion;
  const held = applyFault(lab.cluster, { node: w.address, holdApplyLockMs: 600_000 });
  t.match(held, { node: w.address, applyLockHeldUntil: /^\d{4}-\d\d-\d\dT/ });
  const stats = w.applyLock.stats();

  const apply = await failure(c.applyConfiguration(w.address, next, { mode: 'NO_REBOOT' }));
  t.ok(isApplyLockHeld(apply), `apply refused: ${apply.detail}`);
  const dry = await failure(c.applyConfiguration(w.address, next, { mode: 'NO_REBOOT', dryRun: true }));
  t.ok(isApplyLockHeld(dry), 'a dry run is refused too');
  // Talos takes the lock before it checks the caller's role: a reader gets FailedPrecondition, not PermissionDenied.
  const readerCert = await lab.clientCert(lab.secrets.os, ['os:reader']);
  const reader = lab.client({ cert: readerCert });
  const refused = await failure(reader.applyConfiguration(w.address, next, { mode: 'NO_REBOOT' }));
  t.equal(refused.kind, 'failed-precondition', 'the lock is checked before the role');
  t.equal(w.configVersion, version, 'nothing applied');
  t.same(w.applyLock.stats().refusedInProgress - stats.refusedInProgress, 3);
  t.equal(
    w.applyLock.stats().maxConcurrent,
    stats.maxConcurrent,
    'a foreign hold is not a call: refusals against it are not overlaps',
  );

  t.same(
    applyFault(lab.cluster, { node: w.address, holdApplyLockMs: 0 }).applyLockHeldUntil,
    null,
    '0 releases the hold',
  );
  await c.applyConfiguration(w.address, next, { mode: 'NO_REBOOT' });
  t.equal(w.config, next, 'applied once released');
  const denied = await failure(reader.applyConfiguration(w.address, next, { mode: 'NO_REBOOT' }));
  t.equal(denied.kind, 'permission-denied', 'without the lock held, the role check answers');
});

t.test('a foreign hold ends by itself after its time', async (t) => {
  const cp = lab.cluster.controlPlanes[0]!;
  const c = lab.client();
  applyFault(lab.cluster, { node: cp.address, holdApplyLockMs: 300 });
  t.ok(
    isApplyLockHeld(await failure(c.applyConfiguration(cp.address, cp.config, { mode: 'NO_REBOOT', dryRun: true }))),
    'held at first',
  );
  await eventually(
    async () =>
      c.applyConfiguration(cp.address, cp.config, { mode: 'NO_REBOOT', dryRun: true }).then(
        () => true,
        () => false,
      ),
    10_000,
    'the hold to end',
  );
  t.equal(cp.applyLock.stats().foreignHoldUntil, null);
});

t.test('the fault cannot take the lock from an apply in progress; bad values are refused', async (t) => {
  const w = lab.cluster.workers[0]!;
  const call = w.applyLock.enter();
  t.ok(call.locked);
  try {
    t.throws(() => applyFault(lab.cluster, { node: w.address, holdApplyLockMs: 1000 }), {
      status: 409,
      code: 'LAB_APPLY_LOCK_BUSY',
    });
  } finally {
    call.end();
  }
  t.throws(() => applyFault(lab.cluster, { node: w.address, holdApplyLockMs: -1 }), {
    code: 'LAB_BAD_FAULT',
    message: /holdApplyLockMs/,
  });
  t.throws(() => applyFault(lab.cluster, { node: w.address, holdApplyLockMs: 1.5 }), { code: 'LAB_BAD_FAULT' });
  t.equal(w.applyLock.stats().foreignHoldUntil, null, 'nothing held');
});

t.test('v1.13.9: after a REBOOT apply, the node refuses more until it rebooted; that is not the lock', async (t) => {
  const w = lab.cluster.workers[0]!;
  const runtime = lab.talos.runtime(w.address)!;
  const c = lab.client();
  const extra = await generateTalosCa();
  const next = addAccepted(w.config, extra.certPem);
  // Hold the reboot back, so that the window between the reply and the reboot is as long as the test needs.
  const reboot = runtime.reboot.bind(runtime);
  let rebootRequested = false;
  runtime.reboot = () => {
    rebootRequested = true;
  };
  try {
    await c.applyConfiguration(w.address, next, { mode: 'REBOOT' });
    await eventually(() => rebootRequested, 5_000, 'the reboot request');
    const e = await failure(c.applyConfiguration(w.address, next, { mode: 'NO_REBOOT', dryRun: true }));
    t.equal(e.grpcCode, 9);
    t.match(e.detail, /^configuration was already applied and node is rebooting/);
    t.notOk(isApplyLockHeld(e), 'not the apply lock: waiting for it would not help');
  } finally {
    runtime.reboot = reboot;
  }
  runtime.reboot();
  await eventually(
    async () =>
      c.applyConfiguration(w.address, next, { mode: 'NO_REBOOT', dryRun: true }).then(
        () => true,
        () => false,
      ),
    15_000,
    'applies accepted after the reboot',
  );
  t.pass('accepted again after the reboot');
});
