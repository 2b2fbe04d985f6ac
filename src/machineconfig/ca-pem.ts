/**
 * The values of CA fields: decoding (base64 of PEM in legacy fields, plain PEM in v1.14 documents),
 * checking that a certificate field holds exactly one certificate and an accepted entry at least one, reading
 * key fields without ever quoting them, and encoding PEM back the way the field stores it.
 */
import { X509Certificate } from 'node:crypto';

import { RotateError } from '../domain/errors.js';
import { Secret } from '../domain/secret.js';
import type { Fingerprint } from '../domain/types.js';
import {
  decodeTalosBase64Pem,
  encodeTalosBase64Pem,
  ensureTrailingNewline,
  fingerprintOfPem,
  splitPemBlocks,
  terminatePemLines,
  type PemBlock,
} from '../pki/index.js';
import { mcError } from './errors.js';
import { BoundedMap } from '../util/bounded-map.js';

/** How a CA field stores PEM: legacy v1alpha1 fields hold base64 of the PEM, v1.14 documents plain PEM. */
export type FieldEncoding = 'base64' | 'pem';

/** Redacted marker Talos itself uses for keys (talos-behaviour.md §6.1). */
export const REDACTED_KEY = '******';

function badCa(source: string | undefined, message: string, hint: string): RotateError {
  return mcError('MC_BAD_CA', source, message, hint);
}

function pemOf(value: string, encoding: FieldEncoding, field: string, source: string | undefined): string {
  if (encoding === 'pem') return value;
  try {
    return decodeTalosBase64Pem(value, field);
  } catch (err) {
    // The PKI messages name the field and the problem, never the value.
    if (RotateError.is(err)) throw badCa(source, err.message, err.hint ?? `set ${field} to base64 of the PEM text`);
    throw err;
  }
}

function blocksOf(pem: string, field: string, source: string | undefined): PemBlock[] {
  try {
    return splitPemBlocks(pem);
  } catch (err) {
    if (RotateError.is(err))
      throw badCa(source, `${field}: ${err.message}`, err.hint ?? 'replace the value with valid PEM');
    throw err;
  }
}

/**
 * Results of readCertField/readCertEntry by (encoding, value): a plan reads the same CA values from every
 * node's config at every step. Only successes are kept (errors name the field and config); the results are
 * frozen. Bounded: oldest out first.
 */
const certMemo = new BoundedMap<string, Readonly<CertField> | Readonly<CertEntry>>(512);

