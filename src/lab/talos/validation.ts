/**
 * What machined checks before it takes a config (talos-behaviour.md §5.7, §7), for the two releases the lab answers as
 * (v1.13.9 with the legacy layout, v1.14.0 with the document one). Read from the Talos source; pure, no I/O.
 *
 * 1. The loader (pkg/machinery/config/configloader/internal/decoder/decoder.go, both releases): documents in
 *    order; a null document is skipped; duplicates by apiVersion/kind/name; the kind looked up in the
 *    registry (config-schema.ts: v1.13.9 has no Kube*Config kinds, so a `KubeAPIServerCAConfig` document is
 *    "not registered" there); `Node.Decode` into the type (go.yaml.in/yaml/v4: rc.4 in v1.13.9, rc.6 in
 *    v1.14; a custom unmarshaler's error becomes a "construct error" naming the node's line — here the
 *    base64 of siderolabs/crypto's crt/key fields, where `key: "******"` is read as redacted, not decoded);
 *    then siderolabs/gen `xyaml.CheckUnknownKeys` against the Go struct (the only strictness: `Node.Decode`
 *    itself ignores unknown keys). Every error is wrapped as "error decoding document <id> (line N): …".
 * 2. The v1alpha1 rules (pkg/machinery/config/types/v1alpha1/v1alpha1_validation.go) that concern the CAs,
 *    machine type and cluster section. A worker's Kubernetes issuing key is checked in `.cluster.ca` only:
 *    a `KubeAPIServerCAConfig.issuingCA` with a key on a worker is NOT rejected.
 * 3. Each document's Validate (pkg/machinery/config/types/k8s/apiserver_ca.go, aggregator_ca.go): the
 *    issuing CA needs cert and key, each holding PEM blocks, and then only the FIRST certificate block and
 *    the key's first block must parse (siderolabs/crypto GetCert/GetKey; no check that they match); every
 *    accepted CA holds only CERTIFICATE blocks.
 * 4. Conflicts with v1alpha1 fields (the same files, V1Alpha1ConflictValidate). `.cluster.acceptedCAs` does
 *    not conflict with the document: Talos then uses the document alone (container.K8sAPIServerCAConfig).
 * 5. v1.14 only, the container (pkg/machinery/config/container/validate.go): a control plane with a
 *    Kubernetes API CA (the document, or `.cluster.ca`/`.cluster.acceptedCAs`) needs an etcd encryption
 *    secret or a KubeEtcdEncryptionConfig document; control-plane-only kinds are refused on workers.
 *
 * Like Talos, this does NOT check that the v1alpha1 CA fields hold parseable certificates, matching keys
 * or unexpired CAs: such a config is accepted and breaks certificate generation afterwards (roots.ts).
 * What the lab does not model is left unchecked rather than guessed (network, install, disks, …).
 */
import {
  Document,
  LineCounter,
  Pair,
  Scalar,
  YAMLMap,
  YAMLSeq,
  isMap,
  isScalar,
  isSeq,
  parseAllDocuments,
  type Node,
} from 'yaml';
import { roleOfMachineType } from '../core/roots.js';
import {
  CONTROLPLANE_ONLY_KINDS,
  REGISTERED_KINDS,
  STRUCTS,
  documentShape,
  type Shape,
  type TalosLine,
} from './config-schema.js';
import { assertValidPem, goGetCertError, goGetKeyError } from './go-pem.js';

export type { TalosLine } from './config-schema.js';

export type Validated =
  { ok: true; warnings: string[] } | { ok: false; code: 'INVALID_ARGUMENT' | 'UNIMPLEMENTED'; message: string };

/** The Talos release line a node's version tag belongs to. */
export function talosLine(tag: string): TalosLine {
  return /^v1\.(\d+)\./.exec(tag)?.[1] === '13' ? 'v1.13' : 'v1.14';
}

/** hashicorp/go-multierror's default list format. */
export function multierror(errors: readonly string[]): string {
  const head = errors.length === 1 ? '1 error occurred:' : `${errors.length} errors occurred:`;
  return `${head}\n\t${errors.map((e) => `* ${e}`).join('\n\t')}\n\n`;
}

/** siderolabs/crypto's marker for a redacted private key (x509.Redacted). */
export const REDACTED = '******';

