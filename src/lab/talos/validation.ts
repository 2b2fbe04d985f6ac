/**
 * What machined checks before it takes a config (facts §5): the loader's decode errors
 * (pkg/machinery/config/configloader/internal/decoder/decoder.go), the v1alpha1 CA rules
 * (pkg/machinery/config/types/v1alpha1/v1alpha1_validation.go), the KubeAPIServerCAConfig rules
 * (pkg/machinery/config/types/k8s/apiserver_ca.go) and the container's error aggregation
 * (pkg/machinery/config/container/validate.go, hashicorp/go-multierror list format). Pure: no I/O.
 *
 * Like Talos, this does NOT check that `.machine.ca`, `.machine.acceptedCAs`, `.cluster.ca` or
 * `.cluster.acceptedCAs` hold parseable certificates, matching keys or unexpired CAs: such a config is
 * accepted and breaks certificate generation afterwards. (The document-style issuing CA is the exception:
 * Talos loads it during validation.)
 */
import { LineCounter, isMap, isScalar, isSeq, parseAllDocuments, type Document, type Node, type Pair } from 'yaml';
import { loadCa } from '../../pki/index.js';
import { roleOfMachineType } from '../core/roots.js';

export type TalosLine = 'v1.13' | 'v1.14';

export type Validated =
  | { ok: true; warnings: string[] }
  | { ok: false; code: 'INVALID_ARGUMENT' | 'UNIMPLEMENTED'; message: string };

/** The Talos release line a node's version tag belongs to. */
export function talosLine(tag: string): TalosLine {
  return /^v1\.(\d+)\./.exec(tag)?.[1] === '13' ? 'v1.13' : 'v1.14';
}

/** hashicorp/go-multierror's default list format. */
export function multierror(errors: readonly string[]): string {
  const head = errors.length === 1 ? '1 error occurred:' : `${errors.length} errors occurred:`;
  return `${head}\n\t${errors.map((e) => `* ${e}`).join('\n\t')}\n\n`;
}

const TOP_LEVEL_KEYS = new Set(['version', 'debug', 'persist', 'machine', 'cluster']);
const MACHINE_KEYS = new Set([
  'type', 'token', 'ca', 'acceptedCAs', 'certSANs', 'controlPlane', 'kubelet', 'pods', 'network', 'disks', 'install',
  'files', 'env', 'time', 'sysctls', 'sysfs', 'registries', 'systemDiskEncryption', 'features', 'udev', 'logging',
  'kernel', 'seccompProfiles', 'baseRuntimeSpecOverrides', 'nodeLabels', 'nodeAnnotations', 'nodeTaints',
]);
const CLUSTER_KEYS = new Set([
  'id', 'secret', 'controlPlane', 'clusterName', 'network', 'token', 'aescbcEncryptionSecret', 'secretboxEncryptionSecret',
  'ca', 'acceptedCAs', 'aggregatorCA', 'serviceAccount', 'apiServer', 'controllerManager', 'proxy', 'scheduler', 'discovery',
  'etcd', 'coreDNS', 'externalCloudProvider', 'extraManifests', 'extraManifestHeaders', 'inlineManifests',
  'adminKubeconfig', 'allowSchedulingOnControlPlanes',
]);
const API_SERVER_CA_KEYS = new Set(['apiVersion', 'kind', 'issuingCA', 'acceptedCAs']);

class DecodeError extends Error {}

/** Go's base64.StdEncoding.DecodeString check: null if fine, else the byte offset Go reports. */
export function base64ErrorOffset(value: string): number | null {
  let count = 0;
  let pad = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\r' || c === '\n') continue;
    if (c === '=') {
      pad++;
      continue;
    }
    if (pad > 0 || !/[A-Za-z0-9+/]/.test(c)) return i;
    count++;
  }
  const total = count + pad;
  if (total % 4 !== 0 || pad > 2 || (pad > 0 && (count + pad) % 4 !== 0)) return value.replace(/[\r\n]/g, '').length - (pad > 0 ? pad : 0);
  return null;
}

