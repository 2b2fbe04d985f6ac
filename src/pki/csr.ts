/**
 * A PKCS#10 certificate request (RFC 2986) encoded directly in DER and signed with node:crypto, as Go's
 * x509.CreateCertificateRequest lays one out: version 0, the subject, the public key, an extensionRequest
 * attribute holding the SubjectAlternativeName when there are names (else an empty attribute set), then the
 * signature algorithm and signature. The ASN.1 library built the same structure in milliseconds of pure
 * JavaScript per request; the lab makes one for every worker registration and kubelet bootstrap, hundreds at
 * once when 200 workers re-register after an apiserver restart.
 */
import { sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { RotateError } from '../domain/errors.js';

export function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

export const sequence = (...c: Buffer[]): Buffer => tlv(0x30, ...c);

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const bytes: number[] = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [];
    let v = p;
    do {
      chunk.unshift(v & 0x7f);
      v = Math.floor(v / 128);
    } while (v > 0);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i]! |= 0x80;
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

export function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand `::` and write 8 groups of 16 bits.
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const tl = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - tl.length).fill('0'), ...tl];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** The signature algorithm of a CSR signed by `key` (ECDSA with the curve's hash, RSA with SHA-512). */
function signatureAlgorithm(key: KeyObject): { der: Buffer; hash: string | null } {
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      return { der: sequence(oid('1.3.101.112')), hash: null };
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      const byCurve: Record<string, [string, string]> = {
        prime256v1: ['1.2.840.10045.4.3.2', 'sha256'],
        'P-256': ['1.2.840.10045.4.3.2', 'sha256'],
        secp384r1: ['1.2.840.10045.4.3.3', 'sha384'],
        'P-384': ['1.2.840.10045.4.3.3', 'sha384'],
        secp521r1: ['1.2.840.10045.4.3.4', 'sha512'],
        'P-521': ['1.2.840.10045.4.3.4', 'sha512'],
      };
      const alg = byCurve[curve ?? ''];
      if (!alg)
        throw new RotateError(
          'PKI_UNSUPPORTED_ALG',
          `cannot sign a certificate request with curve ${curve ?? 'unknown'}`,
          {
            hint: 'use an Ed25519, ECDSA (P-256, P-384, P-521) or RSA key',
          },
        );
      return { der: sequence(oid(alg[0])), hash: alg[1] };
    }
    case 'rsa':
      return { der: sequence(oid('1.2.840.113549.1.1.13'), Buffer.from([0x05, 0x00])), hash: 'sha512' };
    default:
      throw new RotateError(
        'PKI_UNSUPPORTED_ALG',
        `cannot sign a certificate request with a ${key.asymmetricKeyType ?? 'unknown'} key`,
        { hint: 'use an Ed25519, ECDSA (P-256, P-384, P-521) or RSA key' },
      );
  }
}

/**
 * The DER of a CSR for `subjectDer` (an encoded Name) and the key pair of `privateKey` (its public key as
 * SPKI DER in `spki`), with DNS then IP SANs.
 */
export function encodeCsr(opts: {
  subjectDer: Buffer;
  spki: Buffer;
  privateKey: KeyObject;
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
}): Buffer {
  const names = [
    ...opts.dnsNames.map((d) => tlv(0x82, Buffer.from(d, 'ascii'))),
    ...opts.ipAddresses.map((ip) => tlv(0x87, ipBytes(ip))),
  ];
  const attributes =
    names.length === 0
      ? []
      : [
          sequence(
            oid('1.2.840.113549.1.9.14'),
            tlv(0x31, sequence(sequence(oid('2.5.29.17'), tlv(0x04, sequence(...names))))),
          ),
        ];
  const info = sequence(Buffer.from([0x02, 0x01, 0x00]), opts.subjectDer, opts.spki, tlv(0xa0, ...attributes));
  const alg = signatureAlgorithm(opts.privateKey);
  const signature = sign(alg.hash, info, opts.privateKey);
  return sequence(info, alg.der, tlv(0x03, Buffer.from([0x00]), signature));
}
