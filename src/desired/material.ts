/**
 * The CA material a desired-state file points at: certificates (file, inline PEM, secrets bundle) and key
 * sources (file, environment variable, secrets bundle). Validation reads a key only to check that it
 * belongs to its certificate, then drops it; apply gets it through loadAuthorityKey.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isScalar, type Node } from 'yaml';

import { RotateError, causeCode } from '../domain/errors.js';
import { Secret } from '../domain/secret.js';
import {
  assertIsCa,
  assertSupportedAlgorithm,
  assertValidNow,
  decodeTalosBase64Pem,
  ensureTrailingNewline,
  loadCa,
  parseCaCertificate,
  type CaCertificate,
} from '../pki/index.js';
import { loadSecretsBundle, type SecretsBundle } from '../talos/secrets-bundle.js';
import { error, warning, type Finding, type Segment } from './diagnostics.js';
import { resolveDesiredPath, showPath } from './paths.js';
import type { Authority, BundleEntry, CertificateSource, KeySource } from './types.js';

/** A CA expiring sooner than this is reported (warning), so a rotation can be planned in time. */
export const EXPIRY_WARNING_MS = 30 * 24 * 3_600_000;

export interface MaterialContext {
  /** Folder of the desired-state file. */
  dir: string;
  home: string;
  env: NodeJS.ProcessEnv;
  now: Date;
  /** Bundles read during this run, by absolute path (a bundle is read once however often it is named). */
  bundles: Map<string, Promise<SecretsBundle>>;
}

export function newMaterialContext(opts: {
  dir: string;
  home: string;
  env: NodeJS.ProcessEnv;
  now: Date;
}): MaterialContext {
  return { ...opts, bundles: new Map() };
}

/** A finding waiting for its place; thrown inside this module, caught into the findings list. */
class Problem extends Error {
  constructor(readonly finding: Finding) {
    super(finding.message);
  }
}

function fail(code: string, at: Segment[], message: string, hint: string): never {
  throw new Problem(error(code, at, message, hint));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Group/other permission bits, in words, for messages. */
function looseness(mode: number): string {
  const who = [mode & 0o070 ? 'group' : '', mode & 0o007 ? 'others' : ''].filter(Boolean).join(' and ');
  return `${who} (mode ${(mode & 0o777).toString(8).padStart(4, '0')})`;
}

function errnoCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'error';
}

async function readText(file: string, shown: string, code: string, at: Segment[], what: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    const c = errnoCode(err);
    fail(
      code,
      at,
      `cannot read ${what} ${shown} (${c})`,
      c === 'ENOENT'
        ? `create it or fix the path; relative paths start at the folder of this file`
        : 'check the file permissions',
    );
  }
}

/** PKI errors → findings with this module's codes; messages are the PKI's, which never hold key material. */
function fromPki(err: unknown, at: Segment[], codes: Record<string, string>, fallback: string): Finding {
  if (RotateError.is(err)) return error(codes[err.code] ?? fallback, at, err.message, err.hint ?? 'check the material');
  throw err;
}

async function getBundle(ctx: MaterialContext, file: string): Promise<SecretsBundle> {
  let pending = ctx.bundles.get(file);
  if (!pending) {
    pending = loadSecretsBundle(file);
    ctx.bundles.set(file, pending);
  }
  return pending;
}

async function readBundle(
  ctx: MaterialContext,
  written: string,
  at: Segment[],
): Promise<{ bundle: SecretsBundle; file: string; shown: string }> {
  const file = resolveDesiredPath(written, ctx.dir, ctx.home);
  const shown = showPath(written, file);
  try {
    return { bundle: await getBundle(ctx, file), file, shown };
  } catch (err) {
    if (!RotateError.is(err)) throw err;
    const missing = err.code === 'SECRETS_READ' && causeCode(err) === 'ENOENT';
    fail(
      'DESIRED_BUNDLE_READ',
      at,
      missing ? `secrets bundle ${shown} does not exist` : err.message,
      missing ? 'fix the path, or write the bundle with `talosctl gen secrets`' : (err.hint ?? 'check the bundle'),
    );
  }
}