function keyOf(pair: Pair): string {
  return isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
}

function lineOf(lc: LineCounter, node: unknown): number {
  const range = (node as Node | null)?.range;
  return range ? lc.linePos(range[0]).line : 0;
}

function checkKnownKeys(lc: LineCounter, node: unknown, known: Set<string>, goType: string): void {
  if (!isMap(node)) return;
  const unknown = node.items.filter((p) => !known.has(keyOf(p)));
  if (unknown.length === 0) return;
  const lines = unknown.map((p) => `  line ${lineOf(lc, p.key)}: field ${keyOf(p)} not found in type ${goType}`);
  throw new DecodeError(`error decoding  to *v1alpha1.Config: yaml: unmarshal errors:\n${lines.join('\n')}`);
}

function checkBase64(lc: LineCounter, value: unknown, target: string): void {
  if (!isScalar(value) || value.value === null) return;
  const text = String(value.value);
  const at = base64ErrorOffset(text);
  if (at !== null) throw new DecodeError(`error decoding ${target}: illegal base64 data at input byte ${at}`);
}

function checkPemFields(lc: LineCounter, node: unknown, fields: string[]): void {
  if (!isMap(node)) return;
  for (const f of fields) checkBase64(lc, node.get(f, true), ' to *v1alpha1.Config');
}

function checkPemList(lc: LineCounter, node: unknown): void {
  if (!isSeq(node)) return;
  for (const item of node.items) checkPemFields(lc, item, ['crt']);
}

interface V1Alpha1View {
  type: string;
  machineCa: { crt: string; key: string } | null;
  machineAccepted: number;
  clusterCa: { crt: string; key: string } | null;
  clusterPresent: boolean;
  etcdPresent: boolean;
}

interface ApiServerCaView {
  issuing: { cert: string; key: string } | null;
  accepted: string[];
}

function jsStr(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function caView(v: unknown): { crt: string; key: string } | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  const dec = (x: unknown) => (typeof x === 'string' ? Buffer.from(x.replace(/[\r\n]/g, ''), 'base64').toString('utf8') : '');
  return { crt: dec(o.crt), key: dec(o.key) };
}

