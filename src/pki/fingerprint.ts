import { createHash } from 'node:crypto';
import { RotateError } from '../domain/errors.js';
import { asFingerprint, type Fingerprint } from '../domain/types.js';
import { splitPemBlocks } from './pem.js';

/** Lowercase hex SHA-256 of the DER: the same digest as `openssl x509 -noout -fingerprint -sha256`. */
export function fingerprintOfDer(der: Uint8Array): Fingerprint {
  return asFingerprint(createHash('sha256').update(der).digest('hex'));
}

/** Fingerprint of the first CERTIFICATE block of `pem`; PKI_PARSE if there is none. */
export function fingerprintOfPem(pem: string): Fingerprint {
  const block = splitPemBlocks(pem).find((b) => b.label === 'CERTIFICATE');
  if (!block) {
    throw new RotateError('PKI_PARSE', 'no CERTIFICATE block found in PEM text', {
      hint: 'pass the certificate PEM ("-----BEGIN CERTIFICATE-----"), not a key or base64 of it',
    });
  }
  return fingerprintOfDer(block.der);
}
