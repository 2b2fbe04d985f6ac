/**
 * Is a recorded process still the one that wrote the record? A pid alone can be reused by an unrelated
 * process after the lab died; signalling that process would be wrong. On Linux the kernel's start time
 * of the process (field 22 of /proc/PID/stat) is recorded beside the pid and compared; elsewhere only the
 * pid is checked.
 */
import { pidRunning, processStartTime } from '../../util/process.js';

export interface ProcessIdentity {
  pid: number;
  /** Kernel start time (clock ticks since boot) on Linux; null where unknown. */
  startTime: string | null;
}

export function currentProcessIdentity(): ProcessIdentity {
  return { pid: process.pid, startTime: processStartTime(process.pid) };
}

/** True when the process is alive and, where start times are known, is the same process as recorded. */
export function isAlive(identity: ProcessIdentity): boolean {
  if (!pidRunning(identity.pid)) return false;
  if (identity.startTime === null) return true;
  const now = processStartTime(identity.pid);
  return now === null || now === identity.startTime;
}
