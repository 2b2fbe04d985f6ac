/**
 * The talosctl client config ("talosconfig", talos-behaviour.md §6.3): read it, pick a context, replace a context's
 * credentials after a Talos CA rotation, and write it back the way talosctl does (mode 0600), keeping
 * every other context and any field we do not know about.
 *
 * Format: `context: <name>` and `contexts: {<name>: {endpoints, nodes, ca, crt, key, auth, cluster,
 * proxy-url}}`; `ca`/`crt`/`key` are standard base64 of PEM. The deprecated `target` is an endpoint.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, type Document, type Node, type YAMLMap } from 'yaml';

import { RotateError } from '../domain/errors.js';
import { Secret } from '../domain/secret.js';
import { decodeTalosBase64Pem, encodeTalosBase64Pem, ensureTrailingNewline, splitPemBlocks } from '../pki/index.js';
import { ensurePrivateDir, writeFileAtomic } from '../util/atomic-file.js';

export interface Talosconfig {
  /** Where it was read from, for messages (undefined for one parsed from a string). */
  path: string | undefined;
  /** The YAML document itself, so unknown fields, comments and other contexts survive a round trip. */
  doc: Document.Parsed;
  /** Indentation step used when writing it back. */
  indent: number;
}

export interface TalosContext {
  name: string;
  /** As written (`host`, `host:port` or a URL); the connection layer adds port 50000 when missing. */
  endpoints: string[];
  nodes: string[];
  caPem: string;
  certPem: string;
  key: Secret;
  cluster: string | undefined;
  proxyUrl: string | undefined;
}

export interface ContextCredentials {
  caPem: string;
  certPem: string;
  key: Secret;
  /** Replaces the endpoint list when given (required when the context is created). */
  endpoints?: string[];
}

// ---------------------------------------------------------------------------------------------------
// Path

export interface TalosconfigPathInput {
  /** `--talosconfig` */
  flag?: string | undefined;
  env: { TALOSCONFIG?: string | undefined; TALOS_HOME?: string | undefined };
  /** The user's home directory. */
  home: string;
}

export interface ResolvedTalosconfigPath {
  path: string;
  source: 'flag' | 'TALOSCONFIG' | 'TALOS_HOME' | 'home';
}

/**
 * talosctl's order: `--talosconfig`, then `$TALOSCONFIG`, then `$TALOS_HOME/config` (only when
 * TALOS_HOME is absolute), then `~/.talos/config`. Pure; whether the file exists is the caller's matter.
 * (talosctl's last, read-only fallback inside a pod is not offered: the tool writes this file.)
 */
export function resolveTalosconfigPath(input: TalosconfigPathInput): ResolvedTalosconfigPath {
  if (input.flag) return { path: input.flag, source: 'flag' };
  if (input.env.TALOSCONFIG) return { path: input.env.TALOSCONFIG, source: 'TALOSCONFIG' };
  const talosHome = input.env.TALOS_HOME;
  if (talosHome && path.isAbsolute(talosHome)) return { path: path.join(talosHome, 'config'), source: 'TALOS_HOME' };
  return { path: path.join(input.home, '.talos', 'config'), source: 'home' };
}

// ---------------------------------------------------------------------------------------------------
// Read

function where(cfg: { path: string | undefined }): string {
  return cfg.path ? `talosconfig ${cfg.path}` : 'talosconfig';
}

export async function loadTalosconfig(file: string): Promise<Talosconfig> {
  const text = await readInputFile(
    file,
    'TALOSCONFIG_READ',
    'talosconfig',
    'pass --talosconfig <file>, set TALOSCONFIG, or create one with `talosctl gen config`',
  );
  return parseTalosconfig(text, file);
}

/**
 * Parses YAML that holds private keys (talosconfig, secrets bundle) with prettyErrors off: a message must
 * never quote the file. A syntax error is a RotateError `code` naming only its line.
 */
export function parseSecretYaml(
  text: string,
  code: ConstructorParameters<typeof RotateError>[0],
  what: string,
  hint: string,
): Document.Parsed {
  const doc = parseDocument(text, { prettyErrors: false });
  const err = doc.errors[0];
  if (err) {
    const line = text.slice(0, err.pos[0]).split('\n').length;
    throw new RotateError(code, `${what} is not valid YAML (line ${line}: ${err.code})`, { hint });
  }
  return doc;
}

/**
 * Reads a file the operator names (talosconfig, secrets bundle); a failure is a RotateError `code` naming
 * the file and the errno, with `missingHint` when it does not exist.
 */
export async function readInputFile(
  file: string,
  code: ConstructorParameters<typeof RotateError>[0],
  what: string,
  missingHint: string,
): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    throw new RotateError(code, `cannot read ${what} ${file}${errno ? ` (${errno})` : ''}`, {
      hint: errno === 'ENOENT' ? missingHint : 'check the file permissions',
      cause: err,
    });
  }
}