function memoized<T extends CertField | CertEntry>(
  kind: string,
  value: string,
  encoding: FieldEncoding,
  read: () => T,
): T {
  const key = `${kind}\u0000${encoding}\u0000${value}`;
  const hit = certMemo.get(key);
  if (hit) return hit as T;
  const result = read();
  certMemo.set(key, deepFreeze(result));
  return result;
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

interface CertField {
  certPem: string;
  fingerprint: Fingerprint;
  terminated: boolean;
}

interface CertEntry {
  certs: { certPem: string; fingerprint: Fingerprint }[];
  terminated: boolean;
}

/** A certificate field: exactly one parseable CERTIFICATE block. */
export function readCertField(
  value: string,
  encoding: FieldEncoding,
  field: string,
  source: string | undefined,
): CertField {
  return memoized('field', value, encoding, () => readCertFieldOnce(value, encoding, field, source));
}

function readCertFieldOnce(
  value: string,
  encoding: FieldEncoding,
  field: string,
  source: string | undefined,
): CertField {
  const pem = pemOf(value, encoding, field, source);
  const blocks = blocksOf(pem, field, source);
  const cert = blocks[0];
  if (blocks.length !== 1 || cert === undefined || cert.label !== 'CERTIFICATE') {
    const labels = blocks.map((b) => b.label).join(', ') || 'none';
    throw badCa(
      source,
      `${field} must hold exactly one CERTIFICATE PEM block (found: ${labels})`,
      'put one CA certificate per entry; a key or a bundle does not belong in a certificate field',
    );
  }
  try {
    new X509Certificate(cert.der);
  } catch {
    throw badCa(
      source,
      `${field} holds a CERTIFICATE block that does not parse as X.509`,
      'the certificate is corrupted; copy it again from its source',
    );
  }
  return { certPem: cert.pem, fingerprint: fingerprintOfPem(cert.pem), terminated: pemLinesTerminated(pem) };
}

/**
 * True when every PEM block of `pem` ends its END line with a line break. Talos joins bundle entries with
 * no separator (talos-behaviour.md §5.1) and Go's pem.Decode drops a block whose END line runs into other text, so an
 * entry without its final newline, followed by another entry, loses both.
 */
export function pemLinesTerminated(pem: string): boolean {
  const re = /-----END [^\n]*?-----([^\n]*)(\n?)/g;
  let m: RegExpExecArray | null;
  let any = false;
  while ((m = re.exec(pem)) !== null) {
    any = true;
    if (m[2] !== '\n' || !/^[ \t\r]*$/.test(m[1]!)) return false;
  }
  return any;
}

/** One accepted-CAs entry: every CERTIFICATE block in it, in order (Talos trusts them all, talos-behaviour.md §5.2). */
export function readCertEntry(
  value: string,
  encoding: FieldEncoding,
  field: string,
  source: string | undefined,
): CertEntry {
  return memoized('entry', value, encoding, () => readCertEntryOnce(value, encoding, field, source));
}

function readCertEntryOnce(
  value: string,
  encoding: FieldEncoding,
  field: string,
  source: string | undefined,
): CertEntry {
  const pem = pemOf(value, encoding, field, source);
  const blocks = blocksOf(pem, field, source);
  if (blocks.length === 0 || blocks.some((b) => b.label !== 'CERTIFICATE')) {
    const labels = blocks.map((b) => b.label).join(', ') || 'none';
    throw badCa(
      source,
      `${field} must hold CERTIFICATE PEM blocks only (found: ${labels})`,
      'put CA certificates in accepted entries; a key does not belong there',
    );
  }
  const certs = blocks.map((cert, i) => {
    try {
      new X509Certificate(cert.der);
    } catch {
      const which = blocks.length > 1 ? ` (block ${i + 1} of ${blocks.length})` : '';
      throw badCa(
        source,
        `${field} holds a CERTIFICATE block${which} that does not parse as X.509`,
        'the certificate is corrupted; copy it again from its source',
      );
    }
    return { certPem: cert.pem, fingerprint: fingerprintOfPem(cert.pem) };
  });
  return { certs, terminated: pemLinesTerminated(pem) };
}

/** A private-key field; `null` when empty (workers) or redacted. Errors never quote the value. */
export function readKeyField(
  value: string,
  encoding: FieldEncoding,
  field: string,
  source: string | undefined,
): Secret | null {
  if (value.trim() === '' || value === REDACTED_KEY) return null;
  const pem = pemOf(value, encoding, field, source);
  const blocks = blocksOf(pem, field, source);
  if (blocks.length !== 1 || !blocks[0]!.label.endsWith('PRIVATE KEY')) {
    throw badCa(
      source,
      `${field} must hold exactly one private-key PEM block`,
      'the issuing CA key is a single "... PRIVATE KEY" PEM block',
    );
  }
  return new Secret(ensureTrailingNewline(pem));
}

/** The value text to store for a PEM in a field of the given encoding. */
export function encodeField(pem: string, encoding: FieldEncoding): string {
  return encoding === 'base64' ? encodeTalosBase64Pem(pem) : terminatePemLines(pem);
}

/** Same key material, ignoring trailing whitespace. */
export function samePem(a: string, b: string): boolean {
  return a.trimEnd() === b.trimEnd();
}

export { fingerprintOfPem, ensureTrailingNewline };