/** The loader: documents, strict keys of the v1alpha1 document, base64 of CA fields, duplicates, kinds. */
function decode(text: string): { v1alpha1: V1Alpha1View | null; apiServerCa: ApiServerCaView | null } {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false });
  const list: Document.Parsed[] = Array.isArray(docs) ? docs : [];
  const seen = new Set<string>();
  let v1alpha1: V1Alpha1View | null = null;
  let apiServerCa: ApiServerCaView | null = null;
  for (const doc of list) {
    const err = doc.errors[0];
    if (err) throw new DecodeError(`decode error: yaml: line ${lc.linePos(err.pos[0]).line}: ${err.message.split('\n')[0]}`);
    const root = doc.contents;
    if (root === null || (isScalar(root) && root.value === null)) continue;
    if (!isMap(root)) throw new DecodeError('decode error: yaml: unmarshal errors: document is not a mapping');
    const get = (k: string) => root.get(k, true) as Node | undefined;
    const scalar = (k: string) => {
      const n = get(k);
      return isScalar(n) && n.value !== null ? String(n.value) : '';
    };
    const kind = scalar('kind');
    const apiVersion = scalar('apiVersion');
    const name = scalar('name');
    const id = `${apiVersion}/${kind || 'v1alpha1'}/${name}`;
    if (seen.has(id)) throw new DecodeError(`duplicate document ${id} is not allowed`);
    seen.add(id);
    const looksV1Alpha1 = ['machine', 'cluster', 'debug', 'persist'].some((k) => root.has(k)) || (apiVersion === '' && scalar('version') === 'v1alpha1');
    if (kind === '' && !looksV1Alpha1) throw new DecodeError('missing kind');
    if (kind === '') {
      checkKnownKeys(lc, root, TOP_LEVEL_KEYS, 'v1alpha1.Config');
      const machine = get('machine');
      const cluster = get('cluster');
      checkKnownKeys(lc, machine, MACHINE_KEYS, 'v1alpha1.MachineConfig');
      checkKnownKeys(lc, cluster, CLUSTER_KEYS, 'v1alpha1.ClusterConfig');
      if (isMap(machine)) {
        checkPemFields(lc, machine.get('ca', true), ['crt', 'key']);
        checkPemList(lc, machine.get('acceptedCAs', true));
      }
      if (isMap(cluster)) {
        for (const f of ['ca', 'aggregatorCA']) checkPemFields(lc, cluster.get(f, true), ['crt', 'key']);
        checkPemFields(lc, cluster.get('serviceAccount', true), ['key']);
        checkPemList(lc, cluster.get('acceptedCAs', true));
        const etcd = cluster.get('etcd', true);
        if (isMap(etcd)) checkPemFields(lc, etcd.get('ca', true), ['crt', 'key']);
      }
      const js = doc.toJS() as Record<string, unknown>;
      const m = (js.machine ?? {}) as Record<string, unknown>;
      const c = (js.cluster ?? null) as Record<string, unknown> | null;
      v1alpha1 = {
        type: jsStr(m.type),
        machineCa: m.ca === undefined || m.ca === null ? null : caView(m.ca),
        machineAccepted: Array.isArray(m.acceptedCAs) ? m.acceptedCAs.length : 0,
        clusterCa: c && c.ca !== undefined && c.ca !== null ? caView(c.ca) : null,
        clusterPresent: c !== null,
        etcdPresent: c !== null && c.etcd !== undefined && c.etcd !== null,
      };
    } else if (kind === 'KubeAPIServerCAConfig') {
      checkKnownKeys(lc, root, API_SERVER_CA_KEYS, 'k8s.KubeAPIServerCAConfigV1Alpha1');
      const js = doc.toJS() as Record<string, unknown>;
      const issuing = js.issuingCA as Record<string, unknown> | undefined | null;
      apiServerCa = {
        issuing: issuing ? { cert: jsStr(issuing.cert), key: jsStr(issuing.key) } : null,
        accepted: Array.isArray(js.acceptedCAs) ? js.acceptedCAs.map(jsStr) : [],
      };
    }
  }
  return { v1alpha1, apiServerCa };
}

const PEM_BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/** meta.AssertValidPEM: at least one PEM block, each of an expected type. */
function assertValidPem(data: string, expected?: string): string | null {
  const labels = [...data.matchAll(PEM_BLOCK_RE)].map((m) => m[1]!);
  if (labels.length === 0) return 'no PEM blocks found';
  if (expected) {
    const bad = labels.find((l) => l !== expected);
    if (bad !== undefined) return `unexpected PEM block type "${bad}", expected one of ["${expected}"]`;
  }
  return null;
}

async function validateApiServerCa(doc: ApiServerCaView): Promise<string[]> {
  const errs: string[] = [];
  const ca = doc.issuing;
  if (ca) {
    let problem: string | null = null;
    if (ca.cert === '') problem = 'certificate is required';
    else if (ca.key === '') problem = 'key is required';
    else {
      const certErr = assertValidPem(ca.cert, 'CERTIFICATE');
      const keyErr = certErr ? null : assertValidPem(ca.key);
      if (certErr) problem = `certificate: ${certErr}`;
      else if (keyErr) problem = `key: ${keyErr}`;
      else {
        try {
          await loadCa(ca.cert, ca.key, 'issuing CA');
        } catch (err) {
          problem = /key/i.test((err as Error).message) ? `key is invalid: ${(err as Error).message}` : `certificate is invalid: ${(err as Error).message}`;
        }
      }
    }
    if (problem) errs.push(`issuing CA: ${problem}`);
  }
  doc.accepted.forEach((pem, i) => {
    const e = assertValidPem(pem, 'CERTIFICATE');
    if (e) errs.push(`accepted CA #${i}: ${e}`);
  });
  return errs.length === 0 ? [] : [`KubeAPIServerCAConfig: ${errs.join('\n')}`];
}

