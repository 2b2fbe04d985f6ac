/**
 * The TLS connector of the Talos API client (see client.ts). TLS is done by our own connector
 * (TalosTlsCredentials) instead of grpc-js's createSsl because:
 * - the server name to verify is the endpoint host as given (IP or DNS name), like Go's client; grpc-js
 *   would send an IP address as SNI, which RFC 6066 forbids and Node flags with DEP0123. We send SNI only
 *   for DNS names and verify the certificate against the host ourselves (`tls.checkServerIdentity`);
 * - it sees the TLS errors grpc-js flattens into "UNAVAILABLE", so errors.ts can tell an untrusted server
 *   CA from a rejected client certificate from a closed port.
 * Verification is never disabled: `rejectUnauthorized` stays on, with the talosconfig CA bundle as the only
 * trust anchors (during a CA swap the bundle holds old + new CA).
 */
import { isIP, type Socket } from 'node:net';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { RotateError } from '../domain/errors.js';
import type { Secret } from '../domain/secret.js';
import { keyPemForTls, splitPemBlocks } from '../pki/index.js';
import { redact, type TlsObservation } from './errors.js';

/** The credentials of a talosconfig context (the part of TalosClientConfig the TLS connector needs). */
export interface TalosClientCredentials {
  /** Trusted CA(s), PEM; may be a bundle (old + new CA during a swap). */
  readonly caPem: string;
  /** Client certificate, PEM. */
  readonly certPem: string;
  /** Client key, PEM (Talos labels such as `ED25519 PRIVATE KEY` are fine). */
  readonly key: Secret;
}

type ConnectorArgs = Parameters<grpc.ChannelCredentials['_createSecureConnector']>;
type SecureConnector = ReturnType<grpc.ChannelCredentials['_createSecureConnector']>;

/**
 * Channel credentials doing mutual TLS for one endpoint: verifies the server certificate against the CA
 * bundle and the endpoint host as given, sends SNI only for DNS names, presents the client certificate,
 * and reports what happened on each connection attempt to `observe`.
 */
export class TalosTlsCredentials extends grpc.ChannelCredentials {
  readonly #host: string;
  readonly #context: tls.SecureContext;
  readonly #observe: (o: TlsObservation) => void;

  constructor(host: string, context: tls.SecureContext, observe: (o: TlsObservation) => void = () => {}) {
    super();
    this.#host = host;
    this.#context = context;
    this.#observe = observe;
  }

  override _isSecure(): boolean {
    return true;
  }

  override _equals(other: grpc.ChannelCredentials): boolean {
    return other === this;
  }

  override _createSecureConnector(
    _target: ConnectorArgs[0],
    _options: ConnectorArgs[1],
    callCredentials?: ConnectorArgs[2],
  ): SecureConnector {
    const host = this.#host;
    const context = this.#context;
    const observe = this.#observe;
    return {
      connect(socket: Socket) {
        return new Promise((resolve, reject) => {
          let handshakeDone = false;
          let errored = false;
          const tlsSocket = tls.connect(
            {
              socket,
              secureContext: context,
              ALPNProtocols: ['h2'],
              ...(isIP(host) === 0 ? { servername: host } : {}),
              rejectUnauthorized: true,
              checkServerIdentity: (_name, cert) => tls.checkServerIdentity(host, cert),
            },
            () => {
              handshakeDone = true;
              observe({ outcome: 'established' });
              resolve({ socket: tlsSocket, secure: true });
            },
          );
          tlsSocket.on('error', (err: NodeJS.ErrnoException) => {
            errored = true;
            observe({ outcome: 'error', code: err.code, message: err.message, afterHandshake: handshakeDone });
            if (!handshakeDone) reject(err);
          });
          tlsSocket.on('close', () => {
            if (handshakeDone && !errored) observe({ outcome: 'closed-after-handshake' });
          });
        });
      },
      waitForReady: () => Promise.resolve(),
      getCallCredentials: () => callCredentials ?? grpc.CallCredentials.createEmpty(),
      destroy: () => {},
    };
  }
}

/** Builds the TLS context; a bad certificate/key fails here with a message that never shows the key. */
export function createClientSecureContext(config: TalosClientCredentials): tls.SecureContext {
  const fail = (what: string, err?: unknown) =>
    new RotateError('TALOS_CLIENT_CREDENTIALS', `the talosconfig client credentials are unusable: ${what}`, {
      hint: 'check the ca, crt and key of the talosconfig context (base64 PEM; the key must match the certificate)',
      cause: err,
    });
  let cas: string[];
  try {
    cas = splitPemBlocks(config.caPem)
      .filter((b) => b.label === 'CERTIFICATE')
      .map((b) => b.pem);
  } catch (err) {
    throw fail('the CA is not valid PEM', err);
  }
  if (cas.length === 0) throw fail('the CA holds no certificate');
  try {
    return tls.createSecureContext({
      ca: cas,
      cert: config.certPem,
      key: keyPemForTls(config.key),
      minVersion: 'TLSv1.2',
    });
  } catch (err) {
    // OpenSSL messages name the failing routine, not the key bytes; redact() is a second line of defence.
    throw fail(redact(err instanceof Error ? err.message : String(err)), err);
  }
}
