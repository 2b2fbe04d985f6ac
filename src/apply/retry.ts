/**
 * Bounded retries for transient failures only, as talosctl does (talos-behaviour.md §2.6): a node restarting a
 * component or a dropped connection is retried with backoff until a deadline; anything else — a TLS trust
 * failure, a refused config, a permission problem — fails at once, because retrying cannot fix it.
 */
import { RotateError } from '../domain/errors.js';

/** Budgets, named so that the README and the code agree. */
export const BUDGETS = {
  /** One node's patch (re-read, apply, re-read), retried as a whole on transient errors. */
  patchMs: 60_000,
  /** A kubelet restart: gone, then running and healthy again. */
  kubeletRestartMs: 180_000,
  /**
   * A control plane's kube-apiserver and kube-controller-manager re-created from its new Kubernetes CA
   * config (Talos's own upgrade flow waits 5 minutes for a static pod).
   */
  staticPodsMs: 300_000,
  /** A worker fetching its new apid certificate and trust bundle from trustd. */
  workerRegistrationMs: 60_000,
  /** Talos gate: Version on every node. */
  talosGateMs: 60_000,
  /** Kubernetes gate: every Node Ready (talosctl waits 3 minutes). */
  kubernetesGateMs: 180_000,
} as const;

export interface RetryOptions {
  deadline: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  signal?: AbortSignal;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Worth another attempt: an error its producer classified as transient (Talos: unreachable, deadline,
 * cancelled; Kubernetes: unreachable, timed out). A call cancelled by our own signal is never retried:
 * retryTransient checks the signal first.
 */
export function isTransient(err: unknown): boolean {
  return RotateError.is(err) && err.transient;
}

export async function retryTransient<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  let delay = opts.initialDelayMs ?? 250;
  const max = opts.maxDelayMs ?? 4_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      if (!isTransient(err) || Date.now() + delay > opts.deadline) throw err;
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay, opts.signal);
      delay = Math.min(max, delay * 2);
    }
  }
}

/** Sleep `ms`, or less when the signal aborts or `wakeOn`'s wake-up is called (e.g. by a watch event). */
export function sleep(ms: number, signal?: AbortSignal, wakeOn?: (wake: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
    wakeOn?.(done);
  });
}
