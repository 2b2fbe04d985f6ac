/**
 * One kubelet → apiserver request, on a fresh TLS connection from the kubelet's node address or on the
 * kubelet's kept connection (`agent`), and how it ended for the ledger: the dialler owns the socket, so it
 * sees both failure directions.
 *
 * - server certificate not trusted by the kubelet (node's verification error) → trust, refused by client;
 * - client certificate refused by the apiserver: kube-apiserver answers 401 on the connection (its x509
 *   authenticator, not the TLS handshake, verifies client certificates); the reason comes from the
 *   listener's note → trust, refused by server; 401/403 answers → trust, refused by server;
 * - ECONNREFUSED, a reset before the handshake, a connection dropped by a restarting apiserver, a
 *   timeout → unavailable.
 */
import * as https from 'node:https';
import * as tls from 'node:tls';
import type { TrustFailureReason } from '../core/ledger.js';
import { reasonForAlert, reasonForVerifyCode, type VerdictNotes } from './tls-outcome.js';

export type DialOutcome =
  | { kind: 'ok'; status: number; body: unknown }
  /** An HTTP answer that is neither success nor an authentication/authorization refusal (404, 409...). */
  | { kind: 'http-error'; status: number; body: unknown }
  | { kind: 'trust'; refusedBy: 'client' | 'server'; reason: TrustFailureReason }
  | { kind: 'unavailable'; reason: string };

export interface DialRequest {
  /** The dialling node's address (the socket's local address). */
  from: string;
  to: string;
  port: number;
  /**
   * The kubelet's TLS identity: CAs its kubeconfig trusts and, when it has one, its client certificate.
   * Built once per identity (tls.createSecureContext) and reused: each request still does a full
   * handshake, but a 200-node lab does not re-parse PEMs for every heartbeat.
   */
  secureContext: tls.SecureContext;
  bearerToken?: string;
  method: string;
  path: string;
  body?: unknown;
  timeoutMs: number;
  /** The host the serving certificate must name: the kubelet's URL host (KubePrism, 127.0.0.1). */
  verifyHost: string;
  /** The kubelet's kept connection (keep-alive, one socket); without it, a fresh handshake per request. */
  agent?: https.Agent;
  /** Called with the socket the request uses (new or reused). */
  onSocket?: (socket: import('node:net').Socket) => void;
  /**
   * A watch: read the response as one JSON event per line and finish with the first event this accepts
   * (`ok` with that event as body), or with body null when the server ends the watch first.
   */
  until?: (event: unknown) => boolean;
}

export interface DialHandle {
  done: Promise<DialOutcome>;
  abort(): void;
}

/**
 * An `onSocket` hook that runs `onClose` once when a connection's socket closes (each socket is watched once,
 * however many requests reuse it): a client holding a keep-alive connection then connects (and picks) anew.
 */
export function onSocketClose(
  watched: WeakSet<import('node:net').Socket>,
  onClose: () => void,
): (socket: import('node:net').Socket) => void {
  return (socket) => {
    if (watched.has(socket)) return;
    watched.add(socket);
    socket.once('close', onClose);
  };
}

export function kubeRequest(r: DialRequest, notes: VerdictNotes): DialHandle {
  let abort = (): void => {};
  const done = new Promise<DialOutcome>((resolve) => {
    let settled = false;
    let secured = false;
    let local: { address: string | undefined; port: number | undefined } = { address: undefined, port: undefined };
    const finish = (o: DialOutcome): void => {
      if (settled) return;
      settled = true;
      resolve(o);
    };
    const payload = r.body === undefined ? undefined : JSON.stringify(r.body);
    // https passes TLS options through to tls.connect, secureContext included (its types omit it).
    const options: https.RequestOptions & Pick<tls.ConnectionOptions, 'secureContext'> = {
      host: r.to,
      port: r.port,
      method: r.method,
      path: r.path,
      agent: r.agent ?? false, // without a kept connection, a fresh TLS handshake every time
      localAddress: r.from,
      secureContext: r.secureContext,
      // The kubelet's URL is KubePrism's; node would warn (DEP0123) if an IP were set as servername.
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity(r.verifyHost, cert),
      headers: {
        Accept: 'application/json',
        'User-Agent': 'kubelet/v1.32.3 (linux/amd64) kubernetes/lab',
        ...(r.agent ? {} : { Connection: 'close' }),
        ...(payload !== undefined
          ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }
          : {}),
        ...(r.bearerToken ? { Authorization: `Bearer ${r.bearerToken}` } : {}),
      },
      timeout: r.timeoutMs,
    };
    const req = https.request(options, (res) => {
      const status = res.statusCode ?? 0;
      if (r.until && status >= 200 && status < 300) {
        const until = r.until;
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
              finish({ kind: 'ok', status, body: event });
              req.destroy();
              return;
            }
          }
        });
        res.on('error', () => finish({ kind: 'unavailable', reason: 'watch interrupted' }));
        res.on('end', () => finish({ kind: 'ok', status, body: null }));
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => finish({ kind: 'unavailable', reason: 'response interrupted' }));
      res.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          body = null;
        }
        if (status >= 200 && status < 300) finish({ kind: 'ok', status, body });
        else if (status === 401) {
          const note = notes.take(local.address, local.port);
          finish({
            kind: 'trust',
            refusedBy: 'server',
            reason: note?.kind === 'trust' ? note.reason : 'unauthenticated',
          });
        } else if (status === 403) finish({ kind: 'trust', refusedBy: 'server', reason: 'bad-certificate' });
        else finish({ kind: 'http-error', status, body });
      });
    });
    req.on('socket', (s) => {
      r.onSocket?.(s);
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
      finish({ kind: 'unavailable', reason: 'timeout' });
      req.destroy();
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (!settled) finish(classifyError(err, secured, local, notes));
    });
    abort = () => {
      finish({ kind: 'unavailable', reason: 'aborted' });
      req.destroy();
    };
    req.end(payload);
  });
  return { done, abort: () => abort() };
}

function classifyError(
  err: NodeJS.ErrnoException,
  secured: boolean,
  local: { address: string | undefined; port: number | undefined },
  notes: VerdictNotes,
): DialOutcome {
  const verify = reasonForVerifyCode(err.code);
  if (verify) return { kind: 'trust', refusedBy: 'client', reason: verify };
  const alert = reasonForAlert(err.code, err.message);
  if (alert) return { kind: 'trust', refusedBy: 'server', reason: alert };
  if (err.code === 'ECONNREFUSED') return { kind: 'unavailable', reason: 'connection refused' };
  const note = notes.take(local.address, local.port);
  if (note?.kind === 'trust') return { kind: 'trust', refusedBy: 'server', reason: note.reason };
  if (note?.kind === 'unavailable') return { kind: 'unavailable', reason: note.reason };
  // A close right after a completed handshake with no other explanation is the server refusing us.
  if (secured) return { kind: 'trust', refusedBy: 'server', reason: 'bad-certificate' };
  return { kind: 'unavailable', reason: err.code ?? err.message };
}
