/**
 * A leaf certificate encoded directly in DER and signed with node:crypto, in the layout issue.ts documents
 * (siderolabs/crypto NewCertificateFromCSR through Go's x509.CreateCertificate): v3, the serial as a
 * positive INTEGER, the CA's subject bytes as issuer, UTCTime before 2050 (GeneralizedTime after), then
 * KeyUsage (critical), ExtKeyUsage, AuthorityKeyId, SubjectAlternativeName (DNS names then IPs; critical
 * only with an empty subject), in Go's order. The ASN.1 library built the same bytes in several
 * milliseconds of JavaScript per certificate; the lab's trustd signs one for every worker registration,
 * about 200 at once after each apiserver restart of a 200-node lab. And reading a CSR: the same DER reader
 * as der.ts, its signature verified with node:crypto.
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { ipBytes, oid, sequence, tlv } from './csr.js';
import { children, decodeOid, readTlv } from './der.js';

export interface LeafDerInput {
  /** Hex of the serial's bytes (leading zero bytes dropped, a 0x00 prepended when the high bit is set). */
  serialHex: string;
  /** The issuer Name, byte for byte the CA's subject (Go matches issuers by these bytes). */
  issuerDer: Uint8Array;
  subjectDer: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  spki: Uint8Array;
  /** Key usage bits, bit i = named bit i of RFC 5280 (digitalSignature = 1, keyEncipherment = 4). */
  keyUsage: number;
  ekuOids: readonly string[];
  authorityKeyId: Uint8Array | null;
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
  sanCritical: boolean;
}

/**
 * The CA key's signature algorithm as signerFor('sha256') picks it: Ed25519, ECDSA with SHA-256, RSA PKCS#1 v1.5 with
 * SHA-512.
 */
export function leafSignatureAlgorithm(key: KeyObject): { der: Buffer; hash: string | null } {
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      return { der: sequence(oid('1.3.101.112')), hash: null };
    case 'ec':
      return { der: sequence(oid('1.2.840.10045.4.3.2')), hash: 'sha256' };
    case 'rsa':
      return { der: sequence(oid('1.2.840.113549.1.1.13'), Buffer.from([0x05, 0x00])), hash: 'sha512' };
    default:
      throw new Error(`unsupported key type ${key.asymmetricKeyType ?? 'unknown'}`);
  }
}

function serialDer(hex: string): Buffer {
  let bytes = Buffer.from(hex, 'hex');
  let first = 0;
  while (first < bytes.length - 1 && bytes[first] === 0) first++;
  bytes = bytes.subarray(first);
  if (bytes.length === 0) bytes = Buffer.from([0]);
  if (bytes[0]! > 0x7f) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(0x02, bytes);
}

function timeDer(d: Date): Buffer {
  const iso = new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  const digits =
    `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}` + // YYYYMMDD
    `${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`; // HHMMSSZ
  const year = d.getUTCFullYear();
  return year >= 1950 && year <= 2049
    ? tlv(0x17, Buffer.from(digits.slice(2), 'ascii'))
    : tlv(0x18, Buffer.from(digits, 'ascii'));
}

/** A named-bit BIT STRING with its trailing zero bits dropped, as DER (and Go) require. */
function keyUsageDer(bits: number): Buffer {
  if (bits === 0) return tlv(0x03, Buffer.from([0]));
  const highest = 31 - Math.clz32(bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (let i = 0; i <= highest; i++) if (bits & (1 << i)) bytes[i >> 3]! |= 0x80 >> (i & 7);
  return tlv(0x03, Buffer.from([7 - (highest % 8)]), bytes);
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [Buffer.from([0x01, 0x01, 0xff])] : []), tlv(0x04, value));
}

/** The DER of the certificate, signed by `caKey`. */
export function encodeLeafCertificate(input: LeafDerInput, caKey: KeyObject): Buffer {
  const alg = leafSignatureAlgorithm(caKey);
  const extensions = [
    extension('2.5.29.15', true, keyUsageDer(input.keyUsage)),
    extension('2.5.29.37', false, sequence(...input.ekuOids.map(oid))),
    ...(input.authorityKeyId
      ? [extension('2.5.29.35', false, sequence(tlv(0x80, Buffer.from(input.authorityKeyId))))]
      : []),
  ];
  const names = [
    ...input.dnsNames.map((d) => tlv(0x82, Buffer.from(d, 'ascii'))),
    ...input.ipAddresses.map((ip) => tlv(0x87, ipBytes(ip))),
  ];
  if (names.length > 0) extensions.push(extension('2.5.29.17', input.sanCritical, sequence(...names)));
  const tbs = sequence(
    tlv(0xa0, Buffer.from([0x02, 0x01, 0x02])),
    serialDer(input.serialHex),
    alg.der,
    Buffer.from(input.issuerDer),
    sequence(timeDer(input.notBefore), timeDer(input.notAfter)),
    Buffer.from(input.subjectDer),
    Buffer.from(input.spki),
    tlv(0xa3, sequence(...extensions)),
  );
  const signature = sign(alg.hash, tbs, caKey);
  return sequence(tbs, alg.der, tlv(0x03, Buffer.from([0x00]), signature));
}

