/**
 * The lab folder (DIR) as a unit: `lab.pid` claims it for one lab process (created exclusively, stale when
 * that process is dead), `lab.json` is written last, when every node is Ready, and is the signal that the
 * lab is up; `lab.log` receives a detached lab's output.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { RotateError } from '../../domain/errors.js';
import { ensurePrivateDir, writeFileAtomic } from '../../util/atomic-file.js';
import { validateLabFile, type LabFile } from './contracts.js';
import { readLockRecord, tryAcquireLock, type HeldLock, type LockRecord } from './pid-lock.js';
import { isAlive } from '../../util/process-identity.js';

export const LAB_FILE = 'lab.json';
export const PID_FILE = 'lab.pid';
export const LOG_FILE = 'lab.log';

export function labFilePath(dir: string): string {
  return path.join(dir, LAB_FILE);
}

export function pidFilePath(dir: string): string {
  return path.join(dir, PID_FILE);
}

export function logFilePath(dir: string): string {
  return path.join(dir, LOG_FILE);
}

function alreadyRunning(dir: string, pid: number): RotateError {
  return new RotateError(
    'LAB_ALREADY_RUNNING',
    pid > 0 ? `a lab is already running in ${dir} (pid ${pid})` : `a lab is starting in ${dir}`,
    {
      hint: `stop it first with \`rotate lab down --dir ${dir}\`, or choose another --dir`,
    },
  );
}

/** Claim DIR for the current process (creating DIR 0700); throws LAB_ALREADY_RUNNING naming the pid. */
export async function claimLabDir(dir: string): Promise<HeldLock> {
  await ensurePrivateDir(dir);
  const result = await tryAcquireLock(pidFilePath(dir), { dir });
  if (!result.acquired) throw alreadyRunning(dir, result.holder.pid);
  return result.lock;
}

/** lab.json, validated; null when there is none. */
export async function readLabFile(dir: string): Promise<LabFile | null> {
  const file = labFilePath(dir);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new RotateError(
      'LAB_FILE_READ',
      `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      { hint: 'check the permissions of DIR' },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new RotateError('LAB_FILE_INVALID', `${file} is not JSON`, {
      hint: 'it is written by `rotate lab up`; `rotate lab down --dir DIR` cleans up a broken lab folder',
    });
  }
  return validateLabFile(value, file);
}

/** lab.json holds the control token: 0600, written atomically. */
export async function writeLabFile(dir: string, lab: LabFile): Promise<void> {
  await writeFileAtomic(labFilePath(dir), `${JSON.stringify(lab, null, 2)}\n`, { mode: 0o600 });
}

export interface LabDirStatus {
  /** The claim in lab.pid (null when none). */
  pidRecord: LockRecord | null;
  /** lab.json (null while the lab starts, or when none runs). */
  labFile: LabFile | null;
  /** The lab process is alive (it may still be starting when labFile is null). */
  running: boolean;
  /** The pid of the lab process as recorded (null when nothing is recorded). */
  pid: number | null;
}

export async function labDirStatus(dir: string): Promise<LabDirStatus> {
  const pidRecord = await readLockRecord(pidFilePath(dir));
  let labFile: LabFile | null = null;
  try {
    labFile = await readLabFile(dir);
  } catch (err) {
    if (!RotateError.is(err)) throw err;
    // A broken lab.json: report on the pid file alone.
  }
  const identity = pidRecord ?? (labFile ? { pid: labFile.pid, startTime: labFile.processStartTime } : null);
  const running = identity !== null && isAlive(identity);
  return { pidRecord, labFile, running, pid: identity?.pid ?? null };
}

/** Refuse early (before spawning anything) when DIR already hosts a live lab. */
export async function assertNoLabRunning(dir: string): Promise<void> {
  const status = await labDirStatus(dir);
  if (status.running) throw alreadyRunning(dir, status.pid ?? 0);
}

/** Remove what a lab left in DIR when it did not stop cleanly (only lab.json and lab.pid). */
export async function removeLabRuntimeFiles(dir: string): Promise<void> {
  await fs.unlink(labFilePath(dir)).catch(() => undefined);
  await fs.unlink(pidFilePath(dir)).catch(() => undefined);
}