/** Parse talosconfig text. Only the YAML syntax and the top-level shape are checked here. */
export function parseTalosconfig(text: string, file?: string): Talosconfig {
  const cfg = { path: file };
  const doc = parseSecretYaml(
    text,
    'TALOSCONFIG_PARSE',
    where(cfg),
    'fix the file, or point --talosconfig at a file written by talosctl',
  );
  const root = doc.contents as Node | null;
  if (root !== null && !(isScalar(root) && root.value === null) && !isMap(root)) {
    throw new RotateError('TALOSCONFIG_PARSE', `${where(cfg)} is not a YAML mapping`, {
      hint: 'a talosconfig has `context:` and `contexts:` at the top level',
    });
  }
  const contexts = doc.get('contexts', true) as Node | undefined;
  if (contexts !== undefined && !(isScalar(contexts) && contexts.value === null) && !isMap(contexts)) {
    throw new RotateError('TALOSCONFIG_PARSE', `${where(cfg)}: contexts is not a mapping`, {
      hint: 'contexts maps each context name to its endpoints and credentials',
    });
  }
  return { path: file, doc, indent: detectIndent(text, doc) };
}

/** A talosconfig with no contexts (talosctl writes the same for a file it creates). */
export function emptyTalosconfig(file?: string): Talosconfig {
  return parseTalosconfig('context: ""\ncontexts: {}\n', file);
}

export function contextNames(cfg: Talosconfig): string[] {
  const contexts = cfg.doc.get('contexts');
  if (!isMap(contexts)) return [];
  return contexts.items.map((p) => String(isScalar(p.key) ? p.key.value : p.key));
}