/**
 * Go's base64.StdEncoding.DecodeString: null if the text decodes, else the offset its CorruptInputError
 * names (CR and LF are skipped, but count in offsets).
 */
export function base64ErrorOffset(value: string): number | null {
  const src = value;
  const isNl = (c: string | undefined) => c === '\n' || c === '\r';
  const valid = (c: string) => /[A-Za-z0-9+/]/.test(c);
  let si = 0;
  for (;;) {
    for (let j = 0; j < 4; j++) {
      if (si === src.length) {
        if (j === 0) return null;
        return si - j;
      }
      const c = src[si]!;
      si++;
      if (valid(c)) continue;
      if (isNl(c)) {
        j--;
        continue;
      }
      if (c !== '=') return si - 1;
      if (j < 2) return si - 1;
      if (j === 2) {
        while (si < src.length && isNl(src[si])) si++;
        if (si === src.length) return src.length;
        if (src[si] !== '=') return si - 1;
        si++;
      }
      while (si < src.length && isNl(src[si])) si++;
      return si < src.length ? si : null;
    }
  }
}

class DecodeError extends Error {}

/** A crt/key value as Go's string field receives it ('' for null/absent). */
function scalarText(node: unknown): string | null {
  if (node === undefined || node === null) return '';
  if (!isScalar(node)) return null;
  if (node.value === null) return '';
  return typeof node.value === 'string' ? node.value : (node.source ?? String(node.value));
}

function decodeBase64(text: string): string {
  return Buffer.from(text.replace(/[\r\n]/g, ''), 'base64').toString('utf8');
}

function pairKey(p: Pair): string {
  return isScalar(p.key) ? String(p.key.value) : String(p.key);
}

function mapGet(map: YAMLMap, key: string): Node | undefined {
  const p = map.items.find((i) => pairKey(i as Pair) === key) as Pair<unknown, Node> | undefined;
  return p?.value ?? undefined;
}

/** A decoded siderolabs/crypto PEM pair: crt is PEM text; key is PEM text, '' or the redacted marker. */
interface RawPem {
  crt: string;
  key: string;
}

/**
 * yaml v4 `Node.Decode` of the v1alpha1 document as far as the lab reads it: the base64 fields of every
 * PEMEncodedCertificateAndKey / PEMEncodedCertificate / PEMEncodedKey, in document order.
 */
function constructErrors(lc: LineCounter, node: unknown, shape: Shape, out: { line: number; message: string }[]): void {
  if (shape === '' || node === null || node === undefined) return;
  if (shape.startsWith('[]')) {
    if (isSeq(node)) for (const item of node.items) constructErrors(lc, item, shape.slice(2), out);
    return;
  }
  if (shape.startsWith('{}')) {
    if (isMap(node)) for (const p of node.items) constructErrors(lc, (p as Pair).value, shape.slice(2), out);
    return;
  }
  if (!isMap(node)) return;
  const line = () => lc.linePos(node.range?.[0] ?? 0).line;
  if (shape === 'CertAndKey' || shape === 'Cert' || shape === 'Key') {
    // siderolabs/crypto UnmarshalYAML: crt first, then key unless it is "******"; one error per value.
    const fields = shape === 'CertAndKey' ? ['crt', 'key'] : shape === 'Cert' ? ['crt'] : ['key'];
    for (const f of fields) {
      const text = scalarText(mapGet(node, f));
      if (text === null) continue;
      if (f === 'key' && text === REDACTED) continue;
      const at = base64ErrorOffset(text);
      if (at !== null) {
        out.push({ line: line(), message: `illegal base64 data at input byte ${at}` });
        return;
      }
    }
    return;
  }
  const struct = STRUCTS.get(shape);
  if (!struct) return;
  for (const p of node.items as Pair[]) {
    const sub = struct.get(pairKey(p));
    if (sub !== undefined) constructErrors(lc, p.value, sub, out);
  }
}

type Unknown = Map<string, Node | Unknown | Unknown[]>;

