/**
 * The model's view of a cluster: per node, both PKIs reduced to "issuing CA + trusted set" (talos-behaviour.md §4.2,
 * §3.3), plus the history a config does not show: what a worker last received from trustd, and which CAs
 * may have signed each kubelet's client certificate.
 */
import type { NodeRole } from '../../domain/types.js';
import type { ApiState, ObservedNode } from '../model/input.js';
import { bitsOf, has, NO_CA, type CaIndex } from './cas.js';

/** One PKI on one node: the CA it signs with (control planes) and the CAs it trusts (accepted ∪ issuing). */
export interface TrustState {
  issuing: number;
  trusted: number;
}

/** What a worker's apid got from trustd: its server cert's signer and the client-CA bundle it now trusts. */
export interface TalosGrant {
  signer: number;
  bundle: number;
}

export interface ModelNode {
  address: string;
  role: NodeRole;
  /** The operator's talosconfig may land on this control plane. */
  endpoint: boolean;
  talos: TrustState;
  kube: TrustState;
  /** Workers: the possible trustd grants (one of them is true). Control planes: empty. */
  grants: readonly TalosGrant[];
  /** Possible signers of the kubelet client certificate (bit mask; 0 = no certificate). */
  signers: number;
  /** Identity of everything above but the address: nodes with equal keys are interchangeable. */
  key: string;
}

/** The class key of a node state (computed once per state, shared by the nodes that have it). */
export function stateKey(n: Omit<ModelNode, 'address' | 'key'>): string {
  return (
    `${n.role}|${n.endpoint ? 'e' : ''}|${n.talos.issuing}|${n.talos.trusted}|${n.kube.issuing}|${n.kube.trusted}|` +
    `${grantsKey(n.grants)}|${n.signers}`
  );
}

/** A node's new state for the APIs a patch touches; `touched` = the config's CA fields change at all. */
export interface ModelTarget {
  talos?: TrustState;
  kube?: TrustState;
  talosTouched: boolean;
  kubeTouched: boolean;
}

/** Shares one target object among nodes that get the same change, so grouping them is cheap. */
export class TargetInterner {
  readonly #cache = new Map<string, ModelTarget>();

  intern(t: ModelTarget): ModelTarget {
    const key =
      `${t.talos?.issuing}/${t.talos?.trusted}/${t.talosTouched}/` +
      `${t.kube?.issuing}/${t.kube?.trusted}/${t.kubeTouched}`;
    const hit = this.#cache.get(key);
    if (hit) return hit;
    this.#cache.set(key, t);
    return t;
  }
}

export function trustOf(cas: CaIndex, state: ApiState): TrustState {
  return { issuing: cas.idOrNone(state.issuing), trusted: cas.mask([...state.accepted, state.issuing]) };
}

export function sameApiState(a: ApiState, b: ApiState): boolean {
  return (
    a.issuing === b.issuing &&
    a.accepted.length === b.accepted.length &&
    a.accepted.every((x, i) => x === b.accepted[i])
  );
}

export interface EndpointResolution {
  /** Control-plane addresses named as endpoints. */
  controlPlanes: Set<string>;
  /** Some endpoint is not a node address (VIP, DNS name, load balancer): it may reach any control plane. */
  anyControlPlane: boolean;
  /** Endpoints that are worker addresses (a worker's apid cannot proxy: talos-behaviour.md §3.2). */
  workers: string[];
}

export function resolveEndpoints(
  nodes: readonly { address: string; role: NodeRole }[],
  endpoints: readonly string[],
): EndpointResolution {
  const byAddress = new Map(nodes.map((n) => [n.address, n.role]));
  const res: EndpointResolution = { controlPlanes: new Set(), anyControlPlane: endpoints.length === 0, workers: [] };
  for (const raw of endpoints) {
    const ep = stripPort(raw);
    const role = byAddress.get(ep);
    if (role === 'controlplane') res.controlPlanes.add(ep);
    else if (role === 'worker') res.workers.push(ep);
    else res.anyControlPlane = true;
  }
  return res;
}

/** `host`, `host:port`, `[v6]:port` or `https://host:port` → host. */
export function stripPort(endpoint: string): string {
  let e = endpoint.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  if (e.startsWith('[')) return e.slice(1, e.indexOf(']'));
  const colons = e.split(':').length - 1;
  if (colons === 1) e = e.slice(0, e.indexOf(':'));
  return e;
}

export function canonicalGrants(grants: readonly TalosGrant[]): TalosGrant[] {
  const seen = new Map<string, TalosGrant>();
  for (const g of grants) seen.set(`${g.signer}/${g.bundle}`, g);
  return [...seen.values()].sort((a, b) => a.signer - b.signer || a.bundle - b.bundle);
}

export function grantsKey(grants: readonly TalosGrant[]): string {
  return grants.map((g) => `${g.signer}/${g.bundle}`).join(',');
}

/**
 * The cluster as observed, with the unobservable history replaced by every possibility consistent with
 * it (sound), which is a single possibility in the steady state (exact):
 * - a worker's trustd grant: as observed (its ApiCertificates) when a control plane would still hand it
 *   out; else also any grant signed by a CA that some control plane trusts and the worker trusts, bundled
 *   with that control plane's trusted set (a swap keeps a trusted set, so this covers a control plane seen
 *   before its swap); grants that would make today's apid proxying fail are dropped, since the cluster is
 *   assumed to work when the plan starts (apply checks every node first) — unless none is left.
 * - a kubelet's client cert signer: any CA in the node's own trusted set (Talos deletes a kubelet cert that
 *   no longer verifies against it on every kubelet restart, talos-behaviour.md §4.3) that some control plane accepts
 *   while serving a cert the node trusts — again unless none is left.
 */
