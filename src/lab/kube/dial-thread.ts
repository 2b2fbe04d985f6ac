/**
 * Where the Kubernetes side's client requests are made: the kubelets' heartbeats, TLS bootstraps and
 * every-edge dials, and the in-cluster clients' calls (dial.ts). In a 200-node lab they are thousands of TLS
 * handshakes per rotation, and Node checks the server's identity on each by turning the peer's whole chain
 * into objects (`getPeerCertificate(true)`): on the lab's event loop that competed with everything the lab
 * serves. On a thread of their own they use the machine's other core. The servers, the listeners' notes, the
 * ledger and every decision stay on the lab's thread: the thread only runs the transport and reports what the
 * socket saw, which `classify` reads here, exactly as for a request made on this thread.
 *
 * If the thread cannot start or dies, requests are made on the lab's thread again: what was in flight ends
 * as unavailable and the kept connections as closed (the clients connect anew), as if the network had
 * dropped them.
 */
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../core/worker-thread.js';
import { classify, KubeTransport, type DialOutcome, type KubeJob, type RawOutcome } from './dial.js';
import type { VerdictNotes } from './tls-outcome.js';

export interface DialHandle {
  done: Promise<DialOutcome>;
  abort(): void;
}

/** A client's kept connection (keep-alive, one socket), named in the requests that go on it. */
export interface KeptConnection {
  readonly id: number;
  /** Ends it; `onClose` is not called for a connection the client closed itself. */
  close(): void;
}

export interface KubeDialer {
  request(job: KubeJob): DialHandle;
  /** A new kept connection; `onClose` runs once if its socket closes (the client then connects anew). */
  connection(onClose: () => void): KeptConnection;
  /** Whether requests are made on the dial thread (false: on the lab's). */
  readonly threaded: boolean;
  close(): Promise<void>;
}

/** Messages to the thread (kube-dial-worker.ts). */
export type ToDialThread =
  | { type: 'request'; id: number; job: KubeJob }
  | { type: 'abort'; id: number }
  | { type: 'open'; connection: number }
  | { type: 'close'; connection: number };

/** Messages from the thread. */
export type FromDialThread =
  { type: 'outcome'; id: number; outcome: RawOutcome } | { type: 'closed'; connection: number };

/** The thread's entry: `kube-dial-worker.js` beside this module. */
function startWorker(): Worker {
  return startModuleWorker(new URL('./kube-dial-worker.js', import.meta.url));
}

/**
 * Makes requests on the dial thread while it runs, else on this thread. `start` null: never on a thread
 * (small labs, where a thread would cost more than it saves).
 */
export function kubeDialer(
  notes: VerdictNotes,
  log: (message: string) => void = () => undefined,
  /** How the thread is started (tests start one that fails); null: no thread. */
  start: (() => Worker) | null = startWorker,
): KubeDialer {
  const onClose = new Map<number, () => void>();
  const closedByTransport = (connection: number): void => {
    const cb = onClose.get(connection);
    onClose.delete(connection);
    cb?.();
  };
  const inline = new KubeTransport(closedByTransport);
  const pending = new Map<number, (raw: RawOutcome) => void>();
  let nextId = 1;
  let nextConnection = 1;
  let worker: Worker | null = null;
  let closed = false;

  const endPending = (reason: string): void => {
    for (const [id, settle] of pending) {
      pending.delete(id);
      settle({ kind: 'ended', reason });
    }
  };

  const fallBack = (why: string): void => {
    if (!worker) return;
    worker = null;
    if (closed) return;
    log(`Kubernetes dial thread stopped (${why}); the lab's own thread makes those requests from now on`);
    endPending('the dial thread stopped');
    // Its connections went with it: their clients connect anew, on this thread.
    for (const connection of [...onClose.keys()]) closedByTransport(connection);
  };

  if (start) {
    try {
      const w = start();
      worker = w;
      w.unref();
      w.on('message', (msg: FromDialThread) => {
        if (msg.type === 'closed') {
          closedByTransport(msg.connection);
          return;
        }
        const settle = pending.get(msg.id);
        pending.delete(msg.id);
        settle?.(msg.outcome);
      });
      w.on('error', (err) => fallBack(err.message));
      w.on('exit', (code) => fallBack(`exit code ${code}`));
    } catch (err) {
      log(`Kubernetes dial thread not started (${(err as Error).message}); its requests run on the lab's own thread`);
      worker = null;
    }
  }

  const post = (w: Worker, msg: ToDialThread): void => w.postMessage(msg);

  return {
    get threaded() {
      return worker !== null;
    },
    request(job) {
      const w = worker;
      if (!w || closed) {
        const handle = inline.request(job);
        return { done: handle.done.then((raw) => classify(raw, notes)), abort: handle.abort };
      }
      const id = nextId++;
      let settle!: (raw: RawOutcome) => void;
      const raw = new Promise<RawOutcome>((resolve) => {
        settle = resolve;
      });
      pending.set(id, settle);
      post(w, { type: 'request', id, job });
      return {
        done: raw.then((r) => classify(r, notes)),
        abort() {
          // Ended here at once, as on this thread; the thread drops the request (its outcome is ignored).
          if (!pending.delete(id)) return;
          settle({ kind: 'ended', reason: 'aborted' });
          if (worker === w) post(w, { type: 'abort', id });
        },
      };
    },
    connection(cb) {
      const id = nextConnection++;
      onClose.set(id, cb);
      const w = worker;
      if (w) post(w, { type: 'open', connection: id });
      else inline.openConnection(id);
      return {
        id,
        close() {
          if (!onClose.delete(id)) return;
          if (worker) post(worker, { type: 'close', connection: id });
          inline.closeConnection(id);
        },
      };
    },
    async close() {
      closed = true;
      const w = worker;
      worker = null;
      // Whatever was still in flight ends as a request that got no answer.
      endPending('the lab is stopping');
      onClose.clear();
      inline.closeAll();
      await w?.terminate();
    },
  };
}