/** siderolabs/gen xyaml.CheckUnknownKeys: every key the Go struct does not have, as a tree. */
function unknownKeys(node: unknown, shape: Shape): Unknown | Unknown[] | null {
  if (shape === '' || node === null || node === undefined) return null;
  if (shape.startsWith('[]')) {
    if (!isSeq(node)) return null;
    const items = node.items
      .map((i) => unknownKeys(i, shape.slice(2)))
      .filter((u): u is Unknown => u !== null && !Array.isArray(u));
    return items.length > 0 ? items : null;
  }
  if (!isMap(node)) return null;
  const out: Unknown = new Map();
  if (shape.startsWith('{}')) {
    for (const p of node.items as Pair[]) {
      const inner = unknownKeys(p.value, shape.slice(2));
      if (inner) out.set(pairKey(p), inner);
    }
    return out.size > 0 ? out : null;
  }
  const struct = STRUCTS.get(shape);
  if (!struct) return null;
  for (const p of node.items as Pair<unknown, Node>[]) {
    const key = pairKey(p);
    const sub = struct.get(key);
    if (sub === undefined) {
      out.set(key, p.value ?? new Scalar(null));
      continue;
    }
    const inner = unknownKeys(p.value, sub);
    if (inner) out.set(key, inner);
  }
  return out.size > 0 ? out : null;
}

/** The summary CheckUnknownKeys marshals (yaml v4: sorted keys, 4-space indent). */
function renderUnknown(tree: Unknown): string {
  const doc = new Document();
  const build = (t: Unknown | Unknown[] | Node): Node => {
    if (t instanceof Map) {
      const m = new YAMLMap();
      for (const k of [...t.keys()].sort()) m.items.push(new Pair(new Scalar(k), build(t.get(k)!)));
      return m;
    }
    if (Array.isArray(t)) {
      const s = new YAMLSeq();
      s.items.push(...t.map(build));
      return s;
    }
    return t.clone() as Node;
  };
  doc.contents = build(tree);
  return doc.toString({ indent: 4, lineWidth: 0 });
}

interface V1Alpha1View {
  machinePresent: boolean;
  type: string;
  /** `.machine.ca`, null when absent; crt/key decoded (key may be "******"). */
  machineCa: RawPem | null;
  machineAccepted: number;
  clusterPresent: boolean;
  controlPlaneWithoutEndpoint: boolean;
  clusterCa: RawPem | null;
  /** `.cluster.acceptedCAs` present as a list (a non-nil slice in Go). */
  clusterAcceptedPresent: boolean;
  aggregatorCaPresent: boolean;
  serviceAccountPresent: boolean;
  etcdPresent: boolean;
  etcdEncryptionSecret: boolean;
}

interface CaDocView {
  kind: string;
  issuing: { cert: string; key: string } | null;
  accepted: string[];
}

interface Decoded {
  documents: Document.Parsed[];
  v1alpha1: V1Alpha1View | null;
  kinds: string[];
  caDocs: CaDocView[];
}

const str = (v: unknown) => (typeof v === 'string' ? v : v === null || v === undefined ? '' : String(v));
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function rawPem(node: unknown): RawPem | null {
  if (node === undefined || node === null || (isScalar(node) && node.value === null)) return null;
  if (!isMap(node)) return { crt: '', key: '' };
  const crt = scalarText(mapGet(node, 'crt')) ?? '';
  const key = scalarText(mapGet(node, 'key')) ?? '';
  return { crt: decodeBase64(crt), key: key === REDACTED ? REDACTED : decodeBase64(key) };
}

function v1alpha1View(root: YAMLMap, js: Record<string, unknown>): V1Alpha1View {
  const machineNode = mapGet(root, 'machine');
  const clusterNode = mapGet(root, 'cluster');
  const m = isObj(js.machine) ? js.machine : {};
  const c = isObj(js.cluster) ? js.cluster : null;
  const mMap = isMap(machineNode) ? machineNode : null;
  const cMap = isMap(clusterNode) ? clusterNode : null;
  const has = (o: Record<string, unknown> | null, k: string) => o !== null && o[k] !== undefined && o[k] !== null;
  return {
    machinePresent: js.machine !== undefined && js.machine !== null,
    type: str(m.type),
    machineCa: mMap ? rawPem(mapGet(mMap, 'ca')) : null,
    machineAccepted: Array.isArray(m.acceptedCAs) ? m.acceptedCAs.length : 0,
    clusterPresent: c !== null,
    controlPlaneWithoutEndpoint:
      has(c, 'controlPlane') && !has(isObj(c?.controlPlane) ? c.controlPlane : {}, 'endpoint'),
    clusterCa: cMap ? rawPem(mapGet(cMap, 'ca')) : null,
    clusterAcceptedPresent: c !== null && Array.isArray(c.acceptedCAs),
    aggregatorCaPresent: has(c, 'aggregatorCA'),
    serviceAccountPresent: has(c, 'serviceAccount'),
    etcdPresent: has(c, 'etcd'),
    etcdEncryptionSecret:
      c !== null && (str(c.secretboxEncryptionSecret) !== '' || str(c.aescbcEncryptionSecret) !== ''),
  };
}

