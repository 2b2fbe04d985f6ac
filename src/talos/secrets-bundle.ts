/**
 * The `talosctl gen secrets` bundle (talos-behaviour.md §6.2, default `secrets.yaml`, mode 0600): read the Talos API
 * CA (`certs.os`) and the Kubernetes API CA (`certs.k8s`), and put a rotated CA back.
 *
 * Updates splice the new base64 values into the original text at the parser's source ranges, so every
 * other field, comment and the file's formatting stay byte-for-byte as they were.
 */
import { promises as fs } from 'node:fs';
import { isMap, isScalar, type Document, type Node, type Scalar } from 'yaml';

import { RotateError } from '../domain/errors.js';
import { Secret } from '../domain/secret.js';
import {
  assertKeyMatches,
  decodeTalosBase64Pem,
  encodeTalosBase64Pem,
  ensureTrailingNewline,
  fingerprintOfPem,
  splitPemBlocks,
} from '../pki/index.js';
import type { Fingerprint } from '../domain/types.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { parseSecretYaml, readInputFile } from './talosconfig.js';

/** The CA entries this tool rotates: `certs.os` (Talos API) and `certs.k8s` (Kubernetes API). */
export type BundleCaEntry = 'os' | 'k8s';

export interface SecretsBundle {
  path: string | undefined;
  /** The current file text (updated in place by setBundleCa). */
  text: string;
  doc: Document.Parsed;
}

export interface BundleCa {
  certPem: string;
  fingerprint: Fingerprint;
  key: Secret;
}

function where(bundle: { path: string | undefined }): string {
  return bundle.path ? `secrets bundle ${bundle.path}` : 'secrets bundle';
}

export async function loadSecretsBundle(file: string): Promise<SecretsBundle> {
  const text = await readInputFile(
    file,
    'SECRETS_READ',
    'secrets bundle',
    'pass the secrets.yaml written by `talosctl gen secrets`',
  );
  return parseSecretsBundle(text, file);
}

export function parseSecretsBundle(text: string, file?: string): SecretsBundle {
  const bundle = { path: file, text };
  const doc = parseSecretYaml(
    text,
    'SECRETS_PARSE',
    where(bundle),
    'restore the file from its backup or regenerate it with `talosctl gen secrets --from-controlplane-config`',
  );
  if (!isMap(doc.contents) || !isMap(doc.get('certs'))) {
    throw new RotateError('SECRETS_PARSE', `${where(bundle)} has no certs section`, {
      hint: 'this does not look like a `talosctl gen secrets` bundle',
    });
  }
  return { path: file, text, doc };
}

function fieldNode(bundle: SecretsBundle, entry: BundleCaEntry, field: 'crt' | 'key'): Scalar {
  const node = bundle.doc.getIn(['certs', entry, field], true) as Node | undefined;
  if (!isScalar(node) || typeof node.value !== 'string' || node.value === '' || !node.range) {
    throw new RotateError('SECRETS_BAD_CA', `${where(bundle)}: certs.${entry}.${field} is missing or empty`, {
      hint: 'a secrets bundle holds crt and key (base64 PEM) for every CA; restore it from its backup',
    });
  }
  return node;
}

/** Decode and check one CA of the bundle: a single certificate plus the private key that belongs to it. */
export function getBundleCa(bundle: SecretsBundle, entry: BundleCaEntry): BundleCa {
  const field = (f: string) => `${where(bundle)}: certs.${entry}.${f}`;
  const asBundleError = (err: unknown): never => {
    if (RotateError.is(err))
      throw new RotateError('SECRETS_BAD_CA', err.message, { hint: err.hint ?? 'restore the bundle from its backup' });
    throw err;
  };
  let certPem = '';
  let keyPem = '';
  try {
    certPem = ensureTrailingNewline(decodeTalosBase64Pem(String(fieldNode(bundle, entry, 'crt').value), field('crt')));
    keyPem = ensureTrailingNewline(decodeTalosBase64Pem(String(fieldNode(bundle, entry, 'key').value), field('key')));
  } catch (err) {
    asBundleError(err);
  }
  const certLabels = splitPemBlocks(certPem).map((b) => b.label);
  if (certLabels.length !== 1 || certLabels[0] !== 'CERTIFICATE') {
    throw new RotateError(
      'SECRETS_BAD_CA',
      `${field('crt')} must hold one certificate (found: ${certLabels.join(', ') || 'none'})`,
      {
        hint: 'restore the bundle from its backup',
      },
    );
  }
  const key = new Secret(keyPem);
  try {
    assertKeyMatches(certPem, key, field('crt/key'));
  } catch (err) {
    asBundleError(err);
  }
  return { certPem, fingerprint: fingerprintOfPem(certPem), key };
}

/**
 * Replace one CA (certificate and key) in the bundle text. Checks that the key belongs to the
 * certificate first; nothing else in the text changes.
 */
export function setBundleCa(bundle: SecretsBundle, entry: BundleCaEntry, ca: { certPem: string; key: Secret }): void {
  const what = `new certs.${entry} for ${where(bundle)}`;
  try {
    assertKeyMatches(ca.certPem, ca.key, what);
  } catch (err) {
    if (RotateError.is(err))
      throw new RotateError('SECRETS_BAD_CA', err.message, {
        hint: err.hint ?? 'pass the key generated with this certificate',
      });
    throw err;
  }
  const crtNode = fieldNode(bundle, entry, 'crt');
  const keyNode = fieldNode(bundle, entry, 'key');
  const edits = [
    { node: crtNode, value: encodeTalosBase64Pem(ca.certPem) },
    { node: keyNode, value: encodeTalosBase64Pem(ca.key.reveal()) },
  ].sort((a, b) => b.node.range![0] - a.node.range![0]);
  let text = bundle.text;
  for (const { node, value } of edits) {
    const [start, end] = node.range!;
    const quoted = node.type === 'QUOTE_DOUBLE' ? `"${value}"` : node.type === 'QUOTE_SINGLE' ? `'${value}'` : value;
    const block = node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED';
    text = text.slice(0, start) + quoted + (block ? '\n' : '') + text.slice(end);
  }
  const next = parseSecretsBundle(text, bundle.path);
  bundle.text = next.text;
  bundle.doc = next.doc;
}

/** Write the bundle atomically with mode 0600. */
export async function saveSecretsBundle(bundle: SecretsBundle, file: string): Promise<void> {
  const target = await fs.realpath(file).catch(() => file);
  await writeFileAtomic(target, bundle.text, { mode: 0o600 });
}
