/**
 * A node gone for good (issue 10 item 6): an unfinished run planned with a node that has since been removed
 * from the cluster and from the desired state. A resume plans without it once the cluster confirms it is
 * gone — not a Talos cluster member (discovery's `Members`) and not a Kubernetes Node — and says what it
 * checked. A node dropped from the desired state but still in the cluster is refused: a member left out of
 * a rotation loses trust when the old CA is dropped. Pure.
 */
import { RotateError } from '../domain/errors.js';
import type { NodeRole } from '../domain/types.js';
import type { KubeNodeStatus } from '../cluster/kube/nodes.js';
import type { Plan } from '../plan/model/index.js';
import type { ClusterMember } from '../talos/resources.js';

export type Presence = 'absent' | 'present' | 'unknown';

export interface DroppedNode {
  address: string;
  hostname: string;
  role: NodeRole;
  /** Whether discovery still lists it (`unknown`: the cluster gave no member list). */
  talosMember: Presence;
  /** Whether a Kubernetes Node still names it (`unknown`: Nodes could not be listed). */
  kubernetesNode: Presence;
}

/** Nodes the run's plans were based on that the desired state no longer lists, and what the cluster says of each. */
export function droppedNodes(
  runPlans: readonly Plan[],
  listed: readonly string[],
  members: readonly ClusterMember[],
  kubeNodes: readonly KubeNodeStatus[] | null,
): DroppedNode[] {
  const seen = new Map<string, Plan['basedOn']['nodes'][number]>();
  for (const p of runPlans) for (const n of p.basedOn.nodes) if (!seen.has(n.address)) seen.set(n.address, n);
  const out: DroppedNode[] = [];
  for (const n of seen.values()) {
    if (listed.includes(n.address)) continue;
    const talosMember: Presence =
      members.length === 0
        ? 'unknown'
        : members.some((m) => m.nodeId === n.nodeId || m.addresses.includes(n.address))
          ? 'present'
          : 'absent';
    const kubernetesNode: Presence =
      kubeNodes === null
        ? 'unknown'
        : kubeNodes.some((k) => k.addresses.includes(n.address) || (n.hostname !== '' && k.name === n.hostname))
          ? 'present'
          : 'absent';
    out.push({ address: n.address, hostname: n.hostname, role: n.role, talosMember, kubernetesNode });
  }
  return out;
}

/** A dropped node the cluster still has, or one nothing could be checked for, stops the resume. */
export function refuseDroppedInCluster(dropped: readonly DroppedNode[], desiredFile: string): void {
  const bad = dropped.filter(
    (d) =>
      d.talosMember === 'present' ||
      d.kubernetesNode === 'present' ||
      (d.talosMember === 'unknown' && d.kubernetesNode === 'unknown'),
  );
  if (bad.length === 0) return;
  const lines = bad.map((d) => {
    const where = [
      d.talosMember === 'present' ? 'a Talos cluster member' : null,
      d.kubernetesNode === 'present' ? 'a Kubernetes Node' : null,
    ]
      .filter(Boolean)
      .join(' and ');
    const state = where ? `still ${where}` : 'neither its Talos membership nor its Kubernetes Node could be checked';
    return `  - ${d.address}${d.hostname ? ` (${d.hostname})` : ''}: ${state}`;
  });
  throw new RotateError(
    'APPLY_DROPPED_NODE_IN_CLUSTER',
    `the unfinished run was planned with node(s) that ${desiredFile} no longer lists, ` +
      `and the cluster does not show them gone:\n${lines.join('\n')}`,
    {
      hint:
        'a node left out of a rotation loses trust when the old CA is dropped: either list it again, ' +
        'or remove it from the cluster for good (`talosctl reset` on it, `kubectl delete node`), then resume',
    },
  );
}
