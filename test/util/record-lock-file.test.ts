import t from 'tap';
import { promises as fs, statSync } from 'node:fs';
import * as path from 'node:path';
import { RecordLockFile } from '../../src/util/record-lock-file.js';
import { tryAcquireLock, readLockRecord } from '../../src/lab/process/pid-lock.js';

interface Rec {
  id: string;
  who: string;
}

const codec = {
  parse: (v: unknown): Rec | null => (typeof v === 'object' && v !== null && typeof (v as Rec).id === 'string' ? (v as Rec) : null),
  idOf: (r: Rec) => r.id,
};


t.test('of many concurrent creators exactly one gets the lock, written whole and 0600', async (t) => {
  const file = new RecordLockFile(path.join(t.testdir(), 'x.lock'), codec);
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => file.tryCreate({ id: `r${i}`, who: `w${i}` })));
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
  await fs.writeFile(lockPath, JSON.stringify({ pid: 4_194_305, startTime: null, nonce: 'dead', acquiredAt: '2026-01-01T00:00:00Z' }), { mode: 0o600 });
  // Twelve contenders in this (live) process race for it.
  const results = await Promise.all(Array.from({ length: 12 }, (_, i) => tryAcquireLock(lockPath, { contender: i }, { pid: process.pid, startTime: null })));
  const won = results.filter((r) => r.acquired);
  t.equal(won.length, 1, 'one winner');
  const record = await readLockRecord(lockPath);
  t.equal(record?.nonce, won[0]!.acquired ? won[0]!.lock.record.nonce : '', 'the file holds the winner');
  for (const r of results) if (!r.acquired) t.equal(r.holder.nonce, record?.nonce, 'losers are told the winner');
});
