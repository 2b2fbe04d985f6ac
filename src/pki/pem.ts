/**
 * PEM text handling, pure (no I/O). Talos stores certificates and keys in machine configs, secrets
 * bundles and talosconfigs as standard base64 of the whole PEM text; these helpers convert between
 * that encoding, PEM text and DER, and rename the one PEM label OpenSSL refuses.
 */
import { RotateError } from '../domain/errors.js';

export interface PemBlock {
  label: string;
  der: Uint8Array;
  /** This block alone, re-encoded canonically (64-column base64), with a trailing newline. */
  pem: string;
}

const BEGIN_RE = /-----BEGIN ([A-Z0-9 ]+)-----/g;
const BASE64_BODY_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Encode DER under a PEM label (64-column lines, trailing newline), as Go's pem.EncodeToMemory does. */
export function encodePem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}${lines.length ? '\n' : ''}-----END ${label}-----\n`;
}

/**
 * Every PEM block in `text`, in order; text between blocks is ignored (as Go's pem.Decode does).
 * A block without its END line, with PEM headers, or with a body that is not base64 is an error
 * (PKI_PARSE). Messages name only the label, never the body, which may be a private key.
 */
export function splitPemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  BEGIN_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = BEGIN_RE.exec(text)) !== null) {
    const label = m[1]!;
    const endMarker = `-----END ${label}-----`;
    const bodyStart = m.index + m[0].length;
    const endAt = text.indexOf(endMarker, bodyStart);
    if (endAt < 0) {
      throw new RotateError('PKI_PARSE', `PEM block "${label}" has no matching END line`, {
        hint: 'the PEM text is truncated or corrupted; copy it again from its source',
      });
    }
    const body = text.slice(bodyStart, endAt).replace(/\s+/g, '');
    if (body.includes(':') || !BASE64_BODY_RE.test(body) || body.length % 4 !== 0 || body.length === 0) {
      throw new RotateError('PKI_PARSE', `PEM block "${label}" has a body that is not plain base64`, {
        hint: 'encrypted or header-carrying PEM blocks are not supported; provide an unencrypted PEM',
      });
    }
    const der = new Uint8Array(Buffer.from(body, 'base64'));
    blocks.push({ label, der, pem: encodePem(label, der) });
    BEGIN_RE.lastIndex = endAt + endMarker.length;
  }
  return blocks;
}

const STRICT_BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const LINE_BLOCK_RE = /(?:^|\n)-----BEGIN ([A-Z0-9 ]+)-----[ \t]*\r?\n([\s\S]*?)\r?\n-----END \1-----[ \t\r]*(?=\n|$)/g;

/**
 * The blocks a Go reader keeps from a bundle (apid's `AppendCertsFromPEM` over entries joined with no
 * separator, talos-behaviour.md §5.2/§5.1), skipping the rest without error: a block counts only when its BEGIN line
 * starts the text or a line and its END line holds nothing else. So a block whose END line runs into the
 * next BEGIN (an entry without its final newline) is lost together with that next block, as in Talos.
 * Blocks with headers or a body that is not base64 are skipped too.
 */
export function bundleBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  LINE_BLOCK_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = LINE_BLOCK_RE.exec(text)) !== null) {
    const body = m[2]!.replace(/\s+/g, '');
    if (body.length === 0 || !STRICT_BASE64_RE.test(body)) continue;
    const der = new Uint8Array(Buffer.from(body, 'base64'));
    out.push({ label: m[1]!, der, pem: encodePem(m[1]!, der) });
  }
  return out;
}

/**
 * Decode Talos's base64-of-PEM encoding (`crt`/`key` fields of machine configs, secrets bundles and
 * talosconfigs) into PEM text. Throws PKI_BAD_ENCODING naming `what` (e.g. ".machine.ca.crt") when the
 * value is empty, redacted, not standard base64, or does not decode to PEM.
 */
export function decodeTalosBase64Pem(b64: string, what: string): string {
  const value = b64.replace(/[\r\n]/g, ''); // Go's StdEncoding ignores CR/LF, nothing else
  const fail = (why: string, hint: string): never => {
    throw new RotateError('PKI_BAD_ENCODING', `${what} ${why}`, { hint });
  };
  if (value.trim() === '') fail('is empty', `set ${what} to the base64-encoded PEM text`);
  if (value === '******')
    fail('is redacted ("******")', 'use a machine config or secrets file that holds the real value');
  if (value.includes('-----BEGIN')) {
    fail(
      'holds plain PEM text, but Talos expects base64 of the PEM here',
      `base64-encode the PEM text (base64 -w0) and put that in ${what}`,
    );
  }
  if (!STRICT_BASE64_RE.test(value))
    fail('is not standard base64', `${what} must be the standard base64 encoding of PEM text`);
  const text = Buffer.from(value, 'base64').toString('utf8');
  if (!text.includes('-----BEGIN '))
    fail('is base64, but not of PEM text', `${what} must be the base64 encoding of a PEM block ("-----BEGIN ...")`);
  let blocks: PemBlock[];
  try {
    blocks = splitPemBlocks(text);
  } catch (err) {
    if (RotateError.is(err))
      fail(`decodes to malformed PEM: ${err.message}`, `re-create ${what} from the original PEM`);
    throw err;
  }
  if (blocks.length === 0)
    fail('decodes to text without a complete PEM block', `re-create ${what} from the original PEM`);
  return text;
}

/** Talos's encoding: standard base64 of the PEM text (every END line ending with a newline, as Talos writes it). */
export function encodeTalosBase64Pem(pem: string): string {
  return Buffer.from(terminatePemLines(pem), 'utf8').toString('base64');
}

/**
 * PEM text whose every END line ends with a newline: one is added at the end, and between an END line and a
 * BEGIN that follows it directly. Talos joins CA entries with no separator and Go's PEM decoder drops a
 * block whose END line runs into other text, with the block after it (talos-behaviour.md §5.1).
 */
export function terminatePemLines(pem: string): string {
  return ensureTrailingNewline(pem.replace(/(-----END [A-Z0-9 ]+-----)(?=-----BEGIN )/g, '$1\n'));
}

/** @peculiar/x509 emits PEM without a final newline; OpenSSL silently drops the next cert of a bundle then. */
export function ensureTrailingNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

/** A PEM bundle: each input newline-terminated, empty inputs skipped. */
export function concatPem(pems: string[]): string {
  return pems
    .filter((p) => p.trim() !== '')
    .map(terminatePemLines)
    .join('');
}

/**
 * Talos writes Ed25519 private keys as PKCS#8 under the label `ED25519 PRIVATE KEY`, which OpenSSL (and so
 * node:crypto and node:tls) refuses; the bytes are plain PKCS#8, so the standard label makes them readable.
 * Other labels are returned unchanged.
 */
export function privateKeyPemForNode(pem: string): string {
  return pem
    .replace(/-----BEGIN ED25519 PRIVATE KEY-----/g, '-----BEGIN PRIVATE KEY-----')
    .replace(/-----END ED25519 PRIVATE KEY-----/g, '-----END PRIVATE KEY-----');
}

/** splitPemBlocks, a malformed PEM failing as PKI_PARSE naming `what` (the file or field it came from). */
export function pemBlocksOf(text: string, what: string): PemBlock[] {
  try {
    return splitPemBlocks(text);
  } catch (err) {
    if (RotateError.is(err)) throw new RotateError('PKI_PARSE', `${what}: ${err.message}`, { hint: err.hint });
    throw err;
  }
}
