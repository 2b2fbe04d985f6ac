/**
 * What the lab's workload controllers (workload-controller.ts and the per-kind workload-*.ts) share: pod
 * readiness, controller ownership, node eligibility, and the context a per-kind controller syncs through.
 */
import type { LabCluster, LabNode } from '../core/model.js';
import type { ObjectStore, Stored } from './object-store.js';

export type Obj = Record<string, unknown>;
export const stamp = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
export const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export function isPodReady(pod: Stored): boolean {
  const conds = ((pod.status ?? {}).conditions ?? []) as { type: string; status: string }[];
  return conds.some((c) => c.type === 'Ready' && c.status === 'True');
}

export const ownedBy = (o: Stored, uid: string | undefined): boolean =>
  (o.metadata.ownerReferences ?? []).some((r) => r.controller && r.uid === uid);
export const controllerRef = (owner: Stored, kind: string, apiVersion: string) => ({
  apiVersion,
  kind,
  name: owner.metadata.name,
  uid: owner.metadata.uid!,
  controller: true,
  blockOwnerDeletion: true,
});

/** The labels a node carries in the lab (objects.ts nodeMetadata). */
function nodeLabels(n: LabNode): Record<string, string> {
  return {
    'kubernetes.io/hostname': n.hostname,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
    ...(n.role === 'controlplane' ? { 'node-role.kubernetes.io/control-plane': '' } : {}),
  };
}

/**
 * Whether a pod spec may run on the node: the control-plane NoSchedule taint needs a toleration; nodeSelector must
 * match.
 */
export function eligible(spec: Obj, n: LabNode): boolean {
  const tolerations = (spec.tolerations ?? []) as { key?: string; operator?: string; effect?: string }[];
  if (n.role === 'controlplane') {
    const tolerated = tolerations.some(
      (t) =>
        t.operator === 'Exists' &&
        (t.key === undefined || t.key === 'node-role.kubernetes.io/control-plane') &&
        (t.effect === undefined || t.effect === 'NoSchedule'),
    );
    if (!tolerated) return false;
  }
  const labels = nodeLabels(n);
  return Object.entries((spec.nodeSelector ?? {}) as Record<string, string>).every(([k, v]) => labels[k] === v);
}

/** What a per-kind controller needs from the WorkloadController: the store, the nodes, and its pod operations. */
export interface SyncContext {
  store: ObjectStore;
  cluster: LabCluster;
  /** StatefulSet revisions (ControllerRevisions): `<ns>/<name>` → revision name → pod template. */
  revisions: Map<string, Map<string, Obj>>;
  /** The pods the owner controls (controller ownerReference). */
  podsOf(owner: Stored): Stored[];
  /** Creates a pod from the owner's template (admitted, scheduled or placed on `nodeName`, handed to the kubelet). */
  podFromTemplate(
    owner: Stored,
    ownerKind: string,
    ownerApi: string,
    template: Obj,
    extraLabels: Record<string, string>,
    name: { name?: string; generateName?: string },
    nodeName?: string,
  ): Stored | null;
  /** Deletes a pod (its client stops at once). */
  deletePod(namespace: string, name: string): Stored | null;
}
