/**
 * Which process holds something (a state lock, a lab folder, a loopback block, a lab daemon), precisely
 * enough to prove it dead before taking the thing over or signalling the pid.
 *
 * Two records, one rule. A `ProcessIdentity` (pid + start time) is enough for processes this host started
 * and checks itself (the lab's daemon and its locks). A `HolderIdentity` adds where the process runs, for
 * locks that another host or container may hold (the state lock).
 *
 * A pid alone is not enough: it is reused after the holder died (and after a reboot), and a container on
 * the same host with the same hostname sees other pids. So a state lock records the host name, the boot id, the pid
 * namespace, the pid and (Linux) the process's start time from /proc/<pid>/stat; a holder is proven gone only when all
 * of host, boot and namespace match ours and the pid is not running or now belongs to a process started at another
 * time, or when the host matches and the boot id differs (the machine rebooted since).
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { pidRunning, processStartTime } from './process.js';
import * as os from 'node:os';

export interface HolderIdentity {
  host: string;
  /** /proc/sys/kernel/random/boot_id (Linux), else null. */
  bootId: string | null;
  /** The pid namespace, e.g. `pid:[4026531836]` (Linux), else null. */
  pidNamespace: string | null;
  pid: number;
  /** Kernel start time in clock ticks since boot (field 22 of /proc/<pid>/stat), else null. */
  processStart: string | null;
}

export interface ProcessIdentity {
  pid: number;
  /** Kernel start time (clock ticks since boot) on Linux; null where unknown. */
  startTime: string | null;
}

export function currentProcessIdentity(): ProcessIdentity {
  return { pid: process.pid, startTime: processStartTime(process.pid) };
}

/**
 * The recorded process still runs: the pid is running and, where both start times are known, it is the
 * same process (a pid is reused after its process died; signalling or waiting on the new one is wrong).
 */
export function isAlive(identity: ProcessIdentity): boolean {
  if (!pidRunning(identity.pid)) return false;
  if (identity.startTime === null) return true;
  const now = processStartTime(identity.pid);
  return now === null || now === identity.startTime;
}

function readOrNull(read: () => string): string | null {
  try {
    return read().trim() || null;
  } catch {
    return null;
  }
}

export function currentIdentity(): HolderIdentity {
  return {
    host: os.hostname(),
    bootId: readOrNull(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8')),
    pidNamespace: readOrNull(() => readlinkSync('/proc/self/ns/pid')),
    pid: process.pid,
    processStart: processStartTime(process.pid),
  };
}

/** `user@host`, as Terraform records it. */
export function currentWho(): string {
  let user: string;
  try {
    user = os.userInfo().username;
  } catch {
    user = process.env.USER ?? process.env.USERNAME ?? 'unknown';
  }
  return `${user}@${os.hostname()}`;
}

/**
 * `this-process`: the caller holds it. `alive`: a running process on this host. `gone`: proven not
 * running (see the module comment). `unknown`: another host or another pid namespace; cannot be checked.
 */
export type HolderLiveness =
  { state: 'this-process' | 'alive' | 'unknown'; reason: string } | { state: 'gone'; reason: string };

export function holderLiveness(holder: HolderIdentity, self: HolderIdentity = currentIdentity()): HolderLiveness {
  if (holder.host !== self.host)
    return { state: 'unknown', reason: `it is held on another host (${holder.host}), which this process cannot check` };
  if (holder.bootId !== null && self.bootId !== null && holder.bootId !== self.bootId) {
    return { state: 'gone', reason: `host ${holder.host} has rebooted since the lock was taken` };
  }
  if (holder.bootId !== self.bootId || holder.pidNamespace !== self.pidNamespace) {
    return {
      state: 'unknown',
      reason: `it is held from another container or namespace on host ${holder.host}, which this process cannot check`,
    };
  }
  if (holder.pid === self.pid && (holder.processStart === null || holder.processStart === self.processStart)) {
    return { state: 'this-process', reason: 'it is held by this process' };
  }
  if (!pidRunning(holder.pid))
    return { state: 'gone', reason: `process ${holder.pid} on this host is no longer running` };
  if (!isAlive({ pid: holder.pid, startTime: holder.processStart })) {
    return {
      state: 'gone',
      reason: `process ${holder.pid} on this host is no longer running (the pid now belongs to another process)`,
    };
  }
  return { state: 'alive', reason: `process ${holder.pid} on this host is still running` };
}
