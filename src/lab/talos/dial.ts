/**
 * In-lab TLS dials, attributed by the dialler (docs/lab-design.md "Ledger attribution"): the socket is
 * bound to the dialling node's address, so the dialler sees both directions of a refusal:
 * - the server's certificate does not verify against the dialler's trust set → refusedBy 'client';
 * - the server refuses the dialler's client certificate: a TLS alert, or a close right after our side of
 *   the handshake (TLS 1.3 lets the client finish first) before any HTTP/2 frame → refusedBy 'server'.
 * A refused or reset TCP connection (node down, listener restarting) is unavailability, never a trust
 * failure.
 */
import * as tls from 'node:tls';
import type { EdgeKind, Ledger } from '../core/ledger.js';
import { H2GrpcSession } from './h2-grpc.js';
import { BoundedMap } from '../../util/bounded-map.js';

export type TrustReason =
  'unknown-ca' | 'wrong-eku' | 'expired' | 'unauthenticated' | 'hostname-mismatch' | 'bad-certificate';

export type DialResult =
  | { ok: true; session: H2GrpcSession; socket: tls.TLSSocket }
  | { ok: false; kind: 'trust'; refusedBy: 'client' | 'server'; reason: TrustReason; detail: string }
  | { ok: false; kind: 'unavailable'; detail: string };

export interface DialOptions {
  /** Source address (the dialling node). */
  from: string;
  host: string;
  port: number;
  /** Trust anchors for the server certificate (PEM each). */
  ca: readonly string[];
  /** Client certificate and key (PEM, key readable by OpenSSL); omitted for server-only TLS (trustd). */
  cert?: string;
  key?: string;
  timeoutMs?: number;
}

const UNTRUSTED: Record<string, TrustReason> = {
  SELF_SIGNED_CERT_IN_CHAIN: 'unknown-ca',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'unknown-ca',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unknown-ca',
  UNABLE_TO_GET_ISSUER_CERT: 'unknown-ca',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unknown-ca',
  CERT_SIGNATURE_FAILURE: 'unknown-ca',
  CERT_UNTRUSTED: 'unknown-ca',
  CERT_REJECTED: 'unknown-ca',
  INVALID_CA: 'bad-certificate',
  PATH_LENGTH_EXCEEDED: 'bad-certificate',
  INVALID_PURPOSE: 'bad-certificate',
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'hostname-mismatch',
};

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ERR_SOCKET_CLOSED',
]);

function alertReason(code: string): TrustReason | null {
  if (!/ALERT/.test(code)) return null;
  if (/UNKNOWN_CA/.test(code)) return 'unknown-ca';
  if (/CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE/.test(code)) return 'unauthenticated';
  if (/CERTIFICATE_EXPIRED/.test(code)) return 'expired';
  if (/UNSUPPORTED_CERTIFICATE/.test(code)) return 'wrong-eku';
  return 'bad-certificate';
}

/** Secure contexts by trust set and client certificate: parsing keys costs milliseconds, probes are many. */
const contexts = new BoundedMap<string, tls.SecureContext>(512);

function secureContext(opts: DialOptions): tls.SecureContext {
  const key = `${opts.ca.join('')}\u0000${opts.cert ?? ''}\u0000${opts.key ?? ''}`;
  return contexts.getOrSet(key, () =>
    tls.createSecureContext({
      ca: [...opts.ca],
      ...(opts.cert && opts.key ? { cert: opts.cert, key: opts.key } : {}),
      minVersion: 'TLSv1.2',
    }),
  );
}

/** Opens TLS + HTTP/2 to a lab node; classifies any failure (see the module comment). */
export function dialLab(opts: DialOptions): Promise<DialResult> {
  return new Promise((resolve) => {
    let handshakeDone = false;
    let settled = false;
    const finish = (r: DialResult) => {
      if (settled) {
        if (r.ok) r.session.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      if (!r.ok) socket.destroy();
      resolve(r);
    };
    // `localAddress` goes to the underlying net.connect (not in tls.ConnectionOptions' typings).
    const socket = tls.connect({
      host: opts.host,
      port: opts.port,
      ...({ localAddress: opts.from } as Record<string, string>),
      secureContext: secureContext(opts),
      ALPNProtocols: ['h2'],
      rejectUnauthorized: true,
    });
    const timer = setTimeout(
      () => finish({ ok: false, kind: 'unavailable', detail: 'timed out' }),
      opts.timeoutMs ?? 5_000,
    );
    const onError = (err: NodeJS.ErrnoException) => {
      const code = err.code ?? '';
      if (code === 'ETIMEDOUT') {
        finish({ ok: false, kind: 'unavailable', detail: err.message });
        return;
      }
      const untrusted = UNTRUSTED[code];
      if (untrusted && !handshakeDone) {
        finish({ ok: false, kind: 'trust', refusedBy: 'client', reason: untrusted, detail: err.message });
        return;
      }
      const alert = alertReason(code);
      if (alert) {
        finish({ ok: false, kind: 'trust', refusedBy: 'server', reason: alert, detail: err.message });
        return;
      }
      if (handshakeDone) {
        finish({
          ok: false,
          kind: 'trust',
          refusedBy: 'server',
          reason: 'bad-certificate',
          detail: `connection dropped right after the TLS handshake (${code || err.message})`,
        });
        return;
      }
      if (UNAVAILABLE_CODES.has(code) || code === '') {
        finish({ ok: false, kind: 'unavailable', detail: err.message });
        return;
      }
      finish({ ok: false, kind: 'trust', refusedBy: 'client', reason: 'bad-certificate', detail: err.message });
    };
    socket.on('error', onError);
    socket.once('close', () => {
      if (!handshakeDone)
        finish({ ok: false, kind: 'unavailable', detail: 'connection closed before the TLS handshake completed' });
    });
    socket.once('secureConnect', () => {
      handshakeDone = true;
      H2GrpcSession.open(socket, `${opts.host}:${opts.port}`, opts.timeoutMs ?? 5_000).then(
        (session) => {
          socket.off('error', onError);
          // Later socket errors end the session's streams; keep them from crashing the process.
          socket.on('error', () => {});
          finish({ ok: true, session, socket });
        },
        // The socket's own error (a TLS alert naming the reason) may arrive just after the session noticed the
        // close; give it a moment to win.
        (err: NodeJS.ErrnoException) => setTimeout(() => onError(err), 25),
      );
    });
  });
}

/** Records a failed dial in the ledger, as the dialler sees it. */
export function recordDialFailure(
  ledger: Ledger,
  edge: EdgeKind,
  from: string,
  to: string,
  r: Exclude<DialResult, { ok: true }>,
  targetDown: boolean,
): void {
  if (r.kind === 'unavailable' || targetDown) {
    ledger.unavailable({
      edge,
      from,
      to,
      reason: r.kind === 'unavailable' ? r.detail : `node down (${r.detail})`,
      refusedBy: 'server',
    });
    return;
  }
  ledger.trustFailure({ edge, from, to, reason: r.reason, refusedBy: r.refusedBy });
}
