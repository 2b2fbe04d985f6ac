/**
 * One apply or rollback per state at a time, as Terraform's local backend: a lock record (id, who, where,
 * when, operation, pid, tool version) created exclusively next to the state, waited for with backoff
 * (1 s doubling to 16 s) up to a timeout, broken only by `rotate state unlock ID` with the exact id.
 *
 * A lock whose holder is proven gone (process-identity.ts: same host, and the process no longer exists, its
 * pid belongs to a process started at another time, or the host rebooted since) is broken by the next apply
 * or rollback (`breakGone`), which says so (`onBrokeStale`) and then resumes the unfinished run from what it
 * reads of the cluster: nothing of the crashed run can still act. Without `breakGone` (and for a holder on
 * another host, or one that may be alive) it needs `rotate state unlock ID`.
 *
 * The waiting and breaking rules are written once here over a LockSlot (the file, or memory for tests).
 */
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { RotateError } from '../domain/errors.js';
import { RecordLockFile } from '../util/record-lock-file.js';
import { ensureIgnoredPrivateDir } from './state-dir.js';
import { TOOL_VERSION } from '../version.js';
import {
  currentIdentity,
  currentWho,
  holderLiveness,
  type HolderIdentity,
  type HolderLiveness,
} from '../util/process-identity.js';

export interface LockInfo extends HolderIdentity {
  /** Random UUID: the nonce `rotate state unlock` must be given. */
  id: string;
  /** `apply`, `rollback`, … */
  operation: string;
  /** `user@host`. */
  who: string;
  /** The state file it guards. */
  path: string;
  /** ISO 8601 UTC. */
  created: string;
  toolVersion: string;
  info?: string;
}

export interface LockStatus {
  info: LockInfo;
  liveness: HolderLiveness;
}

export interface LockRequest {
  operation: string;
  info?: string;
}

export interface LockWait {
  holder: LockStatus;
  attempt: number;
  /** How long until the next attempt. */
  delayMs: number;
  waitedMs: number;
}

export interface LockWaitOptions {
  /** 0 (default): fail at once when the state is locked. */
  timeoutMs?: number;
  /** Called before each wait, e.g. to emit a progress event. */
  onWait?: (wait: LockWait) => void;
  /** Break a lock whose holder is proven gone (see the module comment) instead of failing STATE_LOCK_STALE. */
  breakGone?: boolean;
  /** Called after a gone holder's lock was broken (breakGone), before the lock is taken. */
  onBrokeStale?: (stale: LockStatus) => void;
  /** Injected for tests. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/** Where a lock record lives: created exclusively, read, removed only when it still has the given id. */
export interface LockSlot {
  tryCreate(info: LockInfo): Promise<boolean>;
  read(): Promise<LockInfo | 'unreadable' | null>;
  remove(id: string): Promise<boolean>;
  /** For messages: the lock file, or `(memory)`. */
  readonly where: string;
}

export const LOCK_FIRST_DELAY_MS = 1_000;
export const LOCK_MAX_DELAY_MS = 16_000;

const LOCK_ERROR_BRAND = Symbol.for('talos-rotate.StateLockError');

/** The state is locked by someone else: carries the holder, as Terraform's LockError. */
export class StateLockError extends RotateError {
  readonly holder: LockStatus;

  constructor(code: string, message: string, holder: LockStatus, hint: string) {
    super(code, message, { hint });
    this.holder = holder;
    Object.defineProperty(this, LOCK_ERROR_BRAND, { value: true });
  }

  static isLockError(value: unknown): value is StateLockError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[LOCK_ERROR_BRAND] === true;
  }
}

export function newLockInfo(request: LockRequest, statePath: string, now: Date = new Date()): LockInfo {
  return {
    id: randomUUID(),
    operation: request.operation,
    who: currentWho(),
    path: statePath,
    created: now.toISOString(),
    toolVersion: TOOL_VERSION,
    ...currentIdentity(),
    ...(request.info ? { info: request.info } : {}),
  };
}

export function lockStatus(info: LockInfo): LockStatus {
  return { info, liveness: holderLiveness(info) };
}

/** `rotate state unlock ID --state PATH`, for hints. */
export function unlockCommand(id: string, statePath: string): string {
  return `rotate state unlock ${id} --state ${statePath}`;
}

