/**
 * Phase expansion: the per-node CA states `talosctl rotate-ca` walks through (talos-behaviour.md §2.2, §2.3), computed
 * from where each node is, so that only the phases still needed appear and a half-done cluster continues:
 *
 *   accept  every CA the desired state trusts is added to the accepted list (appended, like talosctl)
 *   issue   the desired issuing CA becomes issuing; the old one moves to the accepted list
 *           (document-style Kubernetes worker: the new CA moves to position 0 of acceptedCAs)
 *   drop    CAs the desired state does not name are removed
 */
import type { ApiKind, Fingerprint, NodeRole } from '../../domain/types.js';
import type { ApiState, DesiredApi, ObservedNode } from '../model/input.js';
import type { Phase } from '../model/plan.js';

export interface PhaseNode {
  address: string;
  role: NodeRole;
  from: ApiState;
  to: ApiState;
}

export interface ApiPhase {
  api: ApiKind;
  phase: Phase;
  nodes: PhaseNode[];
}

/** A document-style Kubernetes worker has no issuing CA; its current CA is `accepted[0]` (talos-behaviour.md §2.3). */
export function isDocumentWorker(api: ApiKind, node: Pick<ObservedNode, 'role' | 'kubernetes'>): boolean {
  return api === 'kubernetes' && node.role === 'worker' && node.kubernetes.style === 'document';
}

export function apiStateOf(api: ApiKind, node: ObservedNode): ApiState {
  const s = api === 'talos' ? node.talos : node.kubernetes;
  return { issuing: s.issuing, accepted: [...s.accepted] };
}

function unique<T>(xs: readonly T[]): T[] {
  return [...new Set(xs)];
}

function trustedList(s: ApiState): Fingerprint[] {
  return unique(s.issuing === null ? s.accepted : [...s.accepted, s.issuing]);
}

function sameSet(a: readonly Fingerprint[], b: readonly Fingerprint[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((x) => sb.has(x));
}

export function acceptTarget(s: ApiState, need: readonly Fingerprint[]): ApiState {
  const trusted = new Set(trustedList(s));
  const add = unique(need).filter((x) => !trusted.has(x));
  return add.length === 0 ? s : { issuing: s.issuing, accepted: [...s.accepted, ...add] };
}

export function issueTarget(s: ApiState, issuing: Fingerprint, documentWorker: boolean): ApiState {
  if (documentWorker) {
    if (s.accepted[0] === issuing) return s;
    return { issuing: null, accepted: [issuing, ...s.accepted.filter((x) => x !== issuing)] };
  }
  if (s.issuing === issuing) return s;
  const accepted = s.accepted.filter((x) => x !== issuing);
  if (s.issuing !== null && !accepted.includes(s.issuing)) accepted.push(s.issuing);
  return { issuing, accepted };
}

export function dropTarget(
  s: ApiState,
  issuing: Fingerprint,
  keep: ReadonlySet<Fingerprint>,
  documentWorker: boolean,
): ApiState {
  const accepted = unique(s.accepted.filter((x) => x !== issuing && keep.has(x)));
  if (documentWorker) {
    const t: ApiState = { issuing: null, accepted: [issuing, ...accepted] };
    return s.accepted[0] === issuing && sameSet(s.accepted, t.accepted) ? s : t;
  }
  const t: ApiState = { issuing, accepted };
  return s.issuing === issuing &&
    sameSet(
      s.accepted.filter((x) => x !== issuing),
      accepted,
    )
    ? s
    : t;
}

/** The phases one API still needs, each with the nodes it changes (in input order). */
export function expandPhases(api: ApiKind, nodes: readonly ObservedNode[], desired: DesiredApi): ApiPhase[] {
  const D = desired.issuing;
  const accepted = unique(desired.accepted.filter((x) => x !== D));
  const need = [D, ...accepted];
  const keep = new Set<Fingerprint>(need);
  const out: ApiPhase[] = [
    { api, phase: 'accept', nodes: [] },
    { api, phase: 'issue', nodes: [] },
    { api, phase: 'drop', nodes: [] },
  ];
  for (const n of nodes) {
    const doc = isDocumentWorker(api, n);
    const s0 = apiStateOf(api, n);
    const s1 = acceptTarget(s0, need);
    const s2 = issueTarget(s1, D, doc);
    const s3 = dropTarget(s2, D, keep, doc);
    const chain = [s0, s1, s2, s3];
    for (let p = 0; p < 3; p++) {
      if (chain[p + 1] !== chain[p])
        out[p]!.nodes.push({ address: n.address, role: n.role, from: chain[p]!, to: chain[p + 1]! });
    }
  }
  return out.filter((p) => p.nodes.length > 0);
}
