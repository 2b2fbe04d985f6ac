/**
 * A TCP forwarder for a shared virtual IP (`cluster.vipAddress`): connections to `listen` are spliced to
 * the first target that accepts, in the order `targets()` gives at connection time (a VIP held by one
 * control plane, moving to the next when it goes down). Bytes are passed through untouched, so TLS is
 * end-to-end between the client and the control plane. Shared by the Talos side (VIP:50000) and the
 * Kubernetes side (VIP:6443).
 */
import * as net from 'node:net';
import { listen } from './listen.js';

export interface ForwardTarget {
  host: string;
  port: number;
}

export interface TcpForwarderOptions {
  host: string;
  port: number;
  /** Candidates in preference order, asked on every new connection. */
  targets: () => readonly ForwardTarget[];
  /** Source address for the outgoing connections (default: the system's choice). */
  localAddress?: string;
  /** Per-target connect timeout (ms, default 2000). */
  connectTimeoutMs?: number;
}

export interface TcpForwarder {
  readonly host: string;
  readonly port: number;
  /** Stops listening and closes every forwarded connection. */
  stop(): Promise<void>;
}

function connectFirst(targets: readonly ForwardTarget[], opts: TcpForwarderOptions): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const tryAt = (i: number) => {
      const t = targets[i];
      if (!t) {
        resolve(null);
        return;
      }
      const upstream = net.connect({
        host: t.host,
        port: t.port,
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      });
      const timer = setTimeout(() => upstream.destroy(new Error('connect timeout')), opts.connectTimeoutMs ?? 2_000);
      upstream.once('connect', () => {
        clearTimeout(timer);
        upstream.removeAllListeners('error');
        resolve(upstream);
      });
      upstream.once('error', () => {
        clearTimeout(timer);
        upstream.destroy();
        tryAt(i + 1);
      });
    };
    tryAt(0);
  });
}

export async function startTcpForwarder(opts: TcpForwarderOptions): Promise<TcpForwarder> {
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    track(client);
    client.on('error', () => client.destroy());
    void connectFirst(opts.targets(), opts).then((upstream) => {
      if (!upstream || client.destroyed) {
        upstream?.destroy();
        client.destroy();
        return;
      }
      track(upstream);
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  });
  await listen(server, { port: opts.port, host: opts.host });
  return {
    host: opts.host,
    port: opts.port,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
