import type { Secret } from '../domain/secret.js';
import { privateKeyPemForNode } from './pem.js';

/**
 * The key PEM to hand to node:tls / https / grpc-js: Talos's `ED25519 PRIVATE KEY` label relabelled to
 * `PRIVATE KEY`, which OpenSSL reads. Reveals the secret: pass the result straight to the TLS API.
 */
export function keyPemForTls(key: Secret): string {
  return privateKeyPemForNode(key.reveal());
}
