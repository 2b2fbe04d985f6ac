/**
 * One kubelet (or in-cluster client) → apiserver request, on a fresh TLS connection from the client's node
 * address or on one of its kept connections, and how it ended for the ledger: the dialler owns the socket,
 * so it sees both failure directions.
 *
 * - server certificate not trusted by the client (node's verification error) → trust, refused by client;
 * - client certificate refused by the apiserver: kube-apiserver answers 401 on the connection (its x509
 *   authenticator, not the TLS handshake, verifies client certificates); the reason comes from the
 *   listener's note → trust, refused by server; 401/403 answers → trust, refused by server;
 * - ECONNREFUSED, a reset before the handshake, a connection dropped by a restarting apiserver, a
 *   timeout → unavailable.
 *
 * Two halves, so that the request can run on the Kubernetes side's dial thread (dial-thread.ts): the
 * transport (`KubeTransport`) takes a job of plain data, makes the request and reports what the socket saw
 * (`RawOutcome`, plain data); `classify` reads that as a `DialOutcome` on the lab's thread, where the
 * listeners' notes are. The same transport code runs wherever the request is made.
 */
import * as https from 'node:https';
import type { Socket } from 'node:net';
import * as tls from 'node:tls';
import type { TrustFailureReason } from '../core/ledger.js';
import { reasonForAlert, reasonForVerifyCode, type VerdictNotes } from './tls-outcome.js';
import { BoundedMap } from '../../util/bounded-map.js';
import { KUBERNETES_VERSION } from './version.js';

export type DialOutcome =
  | { kind: 'ok'; status: number; body: unknown }
  /** An HTTP answer that is neither success nor an authentication/authorization refusal (404, 409...). */
  | { kind: 'http-error'; status: number; body: unknown }
  | { kind: 'trust'; refusedBy: 'client' | 'server'; reason: TrustFailureReason }
  | { kind: 'unavailable'; reason: string };

/**
 * A client's TLS identity, as PEM text: the CAs its kubeconfig (or `ca.crt`) trusts and, when it has one,
 * its client certificate and key. The transport builds one secure context per identity and reuses it: each
 * request still does a full handshake, but a 200-node lab does not re-parse PEMs for every heartbeat.
 */
export interface KubeTlsIdentity {
  ca: string;
  cert?: string;
  key?: string;
}

/** Watches a job can wait on, by name (a job is plain data, so no function crosses a thread). */
export type WatchUntil = 'csr-decided';

export interface KubeJob {
  /** The dialling node's address (the socket's local address). */
  from: string;
  to: string;
  port: number;
  tls: KubeTlsIdentity;
  bearerToken?: string;
  method: string;
  path: string;
  body?: unknown;
  timeoutMs: number;
  /** The host the serving certificate must name: the client's URL host (KubePrism, the Service). */
  verifyHost: string;
  /**
   * The kept connection (keep-alive, one socket) the request goes on, by id (KubeDialer.connection); without
   * one, a fresh handshake per request.
   */
  connection?: number;
  /**
   * A watch: read the response as one JSON event per line and finish with the first event `until` accepts
   * (`ok` with that event as body), or with body null when the server ends the watch first.
   */
  until?: WatchUntil;
}

/** A socket's local end, read when it connected (a destroyed socket forgets its port). */
export interface LocalEnd {
  address: string | undefined;
  port: number | undefined;
}

/** What the transport saw, before the ledger's reading of it (classify). */
export type RawOutcome =
  | { kind: 'response'; status: number; body: unknown; local: LocalEnd }
  | { kind: 'error'; code: string | undefined; message: string; secured: boolean; local: LocalEnd }
  /** Ended by the client side: a timeout, an abort, an interrupted response or a closed kept connection. */
  | { kind: 'ended'; reason: string };

/** `status` of a CSR watch event (`{type, object}`). */
export interface CsrStatus {
  certificate?: string;
  conditions?: Array<{ type?: string }>;
}

export function csrStatus(event: unknown): CsrStatus | undefined {
  return (event as { object?: { status?: CsrStatus } } | null)?.object?.status;
}

/** A CSR the signer decided: a certificate, or a Denied/Failed condition. */
export function csrDecided(status: CsrStatus | undefined): boolean {
  return (
    Boolean(status?.certificate) || Boolean(status?.conditions?.some((c) => c.type === 'Denied' || c.type === 'Failed'))
  );
}

