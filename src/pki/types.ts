import type { Fingerprint } from '../domain/types.js';
import type { Secret } from '../domain/secret.js';

/** Key algorithms Talos can carry in its CAs (siderolabs/crypto supports exactly these). */
export type KeyAlgorithm = 'ed25519' | 'ecdsa-p256' | 'ecdsa-p384' | 'ecdsa-p521' | 'rsa';

export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['ed25519', 'ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'rsa'];

/** A CA certificate without its key (what accepted CAs are). */
export interface CaCertificate {
  /** The certificate alone, canonical PEM with a trailing newline. */
  certPem: string;
  fingerprint: Fingerprint;
  /** RFC 4514-style, e.g. `O=talos`. */
  subject: string;
  notBefore: Date;
  notAfter: Date;
  algorithm: KeyAlgorithm;
  /** BasicConstraints CA:TRUE. Does not look at KeyUsage; assertIsCa does. */
  isCa: boolean;
  /** Signature algorithm of the certificate itself, e.g. `ed25519`, `ecdsa-with-SHA256` (for display). */
  signatureAlgorithm?: string;
  /** Serial number, lowercase hex without leading zero byte. */
  serialNumber?: string;
  /** RSA modulus size in bits (RSA only). */
  rsaBits?: number;
}

/**
 * A CA with its private key. `key` is PEM as Talos writes it for generated CAs: Ed25519 = PKCS#8 under
 * `ED25519 PRIVATE KEY`; ECDSA = SEC1 `EC PRIVATE KEY`; RSA = PKCS#1 `RSA PRIVATE KEY`. A CA loaded with
 * loadCa keeps the key block exactly as it was given (any label Talos accepts), so writing it back does
 * not churn the user's config.
 */
export interface CaMaterial extends CaCertificate {
  key: Secret;
}

/** A leaf certificate with its private key (Talos encoding, see CaMaterial). */
export interface IssuedCert {
  certPem: string;
  key: Secret;
  fingerprint: Fingerprint;
  notBefore: Date;
  notAfter: Date;
}

/** A certificate signed from a CSR: the requester holds the key, so there is none here. */
export type SignedCert = Omit<IssuedCert, 'key'>;

export type LeafUsage = 'serverAuth' | 'clientAuth';
