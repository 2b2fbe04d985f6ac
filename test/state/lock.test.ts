import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { RotateError } from '../../src/domain/errors.js';
import {
  StateLockError,
  openFileStateStore,
  parseDuration,
  statePaths,
  type LockInfo,
  type LockWait,
} from '../../src/state/index.js';
import { currentIdentity } from '../../src/util/process-identity.js';
import { processStartTime } from '../../src/util/process.js';
import { modeOf, scratch } from './fixtures/scratch.js';
import { spawnChild } from './fixtures/spawn.js';
import type { TapTest } from './fixtures/conformance.js';

async function code(p: Promise<unknown>): Promise<RotateError> {
  try {
    await p;
  } catch (err) {
    if (RotateError.is(err)) return err;
    throw err;
  }
  throw new Error('expected a RotateError');
}

async function holder(t: TapTest, operation = 'apply') {
  const dir = await scratch(t);
  const paths = statePaths(path.join(dir, 'state', 'rotate.state.json'));
  const child = spawnChild(t, ['hold-lock', paths.state, operation]);
  const info = JSON.parse(await child.line(/^\{/)) as LockInfo;
  return { paths, child, info };
}

t.test('a second process waits for a live holder, then fails naming it; unlock rules', async (t) => {
  const { paths, child, info } = await holder(t, 'rollback');
  t.equal(info.pid, child.proc.pid, 'the lock names the holding process');
  t.equal(info.operation, 'rollback');
  t.equal(info.path, paths.state);
  t.equal(info.who, `${os.userInfo().username}@${os.hostname()}`);
  t.equal(await modeOf(paths.lock), 0o600, 'lock file 0600');
  t.same(
    (await fs.readdir(paths.dir)).filter((f) => f.endsWith('.tmp')),
    [],
    'no temp file left',
  );

  const store = openFileStateStore(paths.state);
  const waits: LockWait[] = [];
  const err = await code(store.lock({ operation: 'apply' }, { timeoutMs: 2_500, onWait: (w) => waits.push(w) }));
  t.equal(err.code, 'STATE_LOCKED');
  t.ok(StateLockError.isLockError(err));
  t.ok(waits.length >= 2, `waited and retried (${waits.map((w) => w.delayMs).join(', ')} ms)`);
  t.equal(waits[0]!.delayMs, 1000, 'backoff starts at 1 s');
  for (const part of [info.who, 'rollback', info.created, info.id, `pid ${info.pid}`, /waited \ds/])
    t.match(err.message, part);
  t.match(err.hint, `rotate state unlock ${info.id} --state ${paths.state}`);

  const wrong = await code(store.unlock('aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'));
  t.equal(wrong.code, 'STATE_LOCK_ID_MISMATCH');
  t.match(wrong.message, 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee');
  t.match(wrong.message, info.id);

  const alive = await code(store.unlock(info.id));
  t.equal(alive.code, 'STATE_LOCK_HOLDER_ALIVE', 'a live holder on this host is not broken without --force');
  t.match(alive.message, `process ${info.pid} on this host is still running`);
  t.match(alive.hint, /--force/);
  t.equal((await store.lockStatus())?.info.id, info.id, 'still locked');

  const forced = await store.unlock(info.id, { force: true });
  t.equal(forced.liveness.state, 'alive');
  t.equal(await store.lockStatus(), null, '--force broke it');
  const mine = await store.lock({ operation: 'apply' });
  t.not(mine.id, info.id);
  t.equal(await store.release(mine.id), true);
});

t.test('the lock of a holder killed with SIGKILL is detected as stale at once', async (t) => {
  const { paths, child, info } = await holder(t);
  child.proc.kill('SIGKILL');
  await child.exited;
  const store = openFileStateStore(paths.state);
  const status = await store.lockStatus();
  t.equal(status?.liveness.state, 'gone');
  const waits: LockWait[] = [];
  const err = await code(store.lock({ operation: 'apply' }, { timeoutMs: 60_000, onWait: (w) => waits.push(w) }));
  t.equal(err.code, 'STATE_LOCK_STALE');
  t.same(waits, [], 'no waiting for a lock that will never be released');
  t.match(err.message, /stale/);
  t.match(err.message, `process ${info.pid} on this host is no longer running`);
  t.match(err.message, info.id);
  t.match(err.hint, `rotate state unlock ${info.id} --state ${paths.state}`);
  t.match(err.hint, 'rotate state show');
  t.equal((await store.lockStatus())?.info.id, info.id, 'not taken over automatically');
  const removed = await store.unlock(info.id);
  t.equal(removed.liveness.state, 'gone', 'a stale lock is broken without --force');
  const mine = await store.lock({ operation: 'apply' });
  t.equal(await store.release(mine.id), true);
});

t.test(
  'apply and rollback break the lock of a holder proven gone (breakGone), say so, and take the lock',
  async (t) => {
    const { paths, child, info } = await holder(t);
    child.proc.kill('SIGKILL');
    await child.exited;
    const store = openFileStateStore(paths.state);
    const broken: string[] = [];
    const mine = await store.lock(
      { operation: 'apply' },
      { timeoutMs: 0, breakGone: true, onBrokeStale: (s) => broken.push(`${s.info.id} ${s.liveness.reason}`) },
    );
    t.same(
      broken,
      [`${info.id} process ${info.pid} on this host is no longer running`],
      'the broken lock is reported with the reason',
    );
    t.not(mine.id, info.id);
    t.equal((await store.lockStatus())?.info.id, mine.id, 'the lock is ours now');
    t.same(
      (await fs.readdir(paths.dir)).filter((f) => f.includes('.removing')),
      [],
      'nothing left aside',
    );
    t.equal(await store.release(mine.id), true);
  },
);

async function plantLock(t: TapTest, over: Partial<LockInfo>) {
  const dir = await scratch(t);
  const paths = statePaths(path.join(dir, 'rotate.state.json'));
  const info: LockInfo = {
    id: '0f0e0d0c-0b0a-4908-8706-050403020100',
    operation: 'apply',
    who: 'someone@elsewhere',
    path: paths.state,
    created: '2026-03-01T10:00:00.000Z',
    toolVersion: '0.1.0',
    ...currentIdentity(),
    ...over,
  };
  await fs.writeFile(paths.lock, JSON.stringify(info), { mode: 0o600 });
  return { paths, info, store: openFileStateStore(paths.state) };
}

t.test('a reused pid (another start time) and a reboot (another boot id) prove the holder gone', async (t) => {
  const self = currentIdentity();
  if (self.processStart !== null) {
    const { store } = await plantLock(t, { pid: process.ppid, processStart: '1' });
    const err = await code(store.lock({ operation: 'apply' }));
    t.equal(err.code, 'STATE_LOCK_STALE');
    t.match(err.message, /pid now belongs to another process/);
  }
  if (self.bootId !== null) {
    const { store } = await plantLock(t, { bootId: '00000000-0000-0000-0000-000000000000' });
    const err = await code(store.lock({ operation: 'apply' }));
    t.equal(err.code, 'STATE_LOCK_STALE');
    t.match(err.message, /rebooted/);
  }
});

t.test('a reused pid and a reboot are broken by breakGone too; a live holder and another host never are', async (t) => {
  const self = currentIdentity();
  const cases: Partial<LockInfo>[] = [];
  if (self.processStart !== null) cases.push({ pid: process.ppid, processStart: '1' });
  if (self.bootId !== null) cases.push({ bootId: '00000000-0000-0000-0000-000000000000' });
  for (const over of cases) {
    const { store, info } = await plantLock(t, over);
    const broken: string[] = [];
    const mine = await store.lock(
      { operation: 'rollback' },
      { breakGone: true, onBrokeStale: (s) => broken.push(s.info.id) },
    );
    t.same(broken, [info.id], `broken: ${JSON.stringify(over)}`);
    t.equal(await store.release(mine.id), true);
  }
  // The parent process (the test runner) is alive: its lock is waited for, never broken.
  const live = await plantLock(t, { pid: process.ppid, processStart: processStartTime(process.ppid) });
  const liveErr = await code(
    live.store.lock(
      { operation: 'apply' },
      { breakGone: true, onBrokeStale: () => t.fail('a live holder was broken') },
    ),
  );
  t.equal(liveErr.code, 'STATE_LOCKED');
  const other = await plantLock(t, { host: 'other-host', pid: 4242 });
  const otherErr = await code(
    other.store.lock(
      { operation: 'apply' },
      { breakGone: true, onBrokeStale: () => t.fail('another host was broken') },
    ),
  );
  t.equal(otherErr.code, 'STATE_LOCKED');
  t.equal((await other.store.lockStatus())?.info.id, other.info.id, 'the other host keeps its lock');
});

t.test('a lock from another host cannot be checked: it is waited for, and breakable with its exact id', async (t) => {
  const { store, info } = await plantLock(t, { host: 'other-host', pid: 4242 });
  const err = await code(store.lock({ operation: 'apply' }));
  t.equal(err.code, 'STATE_LOCKED');
  t.match(err.message, /another host \(other-host\)/);
  t.match(err.message, 'someone@elsewhere');
  const status = await store.unlock(info.id);
  t.equal(status.liveness.state, 'unknown');
  t.equal(await store.lockStatus(), null);
});

t.test('a lock file that is not a lock is reported, not overwritten', async (t) => {
  const dir = await scratch(t);
  const paths = statePaths(path.join(dir, 'rotate.state.json'));
  await fs.writeFile(paths.lock, 'garbage');
  const err = await code(openFileStateStore(paths.state).lock({ operation: 'apply' }));
  t.equal(err.code, 'STATE_LOCK_UNREADABLE');
  t.match(err.hint, paths.lock);
  t.equal(await fs.readFile(paths.lock, 'utf8'), 'garbage');
});

t.test('parseDuration reads --lock-timeout values', async (t) => {
  t.equal(parseDuration('0'), 0);
  t.equal(parseDuration('0s'), 0);
  t.equal(parseDuration('30s'), 30_000);
  t.equal(parseDuration('2m'), 120_000);
  t.equal(parseDuration('1m30s'), 90_000);
  t.equal(parseDuration('500ms'), 500);
  t.equal(parseDuration('1h'), 3_600_000);
  t.equal(parseDuration('1.5s'), 1_500);
  for (const bad of ['', '30', 's', '1x', '-1s', '1s 2s', '1m30']) {
    const err = (() => {
      try {
        parseDuration(bad);
      } catch (e) {
        return e as RotateError;
      }
      return null;
    })();
    t.equal(err?.code, 'CLI_DURATION_INVALID', JSON.stringify(bad));
  }
});
