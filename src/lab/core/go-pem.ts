/**
 * PEM bundles as Talos's Go code builds and reads them, written for the lab (deliberately not the tool's
 * PEM reader: the judge must not share the planner's reading).
 *
 * Building: Talos joins bundle entries with `bytes.Join(entries, nil)`, no separator (trustd's answer,
 * internal/app/trustd/internal/reg/reg.go; apid's trusted set, internal/app/apid/pkg/provider/provider.go;
 * the worker's trustd client, pkg/grpc/middleware/auth/basic/basic.go; Kubernetes CA bundle files, talos-behaviour.md
 * §5.1).
 *
 * Reading: Go's `encoding/pem.Decode` (Go 1.26, which Talos v1.13/v1.14 build with) finds the first
 * "\n-----END " and the last "-----BEGIN " before it, which must start the data or a line; the END line
 * must carry the same type, "-----", and then only spaces/tabs up to the line break. A block failing any
 * check is skipped, and the search goes on after that END marker. So an entry without its final newline,
 * followed by another entry, leaves "-----END CERTIFICATE----------BEGIN CERTIFICATE-----": the first
 * block fails the END-line check and the second has no BEGIN at a line start, and both are lost.
 * `CertPool.AppendCertsFromPEM` (crypto/x509/cert_pool.go) keeps CERTIFICATE blocks without headers that
 * parse as X.509 and skips the rest silently.
 */
import { X509Certificate } from 'node:crypto';
import { BoundedMap } from '../../util/bounded-map.js';

export interface GoPemBlock {
  type: string;
  headers: Record<string, string>;
  bytes: Buffer;
}

const PEM_START = Buffer.from('\n-----BEGIN ');
const PEM_END = Buffer.from('\n-----END ');
const END_OF_LINE = Buffer.from('-----');

/** Go's getLine: the line without "\r\n"/"\n" and trailing spaces/tabs, the rest, and bytes consumed. */
function getLine(data: Buffer): { line: Buffer; rest: Buffer; consumed: number } {
  let i = data.indexOf(0x0a);
  let j: number;
  if (i < 0) {
    i = data.length;
    j = i;
  } else {
    j = i + 1;
    if (i > 0 && data[i - 1] === 0x0d) i--;
  }
  let end = i;
  while (end > 0 && (data[end - 1] === 0x20 || data[end - 1] === 0x09)) end--;
  return { line: data.subarray(0, end), rest: data.subarray(j), consumed: j };
}

/** Go's base64.StdEncoding.Decode: CR/LF ignored, padding required, anything else fails. */
function decodeStdBase64(data: Buffer): Buffer | null {
  const s = data.toString('latin1').replace(/[\r\n]/g, '');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) return null;
  return Buffer.from(s, 'base64');
}

/** One step of Go's `pem.Decode`: the first valid block and the bytes after it, or null (rest = input). */
export function goPemDecode(input: Buffer): { block: GoPemBlock | null; rest: Buffer } {
  let rest = input;
  let endTrailerIndex = 0;
  for (;;) {
    if (endTrailerIndex < 0 || endTrailerIndex > rest.length) return { block: null, rest: input };
    rest = rest.subarray(endTrailerIndex);
    let endIndex = rest.indexOf(PEM_END);
    if (endIndex < 0) return { block: null, rest: input };
    endTrailerIndex = endIndex + PEM_END.length;
    const beginIndex = rest.subarray(0, endIndex).lastIndexOf(PEM_START.subarray(1));
    if (beginIndex < 0 || (beginIndex > 0 && rest[beginIndex - 1] !== 0x0a)) continue;
    const skip = beginIndex + PEM_START.length - 1;
    rest = rest.subarray(skip);
    endIndex -= skip;
    endTrailerIndex -= skip;

    const first = getLine(rest);
    rest = first.rest;
    endIndex -= first.consumed;
    endTrailerIndex -= first.consumed;
    if (!endsWith(first.line, END_OF_LINE)) continue;
    const typeLine = first.line.subarray(0, first.line.length - END_OF_LINE.length);
    const headers: Record<string, string> = {};
    let headerCount = 0;
    for (;;) {
      if (rest.length === 0) return { block: null, rest: input };
      const l = getLine(rest);
      const colon = l.line.indexOf(0x3a);
      if (colon < 0) break;
      headers[trimSpace(l.line.subarray(0, colon))] = trimSpace(l.line.subarray(colon + 1));
      headerCount++;
      rest = l.rest;
      endIndex -= l.consumed;
      endTrailerIndex -= l.consumed;
    }
    if (headerCount > 0 && endIndex < 0) continue;

    let endTrailer = rest.subarray(endTrailerIndex);
    const endTrailerLen = typeLine.length + END_OF_LINE.length;
    if (endTrailer.length < endTrailerLen) continue;
    const restOfEndLine = endTrailer.subarray(endTrailerLen);
    endTrailer = endTrailer.subarray(0, endTrailerLen);
    if (!startsWith(endTrailer, typeLine) || !endsWith(endTrailer, END_OF_LINE)) continue;
    if (getLine(restOfEndLine).line.length !== 0) continue;

    let bytes: Buffer = Buffer.alloc(0);
    if (endIndex > 0) {
      const body = Buffer.from(rest.subarray(0, endIndex).toString('latin1').replace(/[ \t]/g, ''), 'latin1');
      const decoded = decodeStdBase64(body);
      if (!decoded) continue;
      bytes = decoded;
    }
    const after = getLine(rest.subarray(endIndex + PEM_END.length - 1)).rest;
    return { block: { type: typeLine.toString('latin1'), headers, bytes }, rest: after };
  }
}

