/**
 * The dial thread's entry (dial-thread.ts): runs each job it is sent and posts its outcome back under the
 * job's id, or the message of the error it was rejected with (a dial that could not start), which the lab's
 * thread raises as it would have raised it itself. Jobs run concurrently, as on the lab's own event loop.
 * The protocol definitions are loaded first, so that a thread that could not make a call fails at once (and
 * the lab makes its dials itself). */
import { parentPort } from 'node:worker_threads';
import { talosProtos } from '../../talos/proto.js';
import { dialAndCall, type UnaryJob } from './dial-call.js';

talosProtos();
parentPort?.on('message', (msg: { id: number; job: UnaryJob }) => {
  dialAndCall(msg.job).then(
    (outcome) => parentPort?.postMessage({ id: msg.id, outcome }),
    (err: unknown) => parentPort?.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) }),
  );
});
