/**
 * Redaction of machine configs for display: every secret value becomes `(sensitive)`, layout kept, so a
 * config diff can be printed or put in a plan without key material.
 */
import { isMap, isScalar, isSeq, type Document, type Node, type Pair, type Scalar } from 'yaml';

import { documentOrigin, parseMachineConfig, type ConfigDocument, type ParsedMachineConfig } from './documents.js';
import { applyEdits, nodeLineEnd, type Edit } from './source-text.js';
import { isBlockScalar } from './yaml-layout.js';

/** What every secret value becomes; the same text `Secret` renders as. */
export const REDACTED = '(sensitive)';

/**
 * Secret fields of Talos machine-config documents, by document (`v1alpha1` or the `kind`) and dotted path;
 * `*` matches any one mapping key or list index. Sources: Talos's own `Config.Redact` (v1alpha1) plus the
 * secret-bearing fields of the v1.14 documents. Name patterns below catch what this list misses.
 */
export const SECRET_PATHS: ReadonlyArray<{ doc: string; path: string }> = [
  // v1alpha1 — the fields Talos itself redacts
  { doc: 'v1alpha1', path: 'machine.token' },
  { doc: 'v1alpha1', path: 'machine.ca.key' },
  { doc: 'v1alpha1', path: 'cluster.secret' },
  { doc: 'v1alpha1', path: 'cluster.token' },
  { doc: 'v1alpha1', path: 'cluster.aescbcEncryptionSecret' },
  { doc: 'v1alpha1', path: 'cluster.secretboxEncryptionSecret' },
  { doc: 'v1alpha1', path: 'cluster.serviceAccount.key' },
  { doc: 'v1alpha1', path: 'cluster.ca.key' },
  { doc: 'v1alpha1', path: 'cluster.aggregatorCA.key' },
  { doc: 'v1alpha1', path: 'cluster.etcd.ca.key' },
  // v1alpha1 — further credentials
  { doc: 'v1alpha1', path: 'machine.registries.config.*.auth.password' },
  { doc: 'v1alpha1', path: 'machine.registries.config.*.auth.auth' },
  { doc: 'v1alpha1', path: 'machine.registries.config.*.auth.identityToken' },
  { doc: 'v1alpha1', path: 'machine.registries.config.*.tls.clientIdentity.key' },
  { doc: 'v1alpha1', path: 'machine.network.interfaces.*.wireguard.privateKey' },
  { doc: 'v1alpha1', path: 'machine.network.interfaces.*.wireguard.peers.*.presharedKey' },
  { doc: 'v1alpha1', path: 'machine.network.interfaces.*.vip.equinixMetal.apiToken' },
  { doc: 'v1alpha1', path: 'machine.network.interfaces.*.vip.hcloud.apiToken' },
  { doc: 'v1alpha1', path: 'machine.systemDiskEncryption.*.keys.*.static.passphrase' },
  // v1.14 documents
  { doc: 'KubeAPIServerCAConfig', path: 'issuingCA.key' },
  { doc: 'KubeAggregatorCAConfig', path: 'issuingCA.key' },
  { doc: 'KubeServiceAccountConfig', path: 'issuer.privateKey' },
  { doc: 'KubeEtcdEncryptionConfig', path: 'config.resources.*.providers.*.*.keys.*.secret' },
  { doc: 'DiscoveryIdentityConfig', path: 'clusterSecret' },
  { doc: 'WireguardConfig', path: 'privateKey' },
  { doc: 'WireguardConfig', path: 'peers.*.presharedKey' },
  { doc: 'RegistryAuthConfig', path: 'password' },
  { doc: 'RegistryAuthConfig', path: 'auth' },
  { doc: 'RegistryAuthConfig', path: 'identityToken' },
  { doc: 'RegistryTLSConfig', path: 'clientIdentity.key' },
  { doc: 'VolumeConfig', path: 'encryption.keys.*.static.passphrase' },
  { doc: 'UserVolumeConfig', path: 'encryption.keys.*.static.passphrase' },
];

/**
 * Key names that are secret wherever they appear (the safety net): `key`, `token`, `secret`, `password`,
 * `passphrase` and compounds ending in them (`privateKey`, `clusterSecret`, `bootstrapToken`, ...), but not
 * public ones (`publicKey`).
 */