/** The loader: documents, registry, decode (base64 of PEM fields), unknown keys. */
function decode(text: string, line: TalosLine): Decoded {
  const lc = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false });
  const docs: Document.Parsed[] = Array.isArray(parsed) ? parsed : [];
  const seen = new Set<string>();
  const out: Decoded = { documents: docs, v1alpha1: null, kinds: [], caDocs: [] };
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err)
      throw new DecodeError(`decode error: yaml: line ${lc.linePos(err.pos[0]).line}: ${err.message.split('\n')[0]}`);
    const root = doc.contents as Node | null;
    if (root === null || (isScalar(root) && root.value === null)) continue;
    const manifestLine = lc.linePos(root.range?.[0] ?? 0).line;
    if (!isMap(root)) throw new DecodeError(`expected a YAML document at line ${manifestLine}`);
    const value = (k: string) => {
      const n = mapGet(root, k);
      return isScalar(n) && n.value !== null ? str(n.value) : '';
    };
    const idKind = value('kind') || 'v1alpha1';
    const id = `${value('apiVersion')}/${idKind}/${value('name')}`;
    if (seen.has(id)) throw new DecodeError(`duplicate document ${id} is not allowed (line ${manifestLine})`);
    seen.add(id);
    const fail = (message: string): never => {
      throw new DecodeError(`error decoding document ${id} (line ${manifestLine}): ${message}`);
    };

    // decoder.decode: kind/apiVersion in key order; a machine/cluster/debug/persist key makes it v1alpha1.
    let kind = '';
    let version = '';
    for (const p of root.items as Pair[]) {
      const k = pairKey(p);
      const v = isScalar(p.value) && p.value.value !== null ? str(p.value.value) : '';
      if (k === 'kind') kind = v;
      else if (k === 'apiVersion') version = v;
      else if (['machine', 'cluster', 'debug', 'persist'].includes(k)) version = 'v1alpha1';
    }
    let typeKind: string;
    if (version === 'v1alpha1' && kind === '') typeKind = 'v1alpha1';
    else if (kind === '') return fail('missing kind');
    else if (version === '') return fail('missing apiVersion');
    else if (kind === 'v1alpha1' || (REGISTERED_KINDS[line].has(kind) && version === 'v1alpha1')) typeKind = kind;
    else return fail(`${JSON.stringify(kind)} ${JSON.stringify(version)}: not registered`);

    const shape = documentShape(typeKind);
    if (shape === 'Config') {
      const errs: { line: number; message: string }[] = [];
      constructErrors(lc, root, 'Config', errs);
      if (errs.length > 0) {
        const list =
          line === 'v1.13'
            ? `yaml: construct errors:${errs.map((e) => `\n  line ${e.line}: ${e.message}`).join('')}`
            : `yaml: construct errors: ${errs.map((e) => `line ${e.line}: ${e.message}`).join('; ')}`;
        fail(`error decoding ${kind} to *v1alpha1.Config: ${list}`);
      }
    }
    const unknown = unknownKeys(root, shape);
    if (unknown && !Array.isArray(unknown)) fail(`unknown keys found during decoding:\n${renderUnknown(unknown)}`);

    const js = doc.toJS() as Record<string, unknown>;
    if (shape === 'Config') out.v1alpha1 = v1alpha1View(root, js);
    else out.kinds.push(typeKind);
    if (typeKind === 'KubeAPIServerCAConfig' || typeKind === 'KubeAggregatorCAConfig') {
      const issuing = isObj(js.issuingCA) ? js.issuingCA : null;
      out.caDocs.push({
        kind: typeKind,
        issuing: issuing ? { cert: str(issuing.cert), key: str(issuing.key) } : null,
        accepted: Array.isArray(js.acceptedCAs) ? js.acceptedCAs.map(str) : [],
      });
    }
  }
  return out;
}

