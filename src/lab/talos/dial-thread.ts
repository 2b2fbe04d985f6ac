/**
 * Where the lab's own client dials run: the background probes and the workers' trustd requests
 * (dial-call.ts). A 200-node lab makes tens of thousands of them during a rotation, each a full TLS handshake
 * (Node verifies and parses the peer chain on every one) and a gRPC call: on the lab's single event loop they
 * competed with everything the lab serves, and the lab's CPU set the pace of a 200-node apply. On a thread of
 * their own they use the machine's other core; the servers they reach, the ledger and every decision stay on
 * the lab's thread, and a job's outcome is the same wherever it ran (the same code makes the dial).
 *
 * If the thread cannot start or dies, jobs run on the lab's thread again (what was in flight is re-run).
 */
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../core/worker-thread.js';
import { dialAndCall, type UnaryJob, type UnaryOutcome } from './dial-call.js';

export interface LabDialer {
  unary(job: UnaryJob): Promise<UnaryOutcome>;
  /** Whether jobs run on the dial thread (false: on the caller's). */
  readonly threaded: boolean;
  close(): Promise<void>;
}

/** Runs every job on the caller's thread. */
export function inlineDialer(): LabDialer {
  return { unary: dialAndCall, threaded: false, close: async () => undefined };
}

/** The thread's entry: `dial-worker.js` beside this module (core/worker-thread.ts). */
function startWorker(): Worker {
  return startModuleWorker(new URL('./dial-worker.js', import.meta.url));
}

export function threadDialer(
  log: (message: string) => void = () => undefined,
  /** How the thread is started (tests start one that fails). */
  start: () => Worker = startWorker,
): LabDialer {
  const pending = new Map<
    number,
    { job: UnaryJob; resolve: (o: UnaryOutcome) => void; reject: (err: Error) => void }
  >();
  let nextId = 1;
  let worker: Worker | null = null;
  let closed = false;

  const fallBack = (why: string): void => {
    if (!worker) return;
    worker = null;
    if (closed) return;
    log(`dial thread stopped (${why}); the lab's own thread makes its dials from now on`);
    for (const [id, p] of pending) {
      pending.delete(id);
      dialAndCall(p.job).then(p.resolve, p.reject);
    }
  };

  try {
    worker = start();
    worker.unref();
    worker.on('message', (msg: { id: number; outcome: UnaryOutcome } | { id: number; error: string }) => {
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      if ('error' in msg) p.reject(new Error(msg.error));
      else p.resolve(msg.outcome);
    });
    worker.on('error', (err) => fallBack(err.message));
    worker.on('exit', (code) => fallBack(`exit code ${code}`));
  } catch (err) {
    log(`dial thread not started (${(err as Error).message}); dials run on the lab's own thread`);
    worker = null;
  }

  return {
    get threaded() {
      return worker !== null;
    },
    unary(job) {
      const w = worker;
      if (!w || closed) return dialAndCall(job);
      return new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { job, resolve, reject });
        w.postMessage({ id, job });
      });
    },
    async close() {
      closed = true;
      const w = worker;
      worker = null;
      // Whatever was still in flight ends as a dial that got no answer.
      for (const [id, p] of pending) {
        pending.delete(id);
        p.resolve({ kind: 'dial-failed', failure: { ok: false, kind: 'unavailable', detail: 'the lab is stopping' } });
      }
      await w?.terminate();
    },
  };
}
