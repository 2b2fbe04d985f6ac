/**
 * The siderolabs/crypto loaders Talos's validation runs (x509/certificate_key.go `GetCert`, `GetKey`) and
 * meta.AssertValidPEM, on top of the lab's reading of Go's `encoding/pem` (../core/go-pem.ts, checked
 * against Go 1.26, which Talos v1.13/v1.14 build with). Pure: no I/O. Key material never reaches a message.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { goPemDecode, type GoPemBlock } from '../core/go-pem.js';

/** The first block `pem.Decode` finds in `data`, or null. */
function firstBlock(data: string): GoPemBlock | null {
  return goPemDecode(Buffer.from(data, 'utf8')).block;
}

/** Every block pem.Decode finds, in order. */
export function goPemBlocks(data: string): GoPemBlock[] {
  const out: GoPemBlock[] = [];
  let rest: Buffer = Buffer.from(data, 'utf8');
  while (rest.length > 0) {
    const { block, rest: next } = goPemDecode(rest);
    if (!block) break;
    out.push(block);
    rest = next;
  }
  return out;
}

/**
 * meta.AssertValidPEM (pkg/machinery/config/types/meta/certificate_key.go): at least one block, each of an
 * expected type when types are given. Null when valid, else Talos's message.
 */
export function assertValidPem(data: string, ...expectedTypes: string[]): string | null {
  const blocks = goPemBlocks(data);
  for (const b of blocks) {
    if (expectedTypes.length > 0 && !expectedTypes.includes(b.type)) {
      return (
        `unexpected PEM block type ${JSON.stringify(b.type)}, expected one of ` +
        `[${expectedTypes.map((t) => JSON.stringify(t)).join(' ')}]`
      );
    }
  }
  return blocks.length === 0 ? 'no PEM blocks found' : null;
}

/** siderolabs/crypto `GetCert`: the FIRST block only, parsed as a certificate. Null when it parses. */
export function goGetCertError(certPem: string): string | null {
  const block = firstBlock(certPem);
  if (!block) return 'failed to parse PEM block';
  try {
    new X509Certificate(block.bytes);
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
  const block = firstBlock(keyPem);
  if (!block) return 'failed to parse PEM block';
  const der = block.bytes;
  const parse = (type: 'pkcs1' | 'sec1' | 'pkcs8') => createPrivateKey({ key: der, format: 'der', type });
  try {
    switch (block.type) {
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
        return `unsupported key type: ${JSON.stringify(block.type)}`;
    }
  } catch {
    return 'failed to parse key';
  }
}