/** meta.CertificateAndKey.Validate(tryLoading=true). */
function certificateAndKeyError(ca: { cert: string; key: string }): string | null {
  if (ca.cert === '') return 'certificate is required';
  if (ca.key === '') return 'key is required';
  const certPem = assertValidPem(ca.cert, 'CERTIFICATE');
  if (certPem) return `certificate: ${certPem}`;
  const keyPem = assertValidPem(ca.key);
  if (keyPem) return `key: ${keyPem}`;
  const cert = goGetCertError(ca.cert);
  if (cert) return `certificate is invalid: ${cert}`;
  const key = goGetKeyError(ca.key);
  if (key) return `key is invalid: ${key}`;
  return null;
}

/** KubeAPIServerCAConfig / KubeAggregatorCAConfig Validate: errors.Join, wrapped with the document id. */
function validateCaDocument(doc: CaDocView): string | null {
  const errs: string[] = [];
  if (doc.issuing) {
    const e = certificateAndKeyError(doc.issuing);
    if (e) errs.push(`issuing CA: ${e}`);
  } else if (doc.kind === 'KubeAggregatorCAConfig') {
    errs.push('issuing CA is not set');
  }
  doc.accepted.forEach((pem, i) => {
    const e = assertValidPem(pem, 'CERTIFICATE');
    if (e) errs.push(`accepted CA #${i}: ${e}`);
  });
  return errs.length === 0 ? null : `${doc.kind}: ${errs.join('\n')}`;
}

/** v1alpha1.Config.Validate, the parts the lab models; returns errors and warnings. */
function validateV1Alpha1(v: V1Alpha1View): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (!v.machinePresent) return { errors: ['machine instructions are required'], warnings };
  const type = v.type;
  const known = ['controlplane', 'init', 'worker', 'join', ''].includes(type);
  const cp = roleOfMachineType(type) === 'controlplane';
  // ClusterConfig.Validate (its errors are flattened into the list).
  if (!v.clusterPresent) errors.push('cluster instructions are required');
  else if (v.controlPlaneWithoutEndpoint) errors.push('cluster controlplane endpoint is required');
  else {
    if (v.etcdPresent && !cp) errors.push('etcd config is only allowed on control plane machines');
    if (v.clusterCa && !cp && v.clusterCa.key !== '')
      errors.push('cluster CA key is not allowed on non-controlplane nodes (.cluster.ca)');
  }
  if (known && (type === 'join' || type === ''))
    warnings.push(`use "worker" instead of ${JSON.stringify(type)} for machine type`);
  if (v.machineCa === null && v.machineAccepted === 0) {
    errors.push('issuing CA or some accepted CAs are required (.machine.ca, machine.acceptedCAs)');
  }
  if (!known) {
    errors.push(`unknown machine type ${JSON.stringify(type)}`);
  } else if (cp) {
    if (v.machineCa === null) errors.push('issuing CA is required (.machine.ca)');
    else if (v.machineCa.key === '') errors.push('issuing CA key is required for controlplane nodes (.machine.ca.key)');
  } else {
    if (v.machineCa !== null) {
      if (v.machineCa.key !== '')
        errors.push('issuing Talos API CA key is not allowed on non-controlplane nodes (.machine.ca)');
      if (v.machineCa.crt === '' && v.machineAccepted === 0) {
        errors.push(
          'trusted CA certificates are required on non-controlplane nodes (.machine.ca.crt, .machine.acceptedCAs)',
        );
      }
    }
    // Only `.cluster.ca` is checked, in both releases: a worker's KubeAPIServerCAConfig.issuingCA key passes.
    if (v.clusterCa && v.clusterCa.key !== '')
      errors.push('issuing Kubernetes API CA key is not allowed on non-controlplane nodes (.cluster.ca)');
  }
  return { errors, warnings };
}

