/**
 * Parsing one certificate into the three views the PKI code needs: node:crypto (public key, signature
 * verification, CA flag), @peculiar/x509 (extensions, names) and the raw DER fields (exact name bytes).
 */
import { X509Certificate as NodeX509 } from 'node:crypto';
import { RotateError } from '../domain/errors.js';
import type { Fingerprint } from '../domain/types.js';
import { certificateFields, type CertificateFields } from './der.js';
import { fingerprintOfDer } from './fingerprint.js';
import { pemBlocksOf, type PemBlock } from './pem.js';
import { x509 } from './x509lib.js';
import { BoundedMap } from '../util/bounded-map.js';

export interface ParsedCertificate {
  block: PemBlock;
  node: NodeX509;
  peculiar: x509.X509Certificate;
  fields: CertificateFields;
  fingerprint: Fingerprint;
}

/** Certificate blocks of a PEM text; PKI_PARSE naming `what` if the PEM itself is malformed. */
export function certificateBlocks(pem: string, what: string): PemBlock[] {
  const blocks = pemBlocksOf(pem, what);
  const certs = blocks.filter((b) => b.label === 'CERTIFICATE');
  if (certs.length === 0) {
    const labels = blocks.map((b) => `"${b.label}"`).join(', ');
    throw new RotateError(
      'PKI_PARSE',
      `${what} holds no certificate (${labels ? `found ${labels}` : 'found no PEM block'})`,
      {
        hint: 'expected a PEM block "-----BEGIN CERTIFICATE-----"',
      },
    );
  }
  return certs;
}

/**
 * Certificates parsed lately, by their canonical PEM (one per DER): a plan reads the same few CAs and
 * server certificates from hundreds of configs, and parsing (ASN.1 in JavaScript) costs far more than a
 * lookup. Only successes are kept; the parsed views are never modified. Bounded: oldest out first.
 */
const parsedMemo = new BoundedMap<string, ParsedCertificate>(512);

/** Parse one DER certificate; PKI_PARSE naming `what` if any of the parsers rejects it. */
export function parseCertificateBlock(block: PemBlock, what: string): ParsedCertificate {
  const hit = parsedMemo.get(block.pem);
  if (hit) return hit.block === block ? hit : { ...hit, block };
  try {
    const node = new NodeX509(Buffer.from(block.der));
    const peculiar = new x509.X509Certificate(block.der);
    const fields = certificateFields(block.der);
    return parsedMemo.set(block.pem, { block, node, peculiar, fields, fingerprint: fingerprintOfDer(block.der) });
  } catch (err) {
    throw new RotateError('PKI_PARSE', `${what} is not a valid X.509 certificate (${(err as Error).message})`, {
      hint: 'the certificate is corrupted; copy it again from its source',
    });
  }
}

/** Parse exactly one certificate from PEM (extra non-certificate blocks are ignored). */
export function parseSingleCertificate(pem: string, what: string): ParsedCertificate {
  const certs = certificateBlocks(pem, what);
  if (certs.length > 1) {
    throw new RotateError('PKI_PARSE', `${what} holds ${certs.length} certificates; expected exactly one`, {
      hint: 'put each CA certificate in its own entry',
    });
  }
  return parseCertificateBlock(certs[0]!, what);
}

const SIGNATURE_ALGORITHMS: Record<string, string> = {
  '1.3.101.112': 'ed25519',
  '1.3.101.113': 'ed448',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'rsassa-pss',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
};

export function signatureAlgorithmName(oid: string): string {
  return SIGNATURE_ALGORITHMS[oid] ?? oid;
}

/** Signature algorithms Go's crypto/x509 (and so Talos) verifies; SHA-1 and MD5 are refused. */
export const ACCEPTED_SIGNATURE_ALGORITHMS = new Set([
  'ed25519',
  'ecdsa-with-SHA256',
  'ecdsa-with-SHA384',
  'ecdsa-with-SHA512',
  'rsassa-pss',
  'sha256WithRSAEncryption',
  'sha384WithRSAEncryption',
  'sha512WithRSAEncryption',
]);
