/**
 * Exclusive lock files owned by a process: the file is created with O_EXCL and holds JSON naming the
 * owner (pid + start time, see process-identity.ts) plus whatever the caller adds. A lock whose owner is
 * dead is stale and may be taken over. Taking over is guarded by a second O_EXCL file (`<lock>.reclaim`)
 * so that two processes that both see the same stale lock cannot both end up believing they hold it.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs, constants as fsConstants, unlinkSync, readFileSync } from 'node:fs';
import { currentProcessIdentity, isAlive, type ProcessIdentity } from './process-identity.js';
import { pathExists } from '../../util/atomic-file.js';

export interface LockRecord extends ProcessIdentity {
  /** Random per acquisition, so a release never removes a lock someone else took over meanwhile. */
  nonce: string;
  acquiredAt: string;
  [extra: string]: unknown;
}

export type AcquireResult =
  | { acquired: true; lock: HeldLock }
  | { acquired: false; holder: LockRecord };

/** A reclaim guard older than this is itself stale (its owner died between two syscalls). */
const RECLAIM_GUARD_STALE_MS = 10_000;

export class HeldLock {
  readonly path: string;
  readonly record: LockRecord;
  #released = false;

  constructor(path: string, record: LockRecord) {
    this.path = path;
    this.record = record;
  }

  get released(): boolean {
    return this.#released;
  }

  /** Remove the lock file if it is still ours. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    const current = await readLockRecord(this.path);
    if (current?.nonce === this.record.nonce) await fs.unlink(this.path).catch(() => undefined);
  }

  /** Synchronous variant for exit handlers. */
  releaseSync(): void {
    if (this.#released) return;
    this.#released = true;
    try {
      const current = parseRecord(readFileSync(this.path, 'utf8'));
      if (current?.nonce === this.record.nonce) unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

function parseRecord(text: string): LockRecord | null {
  try {
    const value = JSON.parse(text) as Partial<LockRecord>;
    if (typeof value.pid !== 'number' || typeof value.nonce !== 'string') return null;
    return { ...value, startTime: typeof value.startTime === 'string' ? value.startTime : null } as LockRecord;
  } catch {
    return null;
  }
}

/** The record in a lock file; null when the file is missing or unreadable as a lock record. */
export async function readLockRecord(path: string): Promise<LockRecord | null> {
  try {
    return parseRecord(await fs.readFile(path, 'utf8'));
  } catch {
    return null;
  }
}

/** True when the lock file exists and its owner is alive. */
export function isHolderAlive(record: LockRecord): boolean {
  return isAlive(record);
}

async function createExclusive(path: string, text: string): Promise<boolean> {
  let handle;
  try {
    handle = await fs.open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
  return true;
}

/**
 * Try once to take the lock for the current process. A lock held by a dead owner (or an unreadable,
 * half-written one older than the guard timeout) is reclaimed; a live owner's lock is reported.
 */
export async function tryAcquireLock(path: string, extra: Record<string, unknown> = {}, identity: ProcessIdentity = currentProcessIdentity()): Promise<AcquireResult> {
  const record: LockRecord = {
    ...extra,
    pid: identity.pid,
    startTime: identity.startTime,
    nonce: randomBytes(12).toString('hex'),
    acquiredAt: new Date().toISOString(),
  };
  const text = `${JSON.stringify(record)}\n`;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    if (await createExclusive(path, text)) return { acquired: true, lock: new HeldLock(path, record) };
    const holder = await readLockRecord(path);
    if (holder && isAlive(holder)) return { acquired: false, holder };
    if (!holder && !(await olderThan(path, RECLAIM_GUARD_STALE_MS))) {
      // Being written right now by its creator (the file exists but holds no record yet).
      return { acquired: false, holder: { pid: 0, startTime: null, nonce: '', acquiredAt: '' } };
    }
    // Stale: take it over under the reclaim guard.
    const guard = `${path}.reclaim`;
    if (!(await createExclusive(guard, text))) {
      if (await olderThan(guard, RECLAIM_GUARD_STALE_MS)) await fs.unlink(guard).catch(() => undefined);
      continue;
    }
    try {
      // Re-check under the guard: someone may have reclaimed it between our read and the guard.
      const again = await readLockRecord(path);
      const stillStale = again === null ? !(await pathExists(path)) || (await olderThan(path, RECLAIM_GUARD_STALE_MS)) : !isAlive(again) && again.nonce === holder?.nonce;
      if (!stillStale) {
        if (again && isAlive(again)) return { acquired: false, holder: again };
        continue;
      }
      await fs.unlink(path).catch(() => undefined);
      if (await createExclusive(path, text)) return { acquired: true, lock: new HeldLock(path, record) };
    } finally {
      await fs.unlink(guard).catch(() => undefined);
    }
  }
  const holder = await readLockRecord(path);
  return { acquired: false, holder: holder ?? { pid: 0, startTime: null, nonce: '', acquiredAt: '' } };
}


async function olderThan(path: string, ms: number): Promise<boolean> {
  try {
    const st = await fs.lstat(path);
    return Date.now() - st.mtimeMs > ms;
  } catch {
    return true;
  }
}