/** One line naming the holder: who, what, since when, which process, which lock id. */
export function describeHolder(info: LockInfo): string {
  return (
    `${info.who} (${info.operation} since ${info.created}, pid ${info.pid}, talos-rotate ${info.toolVersion}, ` +
    `lock id ${info.id})`
  );
}

export function formatDurationMs(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  return s % 60 === 0 ? `${s / 60}m` : `${Math.floor(s / 60)}m${s % 60}s`;
}

/** `waitedMs` null: the caller did not wait (no --lock-timeout). */
function heldError(status: LockStatus, statePath: string, waitedMs: number | null): StateLockError {
  const { info, liveness } = status;
  const unlock = unlockCommand(info.id, statePath);
  if (liveness.state === 'gone') {
    return new StateLockError(
      'STATE_LOCK_STALE',
      `state ${statePath} is locked by ${describeHolder(info)}, but the lock is stale: ${liveness.reason}`,
      status,
      `that ${info.operation} stopped without releasing its lock; ` +
        `look at \`rotate state show --state ${statePath}\`, then break the lock with \`${unlock}\` and run again ` +
        '(an unfinished run is resumed)',
    );
  }
  const waited = waitedMs !== null ? `; waited ${formatDurationMs(waitedMs)}` : '';
  const where =
    liveness.state === 'unknown'
      ? ` (${liveness.reason})`
      : liveness.state === 'this-process'
        ? ' (this same process)'
        : '';
  return new StateLockError(
    'STATE_LOCKED',
    `state ${statePath} is locked by ${describeHolder(info)}${where}${waited}`,
    status,
    `wait for that ${info.operation} to finish (\`--lock-timeout 2m\` waits for it); ` +
      `if it is no longer running, break the lock with \`${unlock}\``,
  );
}

function unreadableError(slot: LockSlot, statePath: string): RotateError {
  return new RotateError(
    'STATE_LOCK_UNREADABLE',
    `state ${statePath} is locked, but the lock file ${slot.where} cannot be read as a lock`,
    {
      hint: `if no apply or rollback is running on this state, delete ${slot.where} and run again`,
    },
  );
}

/**
 * Take the lock, waiting up to `timeoutMs` while a live (or uncheckable) holder has it. A stale lock
 * fails at once: it would never be released.
 */
export async function acquireLock(
  slot: LockSlot,
  statePath: string,
  request: LockRequest,
  options: LockWaitOptions = {},
): Promise<LockInfo> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const timeoutMs = Math.max(0, options.timeoutMs ?? 0);
  const start = now();
  let delay = LOCK_FIRST_DELAY_MS;
  for (let attempt = 1; ; attempt++) {
    const info = newLockInfo(request, statePath, new Date(now()));
    if (await slot.tryCreate(info)) return info;
    const current = await slot.read();
    if (current === null) continue; // released between our create and our read: try again at once
    if (current === 'unreadable') throw unreadableError(slot, statePath);
    const status = lockStatus(current);
    if (status.liveness.state === 'gone' && options.breakGone) {
      // Only this exact lock (by id): a lock someone took meanwhile is not touched. Then try again at once.
      if (await slot.remove(current.id)) options.onBrokeStale?.(status);
      continue;
    }
    const waited = now() - start;
    const left = timeoutMs - waited;
    if (status.liveness.state === 'gone' || left <= 0)
      throw heldError(status, statePath, timeoutMs > 0 ? waited : null);
    const delayMs = Math.min(delay, left);
    options.onWait?.({ holder: status, attempt, delayMs, waitedMs: waited });
    await sleep(delayMs);
    delay = Math.min(delay * 2, LOCK_MAX_DELAY_MS);
  }
}

export async function readLock(slot: LockSlot, statePath: string): Promise<LockStatus | null> {
  const current = await slot.read();
  if (current === null) return null;
  if (current === 'unreadable') throw unreadableError(slot, statePath);
  return lockStatus(current);
}

/**
 * Remove the lock with this exact id. Refused for another id (both shown), and for a holder that is still
 * running on this host (another process) unless `force`. The holder itself may always release its lock.
 */
