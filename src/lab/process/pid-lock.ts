/**
 * Lock files owned by a process (the lab folder's `lab.pid`, the loopback blocks' locks): a RecordLockFile
 * whose JSON names the owner (pid + start time, util/process-identity.ts) plus whatever the caller adds,
 * with a random nonce as its id. A lock whose owner is dead is stale and may be taken over: it is removed by
 * its nonce, so of two processes that both see the same stale lock only one removes it, and a lock taken
 * in between is never removed.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { currentProcessIdentity, isAlive, type ProcessIdentity } from '../../util/process-identity.js';
import { RecordLockFile } from '../../util/record-lock-file.js';

export interface LockRecord extends ProcessIdentity {
  /** Random per acquisition, so a release never removes a lock someone else took over meanwhile. */
  nonce: string;
  acquiredAt: string;
  [extra: string]: unknown;
}

export type AcquireResult = { acquired: true; lock: HeldLock } | { acquired: false; holder: LockRecord };

/** A damaged (unreadable) lock file older than this is removed; a younger one may be another tool's write. */
const DAMAGED_LOCK_STALE_MS = 10_000;

function parseRecord(value: unknown): LockRecord | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Partial<LockRecord>;
  if (typeof v.pid !== 'number' || typeof v.nonce !== 'string') return null;
  return { ...v, startTime: typeof v.startTime === 'string' ? v.startTime : null } as LockRecord;
}

function lockFile(path: string): RecordLockFile<LockRecord> {
  return new RecordLockFile(path, { parse: parseRecord, idOf: (r) => r.nonce });
}

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
    await lockFile(this.path)
      .remove(this.record.nonce)
      .catch(() => false);
  }

  /** Synchronous variant for exit handlers. */
  releaseSync(): void {
    if (this.#released) return;
    this.#released = true;
    try {
      lockFile(this.path).removeSync(this.record.nonce);
    } catch {
      // already gone
    }
  }
}

/** The record in a lock file; null when the file is missing or unreadable as a lock record. */
export async function readLockRecord(path: string): Promise<LockRecord | null> {
  try {
    const record = await lockFile(path).read();
    return record === 'unreadable' ? null : record;
  } catch {
    return null;
  }
}

/** Remove the lock with this record if it is still that lock (not one taken over meanwhile). */
export function removeLockRecord(path: string, record: LockRecord): Promise<boolean> {
  return lockFile(path).remove(record.nonce);
}

/**
 * Try once to take the lock for the current process. A lock held by a dead owner (or a damaged one older
 * than DAMAGED_LOCK_STALE_MS) is taken over; a live owner's lock is reported.
 */
export async function tryAcquireLock(
  path: string,
  extra: Record<string, unknown> = {},
  identity: ProcessIdentity = currentProcessIdentity(),
): Promise<AcquireResult> {
  const file = lockFile(path);
  const record: LockRecord = {
    ...extra,
    pid: identity.pid,
    startTime: identity.startTime,
    nonce: randomBytes(12).toString('hex'),
    acquiredAt: new Date().toISOString(),
  };
  const unknownHolder: LockRecord = { pid: 0, startTime: null, nonce: '', acquiredAt: '' };
  for (let attempt = 0; attempt < 3; attempt += 1) {
    if (await file.tryCreate(record)) return { acquired: true, lock: new HeldLock(path, record) };
    const holder = await file.read();
    if (holder === null) continue; // released between our create and our read
    if (holder === 'unreadable') {
      if (!(await olderThan(path, DAMAGED_LOCK_STALE_MS))) return { acquired: false, holder: unknownHolder };
      await file.removeUnreadable();
      continue;
    }
    if (isAlive(holder)) return { acquired: false, holder };
    // Stale: remove exactly that lock (by nonce), then try again.
    await file.remove(holder.nonce);
  }
  const holder = await file.read();
  return { acquired: false, holder: holder === null || holder === 'unreadable' ? unknownHolder : holder };
}

async function olderThan(path: string, ms: number): Promise<boolean> {
  try {
    const st = await fs.lstat(path);
    return Date.now() - st.mtimeMs > ms;
  } catch {
    return true;
  }
}
