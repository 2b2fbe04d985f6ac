/**
 * Which workloads will hold the old Kubernetes API CA, decided from plain facts read from the cluster (no
 * I/O here; `src/cluster/kube/workloads.ts` reads them). Pods load `ca.crt` from the `kube-root-ca.crt` ConfigMap
 * (the projected `kube-api-access-*` volume, or the ConfigMap mounted or referenced directly) when they
 * start, and the controller-manager fills that ConfigMap with its issuing CA alone (talos-behaviour.md §5.4): a pod
 * started before the control planes serve from the new CA trusts only the old one until it re-reads the
 * file or restarts. Secrets and ConfigMaps are matched by certificate fingerprint; their data never leaves
 * the function that fingerprints it.
 */
import type { Fingerprint } from '../domain/types.js';
import { fingerprintOfDer } from '../pki/fingerprint.js';
import type { Plan, StaleObject, StaleWorkload, WorkloadKind, WorkloadsReport } from '../plan/model/index.js';

export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
/** Kept by the apiservers themselves (talos-behaviour.md §4.5); rewritten by the plan's own step. */
const EXTENSION_AUTH_NAMESPACE = 'kube-system';
const EXTENSION_AUTH_CONFIGMAP = 'extension-apiserver-authentication';
export const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';
export const SERVICE_ACCOUNT_TOKEN_TYPE = 'kubernetes.io/service-account-token';

/** The parts of a Kubernetes ownerReference the grouping reads. */
export interface OwnerRefLike {
  apiVersion?: string;
  kind?: string;
  name?: string;
  controller?: boolean;
}

interface MetaLike {
  name?: string;
  labels?: Record<string, string>;
  namespace?: string;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerRefLike[];
}

interface EnvLike {
  valueFrom?: { configMapKeyRef?: { name?: string } };
}

interface ContainerLike {
  env?: EnvLike[];
  envFrom?: { configMapRef?: { name?: string } }[];
}

/** The parts of a Pod (as @kubernetes/client-node returns it) that decide whether it loaded the CA. */
export interface PodLike {
  metadata?: MetaLike;
  spec?: {
    nodeName?: string;
    volumes?: {
      name: string;
      configMap?: { name?: string };
      secret?: { secretName?: string };
      projected?: { sources?: { configMap?: { name?: string }; serviceAccountToken?: unknown }[] };
    }[];
    containers?: ContainerLike[];
    initContainers?: ContainerLike[];
  };
  status?: { phase?: string; startTime?: Date | string };
}

export interface ReplicaSetLike {
  metadata?: MetaLike;
}

/** What a Secret / ConfigMap key holds, reduced to certificate fingerprints (the data itself is dropped). */
export interface ObjectKeyFacts {
  kind: 'Secret' | 'ConfigMap';
  namespace: string;
  name: string;
  key: string;
  fingerprints: Fingerprint[];
}

/**
 * Why a rollout restart would replace none of a Deployment's / DaemonSet's / StatefulSet's pods
 * (workloads/rollout.ts `restartBlocker`, read from the object); only blocked workloads are listed.
 */
export interface WorkloadBlocker {
  kind: 'Deployment' | 'DaemonSet' | 'StatefulSet';
  namespace: string;
  name: string;
  reason: string;
}

/** The inventory the finder works on: pods, the ReplicaSets that own them, and certificate-bearing keys. */
export interface WorkloadInventory {
  pods: PodLike[];
  replicaSets: ReplicaSetLike[];
  /** Workloads a rollout restart does nothing for (absent: not read, none known). */
  blockers?: WorkloadBlocker[];
  /** Secrets of type `kubernetes.io/service-account-token` (namespace/name): their `ca.crt` is the root CA. */
  tokenSecrets: string[];
  objects: ObjectKeyFacts[];
}

/** The step that makes the control planes serve the Kubernetes API from another issuing CA. */
export interface KubernetesServerChange {
  issueStep: number;
  oldCas: Fingerprint[];
  newCa: Fingerprint;
}

/**
 * The first step in which a control plane's issuing Kubernetes CA changes (what kube-apiserver serves and
 * the controller-manager publishes to kube-root-ca.crt), with the CA(s) it replaces; null when none does.
 */
