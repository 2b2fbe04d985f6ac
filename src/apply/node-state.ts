/**
 * A node's CA state in fingerprints (what the state file records before/after each patch, and what
 * "already done" compares), read from its live machine config.
 */
import type { Fingerprint } from '../domain/types.js';
import type { MachineConfigCaState } from '../machineconfig/index.js';
import type { ApiState, NodeApiStates } from '../plan/model/index.js';

export interface NodeFingerprints {
  talos: ApiState;
  kubernetes: ApiState;
}

export function fingerprintsOf(ca: MachineConfigCaState): NodeFingerprints {
  return {
    talos: { issuing: ca.talos.issuing?.fingerprint ?? null, accepted: ca.talos.accepted.map((c) => c.fingerprint) },
    kubernetes: {
      issuing: ca.kubernetes.issuing?.fingerprint ?? null,
      accepted: ca.kubernetes.accepted.map((c) => c.fingerprint),
    },
  };
}

/**
 * Same trust: the same issuing CA and the same set of accepted CAs. Order inside the accepted list carries
 * no trust (Talos builds a pool from it); a document-style worker's "current" CA is its first entry, so
 * there the first entry must match too.
 */
export function sameApiState(a: ApiState, b: ApiState): boolean {
  if (a.issuing !== b.issuing) return false;
  if (a.issuing === null && a.accepted[0] !== b.accepted[0]) return false;
  const sa = new Set<Fingerprint>(a.accepted);
  const sb = new Set<Fingerprint>(b.accepted);
  return sa.size === sb.size && [...sa].every((x) => sb.has(x));
}

/** True when the node already carries the target state of every API the step changes on it. */
export function reachedTarget(live: NodeFingerprints, target: NodeApiStates): boolean {
  return (['talos', 'kubernetes'] as const).every((api) => {
    const t = target[api];
    return !t || sameApiState(live[api], t);
  });
}