function bundleField(bundle: SecretsBundle, entry: BundleEntry, field: 'crt' | 'key'): string | undefined {
  const node = bundle.doc.getIn(['certs', entry, field], true) as Node | undefined;
  return isScalar(node) && typeof node.value === 'string' && node.value !== '' ? node.value : undefined;
}

const ENTRY_TITLE: Record<BundleEntry, string> = { os: 'Talos API CA', k8s: 'Kubernetes API CA' };

function missingEntry(at: Segment[], shown: string, entry: BundleEntry, field: 'crt' | 'key'): never {
  fail(
    'DESIRED_BUNDLE_ENTRY',
    at,
    `secrets bundle ${shown} has no certs.${entry}.${field} (the ${ENTRY_TITLE[entry]})`,
    `check that ${shown} is a \`talosctl gen secrets\` bundle and that entry is right (os = Talos API CA, ` +
      'k8s = Kubernetes API CA)',
  );
}

async function assertPrivateMode(file: string, shown: string, at: Segment[], what: string): Promise<void> {
  let mode: number;
  try {
    const st = await fs.stat(file);
    if (!st.isFile())
      fail('DESIRED_KEY_READ', at, `${what} ${shown} is not a regular file`, 'point at the file itself');
    mode = st.mode;
  } catch (err) {
    if (err instanceof Problem) throw err;
    const c = errnoCode(err);
    fail(
      'DESIRED_KEY_READ',
      at,
      `cannot read ${what} ${shown} (${c})`,
      c === 'ENOENT'
        ? 'create it or fix the path; relative paths start at the folder of this file'
        : 'check the file permissions',
    );
  }
  if ((mode & 0o077) !== 0) {
    fail(
      'DESIRED_KEY_FILE_MODE',
      at,
      `${what} ${shown} is readable by ${looseness(mode)}; a file holding a CA key must be readable only by its owner`,
      `chmod 600 ${JSON.stringify(file)}`,
    );
  }
}

/** PEM text, or Talos's base64 of PEM (also PEM whose newlines were flattened to `\n` by a CI secret store). */
function keyText(raw: string, what: string, at: Segment[]): string {
  let text = raw.trim();
  if (!text.includes('\n') && text.includes('\\n')) text = text.replace(/\\n/g, '\n');
  if (text.includes('-----BEGIN')) return ensureTrailingNewline(text);
  try {
    return ensureTrailingNewline(decodeTalosBase64Pem(text, what));
  } catch {
    fail(
      'DESIRED_KEY_INVALID',
      at,
      `${what} holds neither a PEM private key nor base64 of one`,
      'provide the PEM text (-----BEGIN ... PRIVATE KEY-----) or its base64 encoding',
    );
  }
}

// ---------------------------------------------------------------------------------------------------
// Certificates

interface LoadedCertificate {
  pem: string;
  source: CertificateSource;
  /** How the certificate is named in messages. */
  what: string;
}