export function kubernetesServerChange(plan: Pick<Plan, 'steps'>): KubernetesServerChange | null {
  for (const step of plan.steps) {
    const old = new Set<Fingerprint>();
    let to: Fingerprint | null = null;
    for (const n of step.nodes) {
      if (n.role !== 'controlplane') continue;
      const cur = n.current.kubernetes;
      const tgt = n.target.kubernetes;
      if (!cur?.issuing || !tgt?.issuing || cur.issuing === tgt.issuing) continue;
      old.add(cur.issuing);
      to = tgt.issuing;
    }
    if (to) return { issueStep: step.index, oldCas: [...old].filter((fp) => fp !== to), newCa: to };
  }
  return null;
}

const CERT_RE = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
/** base64 of "-----BEGIN" always starts with these characters; wrapped lines allowed. */
const B64_PEM_RE = /LS0tLS1CRUdJT(?:[A-Za-z0-9+/]|\r?\n)*={0,2}/g;
const STRICT_BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Fingerprints of every certificate embedded in `text`: each PEM CERTIFICATE block (wherever it sits: a
 * bundle, a YAML or JSON value with escaped newlines), and each base64-of-PEM token (a kubeconfig's
 * `certificate-authority-data`), and a whole value that is base64, decoded and searched again, a few levels
 * deep. Unparseable blocks are
 * skipped. Pure; the caller drops `text` afterwards.
 */
export function certificateFingerprints(text: string, depth = 3): Fingerprint[] {
  const out = new Set<Fingerprint>();
  for (const m of text.matchAll(CERT_RE)) {
    const body = m[1]!.replace(/\\[nr]/g, '').replace(/\s+/g, '');
    if (body.length === 0 || !STRICT_BASE64_RE.test(body)) continue;
    out.add(fingerprintOfDer(new Uint8Array(Buffer.from(body, 'base64'))));
  }
  if (depth > 0) {
    // A whole value that is base64 (of a kubeconfig, say): decoded and searched as text.
    const whole = text.replace(/\s+/g, '');
    if (whole.length >= 64 && !whole.startsWith('LS0tLS1CRUdJT') && STRICT_BASE64_RE.test(whole)) {
      for (const fp of certificateFingerprints(Buffer.from(whole, 'base64').toString('latin1'), depth - 1)) out.add(fp);
    }
    for (const m of text.matchAll(B64_PEM_RE)) {
      const decoded = Buffer.from(m[0].replace(/\s+/g, ''), 'base64').toString('latin1');
      for (const fp of certificateFingerprints(decoded, depth - 1)) out.add(fp);
    }
  }
  return [...out];
}

/**
 * The certificate-bearing keys of a Secret (`data`: base64 as the API sends it) or ConfigMap (`data`: text,
 * `binaryData`: base64). Keys Kubernetes itself keeps current are skipped: the `kube-root-ca.crt`
 * ConfigMap (the controller-manager's root-CA publisher), `ca.crt` of service-account token Secrets
 * (its tokens controller rewrites it when the root CA differs), and `kube-system/extension-apiserver-
 * authentication` (every kube-apiserver writes it; the plan has its own step for it,
 * plan/planner/extension-auth.ts). Returns fingerprints only.
 */
export function objectKeyFacts(
  kind: 'Secret' | 'ConfigMap',
  obj: { metadata?: MetaLike; type?: string; data?: Record<string, string>; binaryData?: Record<string, string> },
): ObjectKeyFacts[] {
  const namespace = obj.metadata?.namespace ?? '';
  const name = obj.metadata?.name ?? '';
  if (kind === 'ConfigMap' && name === ROOT_CA_CONFIGMAP) return [];
  if (kind === 'ConfigMap' && namespace === EXTENSION_AUTH_NAMESPACE && name === EXTENSION_AUTH_CONFIGMAP) return [];
  const out: ObjectKeyFacts[] = [];
  const add = (key: string, text: string): void => {
    const fingerprints = certificateFingerprints(text);
    if (fingerprints.length > 0) out.push({ kind, namespace, name, key, fingerprints });
  };
  const b64 = (v: string): string => Buffer.from(v, 'base64').toString('latin1');
  for (const [key, value] of Object.entries(obj.data ?? {})) {
    if (kind === 'Secret' && obj.type === SERVICE_ACCOUNT_TOKEN_TYPE && key === 'ca.crt') continue;
    add(key, kind === 'Secret' ? b64(value) : value);
  }
  for (const [key, value] of Object.entries(obj.binaryData ?? {})) add(key, b64(value));
  return out;
}