export async function breakLock(
  slot: LockSlot,
  statePath: string,
  id: string,
  options: { force?: boolean } = {},
): Promise<LockStatus> {
  const status = await readLock(slot, statePath);
  if (!status) {
    throw new RotateError('STATE_NOT_LOCKED', `state ${statePath} is not locked`, {
      hint: 'nothing to unlock; check the --state path if you expected a lock',
    });
  }
  const { info, liveness } = status;
  if (info.id !== id) {
    throw new RotateError(
      'STATE_LOCK_ID_MISMATCH',
      `lock id ${id} does not match the lock on state ${statePath}, ` +
        `which is ${info.id} held by ${describeHolder(info)}`,
      {
        hint:
          'the id acts as a nonce so that only the intended lock is broken; if that lock is the one to break, ' +
          `run \`${unlockCommand(info.id, statePath)}\``,
      },
    );
  }
  if (liveness.state === 'alive' && !options.force) {
    throw new RotateError(
      'STATE_LOCK_HOLDER_ALIVE',
      `refusing to break the lock on state ${statePath}: ${liveness.reason} (${describeHolder(info)})`,
      {
        hint:
          `let that ${info.operation} finish or stop it (Ctrl-C releases its lock); ` +
          'to break the lock anyway, add --force (two runs on one cluster can leave it broken)',
      },
    );
  }
  if (!(await slot.remove(id))) {
    throw new RotateError('STATE_LOCK_CHANGED', `the lock on state ${statePath} changed while it was being broken`, {
      hint: 'run `rotate state show` to see the new holder',
    });
  }
  return status;
}

/** Release our own lock; false when it was already gone or replaced (broken by someone else). */
export function releaseLock(slot: LockSlot, id: string): Promise<boolean> {
  return slot.remove(id);
}

// ---------------------------------------------------------------------------------------------------
// Slots

function isLockInfo(value: unknown): value is LockInfo {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    ['id', 'operation', 'who', 'path', 'created', 'toolVersion', 'host'].every((k) => typeof v[k] === 'string') &&
    typeof v.pid === 'number' &&
    ['bootId', 'pidNamespace', 'processStart'].every((k) => v[k] === null || typeof v[k] === 'string')
  );
}

/** `<state>.lock`, 0600: a RecordLockFile (created complete or not at all, removed only by id). */
export class FileLockSlot implements LockSlot {
  readonly where: string;
  readonly #file: RecordLockFile<LockInfo>;

  constructor(lockFile: string) {
    this.where = lockFile;
    this.#file = new RecordLockFile(lockFile, { parse: (v) => (isLockInfo(v) ? v : null), idOf: (info) => info.id });
  }

  async tryCreate(info: LockInfo): Promise<boolean> {
    try {
      await ensureIgnoredPrivateDir(path.dirname(this.where));
      return await this.#file.tryCreate(info);
    } catch (err) {
      throw new RotateError(
        'STATE_LOCK_WRITE_FAILED',
        `cannot create the lock file ${this.where}: ${err instanceof Error ? err.message : String(err)}`,
        {
          hint: `check the permissions of ${path.dirname(this.where)}`,
          cause: err,
        },
      );
    }
  }

  read(): Promise<LockInfo | 'unreadable' | null> {
    return this.#file.read();
  }

  remove(id: string): Promise<boolean> {
    return this.#file.remove(id);
  }
}

/** A lock slot in memory, shared by the stores opened on one memory backing. */
export class MemoryLockSlot implements LockSlot {
  readonly where = '(memory lock)';
  #info: LockInfo | null = null;

  async tryCreate(info: LockInfo): Promise<boolean> {
    if (this.#info) return false;
    this.#info = structuredClone(info);
    return true;
  }

  async read(): Promise<LockInfo | null> {
    return this.#info ? structuredClone(this.#info) : null;
  }

  async remove(id: string): Promise<boolean> {
    if (this.#info?.id !== id) return false;
    this.#info = null;
    return true;
  }
}

// ---------------------------------------------------------------------------------------------------
// --lock-timeout

const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** `30s`, `2m`, `1m30s`, `500ms`, `1h`, `0` → milliseconds; CLI_DURATION_INVALID otherwise. */
export function parseDuration(text: string, flag = '--lock-timeout'): number {
  const value = text.trim();
  if (value === '0') return 0;
  let total = 0;
  let consumed = 0;
  for (const match of value.matchAll(DURATION_PART)) {
    if (match.index !== consumed) break;
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
    consumed += match[0].length;
  }
  if (value === '' || consumed !== value.length) {
    throw new RotateError('CLI_DURATION_INVALID', `${flag} ${JSON.stringify(text)} is not a duration`, {
      hint: 'write a number with a unit, e.g. 30s, 2m, 1m30s, 500ms (0: do not wait)',
    });
  }
  return Math.round(total);
}