async function loadCertificateText(raw: unknown, at: Segment[], ctx: MaterialContext): Promise<LoadedCertificate> {
  if (typeof raw === 'string') {
    if (raw.trimStart().startsWith('-----BEGIN'))
      return { pem: raw, source: { kind: 'inline' }, what: 'the inline certificate' };
    const file = resolveDesiredPath(raw, ctx.dir, ctx.home);
    const shown = showPath(raw, file);
    const text = await readText(file, shown, 'DESIRED_CERT_READ', at, 'certificate file');
    if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text)) {
      const st = await fs.stat(file);
      if ((st.mode & 0o077) !== 0) {
        fail(
          'DESIRED_KEY_IN_CERT_FILE',
          at,
          `certificate file ${shown} also holds a private key and is readable by ${looseness(st.mode)}`,
          `move the key to its own file readable only by you (chmod 600) and keep only the certificate in ${shown}`,
        );
      }
    }
    let pem = text;
    if (!text.includes('-----BEGIN')) {
      try {
        pem = decodeTalosBase64Pem(text.trim(), shown);
      } catch (err) {
        throw new Problem(fromPki(err, at, {}, 'DESIRED_CERT_INVALID'));
      }
    }
    return { pem, source: { kind: 'file', path: file }, what: shown };
  }
  const src = raw as { secretsBundle: string; entry: BundleEntry };
  const { bundle, file, shown } = await readBundle(ctx, src.secretsBundle, [...at, 'secretsBundle']);
  const value = bundleField(bundle, src.entry, 'crt');
  if (value === undefined) missingEntry([...at, 'entry'], shown, src.entry, 'crt');
  const what = `${shown} certs.${src.entry}.crt`;
  try {
    return {
      pem: decodeTalosBase64Pem(value, what),
      source: { kind: 'secretsBundle', path: file, entry: src.entry },
      what,
    };
  } catch (err) {
    throw new Problem(fromPki(err, at, {}, 'DESIRED_CERT_INVALID'));
  }
}

const CERT_CODES: Record<string, string> = {
  PKI_PARSE: 'DESIRED_CERT_INVALID',
  PKI_BAD_ENCODING: 'DESIRED_CERT_INVALID',
  PKI_UNSUPPORTED_ALG: 'DESIRED_UNSUPPORTED_ALG',
  PKI_NOT_CA: 'DESIRED_NOT_CA',
  PKI_EXPIRED: 'DESIRED_CA_EXPIRED',
  PKI_NOT_YET_VALID: 'DESIRED_CA_NOT_YET_VALID',
};

/** Parse and check one authority's certificate: a CA, a supported algorithm, inside its validity window. */
async function checkCertificate(
  raw: unknown,
  at: Segment[],
  ctx: MaterialContext,
  findings: Finding[],
): Promise<{ cert: CaCertificate; loaded: LoadedCertificate } | undefined> {
  let loaded: LoadedCertificate;
  try {
    loaded = await loadCertificateText(raw, at, ctx);
  } catch (err) {
    if (err instanceof Problem) {
      findings.push(err.finding);
      return undefined;
    }
    throw err;
  }
  let cert: CaCertificate;
  try {
    cert = parseCaCertificate(loaded.pem, loaded.what);
  } catch (err) {
    findings.push(fromPki(err, at, CERT_CODES, 'DESIRED_CERT_INVALID'));
    return undefined;
  }
  let ok = true;
  for (const check of [
    () => assertIsCa(cert, loaded.what),
    () => assertSupportedAlgorithm(cert, loaded.what),
    () => assertValidNow(cert, loaded.what, { now: ctx.now }),
  ]) {
    try {
      check();
    } catch (err) {
      findings.push(fromPki(err, at, CERT_CODES, 'DESIRED_CERT_INVALID'));
      ok = false;
    }
  }
  if (!ok) return undefined;
  const left = cert.notAfter.getTime() - ctx.now.getTime();
  if (left < EXPIRY_WARNING_MS) {
    const days = Math.max(0, Math.floor(left / 86_400_000));
    findings.push(
      warning(
        'DESIRED_CA_EXPIRING',
        at,
        `${loaded.what} expires at ${cert.notAfter.toISOString()} (in ${days} day${days === 1 ? '' : 's'})`,
        'rotate to a new CA before it expires: once it has, nodes and clients reject every certificate it issued',
      ),
    );
  }
  return { cert, loaded };
}

// ---------------------------------------------------------------------------------------------------
// Keys

/** Reference to the key, from the (schema-valid) `key` value. */
export function keySourceOf(raw: unknown, ctx: Pick<MaterialContext, 'dir' | 'home'>): KeySource | null {
  if (!isObject(raw)) return null;
  if (typeof raw.file === 'string') return { kind: 'file', path: resolveDesiredPath(raw.file, ctx.dir, ctx.home) };
  if (typeof raw.env === 'string') return { kind: 'env', variable: raw.env };
  if (typeof raw.secretsBundle === 'string')
    return {
      kind: 'secretsBundle',
      path: resolveDesiredPath(raw.secretsBundle, ctx.dir, ctx.home),
      entry: raw.entry as BundleEntry,
    };
  return null;
}

