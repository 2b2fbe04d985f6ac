/**
 * A node's apply lock: the typed predicate for Talos's "another apply configuration is already in
 * progress" refusal (FailedPrecondition), and the bounded wait for it (fake clock: no timing).
 */
import t from 'tap';
import { RotateError } from '../../src/domain/errors.js';
import {
  applyLockBackoff,
  DEFAULT_APPLY_LOCK_WAIT_MS,
  waitForApplyLock,
  type Clock,
} from '../../src/talos/apply-lock.js';
import {
  APPLY_LOCK_HELD_DETAIL,
  classifyGrpcError,
  GrpcCode,
  isApplyLockHeld,
  TalosApiError,
} from '../../src/talos/errors.js';

const ctx = { method: '/machine.MachineService/ApplyConfiguration', node: '10.0.0.21', endpoint: '10.0.0.10:50000' };
const status = (code: number, details: string) => classifyGrpcError({ code, details }, ctx);
const lockHeld = () => status(GrpcCode.FAILED_PRECONDITION, APPLY_LOCK_HELD_DETAIL);
const REBOOTING =
  'configuration was already applied and node is rebooting, cannot apply more configuration changes until next reboot';

t.test("isApplyLockHeld: FailedPrecondition with Talos's lock message, nothing else", async (t) => {
  t.ok(isApplyLockHeld(lockHeld()), 'the lock refusal');
  t.match(lockHeld().hint, /another ApplyConfiguration holds the node's apply lock/, 'its hint says so');
  t.notOk(isApplyLockHeld(status(GrpcCode.FAILED_PRECONDITION, REBOOTING)), 'v1.13.9: already applied, node rebooting');
  t.notOk(
    isApplyLockHeld(status(GrpcCode.FAILED_PRECONDITION, 'machine is in maintenance mode')),
    'another FailedPrecondition',
  );
  t.notOk(isApplyLockHeld(status(GrpcCode.UNKNOWN, APPLY_LOCK_HELD_DETAIL)), 'the message under another code');
  t.notOk(
    isApplyLockHeld(new RotateError('TALOS_FAILED_PRECONDITION', APPLY_LOCK_HELD_DETAIL)),
    'a RotateError that is not a Talos API error',
  );
  t.notOk(isApplyLockHeld(new Error(APPLY_LOCK_HELD_DETAIL)), 'a plain error');
  t.notOk(isApplyLockHeld(undefined), 'nothing');
});

t.test('backoff: 250 ms, doubling, at most 2 s', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 10].map(applyLockBackoff), [250, 500, 1000, 2000, 2000, 2000, 2000]);
  t.equal(DEFAULT_APPLY_LOCK_WAIT_MS, 60_000);
});

/** A clock that only moves when slept on. */
function fakeClock(): Clock & { slept: number[] } {
  let now = 1_000_000;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  };
}

t.test('a lock that frees up within the wait: the call is sent again and succeeds', async (t) => {
  const clock = fakeClock();
  let calls = 0;
  const waits: Array<[number, number]> = [];
  const value = await waitForApplyLock(
    async () => {
      calls += 1;
      if (calls <= 3) throw lockHeld();
      return 'applied';
    },
    {
      node: '10.0.0.21',
      waitMs: 10_000,
      clock,
      onWait: (err, attempt, delay) => {
        t.ok(isApplyLockHeld(err), 'told of the refusal');
        waits.push([attempt, delay]);
      },
    },
  );
  t.equal(value, 'applied');
  t.equal(calls, 4);
  t.same(clock.slept, [250, 500, 1000]);
  t.same(waits, [
    [1, 250],
    [2, 500],
    [3, 1000],
  ]);
});

t.test('a lock that never frees up: bounded, then an error naming the node and the other apply', async (t) => {
  const clock = fakeClock();
  let calls = 0;
  const err = await waitForApplyLock(
    async () => {
      calls += 1;
      throw lockHeld();
    },
    { node: '10.0.0.21', waitMs: 3_000, clock },
  ).catch((e: unknown) => e);
  t.ok(RotateError.is(err));
  const e = err as RotateError;
  t.equal(e.code, 'TALOS_APPLY_LOCK_HELD');
  t.match(e.message, /^node 10\.0\.0\.21: another apply holds the node's apply lock/);
  t.match(e.message, /for 3 s was refused with "another apply configuration is already in progress"/);
  t.match(e.hint, /another operator or controller/);
  t.match(e.hint, /--apply-lock-wait/);
  t.ok(e.cause instanceof TalosApiError, 'the last refusal is the cause');
  t.same(clock.slept, [250, 500, 1000, 1250], 'the last wait ends at the deadline');
  t.equal(calls, 5, 'one attempt at the deadline itself');
  t.equal(
    clock.slept.reduce((a, b) => a + b, 0),
    3_000,
    'never longer than the wait',
  );
});

t.test('no wait: one attempt, then the named error', async (t) => {
  const clock = fakeClock();
  let calls = 0;
  await t.rejects(
    waitForApplyLock(
      async () => {
        calls += 1;
        throw lockHeld();
      },
      { node: '10.0.0.22', waitMs: 0, clock },
    ),
    { code: 'TALOS_APPLY_LOCK_HELD', message: /node 10\.0\.0\.22/ },
  );
  t.equal(calls, 1);
  t.same(clock.slept, []);
});

t.test('anything but the lock is not waited for: rebooting, invalid config, unreachable', async (t) => {
  for (const err of [
    status(GrpcCode.FAILED_PRECONDITION, REBOOTING),
    status(GrpcCode.INVALID_ARGUMENT, 'issuing CA is required (.machine.ca)'),
    status(GrpcCode.UNAVAILABLE, 'connection reset'),
  ]) {
    const clock = fakeClock();
    let calls = 0;
    const got = await waitForApplyLock(
      async () => {
        calls += 1;
        throw err;
      },
      { node: '10.0.0.21', waitMs: 60_000, clock },
    ).catch((e: unknown) => e);
    t.equal(got, err, `${err.detail}: thrown as it is`);
    t.equal(calls, 1);
    t.same(clock.slept, []);
  }
});

t.test('an aborted wait stops at the next refusal', async (t) => {
  const clock = fakeClock();
  const abort = new AbortController();
  let calls = 0;
  await t.rejects(
    waitForApplyLock(
      async () => {
        calls += 1;
        if (calls === 2) abort.abort();
        throw lockHeld();
      },
      { node: '10.0.0.21', waitMs: 60_000, clock, signal: abort.signal },
    ),
    { code: 'TALOS_APPLY_LOCK_HELD' },
  );
  t.equal(calls, 2);
});