const WATCHES: Record<WatchUntil, (event: unknown) => boolean> = {
  'csr-decided': (event) => csrDecided(csrStatus(event)),
};

export interface RawHandle {
  done: Promise<RawOutcome>;
  abort(): void;
}

/**
 * Secure contexts kept per identity; bounded, least recently used first out. A kubelet uses one identity at a
 * time (bootstrap or its client certificate) and pods share theirs, so this holds the live ones of labs up to
 * several hundred nodes; the bound keeps the identities a rotation leaves behind from piling up.
 */
const CONTEXT_LIMIT = 1024;

/**
 * Makes the requests of one thread: its secure contexts and kept connections. `onConnectionClosed` runs once
 * for each kept connection whose socket closed (the client then connects, and picks, anew).
 */
export class KubeTransport {
  readonly #contexts = new BoundedMap<string, tls.SecureContext>(CONTEXT_LIMIT, 'recent-use');
  readonly #connections = new Map<number, https.Agent>();
  readonly #watched = new WeakSet<Socket>();
  readonly #onConnectionClosed: (id: number) => void;

  constructor(onConnectionClosed: (id: number) => void = () => undefined) {
    this.#onConnectionClosed = onConnectionClosed;
  }

  /** A new kept connection (ids are never reused): it connects on its first request. */
  openConnection(id: number): void {
    this.#connections.set(id, new https.Agent({ keepAlive: true, maxSockets: 1 }));
  }

  /** Ends a kept connection (its socket is destroyed; no close is reported for it). */
  closeConnection(id: number): void {
    const agent = this.#connections.get(id);
    this.#connections.delete(id);
    agent?.destroy();
  }

  closeAll(): void {
    for (const id of [...this.#connections.keys()]) this.closeConnection(id);
  }

  #context(identity: KubeTlsIdentity): tls.SecureContext {
    const key = `${identity.ca}\u0000${identity.cert ?? ''}\u0000${identity.key ?? ''}`;
    return this.#contexts.getOrSet(key, () =>
      tls.createSecureContext({
        ca: identity.ca,
        ...(identity.cert && identity.key ? { cert: identity.cert, key: identity.key } : {}),
      }),
    );
  }

