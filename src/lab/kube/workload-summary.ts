/**
 * What `lab inspect --json` shows of the workloads (pure): each Deployment, DaemonSet, StatefulSet, Job and
 * bare Pod with its update strategy, generation / observedGeneration, the pod-template `restartedAt`
 * annotation, and its pods (node, when the client started, ready), ownership followed Pod → ReplicaSet →
 * Deployment.
 */
import type { Stored } from './object-store.js';
import { rolloutStatus } from './rollout.js';
import { isPodReady } from './workload-common.js';

export interface WorkloadSummary {
  kind: 'Deployment' | 'DaemonSet' | 'StatefulSet' | 'Job' | 'Pod';
  namespace: string;
  name: string;
  generation: number | null;
  observedGeneration: number | null;
  /** RollingUpdate, OnDelete, Recreate; null for Jobs and bare Pods. */
  updateStrategy: string | null;
  paused: boolean;
  /** StatefulSet RollingUpdate partition (null when none). */
  partition: number | null;
  /** The pod template's `kubectl.kubernetes.io/restartedAt` annotation (null when absent). */
  restartedAt: string | null;
  /** What `kubectl rollout status` would say now (Deployments, DaemonSets, StatefulSets; null otherwise). */
  rollout: { done: boolean; message: string } | { error: string } | null;
  pods: { name: string; node: string | null; uid: string; startedAt: string | null; ready: boolean }[];
}

export function summarizeWorkloads(objects: (resource: string) => Stored[]): WorkloadSummary[] {
  const pods = objects('pods');
  const rs = objects('replicasets');
  const ownerUid = (o: Stored): string | undefined => (o.metadata.ownerReferences ?? []).find((r) => r.controller)?.uid;
  const podEntry = (p: Stored): WorkloadSummary['pods'][number] => ({
    name: p.metadata.name,
    node: ((p.spec ?? {}) as { nodeName?: string }).nodeName ?? null,
    uid: p.metadata.uid ?? '',
    startedAt:
      (((p.status ?? {}) as { containerStatuses?: { state?: { running?: { startedAt?: string } } }[] })
        .containerStatuses ?? [])[0]?.state?.running?.startedAt ?? null,
    ready: isPodReady(p),
  });
  const podsOf = (uid: string | undefined, via?: Set<string>): WorkloadSummary['pods'] =>
    pods
      .filter((p) => {
        const owner = ownerUid(p);
        return owner !== undefined && (owner === uid || (via?.has(owner) ?? false));
      })
      .map(podEntry)
      .sort((a, b) => a.name.localeCompare(b.name));
  const out: WorkloadSummary[] = [];
  const add = (kind: WorkloadSummary['kind'], o: Stored, list: WorkloadSummary['pods']): void => {
    const spec = (o.spec ?? {}) as {
      paused?: boolean;
      strategy?: { type?: string };
      updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } };
      template?: { metadata?: { annotations?: Record<string, string> } };
    };
    out.push({
      kind,
      namespace: o.metadata.namespace ?? '',
      name: o.metadata.name,
      generation: o.metadata.generation ?? null,
      observedGeneration: ((o.status ?? {}) as { observedGeneration?: number }).observedGeneration ?? null,
      updateStrategy: spec.strategy?.type ?? spec.updateStrategy?.type ?? null,
      paused: spec.paused === true,
      partition: spec.updateStrategy?.rollingUpdate?.partition ?? null,
      restartedAt: spec.template?.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'] ?? null,
      rollout: kind === 'Deployment' || kind === 'DaemonSet' || kind === 'StatefulSet' ? rolloutStatus(kind, o) : null,
      pods: list,
    });
  };
  for (const d of objects('deployments'))
    add(
      'Deployment',
      d,
      podsOf(undefined, new Set(rs.filter((r) => ownerUid(r) === d.metadata.uid).map((r) => r.metadata.uid!))),
    );
  for (const ds of objects('daemonsets')) add('DaemonSet', ds, podsOf(ds.metadata.uid));
  for (const s of objects('statefulsets')) add('StatefulSet', s, podsOf(s.metadata.uid));
  for (const j of objects('jobs')) add('Job', j, podsOf(j.metadata.uid));
  for (const p of pods.filter((p) => ownerUid(p) === undefined)) add('Pod', p, [podEntry(p)]);
  return out.sort((a, b) =>
    (a.namespace + '/' + a.kind + '/' + a.name).localeCompare(b.namespace + '/' + b.kind + '/' + b.name),
  );
}
