/**
 * Polls woken early by a watch: each event of the watch ends the poll loop's current sleep at once (or, when
 * it came while the loop was checking, skips the next sleep). The loop's own check always decides; the watch
 * only makes it run sooner. A watch that cannot be opened or dies leaves plain polling.
 */
import type { Watch } from '../talos/stream-watch.js';
import { sleep } from './retry.js';

export interface WatchWake {
  /** Call before each check: events from now on count for the next sleep. */
  checking(): void;
  /** Sleeps up to `ms`, less if an event arrives (or already arrived since checking()). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Closes the watch and waits for its reader to stop. */
  close(): Promise<void>;
}

/**
 * `skipFirst`: the first event does not wake (a COSI watch on one resource starts with the resource as it is,
 * which the loop's first check reads anyway).
 */
export function wakeOnWatch<T>(
  open: () => Watch<T>,
  opts: { skipFirst?: boolean; onEvent?: (event: T) => void } = {},
): WatchWake {
  let eventSinceCheck = false;
  const waker: { wake: (() => void) | null } = { wake: null };
  let watch: Watch<T> | null;
  try {
    watch = open();
  } catch {
    watch = null;
  }
  const reader = (async () => {
    if (!watch) return;
    try {
      let first = true;
      for await (const e of watch) {
        opts.onEvent?.(e);
        if (first && opts.skipFirst) {
          first = false;
          continue;
        }
        first = false;
        eventSinceCheck = true;
        waker.wake?.();
      }
    } catch {
      // A dead watch is fine: the poll decides.
    }
  })();
  return {
    checking() {
      eventSinceCheck = false;
    },
    async sleep(ms, signal) {
      if (!eventSinceCheck) await sleep(ms, signal, (w) => (waker.wake = w));
      waker.wake = null;
    },
    async close() {
      watch?.close();
      await reader;
    },
  };
}
