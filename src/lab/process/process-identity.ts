/**
 * Is a recorded process still the one that wrote the record? A pid alone can be reused by an unrelated
 * process after the lab died; signalling that process would be wrong. On Linux the kernel's start time
 * of the process (field 22 of /proc/PID/stat) is recorded beside the pid and compared; elsewhere only the
 * pid is checked.
 */
import { readFileSync } from 'node:fs';

export interface ProcessIdentity {
  pid: number;
  /** Kernel start time (clock ticks since boot) on Linux; null where unknown. */
  startTime: string | null;
}

/** Fields 3… of /proc/PID/stat, or null (not Linux, no such process, unreadable). */
function procStat(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may itself hold spaces or parentheses.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Start time of a process from /proc, or null (not Linux, no such process, unreadable). */
export function processStartTime(pid: number): string | null {
  // rest[0] is field 3 (state), so field 22 is rest[19].
  return procStat(pid)?.[19] ?? null;
}

/**
 * A process that has exited but was not reaped yet (zombie): its pid still answers kill(pid, 0). A
 * detached lab's parent is gone, so whoever adopted it reaps it, possibly late.
 */
function isZombie(pid: number): boolean {
  const state = procStat(pid)?.[0];
  return state === 'Z' || state === 'X';
}

export function currentProcessIdentity(): ProcessIdentity {
  return { pid: process.pid, startTime: processStartTime(process.pid) };
}

/** True when a process with this pid exists (including one of another user: EPERM). */
export function pidExists(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when the process is alive and, where start times are known, is the same process as recorded. */
export function isAlive(identity: ProcessIdentity): boolean {
  if (!pidExists(identity.pid) || isZombie(identity.pid)) return false;
  if (identity.startTime === null) return true;
  const now = processStartTime(identity.pid);
  return now === null || now === identity.startTime;
}
