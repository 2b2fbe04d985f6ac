/**
 * Facts about a process by pid, for telling a live lock holder or lab daemon from a dead one. A pid alone
 * is reused after its process died, so Linux's per-process start time (field 22 of /proc/PID/stat) is
 * recorded beside it; elsewhere only the pid can be checked.
 */
import { readFileSync } from 'node:fs';

/** Fields 3… of /proc/PID/stat, or null (not Linux, no such process, unreadable). */
function procStat(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (the command) is in parentheses and may itself hold spaces or parentheses.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Kernel start time of a process (clock ticks since boot), or null (not Linux, no such process). */
export function processStartTime(pid: number): string | null {
  // rest[0] is field 3 (state), so field 22 is rest[19].
  return procStat(pid)?.[19] ?? null;
}

/**
 * A process with this pid is running: it exists (EPERM means it belongs to another user) and is not a
 * zombie (exited but not reaped yet, which still answers kill(pid, 0)).
 */
export function pidRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const state = procStat(pid)?.[0];
  return state !== 'Z' && state !== 'X';
}
