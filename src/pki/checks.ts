/**
 * Checks on certificates that throw RotateError with precise codes. Messages name `what` and the facts
 * (dates, flags); they never include key material.
 */
import { X509Certificate as NodeX509 } from 'node:crypto';
import { RotateError } from '../domain/errors.js';
import type { Secret } from '../domain/secret.js';
import {
  ACCEPTED_SIGNATURE_ALGORITHMS,
  certificateBlocks,
  parseCertificateBlock,
  parseSingleCertificate,
  type ParsedCertificate,
} from './certificate.js';
import { bytesEqual, certificateFields } from './der.js';
import { keyMismatch, parsePrivateKey, spkiDer } from './keys.js';
import { KEY_ALGORITHMS, type CaCertificate } from './types.js';
import { x509 } from './x509lib.js';

export interface ValidityOptions {
  now?: Date;
  /** Clock-skew tolerance applied on both ends (default 5 minutes). */
  skewMs?: number;
}

export const DEFAULT_SKEW_MS = 5 * 60_000;

/**
 * PKI_NOT_CA unless BasicConstraints says CA:TRUE and the KeyUsage (when present) allows certificate
 * signing. A CA without any KeyUsage extension passes, as it does in Go's verifier (KeyUsage 0 means
 * "unrestricted" there).
 */
export function assertIsCa(ca: CaCertificate, what: string): void {
  if (!ca.isCa) {
    throw new RotateError(
      'PKI_NOT_CA',
      `${what} (${ca.subject || 'empty subject'}) is not a CA certificate: BasicConstraints CA:TRUE is missing`,
      {
        hint: 'this looks like a leaf (client/server) certificate; use the CA certificate that issued it',
      },
    );
  }
  const parsed = parseSingleCertificate(ca.certPem, what);
  const ku = parsed.peculiar.getExtension(x509.KeyUsagesExtension);
  if (ku && (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw new RotateError(
      'PKI_NOT_CA',
      `${what} (${ca.subject || 'empty subject'}) is not allowed to sign certificates: its KeyUsage lacks keyCertSign`,
      {
        hint: 'use a CA certificate whose KeyUsage includes Certificate Sign',
      },
    );
  }
}

function classifyValidity(
  cert: { notBefore: Date; notAfter: Date },
  opts: ValidityOptions,
): 'valid' | 'expired' | 'not-yet-valid' {
  const now = (opts.now ?? new Date()).getTime();
  const skew = opts.skewMs ?? DEFAULT_SKEW_MS;
  if (now - skew > cert.notAfter.getTime()) return 'expired';
  if (now + skew < cert.notBefore.getTime()) return 'not-yet-valid';
  return 'valid';
}

/** PKI_EXPIRED / PKI_NOT_YET_VALID (dates in the message), with `skewMs` tolerance. */
export function assertValidNow(
  cert: { notBefore: Date; notAfter: Date },
  what: string,
  opts: ValidityOptions = {},
): void {
  const now = opts.now ?? new Date();
  const state = classifyValidity(cert, opts);
  if (state === 'expired') {
    throw new RotateError(
      'PKI_EXPIRED',
      `${what} expired at ${cert.notAfter.toISOString()} (now ${now.toISOString()})`,
      {
        hint: 'an expired certificate cannot be used; generate or supply a new one',
      },
    );
  }
  if (state === 'not-yet-valid') {
    throw new RotateError(
      'PKI_NOT_YET_VALID',
      `${what} is not valid before ${cert.notBefore.toISOString()} (now ${now.toISOString()})`,
      {
        hint: "check this machine's clock, or wait until the certificate becomes valid",
      },
    );
  }
}

/** PKI_KEY_MISMATCH unless `key` is the private key of the certificate (PKI_PARSE if either does not parse). */
export function assertKeyMatches(certPem: string, key: Secret, what: string): void {
  const cert = parseSingleCertificate(certPem, `${what} certificate`);
  const parsedKey = parsePrivateKey(key, `${what} key`);
  if (!bytesEqual(spkiDer(parsedKey.keyObject), spkiDer(cert.node.publicKey))) throw keyMismatch(what);
}

/** Smallest RSA modulus we accept for a CA we keep using or issue from. */
export const MIN_RSA_BITS = 2048;

/**
 * PKI_UNSUPPORTED_ALG unless the CA uses a key algorithm Talos supports (RSA at least 2048 bits) and is
 * signed with an algorithm Go verifies (no SHA-1/MD5).
 */
export function assertSupportedAlgorithm(ca: CaCertificate, what: string): void {
  const fail = (why: string): never => {
    throw new RotateError('PKI_UNSUPPORTED_ALG', `${what} ${why}`, {
      hint: 'generate a new CA (Talos uses Ed25519 for its API CA and ECDSA P-256/SHA-256 for Kubernetes)',
    });
  };
  if (!KEY_ALGORITHMS.includes(ca.algorithm))
    fail(`uses key algorithm "${String(ca.algorithm)}", which Talos does not support`);
  if (ca.algorithm === 'rsa') {
    const bits =
      ca.rsaBits ?? parseSingleCertificate(ca.certPem, what).node.publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) fail(`has a ${bits}-bit RSA key; at least ${MIN_RSA_BITS} bits are required`);
  }
  if (ca.signatureAlgorithm !== undefined && !ACCEPTED_SIGNATURE_ALGORITHMS.has(ca.signatureAlgorithm)) {
    fail(`is signed with ${ca.signatureAlgorithm}, which is not accepted`);
  }
}