function startsWith(a: Buffer, prefix: Buffer): boolean {
  return a.length >= prefix.length && a.subarray(0, prefix.length).equals(prefix);
}

function endsWith(a: Buffer, suffix: Buffer): boolean {
  return a.length >= suffix.length && a.subarray(a.length - suffix.length).equals(suffix);
}

function trimSpace(b: Buffer): string {
  return b.toString('latin1').trim();
}

/** `bytes.Join(entries, nil)`. */
export function goJoin(entries: readonly string[]): string {
  return entries.join('');
}

/**
 * The loop Go's PEM certificate readers share (`x509.CertPool.AppendCertsFromPEM`, client-go
 * `cert.ParseCertsPEM`): `pem.Decode` block after block until none is left, keeping the DER of each
 * CERTIFICATE block without headers. A block whose DER does not parse goes to `unparsable`: returning skips it
 * (AppendCertsFromPEM), throwing stops the walk (ParseCertsPEM).
 */
export function goCertificateBlocks(bundle: string | Buffer, unparsable: (err: Error) => void): Buffer[] {
  let data = typeof bundle === 'string' ? Buffer.from(bundle, 'utf8') : bundle;
  const out: Buffer[] = [];
  while (data.length > 0) {
    const { block, rest } = goPemDecode(data);
    if (!block) break;
    data = rest;
    if (block.type !== 'CERTIFICATE' || Object.keys(block.headers).length > 0) continue;
    try {
      new X509Certificate(block.bytes);
    } catch (err) {
      unparsable(err as Error);
      continue;
    }
    out.push(block.bytes);
  }
  return out;
}

/** `x509.CertPool.AppendCertsFromPEM`: the DER of every certificate Go would add, in order. */
export function goAppendCertsFromPem(bundle: string | Buffer): Buffer[] {
  return goCertificateBlocks(bundle, () => undefined);
}

/** Canonical PEM (64 columns, final newline) of a certificate's DER, as Go's pem.EncodeToMemory writes it. */
export function certificatePem(der: Buffer): string {
  const b64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/**
 * Bundles already read (a pure function of the text): every node of a 200-node lab reads the same few
 * bundles again at each registration and config change, and parsing each certificate costs ~0.1 ms.
 */
const trustedByBundle = new BoundedMap<string, readonly string[]>(256);

/** The certificates Go trusts from a list of entries joined with no separator, as canonical PEMs. */
export function goTrustedCertificates(entries: readonly string[]): string[] {
  const text = goJoin(entries);
  return [...trustedByBundle.getOrSet(text, () => goAppendCertsFromPem(text).map(certificatePem))];
}

/** `PEMEncodedCertificate.GetCert` (siderolabs/crypto x509/certificate.go): the first block of one entry. */
export function goFirstCertificate(entry: string): Buffer | null {
  const { block } = goPemDecode(Buffer.from(entry, 'utf8'));
  if (!block) return null;
  try {
    new X509Certificate(block.bytes);
    return block.bytes;
  } catch {
    return null;
  }
}