/**
 * Whether a pod loaded the service-account CA when it started: a projected volume with the
 * `kube-root-ca.crt` ConfigMap (the default `kube-api-access-*` volume; the name alone counts too), the
 * ConfigMap mounted or referenced by an env var, or a legacy service-account token Secret (its `ca.crt`).
 */
export function mountsServiceAccountCa(pod: PodLike, tokenSecrets: ReadonlySet<string> = new Set()): boolean {
  const ns = pod.metadata?.namespace ?? '';
  for (const v of pod.spec?.volumes ?? []) {
    if (v.name.startsWith('kube-api-access-')) return true;
    if (v.configMap?.name === ROOT_CA_CONFIGMAP) return true;
    if ((v.projected?.sources ?? []).some((s) => s.configMap?.name === ROOT_CA_CONFIGMAP)) return true;
    if (v.secret?.secretName && tokenSecrets.has(`${ns}/${v.secret.secretName}`)) return true;
  }
  for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
    if ((c.env ?? []).some((e) => e.valueFrom?.configMapKeyRef?.name === ROOT_CA_CONFIGMAP)) return true;
    if ((c.envFrom ?? []).some((e) => e.configMapRef?.name === ROOT_CA_CONFIGMAP)) return true;
  }
  return false;
}

function controllerRef(meta: MetaLike | undefined): OwnerRefLike | null {
  return (meta?.ownerReferences ?? []).find((o) => o.controller === true) ?? null;
}

function group(apiVersion: string | undefined): string {
  const v = apiVersion ?? '';
  return v.includes('/') ? v.slice(0, v.indexOf('/')) : '';
}

/**
 * The workload a user manages for this pod: its controller reference, through a ReplicaSet to the
 * Deployment that controls it. A ReplicaSet without a Deployment, and any other controller kind, is
 * `Other` (with its apiVersion and kind); no controller is a bare `Pod`.
 */
export function owningWorkload(
  pod: PodLike,
  replicaSets: ReadonlyMap<string, ReplicaSetLike>,
): { kind: WorkloadKind; name: string; controller?: string } {
  const ns = pod.metadata?.namespace ?? '';
  const ref = controllerRef(pod.metadata);
  if (!ref?.kind || !ref.name) return { kind: 'Pod', name: pod.metadata?.name ?? '' };
  const g = group(ref.apiVersion);
  if (g === 'apps' && ref.kind === 'ReplicaSet') {
    const rsOwner = controllerRef(replicaSets.get(`${ns}/${ref.name}`)?.metadata);
    if (rsOwner?.kind === 'Deployment' && group(rsOwner.apiVersion) === 'apps' && rsOwner.name)
      return { kind: 'Deployment', name: rsOwner.name };
  }
  if (g === 'apps' && (ref.kind === 'DaemonSet' || ref.kind === 'StatefulSet'))
    return { kind: ref.kind, name: ref.name };
  if (g === 'batch' && ref.kind === 'Job') return { kind: 'Job', name: ref.name };
  return { kind: 'Other', name: ref.name, controller: `${ref.apiVersion ?? ''} ${ref.kind}`.trim() };
}

/** Labels the controllers add per revision (they differ between a workload's pods). */
const HASH_LABELS = new Set([
  'pod-template-hash',
  'controller-revision-hash',
  'pod-template-generation',
  'statefulset.kubernetes.io/pod-name',
  'apps.kubernetes.io/pod-index',
  'batch.kubernetes.io/controller-uid',
  'controller-uid',
]);

function timeText(t: Date | string | undefined): string | null {
  if (t === undefined) return null;
  if (t instanceof Date) return Number.isNaN(t.getTime()) ? null : t.toISOString();
  return t;
}

/**
 * Pods that mount the service-account CA and started before `startedBefore` (an ISO time; absent: every
 * such pod, as at plan time, when the issue step has not run), grouped by namespace and owning workload;
 * mirror pods (static pods, which the API cannot restart) and finished pods (Succeeded/Failed) left out.
 * `startedAfter` (a rollback's workload phase): pods started before it loaded the CA the rollback returns
 * to and are left out; a pod without a start time yet is kept. Sorted by namespace, kind, name.
 */