  /** The kept connection ends with its socket: the client's next request connects anew. */
  #watch(id: number, agent: https.Agent, socket: Socket): void {
    if (this.#watched.has(socket)) return;
    this.#watched.add(socket);
    socket.once('close', () => {
      if (this.#connections.get(id) !== agent) return;
      this.closeConnection(id);
      this.#onConnectionClosed(id);
    });
  }

  request(job: KubeJob): RawHandle {
    let abort = (): void => {};
    const done = new Promise<RawOutcome>((resolve) => {
      let settled = false;
      let secured = false;
      let local: LocalEnd = { address: undefined, port: undefined };
      const finish = (o: RawOutcome): void => {
        if (settled) return;
        settled = true;
        resolve(o);
      };
      let agent: https.Agent | null = null;
      if (job.connection !== undefined) {
        agent = this.#connections.get(job.connection) ?? null;
        // It ended meanwhile (its socket closed before the client heard of it): as a request on a dying one.
        if (!agent) {
          finish({ kind: 'ended', reason: 'connection closed' });
          return;
        }
      }
      const payload = job.body === undefined ? undefined : JSON.stringify(job.body);
      // https passes TLS options through to tls.connect, secureContext included (its types omit it).
      const options: https.RequestOptions & Pick<tls.ConnectionOptions, 'secureContext'> = {
        host: job.to,
        port: job.port,
        method: job.method,
        path: job.path,
        agent: agent ?? false, // without a kept connection, a fresh TLS handshake every time
        localAddress: job.from,
        secureContext: this.#context(job.tls),
        // The client's URL is KubePrism's; node would warn (DEP0123) if an IP were set as servername.
        checkServerIdentity: (_host, cert) => tls.checkServerIdentity(job.verifyHost, cert),
        headers: {
          Accept: 'application/json',
          'User-Agent': `kubelet/${KUBERNETES_VERSION} (linux/amd64) kubernetes/lab`,
          ...(agent ? {} : { Connection: 'close' }),
          ...(payload !== undefined
            ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }
            : {}),
          ...(job.bearerToken ? { Authorization: `Bearer ${job.bearerToken}` } : {}),
        },
        timeout: job.timeoutMs,
      };
      const req = https.request(options, (res) => {
        const status = res.statusCode ?? 0;
        if (job.until && status >= 200 && status < 300) {
          const until = WATCHES[job.until];
          let pending = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            pending += chunk;
            for (let nl = pending.indexOf('\n'); nl !== -1; nl = pending.indexOf('\n')) {
              const line = pending.slice(0, nl);
              pending = pending.slice(nl + 1);
              let event: unknown;
              try {
                event = JSON.parse(line);
              } catch {
                continue;
              }
              if (until(event)) {
                finish({ kind: 'response', status, body: event, local });
                req.destroy();
                return;
              }
            }
          });
          res.on('error', () => finish({ kind: 'ended', reason: 'watch interrupted' }));
          res.on('end', () => finish({ kind: 'response', status, body: null, local }));
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', () => finish({ kind: 'ended', reason: 'response interrupted' }));
        res.on('end', () => {
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            body = null;
          }
          finish({ kind: 'response', status, body, local });
        });
      });
      req.on('socket', (s) => {
        if (agent && job.connection !== undefined) this.#watch(job.connection, agent, s);
        // A kept connection is connected already (a reset on it, unexplained, is not a refusal: refusals are
        // 401 answers); a new one: read at connect (a destroyed socket forgets its port).
        if (s.localPort) {
          local = { address: s.localAddress, port: s.localPort };
          return;
        }
        s.once('connect', () => {
          local = { address: s.localAddress, port: s.localPort };
        });
        s.once('secureConnect', () => {
          secured = true;
        });
      });
      req.on('timeout', () => {
        // Settle first: the reset destroy() causes must not be read as a refusal after the handshake.
        finish({ kind: 'ended', reason: 'timeout' });
        req.destroy();
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        finish({ kind: 'error', code: err.code, message: err.message, secured, local });
      });
      abort = () => {
        finish({ kind: 'ended', reason: 'aborted' });
        req.destroy();
      };
      req.end(payload);
    });
    // A request node cannot even start (TLS material it refuses) ends here, on either thread, with node's
    // message (which names no key material).
    const safe = done.catch((err: unknown): RawOutcome => ({
      kind: 'ended',
      reason: `the request could not be made: ${err instanceof Error ? err.message : String(err)}`,
    }));
    return { done: safe, abort: () => abort() };
  }
}

/** The ledger's reading of what the transport saw; the listeners' notes give refusals their reason. */
export function classify(raw: RawOutcome, notes: VerdictNotes): DialOutcome {
  if (raw.kind === 'ended') return { kind: 'unavailable', reason: raw.reason };
  if (raw.kind === 'response') {
    const { status, body } = raw;
    if (status >= 200 && status < 300) return { kind: 'ok', status, body };
    if (status === 401) {
      const note = notes.take(raw.local.address, raw.local.port);
      return { kind: 'trust', refusedBy: 'server', reason: note?.kind === 'trust' ? note.reason : 'unauthenticated' };
    }
    if (status === 403) return { kind: 'trust', refusedBy: 'server', reason: 'bad-certificate' };
    return { kind: 'http-error', status, body };
  }
  const verify = reasonForVerifyCode(raw.code);
  if (verify) return { kind: 'trust', refusedBy: 'client', reason: verify };
  const alert = reasonForAlert(raw.code, raw.message);
  if (alert) return { kind: 'trust', refusedBy: 'server', reason: alert };
  if (raw.code === 'ECONNREFUSED') return { kind: 'unavailable', reason: 'connection refused' };
  const note = notes.take(raw.local.address, raw.local.port);
  if (note?.kind === 'trust') return { kind: 'trust', refusedBy: 'server', reason: note.reason };
  if (note?.kind === 'unavailable') return { kind: 'unavailable', reason: note.reason };
  // A close right after a completed handshake with no other explanation is the server refusing us.
  if (raw.secured) return { kind: 'trust', refusedBy: 'server', reason: 'bad-certificate' };
  return { kind: 'unavailable', reason: raw.code ?? raw.message };
}