/** Where a key source lives in the file, for placing findings. */
function keyAt(authorityAt: Segment[], source: KeySource): Segment[] {
  const at = [...authorityAt, 'key'];
  switch (source.kind) {
    case 'file':
      return [...at, 'file'];
    case 'env':
      return [...at, 'env'];
    case 'secretsBundle':
      return [...at, 'secretsBundle'];
  }
}

/** Read a key from its source (checking the file mode of files that hold keys). Throws Problem. */
async function readKey(
  source: KeySource,
  at: Segment[],
  ctx: MaterialContext,
  written?: string,
): Promise<{ key: Secret; what: string }> {
  switch (source.kind) {
    case 'file': {
      const shown = showPath(written ?? source.path, source.path);
      await assertPrivateMode(source.path, shown, at, 'key file');
      const text = await readText(source.path, shown, 'DESIRED_KEY_READ', at, 'key file');
      return { key: new Secret(keyText(text, `key file ${shown}`, at)), what: `key file ${shown}` };
    }
    case 'env': {
      const value = ctx.env[source.variable];
      if (value === undefined || value.trim() === '') {
        fail(
          'DESIRED_ENV_MISSING',
          at,
          `environment variable ${source.variable} is ${value === undefined ? 'not set' : 'empty'}`,
          `export ${source.variable} with the CA's private key (PEM, or base64 of it), e.g. ` +
            'from your secret manager, before running talos-rotate',
        );
      }
      const what = `environment variable ${source.variable}`;
      return { key: new Secret(keyText(value, what, at)), what };
    }
    case 'secretsBundle': {
      const shown = showPath(written ?? source.path, source.path);
      await assertPrivateMode(source.path, shown, at, 'secrets bundle');
      const { bundle } = await readBundle(ctx, source.path, at);
      const value = bundleField(bundle, source.entry, 'key');
      if (value === undefined) missingEntry(at, shown, source.entry, 'key');
      const what = `${shown} certs.${source.entry}.key`;
      let pem: string;
      try {
        pem = decodeTalosBase64Pem(value, what);
      } catch (err) {
        throw new Problem(fromPki(err, at, {}, 'DESIRED_KEY_INVALID'));
      }
      return { key: new Secret(ensureTrailingNewline(pem)), what };
    }
  }
}

const KEY_CODES: Record<string, string> = {
  PKI_PARSE: 'DESIRED_KEY_INVALID',
  PKI_BAD_ENCODING: 'DESIRED_KEY_INVALID',
  PKI_UNSUPPORTED_ALG: 'DESIRED_KEY_INVALID',
  PKI_KEY_MISMATCH: 'DESIRED_KEY_MISMATCH',
};

/**
 * The key must be the certificate's. It is parsed, compared and dropped here. Only an issuing authority can
 * need its key (a control plane that starts issuing with it); for any other, a key that is not this
 * certificate's is "not available" (a warning, and no key source): typically a `{secretsBundle, entry}`
 * whose entry apply has since rewritten with the next CA. The name stays bound to its certificate.
 */
