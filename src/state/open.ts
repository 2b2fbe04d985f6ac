/**
 * What `rotate apply` and `rotate rollback` do first: open the state file and take its lock, waiting
 * `--lock-timeout` for a live holder and breaking the lock of a holder proven gone on this host. The caller releases
 * the lock when the run ends (also on Ctrl-C).
 */
import { openFileStateStore, type StateStore } from './store.js';
import type { LockInfo, LockStatus, LockWait } from './lock.js';
import { statePaths } from './paths.js';
import type { RunOperation, StatePaths } from './types.js';

export interface LockedState {
  store: StateStore;
  lock: LockInfo;
  paths: StatePaths;
  /** Remove our lock; false when someone broke it meanwhile. Safe to call twice. */
  release(): Promise<boolean>;
}

export async function openLockedState(opts: {
  statePath: string;
  desiredFile?: string | null;
  operation: RunOperation;
  /** 0: fail at once when locked. */
  lockTimeoutMs?: number;
  onLockWait?: (wait: LockWait) => void;
  /** A lock whose holder is proven gone was broken (see lock.ts); the caller says so. */
  onStaleLockBroken?: (stale: LockStatus) => void;
  info?: string;
}): Promise<LockedState> {
  const paths = statePaths(opts.statePath);
  const store = openFileStateStore(paths.state, { desiredFile: opts.desiredFile ?? null });
  const lock = await store.lock(
    { operation: opts.operation, ...(opts.info ? { info: opts.info } : {}) },
    {
      timeoutMs: opts.lockTimeoutMs ?? 0,
      breakGone: true,
      ...(opts.onLockWait ? { onWait: opts.onLockWait } : {}),
      ...(opts.onStaleLockBroken ? { onBrokeStale: opts.onStaleLockBroken } : {}),
    },
  );
  let released: Promise<boolean> | undefined;
  return { store, lock, paths, release: () => (released ??= store.release(lock.id)) };
}