export function initialWorld(cas: CaIndex, nodes: readonly ObservedNode[], endpoints: readonly string[]): ModelNode[] {
  const ep = resolveEndpoints(nodes, endpoints);
  const base = nodes.map((n) => ({
    address: n.address,
    role: n.role,
    endpoint: n.role === 'controlplane' && (ep.anyControlPlane || ep.controlPlanes.has(n.address)),
    talos: trustOf(cas, n.talos),
    kube: trustOf(cas, n.kubernetes),
    observed:
      n.role === 'worker' && n.talosGrant
        ? { signer: cas.id(n.talosGrant.signer), bundle: cas.mask(n.talosGrant.bundle) }
        : null,
  }));
  const cps = uniqueStates(base.filter((n) => n.role === 'controlplane'));
  const cache = new Map<string, ModelNode>();
  return base.map((n) => {
    const raw =
      `${n.role}|${n.endpoint}|${n.talos.issuing}|${n.talos.trusted}|${n.kube.issuing}|${n.kube.trusted}|` +
      (n.observed ? grantsKey([n.observed]) : '');
    let proto = cache.get(raw);
    if (!proto) {
      const grants =
        n.role === 'worker'
          ? workerGrants(
              n.talos,
              n.observed,
              cps.map((c) => c.talos),
            )
          : [];
      const signers = initialSigners(
        n.kube,
        cps.map((c) => c.kube),
      );
      const state = { role: n.role, endpoint: n.endpoint, talos: n.talos, kube: n.kube, grants, signers };
      proto = { ...state, address: '', key: stateKey(state) };
      cache.set(raw, proto);
    }
    const { role, endpoint, talos, kube, grants, signers, key } = proto;
    return { address: n.address, role, endpoint, talos, kube, grants, signers, key };
  });
}

function uniqueStates<T extends { talos: TrustState; kube: TrustState }>(nodes: T[]): T[] {
  const seen = new Map<string, T>();
  for (const n of nodes) seen.set(`${n.talos.issuing}/${n.talos.trusted}/${n.kube.issuing}/${n.kube.trusted}`, n);
  return [...seen.values()];
}

/**
 * An observed registration that some control plane, as it is now, would hand out is the worker's grant:
 * the observer leaves out workers that may still be about to re-register (a Talos CA change in flight).
 * One that no control plane would hand out any more comes from before a control plane changed, and may be
 * replaced at any time, so every registration the configs allow stays possible too.
 */
function workerGrants(worker: TrustState, observed: TalosGrant | null, cps: TrustState[]): TalosGrant[] {
  if (!observed) return initialGrants(worker, cps);
  if (cps.some((c) => c.trusted === observed.bundle && c.issuing === observed.signer)) return [observed];
  return canonicalGrants([observed, ...initialGrants(worker, cps)]);
}

function initialGrants(worker: TrustState, cps: TrustState[]): TalosGrant[] {
  const candidates: TalosGrant[] = [];
  for (const c of cps)
    for (const s of bitsOf(c.trusted & worker.trusted)) candidates.push({ signer: s, bundle: c.trusted });
  const consistent = candidates.filter((g) => cps.every((c) => has(g.bundle, c.issuing) && has(c.trusted, g.signer)));
  if (consistent.length > 0) return canonicalGrants(consistent);
  if (candidates.length > 0) return canonicalGrants(candidates);
  return [{ signer: NO_CA, bundle: 0 }];
}

function initialSigners(node: TrustState, cps: TrustState[]): number {
  let union = 0;
  for (const c of cps) union |= c.trusted;
  const candidates = node.trusted & union;
  let consistent = 0;
  for (const s of bitsOf(candidates)) {
    if (cps.some((c) => has(c.trusted, s) && has(node.trusted, c.issuing))) consistent |= 1 << s;
  }
  return consistent || candidates || node.trusted;
}

/**
 * Workers whose apid may trust, for client certificates, a Talos CA that some control plane does not
 * trust: the bundle trustd handed them predates a drop on the control planes, or came from a control plane
 * that trusts more than the others. A worker asks trustd again when its own Talos CA fields change, when
 * the apiserver endpoint list changes (a control plane's kube-apiserver restarts; the engine models it) and
 * every 12 h (talos-behaviour.md §5), so a plan that leaves one behind has not finished removing that CA. Exact while
 * the control planes' Talos trust is even; with uneven trust it counts every worker that may have asked the
 * odd one out.
 */
export function staleBundles(world: readonly ModelNode[]): { address: string; extra: number }[] {
  let everywhere = -1;
  for (const n of world) if (n.role === 'controlplane') everywhere &= n.talos.trusted;
  if (everywhere === -1) return [];
  const out: { address: string; extra: number }[] = [];
  for (const n of world) {
    if (n.role !== 'worker') continue;
    let extra = 0;
    for (const g of n.grants) extra |= g.bundle & ~everywhere;
    if (extra !== 0) out.push({ address: n.address, extra });
  }
  return out;
}
