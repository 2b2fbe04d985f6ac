/**
 * Just enough DER reading to get the exact bytes of a certificate's names and signature algorithm.
 * Go (Talos) matches a certificate to its issuer by comparing the raw issuer and subject bytes, so
 * re-encoding a parsed name (as X.509 libraries do) is not good enough to decide "issued by".
 */
import { RotateError } from '../domain/errors.js';

/** DER this reader cannot read: a user-facing PKI_PARSE (callers that know the file say which). */
const badDer = (what: string) =>
  new RotateError('PKI_PARSE', what, { hint: 'the certificate is corrupted; copy it again from its source' });

export interface Tlv {
  tag: number;
  /** Offset of the first content byte. */
  start: number;
  /** Offset one past the last content byte. */
  end: number;
  /** Offset of the tag byte (start of the whole element). */
  offset: number;
}

export function readTlv(buf: Uint8Array, offset: number): Tlv {
  if (offset + 2 > buf.length) throw badDer('truncated DER');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw badDer('multi-byte DER tags are not supported');
  let len = buf[offset + 1]!;
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw badDer('unsupported DER length');
    if (start + n > buf.length) throw badDer('truncated DER');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
    start += n;
  }
  const end = start + len;
  if (end > buf.length) throw badDer('truncated DER');
  return { tag, start, end, offset };
}

export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let pos = parent.start;
  while (pos < parent.end) {
    const tlv = readTlv(buf, pos);
    out.push(tlv);
    pos = tlv.end;
  }
  return out;
}

/** Dotted form of a DER OBJECT IDENTIFIER's content bytes. */
export function decodeOid(content: Uint8Array): string {
  if (content.length === 0) throw badDer('empty OID');
  const parts: number[] = [];
  let value = 0;
  for (const byte of content) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  const first = parts.shift()!;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...parts].join('.');
}

export interface CertificateFields {
  /** DER of the issuer Name, exactly as encoded in the certificate. */
  issuer: Uint8Array;
  /** DER of the subject Name, exactly as encoded in the certificate. */
  subject: Uint8Array;
  /** OID of the outer signatureAlgorithm. */
  signatureAlgorithmOid: string;
}

/** Raw fields of an X.509 certificate (throws a plain Error on malformed DER; callers wrap it). */
export function certificateFields(der: Uint8Array): CertificateFields {
  const cert = readTlv(der, 0);
  if (cert.tag !== 0x30 || cert.end !== der.length) throw badDer('not a DER SEQUENCE');
  const [tbs, sigAlg] = children(der, cert);
  if (!tbs || !sigAlg || tbs.tag !== 0x30 || sigAlg.tag !== 0x30) throw badDer('not a certificate');
  const fields = children(der, tbs);
  // The version field [0] is optional (absent for v1 certificates).
  const base = fields[0]?.tag === 0xa0 ? 1 : 0;
  const issuer = fields[base + 2];
  const subject = fields[base + 4];
  if (!issuer || !subject || issuer.tag !== 0x30 || subject.tag !== 0x30) throw badDer('not a certificate');
  const oid = children(der, sigAlg)[0];
  if (!oid || oid.tag !== 0x06) throw badDer('bad signature algorithm');
  return {
    issuer: der.slice(issuer.offset, issuer.end),
    subject: der.slice(subject.offset, subject.end),
    signatureAlgorithmOid: decodeOid(der.subarray(oid.start, oid.end)),
  };
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