export function staleWorkloads(
  inventory: Pick<WorkloadInventory, 'pods' | 'replicaSets' | 'tokenSecrets' | 'blockers'>,
  startedBefore?: string,
  startedAfter?: string,
): StaleWorkload[] {
  const blockers = new Map(
    (inventory.blockers ?? []).map((b) => [`${b.namespace}\u0000${b.kind}\u0000${b.name}`, b.reason]),
  );
  const replicaSets = new Map(
    inventory.replicaSets.map((r) => [`${r.metadata?.namespace ?? ''}/${r.metadata?.name ?? ''}`, r]),
  );
  const tokens = new Set(inventory.tokenSecrets);
  const groups = new Map<string, StaleWorkload>();
  const before = startedBefore === undefined ? null : Date.parse(startedBefore);
  const after = startedAfter === undefined ? null : Date.parse(startedAfter);
  for (const pod of inventory.pods) {
    if (pod.metadata?.annotations?.[MIRROR_ANNOTATION] !== undefined) continue;
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
    if (!mountsServiceAccountCa(pod, tokens)) continue;
    const startTime = timeText(pod.status?.startTime);
    if (before !== null && startTime !== null && !(Date.parse(startTime) < before)) continue;
    if (after !== null && startTime !== null && Date.parse(startTime) < after) continue;
    const owner = owningWorkload(pod, replicaSets);
    const namespace = pod.metadata?.namespace ?? '';
    const key = `${namespace}\u0000${owner.kind}\u0000${owner.controller ?? ''}\u0000${owner.name}`;
    let g = groups.get(key);
    if (!g) {
      const labels = Object.fromEntries(
        Object.entries(pod.metadata?.labels ?? {}).filter(([k]) => !HASH_LABELS.has(k)),
      );
      const blocker = owner.controller ? undefined : blockers.get(`${namespace}\u0000${owner.kind}\u0000${owner.name}`);
      g = {
        namespace,
        kind: owner.kind,
        name: owner.name,
        ...(owner.controller ? { controller: owner.controller } : {}),
        ...(Object.keys(labels).length > 0 ? { labels } : {}),
        pods: [],
        ...(blocker ? { blocker } : {}),
      };
      groups.set(key, g);
    }
    g.pods.push({ name: pod.metadata?.name ?? '', startTime, node: pod.spec?.nodeName ?? null });
  }
  const order: WorkloadKind[] = ['Deployment', 'DaemonSet', 'StatefulSet', 'Job', 'Other', 'Pod'];
  const out = [...groups.values()];
  for (const g of out) g.pods.sort((a, b) => a.name.localeCompare(b.name));
  return out.sort(
    (a, b) =>
      a.namespace.localeCompare(b.namespace) ||
      order.indexOf(a.kind) - order.indexOf(b.kind) ||
      a.name.localeCompare(b.name),
  );
}

/** Secrets / ConfigMaps with keys embedding one of `oldCas`, one entry per object, sorted. */
export function staleObjects(
  objects: readonly ObjectKeyFacts[],
  oldCas: readonly Fingerprint[],
  newCa: Fingerprint,
): StaleObject[] {
  const old = new Set(oldCas);
  const byObject = new Map<string, StaleObject>();
  for (const o of objects) {
    if (!o.fingerprints.some((fp) => old.has(fp))) continue;
    const id = `${o.kind}\u0000${o.namespace}\u0000${o.name}`;
    let entry = byObject.get(id);
    if (!entry) {
      entry = { kind: o.kind, namespace: o.namespace, name: o.name, keys: [], holdsNewCa: false };
      byObject.set(id, entry);
    }
    entry.keys.push(o.key);
    if (o.fingerprints.includes(newCa)) entry.holdsNewCa = true;
  }
  const out = [...byObject.values()];
  for (const o of out) o.keys.sort();
  return out.sort(
    (a, b) => a.namespace.localeCompare(b.namespace) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name),
  );
}

/** The plan's `workloads` section from an inventory read at plan time. */
export function workloadsReport(change: KubernetesServerChange, inventory: WorkloadInventory): WorkloadsReport {
  return {
    issueStep: change.issueStep,
    oldCas: change.oldCas,
    newCa: change.newCa,
    status: 'listed',
    workloads: staleWorkloads(inventory),
    objects: staleObjects(inventory.objects, change.oldCas, change.newCa),
  };
}

/** The section when the Kubernetes API could not be read: nothing listed, and why. */
export function unavailableWorkloadsReport(change: KubernetesServerChange, reason: string): WorkloadsReport {
  return {
    issueStep: change.issueStep,
    oldCas: change.oldCas,
    newCa: change.newCa,
    status: 'unavailable',
    reason,
    workloads: [],
    objects: [],
  };
}