export function currentContextName(cfg: Talosconfig): string | undefined {
  const v = cfg.doc.get('context');
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function contextMap(cfg: Talosconfig, name: string): YAMLMap | undefined {
  const node = cfg.doc.getIn(['contexts', name], true) as Node | undefined;
  return isMap(node) ? node : undefined;
}

function stringList(node: unknown): string[] {
  if (!isSeq(node)) return [];
  return node.items.flatMap((i) => (isScalar(i) && i.value !== null && i.value !== '' ? [String(i.value)] : []));
}

function optionalString(map: YAMLMap, key: string): string | undefined {
  const v = map.get(key);
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * The named context (default: the current one) with decoded credentials. Errors say what is missing:
 * no such context (listing the available ones), no endpoints, missing or undecodable ca/crt/key.
 */
export function getContext(cfg: Talosconfig, name?: string): TalosContext {
  const available = contextNames(cfg);
  const listed = available.length ? available.map((n) => JSON.stringify(n)).join(', ') : '(none)';
  const chosen = name ?? currentContextName(cfg);
  if (chosen === undefined) {
    throw new RotateError('TALOSCONFIG_NO_CONTEXT', `${where(cfg)} has no current context (available: ${listed})`, {
      hint: 'pass --context <name> or run `talosctl config context <name>`',
    });
  }
  const map = contextMap(cfg, chosen);
  if (!map) {
    throw new RotateError(
      'TALOSCONFIG_UNKNOWN_CONTEXT',
      `${where(cfg)} has no context ${JSON.stringify(chosen)} (available: ${listed})`,
      {
        hint: available.length
          ? `use one of ${listed}`
          : 'generate a talosconfig with `talosctl gen config` or `talosctl config merge`',
      },
    );
  }
  const field = (f: string) => `${where(cfg)}: contexts.${chosen}.${f}`;
  const endpoints = stringList(map.get('endpoints', true));
  const target = optionalString(map, 'target');
  if (target && !endpoints.includes(target)) endpoints.push(target); // deprecated field, folded in as talosctl does
  if (endpoints.length === 0) {
    throw new RotateError('TALOSCONFIG_NO_ENDPOINTS', `${field('endpoints')} is empty`, {
      hint: `add the control-plane addresses: talosctl --context ${chosen} config endpoint <ip>...`,
    });
  }
  const creds = (f: 'ca' | 'crt' | 'key', wantKey: boolean): string => {
    const value = optionalString(map, f);
    if (!value) {
      const auth = map.get('auth', true);
      throw new RotateError('TALOSCONFIG_BAD_CREDENTIALS', `${field(f)} is missing`, {
        hint: isMap(auth)
          ? 'this context authenticates with `auth` (e.g. Omni/SideroV1); CA rotation needs a certificate-based ' +
            'talosconfig (ca, crt, key)'
          : 'use a talosconfig generated for this cluster (it holds ca, crt and key)',
      });
    }
    return decodeCredential(value, field(f), wantKey);
  };
  return {
    name: chosen,
    endpoints,
    nodes: stringList(map.get('nodes', true)),
    caPem: creds('ca', false),
    certPem: creds('crt', false),
    key: new Secret(creds('key', true)),
    cluster: optionalString(map, 'cluster'),
    proxyUrl: optionalString(map, 'proxy-url'),
  };
}

/** base64-of-PEM → PEM, checking it holds certificates (ca/crt) or exactly one private key (key). */
function decodeCredential(value: string, what: string, wantKey: boolean): string {
  try {
    const pem = decodeTalosBase64Pem(value, what);
    const labels = splitPemBlocks(pem).map((b) => b.label);
    const ok = wantKey
      ? labels.length === 1 && labels[0]!.endsWith('PRIVATE KEY')
      : labels.length > 0 && labels.every((l) => l === 'CERTIFICATE');
    if (!ok) {
      throw new RotateError(
        'TALOSCONFIG_BAD_CREDENTIALS',
        `${what} ${wantKey ? 'does not hold one private key' : `holds ${labels.join(', ')} instead of certificates`}`,
        {
          hint: 'the talosconfig is damaged; regenerate it or restore it from its backup',
        },
      );
    }
    return ensureTrailingNewline(pem);
  } catch (err) {
    if (RotateError.is(err) && err.code !== 'TALOSCONFIG_BAD_CREDENTIALS') {
      // The PKI message names the field and the problem, never the value.
      throw new RotateError('TALOSCONFIG_BAD_CREDENTIALS', err.message, {
        hint: err.hint ?? 'regenerate the talosconfig',
      });
    }
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------
// Update and write

/**
 * Put new credentials (and optionally endpoints) into a context, creating it if needed. Everything else in
 * the context (nodes, cluster, auth, unknown fields) is kept.
 */
export function setContextCredentials(cfg: Talosconfig, name: string, creds: ContextCredentials): void {
  const exists = contextMap(cfg, name) !== undefined;
  if (!exists && !creds.endpoints?.length) {
    throw new RotateError(
      'TALOSCONFIG_NO_ENDPOINTS',
      `${where(cfg)}: new context ${JSON.stringify(name)} needs endpoints`,
      {
        hint: 'pass the control-plane endpoints when creating a context',
      },
    );
  }
  const contexts = cfg.doc.get('contexts', true);
  if (!isMap(contexts)) cfg.doc.set('contexts', cfg.doc.createNode({}));
  else contexts.flow = false; // talosctl writes an empty config as `contexts: {}`; entries go in block style
  if (!exists) cfg.doc.setIn(['contexts', name], cfg.doc.createNode({}));
  if (creds.endpoints) cfg.doc.setIn(['contexts', name, 'endpoints'], cfg.doc.createNode([...creds.endpoints]));
  cfg.doc.setIn(['contexts', name, 'ca'], encodeTalosBase64Pem(creds.caPem));
  cfg.doc.setIn(['contexts', name, 'crt'], encodeTalosBase64Pem(creds.certPem));
  cfg.doc.setIn(['contexts', name, 'key'], encodeTalosBase64Pem(creds.key.reveal()));
}

/** Make `name` the current context. */
export function setCurrentContext(cfg: Talosconfig, name: string): void {
  cfg.doc.set('context', cfg.doc.createNode(name)); // a fresh node: `context: ""` must not stay quoted
}

/** The file text; indentation follows the file (talosctl writes 4 spaces), long values are never folded. */
export function renderTalosconfig(cfg: Talosconfig): string {
  return cfg.doc.toString({ indent: cfg.indent, lineWidth: 0, indentSeq: true });
}

/** Indentation step of the file: the first context's keys relative to its name; talosctl's 4 otherwise. */
function detectIndent(text: string, doc: Document.Parsed): number {
  const contexts = doc.get('contexts', true);
  if (!isMap(contexts)) return 4;
  const name = contexts.items[0]?.key as Node | undefined;
  const body = contexts.items[0]?.value as Node | undefined;
  const firstKey = isMap(body) ? (body.items[0]?.key as Node | undefined) : undefined;
  if (!name?.range || !firstKey?.range) return 4;
  const col = (pos: number) => pos - (text.lastIndexOf('\n', pos - 1) + 1);
  const step = col(firstKey.range[0]) - col(name.range[0]);
  return step > 0 && step <= 8 ? step : 4;
}

/**
 * Write the talosconfig atomically with mode 0600 (through a symlink to its target). When `backupPath` is
 * given, the file being replaced is first copied there, also 0600.
 */
export async function saveTalosconfig(
  cfg: Talosconfig,
  file: string,
  options: { backupPath?: string } = {},
): Promise<void> {
  const target = await fs.realpath(file).catch(() => file);
  await ensurePrivateDir(path.dirname(target));
  if (options.backupPath) {
    const previous = await fs.readFile(target).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (previous !== null) await writeFileAtomic(options.backupPath, previous, { mode: 0o600 });
  }
  await writeFileAtomic(target, renderTalosconfig(cfg), { mode: 0o600 });
}