function validateV1Alpha1(v: V1Alpha1View, apiServerCa: ApiServerCaView | null): string[] {
  const errs: string[] = [];
  const type = v.type;
  const known = ['controlplane', 'init', 'worker', 'join', ''].includes(type);
  const cp = roleOfMachineType(type) === 'controlplane';
  if (!v.clusterPresent) errs.push('cluster instructions are required');
  else {
    if (v.etcdPresent && !cp) errs.push('etcd config is only allowed on control plane machines');
    if (v.clusterCa && !cp && v.clusterCa.key !== '') errs.push('cluster CA key is not allowed on non-controlplane nodes (.cluster.ca)');
  }
  if (v.machineCa === null && v.machineAccepted === 0) {
    errs.push('issuing CA or some accepted CAs are required (.machine.ca, machine.acceptedCAs)');
  }
  if (!known) {
    errs.push(`unknown machine type "${type}"`);
  } else if (cp) {
    if (v.machineCa === null) errs.push('issuing CA is required (.machine.ca)');
    else if (v.machineCa.key === '') errs.push('issuing CA key is required for controlplane nodes (.machine.ca.key)');
  } else {
    if (v.machineCa !== null) {
      if (v.machineCa.key !== '') errs.push('issuing Talos API CA key is not allowed on non-controlplane nodes (.machine.ca)');
      if (v.machineCa.crt === '' && v.machineAccepted === 0) {
        errs.push('trusted CA certificates are required on non-controlplane nodes (.machine.ca.crt, .machine.acceptedCAs)');
      }
    }
    const k8sIssuingKey = v.clusterCa?.key ?? apiServerCa?.issuing?.key ?? '';
    if (k8sIssuingKey !== '') errs.push('issuing Kubernetes API CA key is not allowed on non-controlplane nodes (.cluster.ca)');
  }
  return errs;
}

/**
 * The checks ApplyConfiguration runs after the lock and role checks, in Talos's order: decode, v1alpha1
 * present, REBOOT mode (v1.14 only), validation.
 */
export async function validateApply(text: string, opts: { line: TalosLine; mode: string | number }): Promise<Validated> {
  let decoded;
  try {
    decoded = decode(text);
  } catch (err) {
    if (err instanceof DecodeError) return { ok: false, code: 'INVALID_ARGUMENT', message: err.message };
    throw err;
  }
  if (!decoded.v1alpha1) {
    return {
      ok: false,
      code: 'INVALID_ARGUMENT',
      message: "the applied machine configuration doesn't contain v1alpha1 config, did you mean to patch the machine config instead?",
    };
  }
  if (opts.line === 'v1.14' && (opts.mode === 'REBOOT' || opts.mode === 0)) {
    return { ok: false, code: 'UNIMPLEMENTED', message: 'the REBOOT mode is not supported, please use AUTO or NO_REBOOT modes instead' };
  }
  const errors: string[] = [];
  const v1Errors = validateV1Alpha1(decoded.v1alpha1, decoded.apiServerCa);
  if (v1Errors.length > 0) errors.push(`v1alpha1.Config: ${multierror(v1Errors)}`);
  if (decoded.apiServerCa) {
    errors.push(...(await validateApiServerCa(decoded.apiServerCa)));
    if (decoded.v1alpha1.clusterCa !== null) errors.push('kube-apiserver CA is already set in v1alpha1 config (.cluster.ca)');
  }
  if (errors.length > 0) return { ok: false, code: 'INVALID_ARGUMENT', message: multierror(errors) };
  return { ok: true, warnings: [] };
}