const SECRET_NAME_RE = /(?:^|[a-z0-9_-])(?:key|token|secret|password|passphrase)$/i;
const PUBLIC_NAME_RE = /public/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME_RE.test(name) && !PUBLIC_NAME_RE.test(name);
}

/** SECRET_PATHS split into their parts once (redaction asks for every key of every config). */
const SECRET_PATH_PARTS = SECRET_PATHS.map((p) => ({ doc: p.doc, parts: p.path.split('.') }));

export function isSecretPath(doc: string, path: readonly (string | number)[]): boolean {
  return SECRET_PATH_PARTS.some(
    ({ doc: d, parts }) =>
      d === doc && parts.length === path.length && parts.every((part, i) => part === '*' || part === String(path[i])),
  );
}

/** A value that is or encodes a private key, wherever it sits (e.g. a file's content). */
function holdsPrivateKey(value: string): boolean {
  if (value.includes('PRIVATE KEY')) return true;
  const compact = value.replace(/\s+/g, '');
  if (compact.length < 40 || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) return false;
  return Buffer.from(compact, 'base64').toString('latin1').includes('PRIVATE KEY');
}

/**
 * The config with every secret value replaced by `(sensitive)`: same documents, keys, comments and layout,
 * each secret on one line (a multi-line PEM block becomes one line). Empty values (a worker's `key: ""`)
 * stay as they are, since they reveal nothing and show that no key is there. `.cluster.id` is not secret
 * (Talos does not redact it either). Used to print diffs of config changes.
 */
export function redactSecrets(configYaml: string, source?: string): string {
  return redactParsed(parseMachineConfig(configYaml, source));
}

/**
 * The redaction edits of one document, remembered per parsed document with positions relative to its
 * origin (documentOrigin): a document repeated in many configs (most of a cluster's are) is walked once.
 * The edits depend on nothing outside the document's own text but the config's newline, kept with them.
 */
const editsMemo = new WeakMap<Document.Parsed, { nl: string; edits: readonly Edit[] }>();

/** redactSecrets of a config already parsed. */
export function redactParsed(cfg: ParsedMachineConfig): string {
  const edits: Edit[] = [];
  for (const d of cfg.documents) {
    const { doc: origin, delta } = documentOrigin(d.doc);
    let hit = editsMemo.get(origin);
    if (!hit || hit.nl !== cfg.nl) {
      const own = documentEdits(cfg, d);
      hit = { nl: cfg.nl, edits: own.map((e) => ({ ...e, start: e.start - delta, end: e.end - delta })) };
      editsMemo.set(origin, hit);
    }
    for (const e of hit.edits) edits.push(delta === 0 ? e : { ...e, start: e.start + delta, end: e.end + delta });
  }
  return edits.length === 0 ? cfg.src : applyEdits(cfg.src, edits);
}

/** Where one document's secret values are, as edits replacing each with `(sensitive)`. */
function documentEdits(cfg: ParsedMachineConfig, d: ConfigDocument): Edit[] {
  const configYaml = cfg.src;
  const edits: Edit[] = [];
  const redactScalar = (node: Scalar) => {
    if (!node.range) return;
    const v = node.value;
    if (v === null || v === '' || typeof v === 'boolean') return;
    const [start, end] = node.range;
    if (isBlockScalar(node)) edits.push({ start, end: nodeLineEnd(configYaml, end), text: REDACTED + cfg.nl });
    else edits.push({ start, end, text: REDACTED });
  };
  const walk = (node: Node | null, docName: string, path: (string | number)[], secret: boolean) => {
    if (node === null) return;
    if (isScalar(node)) {
      if (secret || (typeof node.value === 'string' && holdsPrivateKey(node.value))) redactScalar(node);
      return;
    }
    if (isMap(node)) {
      for (const pair of node.items as Pair<Node, Node | null>[]) {
        const name = isScalar(pair.key) ? String(pair.key.value) : '';
        const childPath = [...path, name];
        walk(pair.value, docName, childPath, isSecretPath(docName, childPath) || isSecretName(name));
      }
      return;
    }
    if (isSeq(node)) {
      // A secret-named list (e.g. `tokens: [...]`) has secret items; otherwise items are judged on their own.
      (node.items as Node[]).forEach((item, i) => walk(item, docName, [...path, i], secret && isScalar(item)));
    }
  };
  walk(d.root, d.kind ?? 'v1alpha1', [], false);
  return edits;
}
