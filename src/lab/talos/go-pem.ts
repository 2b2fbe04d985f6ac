/**
 * Go's `encoding/pem` Decode as Talos's validation runs it, and the siderolabs/crypto loaders built on it
 * (x509/certificate_key.go `GetCert`, `GetKey`), written from their documented rules for the lab's judge.
 * Pure: no I/O. Key material never reaches a message.
 *
 * `pem.Decode` finds the next "-----BEGIN " at the start of the text or of a line, reads the type line,
 * optional `Key: value` headers, then the "-----END <type>-----" line, which must be followed by nothing but
 * spaces/tabs/CR before the newline; the body is base64 with spaces and tabs removed (CR/LF skipped). A
 * candidate that breaks any rule is skipped silently and the search goes on after its BEGIN line. So a
 * certificate whose END line is directly followed by the next BEGIN loses both blocks (facts §3.5).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';

export interface GoPemBlock {
  type: string;
  headers: Record<string, string>;
  bytes: Buffer;
}

/** A line without its newline and trailing spaces/tabs/CRs, and what follows the newline (Go's getLine). */
function getLine(data: string): [string, string] {
  const i = data.indexOf('\n');
  const line = i < 0 ? data : data.slice(0, i);
  const rest = i < 0 ? '' : data.slice(i + 1);
  return [line.replace(/[ \t\r]+$/, ''), rest];
}

/** base64.StdEncoding.Decode after removing spaces and tabs (CR/LF are skipped by the decoder). */
function goBase64(body: string): Buffer | null {
  const s = body.replace(/[ \t\r\n]/g, '');
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return null;
  return Buffer.from(s, 'base64');
}

/** Go's pem.Decode: the first valid block and the text after it, or null. */
export function goPemDecode(data: string): { block: GoPemBlock; rest: string } | null {
  let rest = data;
  for (;;) {
    if (rest.startsWith('-----BEGIN ')) rest = rest.slice('-----BEGIN '.length);
    else {
      const at = rest.indexOf('\n-----BEGIN ');
      if (at < 0) return null;
      rest = rest.slice(at + '\n-----BEGIN '.length);
    }
    let typeLine: string;
    [typeLine, rest] = getLine(rest);
    if (!typeLine.endsWith('-----')) continue;
    const type = typeLine.slice(0, -5);
    const headers: Record<string, string> = {};
    let truncated = false;
    for (;;) {
      if (rest.length === 0) {
        truncated = true;
        break;
      }
      const [line, next] = getLine(rest);
      const colon = line.indexOf(':');
      if (colon < 0) break;
      headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
      rest = next;
    }
    if (truncated) return null;
    let endIndex: number;
    let trailerAt: number;
    if (Object.keys(headers).length === 0 && rest.startsWith('-----END ')) {
      endIndex = 0;
      trailerAt = '-----END '.length;
    } else {
      endIndex = rest.indexOf('\n-----END ');
      trailerAt = endIndex + '\n-----END '.length;
    }
    if (endIndex < 0) continue;
    const trailer = rest.slice(trailerAt);
    const trailerLen = type.length + 5;
    if (trailer.length < trailerLen) continue;
    if (trailer.slice(0, trailerLen) !== `${type}-----`) continue;
    if (getLine(trailer.slice(trailerLen))[0].length !== 0) continue;
    const bytes = goBase64(rest.slice(0, endIndex));
    if (!bytes) continue;
    const [, after] = getLine(rest.slice(endIndex + '\n-----END '.length - 1));
    return { block: { type, headers, bytes }, rest: after };
  }
}

/** Every block pem.Decode finds, in order (what Go's CertPool.AppendCertsFromPEM walks). */
export function goPemBlocks(data: string): GoPemBlock[] {
  const out: GoPemBlock[] = [];
  let rest = data;
  for (;;) {
    const d = goPemDecode(rest);
    if (!d) return out;
    out.push(d.block);
    rest = d.rest;
  }
}

/**
 * meta.AssertValidPEM (pkg/machinery/config/types/meta/certificate_key.go): at least one block, each of an
 * expected type when types are given. Null when valid, else Talos's message.
 */
export function assertValidPem(data: string, ...expectedTypes: string[]): string | null {
  const blocks = goPemBlocks(data);
  for (const b of blocks) {
    if (expectedTypes.length > 0 && !expectedTypes.includes(b.type)) {
      return `unexpected PEM block type ${JSON.stringify(b.type)}, expected one of [${expectedTypes.map((t) => JSON.stringify(t)).join(' ')}]`;
    }
  }
  return blocks.length === 0 ? 'no PEM blocks found' : null;
}

/** siderolabs/crypto `GetCert`: the FIRST block only, parsed as a certificate. Null when it parses. */
export function goGetCertError(certPem: string): string | null {
  const d = goPemDecode(certPem);
  if (!d) return 'failed to parse PEM block';
  try {
    new X509Certificate(d.block.bytes);
    return null;
  } catch {
    return 'failed to parse certificate: x509: malformed certificate';
  }
}

/**
 * siderolabs/crypto `GetKey`: the FIRST block of the key only, by its type (RSA = PKCS#1, EC = SEC1,
 * ED25519 = PKCS#8 holding an Ed25519 key, PRIVATE KEY = any PKCS#8). Never compared with the certificate.
 */
export function goGetKeyError(keyPem: string): string | null {
  const d = goPemDecode(keyPem);
  if (!d) return 'failed to parse PEM block';
  const der = d.block.bytes;
  const parse = (type: 'pkcs1' | 'sec1' | 'pkcs8') => createPrivateKey({ key: der, format: 'der', type });
  try {
    switch (d.block.type) {
      case 'RSA PRIVATE KEY':
        try {
          parse('pkcs1');
        } catch {
          return 'failed to parse RSA key: x509: malformed private key';
        }
        return null;
      case 'EC PRIVATE KEY':
        try {
          parse('sec1');
        } catch {
          return 'failed to parse ECDSA key: x509: malformed private key';
        }
        return null;
      case 'ED25519 PRIVATE KEY': {
        let k;
        try {
          k = parse('pkcs8');
        } catch {
          return 'failed to parse Ed25519 key: x509: malformed private key';
        }
        return k.asymmetricKeyType === 'ed25519' ? null : 'failed parsing Ed25519 key, got wrong key type';
      }
      case 'PRIVATE KEY':
        try {
          parse('pkcs8');
        } catch {
          return 'failed to parse key: x509: malformed private key';
        }
        return null;
      default:
        return `unsupported key type: ${JSON.stringify(d.block.type)}`;
    }
  } catch {
    return 'failed to parse key';
  }
}
