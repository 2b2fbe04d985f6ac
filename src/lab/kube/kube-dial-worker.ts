/**
 * The Kubernetes side's dial thread (dial-thread.ts): makes each request it is sent with the same transport
 * the lab's thread uses (dial.ts) and posts back what the socket saw, under the request's id, and the close
 * of each kept connection. Requests run concurrently, as on the lab's own event loop.
 */
import { parentPort } from 'node:worker_threads';
import { KubeTransport, type RawHandle } from './dial.js';
import type { FromDialThread, ToDialThread } from './dial-thread.js';

const port = parentPort;
if (port) {
  const post = (msg: FromDialThread): void => port.postMessage(msg);
  const transport = new KubeTransport((connection) => post({ type: 'closed', connection }));
  const inflight = new Map<number, RawHandle>();
  port.on('message', (msg: ToDialThread) => {
    switch (msg.type) {
      case 'request': {
        const handle = transport.request(msg.job);
        inflight.set(msg.id, handle);
        void handle.done.then((outcome) => {
          inflight.delete(msg.id);
          post({ type: 'outcome', id: msg.id, outcome });
        });
        return;
      }
      case 'abort':
        inflight.get(msg.id)?.abort();
        return;
      case 'open':
        transport.openConnection(msg.connection);
        return;
      case 'close':
        transport.closeConnection(msg.connection);
        return;
    }
  });
}
