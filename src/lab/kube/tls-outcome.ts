/**
 * How a TLS connection between lab parts ended, as the ledger sees it.
 *
 * Node's TLS 1.3 server checks the client certificate after the client already saw its handshake
 * complete, and refuses by closing the socket without an alert (Go sends an alert; Node does not). So a
 * dialler whose client certificate was refused sees only "ECONNRESET after secureConnect". To give that
 * refusal its reason, the apiserver listener writes down why it closed each connection it refused or
 * dropped (`VerdictNotes`, keyed by the peer's address:port), and the dialler reads the note for its own
 * local address:port. The note only names the reason; the refusal itself is the real handshake outcome.
 * A close right after the handshake with no note is still a trust failure (strict: never hide one).
 */
import type { TrustFailureReason } from '../core/ledger.js';

export type Verdict = { kind: 'trust'; reason: TrustFailureReason } | { kind: 'unavailable'; reason: string };

const NOTE_TTL_MS = 30_000;

export class VerdictNotes {
  readonly #notes = new Map<string, { verdict: Verdict; at: number }>();
  #lastSweep = Date.now();

  record(remoteAddress: string | undefined, remotePort: number | undefined, verdict: Verdict): void {
    if (!remoteAddress || !remotePort) return;
    const now = Date.now();
    this.#notes.set(`${stripV4Mapped(remoteAddress)}:${remotePort}`, { verdict, at: now });
    if (now - this.#lastSweep > NOTE_TTL_MS) {
      this.#lastSweep = now;
      for (const [k, v] of this.#notes) if (now - v.at > NOTE_TTL_MS) this.#notes.delete(k);
    }
  }

  take(localAddress: string | undefined, localPort: number | undefined): Verdict | null {
    if (!localAddress || !localPort) return null;
    const key = `${stripV4Mapped(localAddress)}:${localPort}`;
    const note = this.#notes.get(key);
    if (!note) return null;
    this.#notes.delete(key);
    return note.verdict;
  }
}

export function stripV4Mapped(address: string): string {
  return address.replace(/^::ffff:/, '');
}

/** OpenSSL verification results (node's `err.code` / `authorizationError`) → ledger reason. */
export function reasonForVerifyCode(code: string | undefined): TrustFailureReason | null {
  switch (code) {
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_SIGNATURE_FAILURE':
    case 'CERT_UNTRUSTED':
      return 'unknown-ca';
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return 'expired';
    case 'INVALID_PURPOSE':
      return 'wrong-eku';
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return 'hostname-mismatch';
    case 'CERT_REJECTED':
    case 'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY':
    case 'CERT_CHAIN_TOO_LONG':
    case 'INVALID_CA':
    case 'PATH_LENGTH_EXCEEDED':
    case 'ERROR_IN_CERT_NOT_BEFORE_FIELD':
    case 'ERROR_IN_CERT_NOT_AFTER_FIELD':
      return 'bad-certificate';
    default:
      return null;
  }
}

/**
 * A TLS alert the peer sent about our certificate (OpenSSL error codes as node reports them), e.g. a Go
 * client (kubectl) that does not trust the apiserver. Null for anything that is not a certificate alert.
 */
export function reasonForAlert(code: string | undefined, message: string): TrustFailureReason | null {
  const text = `${code ?? ''} ${message}`.toUpperCase();
  if (/ALERT[_ ]UNKNOWN[_ ]CA/.test(text)) return 'unknown-ca';
  if (/ALERT[_ ]CERTIFICATE[_ ]EXPIRED/.test(text)) return 'expired';
  if (/ALERT[_ ]CERTIFICATE[_ ]REQUIRED/.test(text)) return 'unauthenticated';
  if (
    /ALERT[_ ](BAD[_ ]CERTIFICATE|CERTIFICATE[_ ]UNKNOWN|UNSUPPORTED[_ ]CERTIFICATE|CERTIFICATE[_ ]REVOKED)/.test(text)
  )
    return 'bad-certificate';
  return null;
}
