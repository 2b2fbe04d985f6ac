/** The async-iterable watch the Talos API client hands out for Watch streams (see failover.ts). */
import { RotateError } from '../domain/errors.js';

/**
 * A running watch: iterate it for events (`for await`); `ready` resolves when the server confirmed the watch
 * (its first, empty response) and rejects if the watch fails before that. A watch never ends by itself: if
 * the stream breaks or ends, iteration throws a TalosApiError. `close()` (or breaking out of the loop)
 * cancels it; iteration then simply ends.
 */
export interface Watch<T> extends AsyncIterable<T> {
  readonly ready: Promise<void>;
  readonly node: string | undefined;
  close(): void;
}

/** Queue between a gRPC stream and an async iterator. */
export class StreamWatch<T> implements Watch<T> {
  readonly ready: Promise<void>;
  readonly node: string | undefined;
  closedByUser = false;
  failed = false;
  #resolveReady!: () => void;
  #rejectReady!: (err: Error) => void;
  #queue: T[] = [];
  #error: Error | undefined;
  #waiters: Array<{ resolve: (r: IteratorResult<T>) => void; reject: (err: Error) => void }> = [];
  #cancel: (() => void) | undefined;

  constructor(node: string | undefined) {
    this.node = node;
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    // Failures also reach the iterator; nobody has to await `ready`.
    this.ready.catch(() => {});
  }

  attach(cancel: () => void): void {
    this.#cancel = cancel;
    if (this.closedByUser || this.failed) cancel();
  }

  markReady(): void {
    this.#resolveReady();
  }

  push(value: T): void {
    if (this.closedByUser || this.failed) return;
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve({ value, done: false });
    else this.#queue.push(value);
  }

  fail(err: Error): void {
    if (this.closedByUser || this.failed) return;
    this.failed = true;
    this.#error = err;
    this.#rejectReady(err);
    this.#cancel?.();
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }

  abort(err: Error): void {
    this.fail(err);
  }

  close(): void {
    if (this.closedByUser) return;
    this.closedByUser = true;
    this.#cancel?.();
    this.#rejectReady(
      new RotateError('TALOS_WATCH_CLOSED', 'the watch was closed before it was ready', { source: 'internal' }),
    );
    for (const w of this.#waiters.splice(0)) w.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.#queue.length > 0) return Promise.resolve({ value: this.#queue.shift()!, done: false });
        if (this.#error) return Promise.reject(this.#error);
        if (this.closedByUser) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
