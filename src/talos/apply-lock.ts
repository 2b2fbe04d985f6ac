/**
 * Waiting for a node's apply lock. Talos runs one ApplyConfiguration at a time per node, dry runs included,
 * and refuses the others at once (`isApplyLockHeld`). Our own calls never overlap on a node, but another
 * operator or controller (talosctl, Omni, Terraform) may be applying a config: that ends by itself, so a
 * refused call is sent again with bounded backoff, and when the lock never frees up in time the error names
 * the node and says that another apply holds it.
 */
import { RotateError } from '../domain/errors.js';
import { isApplyLockHeld, type TalosApiError } from './errors.js';

/** How long a call waits for a node's apply lock by default (`--apply-lock-wait`). */
export const DEFAULT_APPLY_LOCK_WAIT_MS = 60_000;

const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 2_000;

/** Delay before attempt `attempt + 1` (attempt counts from 1): 250 ms, doubling, at most 2 s. */
export function applyLockBackoff(attempt: number): number {
  return Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.max(0, attempt - 1));
}

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
    }),
};

export interface ApplyLockWaitOptions {
  /** The node the call goes to (named in the error). */
  node: string;
  /** How long to keep trying while the lock is held (0: one attempt). */
  waitMs: number;
  signal?: AbortSignal;
  /** Called before each wait, with the refusal. */
  onWait?: (err: TalosApiError, attempt: number, delayMs: number) => void;
  clock?: Clock;
}

/** The error when a node's apply lock stayed held for the whole wait. */
export function applyLockHeldError(node: string, waitedMs: number, cause: TalosApiError): RotateError {
  const waited = waitedMs >= 1000 ? `${Math.round(waitedMs / 100) / 10} s` : `${waitedMs} ms`;
  return new RotateError(
    'TALOS_APPLY_LOCK_HELD',
    `node ${node}: another apply holds the node's apply lock: every ApplyConfiguration for ${waited} was refused ` +
      `with "${cause.detail}"`,
    {
      hint:
        'another operator or controller (talosctl, Omni, Terraform, another rotate run) ' +
        `is applying a config to node ${node}; let it finish or stop it, then run again (--apply-lock-wait sets ` +
        'how long to wait)',
      cause,
      source: 'cluster',
    },
  );
}

/**
 * `call` (one ApplyConfiguration to `opts.node`), sent again while the node answers that its apply lock is
 * held, until `opts.waitMs` have passed. Any other outcome is returned or thrown as it is.
 */
export async function waitForApplyLock<T>(call: () => Promise<T>, opts: ApplyLockWaitOptions): Promise<T> {
  const clock = opts.clock ?? realClock;
  const started = clock.now();
  const deadline = started + Math.max(0, opts.waitMs);
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!isApplyLockHeld(err)) throw err;
      const remaining = deadline - clock.now();
      if (opts.signal?.aborted || remaining <= 0) throw applyLockHeldError(opts.node, clock.now() - started, err);
      // The last attempt is made at the deadline itself.
      const delay = Math.min(applyLockBackoff(attempt), remaining);
      opts.onWait?.(err, attempt, delay);
      await clock.sleep(delay, opts.signal);
    }
  }
}