export interface ReadCsr {
  /** The subject Name as encoded in the CSR. */
  subjectDer: Buffer;
  spki: Buffer;
  dnsNames: string[];
  ipAddresses: string[];
  /** Whether the signature verifies with the CSR's own key. */
  verified: boolean;
}

const CSR_SIGNATURE_HASH: Record<string, string | null> = {
  '1.3.101.112': null,
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};

function ipText(b: Buffer): string | null {
  if (b.length === 4) return [...b].join('.');
  if (b.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
    const text = groups.join(':');
    return isIP(text) === 6 ? text : null;
  }
  return null;
}

/**
 * A PKCS#10 CSR read from DER, its signature checked with its own key; null when it uses a signature
 * algorithm this reader does not know (the caller reads it with the ASN.1 library then). Throws a plain
 * Error on malformed DER.
 */
export function readCsr(der: Uint8Array): ReadCsr | null {
  const buf = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  const top = readTlv(buf, 0);
  if (top.tag !== 0x30 || top.end !== buf.length) throw new Error('not a DER SEQUENCE');
  const [info, sigAlg, sig] = children(buf, top);
  if (!info || !sigAlg || !sig || info.tag !== 0x30 || sigAlg.tag !== 0x30 || sig.tag !== 0x03)
    throw new Error('not a certificate request');
  const algOid = children(buf, sigAlg)[0];
  if (!algOid || algOid.tag !== 0x06) throw new Error('bad signature algorithm');
  const alg = decodeOid(buf.subarray(algOid.start, algOid.end));
  if (!(alg in CSR_SIGNATURE_HASH)) return null;
  const [version, subject, spki, attributes] = children(buf, info);
  if (!version || version.tag !== 0x02 || !subject || subject.tag !== 0x30 || !spki || spki.tag !== 0x30)
    throw new Error('not a certificate request');
  const spkiDer = buf.subarray(spki.offset, spki.end);
  if (buf[sig.start] !== 0) throw new Error('bad signature bit string');
  const verified = verify(
    CSR_SIGNATURE_HASH[alg]!,
    buf.subarray(info.offset, info.end),
    createPublicKey({ key: spkiDer, format: 'der', type: 'spki' }),
    buf.subarray(sig.start + 1, sig.end),
  );
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  if (attributes && attributes.tag === 0xa0) {
    for (const attr of children(buf, attributes)) {
      const [attrOid, values] = children(buf, attr);
      if (!attrOid || !values || decodeOid(buf.subarray(attrOid.start, attrOid.end)) !== '1.2.840.113549.1.9.14')
        continue;
      for (const exts of children(buf, values)) {
        for (const ext of children(buf, exts)) {
          const parts = children(buf, ext);
          const extOid = parts[0];
          const value = parts[parts.length - 1];
          if (
            !extOid ||
            !value ||
            value.tag !== 0x04 ||
            decodeOid(buf.subarray(extOid.start, extOid.end)) !== '2.5.29.17'
          )
            continue;
          for (const name of children(buf, readTlv(buf, value.start))) {
            const content = buf.subarray(name.start, name.end);
            if (name.tag === 0x82) dnsNames.push(content.toString('ascii'));
            else if (name.tag === 0x87) {
              const ip = ipText(content);
              if (ip !== null) ipAddresses.push(ip);
            }
          }
        }
      }
    }
  }
  return {
    subjectDer: Buffer.from(buf.subarray(subject.offset, subject.end)),
    spki: Buffer.from(spkiDer),
    dnsNames,
    ipAddresses,
    verified,
  };
}

/** `subjectDer` without its Organization (2.5.4.10) attributes; an RDN left empty is dropped. */
export function withoutOrganization(subjectDer: Buffer): { der: Buffer; empty: boolean } {
  const name = readTlv(subjectDer, 0);
  const rdns: Buffer[] = [];
  for (const rdn of children(subjectDer, name)) {
    const kept = children(subjectDer, rdn).filter((atv) => {
      const id = children(subjectDer, atv)[0];
      return !id || decodeOid(subjectDer.subarray(id.start, id.end)) !== '2.5.4.10';
    });
    if (kept.length > 0) rdns.push(tlv(0x31, ...kept.map((a) => subjectDer.subarray(a.offset, a.end))));
  }
  return { der: sequence(...rdns), empty: rdns.length === 0 };
}
