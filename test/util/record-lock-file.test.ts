import t from 'tap';
import { createHash } from 'node:crypto';
import { promises as fs, statSync } from 'node:fs';
import * as path from 'node:path';
import { RecordLockFile } from '../../src/util/record-lock-file.js';
import { currentIdentity } from '../../src/util/process-identity.js';
import { tryAcquireLock, readLockRecord } from '../../src/lab/process/pid-lock.js';

interface Rec {
  id: string;
  who: string;
}

const codec = {
  parse: (v: unknown): Rec | null =>
    typeof v === 'object' && v !== null && typeof (v as Rec).id === 'string' ? (v as Rec) : null,
  idOf: (r: Rec) => r.id,
};

t.test('of many concurrent creators exactly one gets the lock, written whole and 0600', async (t) => {
  const file = new RecordLockFile(path.join(t.testdir(), 'x.lock'), codec);
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => file.tryCreate({ id: `r${i}`, who: `w${i}` })),
  );
  t.equal(results.filter(Boolean).length, 1);
  const winner = results.indexOf(true);
  t.same(await file.read(), { id: `r${winner}`, who: `w${winner}` });
  t.equal(statSync(file.path).mode & 0o777, 0o600);
  t.same((await fs.readdir(path.dirname(file.path))).sort(), ['x.lock'], 'no temp file is left behind');
});

t.test('remove takes only the lock with that id', async (t) => {
  const file = new RecordLockFile(path.join(t.testdir(), 'x.lock'), codec);
  t.ok(await file.tryCreate({ id: 'a', who: 'one' }));
  t.notOk(await file.remove('b'), 'another id does not remove it');
  t.same(await file.read(), { id: 'a', who: 'one' });
  const both = await Promise.all([file.remove('a'), file.remove('a')]);
  t.equal(both.filter(Boolean).length, 1, 'two removers of one lock: one succeeds');
  t.equal(await file.read(), null);
  t.notOk(await file.remove('a'), 'nothing left to remove');
});

t.test('removeSync takes only the lock with that id', async (t) => {
  const file = new RecordLockFile(path.join(t.testdir(), 'x.lock'), codec);
  t.ok(await file.tryCreate({ id: 'a', who: 'one' }));
  t.notOk(file.removeSync('b'));
  t.ok(file.removeSync('a'));
  t.equal(await file.read(), null);
});

t.test('a damaged lock reads as unreadable; removeUnreadable never removes a readable lock', async (t) => {
  const dir = t.testdir();
  const file = new RecordLockFile(path.join(dir, 'x.lock'), codec);
  await fs.writeFile(file.path, '{"half":', { mode: 0o600 });
  t.equal(await file.read(), 'unreadable');
  t.ok(await file.removeUnreadable());
  t.equal(await file.read(), null);
  t.ok(await file.tryCreate({ id: 'a', who: 'one' }));
  t.notOk(await file.removeUnreadable());
  t.same(await file.read(), { id: 'a', who: 'one' });
});

t.test('lab locks: of many processes that find one stale lock, exactly one takes it over', async (t) => {
  const lockPath = path.join(t.testdir(), 'block.lock');
  // A dead owner: 2^22 + 1 is above the largest pid Linux allows (pid_max is at most 2^22).
  await fs.writeFile(
    lockPath,
    JSON.stringify({ pid: 4_194_305, startTime: null, nonce: 'dead', acquiredAt: '2026-01-01T00:00:00Z' }),
    { mode: 0o600 },
  );
  // Twelve contenders in this (live) process race for it.
  const results = await Promise.all(
    Array.from({ length: 12 }, (_, i) =>
      tryAcquireLock(lockPath, { contender: i }, { pid: process.pid, startTime: null }),
    ),
  );
  const won = results.filter((r) => r.acquired);
  t.equal(won.length, 1, 'one winner');
  const record = await readLockRecord(lockPath);
  t.equal(record?.nonce, won[0]!.acquired ? won[0]!.lock.record.nonce : '', 'the file holds the winner');
  for (const r of results) if (!r.acquired) t.equal(r.holder.nonce, record?.nonce, 'losers are told the winner');
});

/** Where a remover of lock `id` claims the removal (the module's naming, restated to plant claims). */
function claimPath(lockPath: string, id: string): string {
  return `${lockPath}.${createHash('sha256').update(id).digest('hex').slice(0, 24)}.removing`;
}

t.test('a removal claim left by a killed remover is passed, and every claim is cleaned up', async (t) => {
  const dir = t.testdir();
  const file = new RecordLockFile(path.join(dir, 'x.lock'), codec);
  t.ok(await file.tryCreate({ id: 'a', who: 'one' }));
  // Killed between claiming and unlinking: its pid no longer runs (2^22 + 1 is above Linux's pid_max).
  const dead = claimPath(file.path, 'a');
  await fs.writeFile(
    dead,
    JSON.stringify({ ...currentIdentity(), pid: 4_194_305, processStart: null, nonce: 'abc123' }),
    { mode: 0o600 },
  );
  t.ok(await file.remove('a'), 'the lock is removed past the dead claim');
  t.equal(await file.read(), null);
  t.same(await fs.readdir(dir), [], 'no claim or temp file is left');
});

t.test('a live remover of the same lock is waited for; the lock name is never emptied by the waiter', async (t) => {
  const dir = t.testdir();
  const file = new RecordLockFile(path.join(dir, 'x.lock'), codec);
  t.ok(await file.tryCreate({ id: 'a', who: 'one' }));
  const live = claimPath(file.path, 'a');
  await fs.writeFile(live, JSON.stringify({ ...currentIdentity(), nonce: 'fe01' }), { mode: 0o600 });
  let claimDropped = false;
  setTimeout(() => {
    claimDropped = true;
    void fs.unlink(live);
  }, 200);
  t.notOk(await file.remove('a'), 'the other remover owns this removal');
  t.ok(claimDropped, 'returned only after the other remover finished');
  t.same(await file.read(), { id: 'a', who: 'one' }, 'the waiter did not touch the lock');
  t.notOk(file.removeSync('b'));
  t.ok(file.removeSync('a'));
  t.same(await fs.readdir(dir), []);
});

t.test('a late remover that saw the old lock never removes the lock taken since', async (t) => {
  const dir = t.testdir();
  const file = new RecordLockFile(path.join(dir, 'x.lock'), codec);
  t.ok(await file.tryCreate({ id: 'old', who: 'dead' }));
  // Many removers of 'old' and many creators race; of the creators exactly one holds the lock at the end.
  const removes = Array.from({ length: 10 }, () => file.remove('old'));
  const creates = Array.from({ length: 10 }, async (_, i) => {
    for (let k = 0; k < 50; k++) {
      if (await file.tryCreate({ id: `new${i}`, who: `c${i}` })) return i;
      await new Promise((r) => setImmediate(r));
    }
    return -1;
  });
  const removed = (await Promise.all(removes)).filter(Boolean).length;
  const winners = (await Promise.all(creates)).filter((i) => i >= 0);
  t.equal(removed, 1, 'the old lock is removed once');
  t.equal(winners.length, 1, 'one creator holds the lock');
  t.same(await file.read(), { id: `new${winners[0]}`, who: `c${winners[0]}` });
  t.same((await fs.readdir(dir)).sort(), ['x.lock']);
});