/** Each document's conflict with the v1alpha1 fields it replaces, in document order. */
function conflicts(v: V1Alpha1View, kinds: readonly string[]): string[] {
  const out: string[] = [];
  for (const kind of kinds) {
    if (kind === 'KubeAPIServerCAConfig' && v.clusterPresent && v.clusterCa !== null) {
      out.push('kube-apiserver CA is already set in v1alpha1 config (.cluster.ca)');
    } else if (kind === 'KubeAggregatorCAConfig' && v.clusterPresent && v.aggregatorCaPresent) {
      out.push(
        'kube-apiserver aggregator CA is already set in v1alpha1 config (.cluster.aggregatorCA), please ' +
          'remove it and use the new KubeAggregatorCAConfig document instead',
      );
    } else if (kind === 'KubeServiceAccountConfig' && v.clusterPresent && v.serviceAccountPresent) {
      out.push('service account is already set in v1alpha1 config (.cluster.serviceAccount)');
    } else if (kind === 'KubeEtcdEncryptionConfig' && v.etcdEncryptionSecret) {
      out.push('etcd encryption config is already set in v1alpha1 config');
    }
  }
  return out;
}

/** container.validateContainer (v1.14): the checks across documents that concern the lab. */
function validateContainer(v: V1Alpha1View, kinds: readonly string[]): string[] {
  const out: string[] = [];
  const cp = v.machinePresent && roleOfMachineType(v.type) === 'controlplane';
  const hasKubernetesCa =
    kinds.includes('KubeAPIServerCAConfig') || (v.clusterPresent && (v.clusterCa !== null || v.clusterAcceptedPresent));
  if (cp && hasKubernetesCa && !v.etcdEncryptionSecret && !kinds.includes('KubeEtcdEncryptionConfig')) {
    out.push('etcd encryption config is required for control plane machines running kube-apiserver');
  }
  const cpOnly = [...new Set(kinds.filter((k) => CONTROLPLANE_ONLY_KINDS.has(k)))].sort();
  if (cpOnly.length > 0 && !cp)
    out.push(`the following document kinds are only allowed on control plane machines: [${cpOnly.join(' ')}]`);
  return out;
}

/**
 * The checks ApplyConfiguration runs after the lock and role checks, in Talos's order: decode, v1alpha1
 * present, REBOOT mode (v1.14 only), validation.
 */
export async function validateApply(
  text: string,
  opts: { line: TalosLine; mode: string | number },
): Promise<Validated> {
  return (await validateApplyParsed(text, opts)).validated;
}

/**
 * validateApply, also handing back the documents as parsed for the checks (null when the text does not
 * decode), so that a dry run's diff reuses them instead of parsing the text again. They are not modified here.
 */
export async function validateApplyParsed(
  text: string,
  opts: { line: TalosLine; mode: string | number },
): Promise<{ validated: Validated; documents: Document.Parsed[] | null }> {
  let decoded: Decoded;
  try {
    decoded = decode(text, opts.line);
  } catch (err) {
    if (err instanceof DecodeError)
      return { validated: { ok: false, code: 'INVALID_ARGUMENT', message: err.message }, documents: null };
    throw err;
  }
  return { validated: validateDecoded(decoded, opts), documents: decoded.documents };
}

function validateDecoded(decoded: Decoded, opts: { line: TalosLine; mode: string | number }): Validated {
  if (!decoded.v1alpha1 && decoded.kinds.length === 0)
    return { ok: false, code: 'INVALID_ARGUMENT', message: 'config not found' };
  const v = decoded.v1alpha1;
  if (!v) {
    return {
      ok: false,
      code: 'INVALID_ARGUMENT',
      message:
        "the applied machine configuration doesn't contain v1alpha1 config, did you mean to patch the machine " +
        'config instead?',
    };
  }
  if (opts.line === 'v1.14' && (opts.mode === 'REBOOT' || opts.mode === 0)) {
    return {
      ok: false,
      code: 'UNIMPLEMENTED',
      message: 'the REBOOT mode is not supported, please use AUTO or NO_REBOOT modes instead',
    };
  }
  const errors: string[] = [];
  const own = validateV1Alpha1(v);
  if (own.errors.length > 0) errors.push(`v1alpha1.Config: ${multierror(own.errors)}`);
  for (const doc of decoded.caDocs) {
    const e = validateCaDocument(doc);
    if (e) errors.push(e);
  }
  errors.push(...conflicts(v, decoded.kinds));
  if (opts.line === 'v1.14') errors.push(...validateContainer(v, decoded.kinds));
  if (errors.length > 0) return { ok: false, code: 'INVALID_ARGUMENT', message: multierror(errors) };
  return { ok: true, warnings: own.warnings };
}