async function checkKey(
  raw: unknown,
  cert: CaCertificate,
  authorityAt: Segment[],
  ctx: MaterialContext,
  findings: Finding[],
  needsKey: boolean,
): Promise<KeySource | null | undefined> {
  const source = keySourceOf(raw, ctx);
  if (!source) return null;
  const at = keyAt(authorityAt, source);
  const written = isObject(raw)
    ? typeof raw.file === 'string'
      ? raw.file
      : typeof raw.secretsBundle === 'string'
        ? raw.secretsBundle
        : undefined
    : undefined;
  try {
    const { key, what } = await readKey(source, at, ctx, written);
    await matchKey(cert, key, what, at);
    return source;
  } catch (err) {
    if (err instanceof Problem) {
      if (!needsKey && err.finding.code === 'DESIRED_KEY_MISMATCH') {
        const name = String(authorityAt[authorityAt.length - 1]);
        findings.push(
          warning(
            'DESIRED_KEY_NOT_AVAILABLE',
            at,
            `${err.finding.message}; ${name} is not issuing, so it needs no key: its key is treated as not available`,
            source.kind === 'secretsBundle'
              ? `apply rewrote that bundle entry with the next CA; remove \`key:\` from authorities.${name} (or ` +
                  'point it at a copy of the old key) — a run that needs it takes it from its escrow in the state ' +
                  'folder'
              : `remove \`key:\` from authorities.${name}, or point it at this CA's own key before making it ` +
                  'issuing again',
          ),
        );
        return null;
      }
      findings.push(err.finding);
      return undefined;
    }
    throw err;
  }
}

async function matchKey(cert: CaCertificate, key: Secret, what: string, at: Segment[]): Promise<Secret> {
  try {
    const ca = await loadCa(cert.certPem, key, what);
    return ca.key;
  } catch (err) {
    if (RotateError.is(err) && err.code === 'PKI_KEY_MISMATCH') {
      throw new Problem(
        error(
          'DESIRED_KEY_MISMATCH',
          at,
          `${what} is not the private key of this authority's certificate (${cert.subject || 'no subject'}, ` +
            `fingerprint ${cert.fingerprint.slice(0, 16)})`,
          'point key at the key generated together with this certificate (rotate ca new writes NAME.crt and ' +
            'NAME.key as a pair)',
        ),
      );
    }
    throw new Problem(fromPki(err, at, KEY_CODES, 'DESIRED_KEY_INVALID'));
  }
}

// ---------------------------------------------------------------------------------------------------
// Authorities

/** Check one (schema-valid) authority: its certificate, then its key against it (see checkKey for `issuing`). */
export async function checkAuthority(
  name: string,
  raw: Record<string, unknown>,
  ctx: MaterialContext,
  opts: { issuing: boolean } = { issuing: true },
): Promise<{ authority?: Authority; findings: Finding[] }> {
  const findings: Finding[] = [];
  const authorityAt: Segment[] = ['authorities', name];
  const checked = await checkCertificate(raw.certificate, [...authorityAt, 'certificate'], ctx, findings);
  if (!checked) return { findings };
  const keySource = await checkKey(raw.key, checked.cert, authorityAt, ctx, findings, opts.issuing);
  if (keySource === undefined) return { findings };
  return {
    authority: { name, certificate: checked.cert, certificateSource: checked.loaded.source, keySource },
    findings,
  };
}

/**
 * The private key of an authority, for apply: read from its source, checked (file mode, that it belongs to
 * the certificate) and returned as a Secret (the key block as given). Throws RotateError with a DESIRED_*
 * code naming the authority and the source, never the key.
 */
export async function loadAuthorityKey(authority: Authority, opts: { env?: NodeJS.ProcessEnv } = {}): Promise<Secret> {
  if (!authority.keySource) {
    throw new RotateError('DESIRED_NO_KEY', `authority ${authority.name} has no key`, {
      hint: `add \`key:\` to authorities.${authority.name} in the desired-state file`,
    });
  }
  const ctx = newMaterialContext({ dir: path.sep, home: path.sep, env: opts.env ?? process.env, now: new Date() });
  try {
    const { key, what } = await readKey(authority.keySource, [], ctx);
    return await matchKey(authority.certificate, key, what, []);
  } catch (err) {
    if (err instanceof Problem)
      throw new RotateError(err.finding.code, `authority ${authority.name}: ${err.finding.message}`, {
        hint: err.finding.hint,
      });
    throw err;
  }
}

export { readBundle, assertPrivateMode, Problem };