function tryParse(pem: string): ParsedCertificate | undefined {
  try {
    return parseSingleCertificate(pem, 'certificate');
  } catch {
    return undefined;
  }
}

type SignatureViews = Pick<ParsedCertificate, 'node' | 'fields'>;

function signedBy(cert: SignatureViews, ca: SignatureViews): boolean {
  // Go finds the issuer by comparing raw name bytes, so we do too.
  if (!bytesEqual(cert.fields.issuer, ca.fields.subject)) return false;
  try {
    return cert.node.verify(ca.node.publicKey);
  } catch {
    return false;
  }
}

/**
 * True if `certPem`'s signature verifies with `caCertPem`'s public key and its issuer name equals the
 * CA's subject name byte for byte. Does not look at validity dates or CA flags. Unparseable input: false.
 */
export function isSignedBy(certPem: string, caCertPem: string): boolean {
  const cert = tryParse(certPem);
  const ca = tryParse(caCertPem);
  return cert !== undefined && ca !== undefined && signedBy(cert, ca);
}

/**
 * The index of the first of `caCertPems` that signed `certPem` (isSignedBy's test: issuer equals the CA's
 * subject byte for byte, signature verifies with its key), or -1, also when `certPem` does not hold exactly
 * one certificate that node:crypto and our DER reader parse. The leaf gets only those two views, not the
 * @peculiar/x509 one (a plan identifies the signer of every node's server certificate: at 200 nodes that
 * ASN.1 parse was most of the plan's certificate work); the CAs are parsed as everywhere else.
 */
export function signerIndex(certPem: string, caCertPems: readonly string[]): number {
  let leaf: SignatureViews;
  try {
    const blocks = certificateBlocks(certPem, 'certificate');
    if (blocks.length !== 1) return -1;
    const der = blocks[0]!.der;
    leaf = { node: new NodeX509(Buffer.from(der)), fields: certificateFields(der) };
  } catch {
    return -1;
  }
  for (let i = 0; i < caCertPems.length; i++) {
    const ca = tryParse(caCertPems[i]!);
    if (ca !== undefined && signedBy(leaf, ca)) return i;
  }
  return -1;
}

/**
 * True if the leaf is within its validity and signed by one of the trusted CAs (each entry may be a
 * bundle) that is itself within its validity, as Go's verifier requires of roots. No intermediates.
 */
export function verifiesAgainst(certPem: string, trustedCaPems: string[], opts: ValidityOptions = {}): boolean {
  const cert = tryParse(certPem);
  if (!cert) return false;
  if (classifyValidity(cert.peculiar, opts) !== 'valid') return false;
  for (const pem of trustedCaPems) {
    let blocks;
    try {
      blocks = certificateBlocks(pem, 'trusted CA');
    } catch {
      continue;
    }
    for (const block of blocks) {
      let ca: ParsedCertificate;
      try {
        ca = parseCertificateBlock(block, 'trusted CA');
      } catch {
        continue;
      }
      if (classifyValidity(ca.peculiar, opts) === 'valid' && signedBy(cert, ca)) return true;
    }
  }
  return false;
}
