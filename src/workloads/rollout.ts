/**
 * The rollout restart the tool does for workloads that hold the old Kubernetes API CA, as pure decisions:
 * which action the desired state asks for a workload, whether a rollout restart does anything for it,
 * the patch `kubectl rollout restart` sends, and when the rollout is complete as `kubectl rollout status`
 * reads it (kubectl `polymorphichelpers/rollout_status.go`, `objectrestarter.go`). No I/O.
 */
import type { EvictableKind, WorkloadAction, WorkloadPolicy } from '../desired/types.js';
import type { StaleWorkload } from '../plan/model/index.js';

export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';

export type RestartableKind = 'Deployment' | 'DaemonSet' | 'StatefulSet';

export function isRestartable(kind: string): kind is RestartableKind {
  return kind === 'Deployment' || kind === 'DaemonSet' || kind === 'StatefulSet';
}

/**
 * The action for a workload: `override` (`rotate apply --workloads`) for every namespace, else the first
 * selector rule whose labels (and namespace, if it names one) match the workload's pod labels, else the
 * namespace's entry, else the section's default, else `report`.
 */
export function workloadAction(
  policy: WorkloadPolicy | undefined,
  override: 'restart' | 'report' | undefined,
  w: { namespace: string; labels?: Record<string, string> },
): WorkloadAction {
  if (override) return override;
  if (!policy) return 'report';
  const labels = w.labels ?? {};
  for (const rule of policy.selectors) {
    if (rule.namespace !== undefined && rule.namespace !== w.namespace) continue;
    if (Object.entries(rule.matchLabels).every(([k, v]) => labels[k] === v)) return rule.action;
  }
  return policy.namespaces[w.namespace] ?? policy.default;
}

/** The parts of a Deployment / DaemonSet / StatefulSet that decide a rollout and its completion. */
export interface WorkloadObject {
  metadata?: { generation?: number; annotations?: Record<string, string> };
  spec?: {
    replicas?: number;
    paused?: boolean;
    updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } };
    template?: { metadata?: { annotations?: Record<string, string> } };
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
    desiredNumberScheduled?: number;
    updatedNumberScheduled?: number;
    numberAvailable?: number;
    conditions?: { type?: string; status?: string; reason?: string }[];
  };
}

/**
 * Why a rollout restart would not replace this workload's pods, or null when it does: a paused
 * Deployment rolls nothing out until resumed; `OnDelete` replaces a pod only when it is deleted; a
 * StatefulSet partition keeps the pods below it on the old revision.
 */
export function restartBlocker(kind: RestartableKind, obj: WorkloadObject): string | null {
  if (kind === 'Deployment' && obj.spec?.paused)
    return 'the Deployment is paused: a rollout restart waits until `kubectl rollout resume`';
  if (kind !== 'Deployment' && obj.spec?.updateStrategy?.type === 'OnDelete') {
    return `the ${kind} uses the OnDelete update strategy: its pods are replaced only when deleted`;
  }
  const partition = obj.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
  if (kind === 'StatefulSet' && partition > 0)
    return `the StatefulSet has a rolling-update partition of ${partition}: pods with an ordinal below it keep running`;
  return null;
}

/** The strategic-merge patch of `kubectl rollout restart` (pod-template annotation; the API merges it). */
export function restartPatch(restartedAt: string): {
  spec: { template: { metadata: { annotations: Record<string, string> } } };
} {
  return { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: restartedAt } } } } };
}

/** The restart annotation the workload's pod template carries now (null: none). */
export function restartedAtOf(obj: WorkloadObject): string | null {
  return obj.spec?.template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION] ?? null;
}

export type RolloutState = { done: true } | { done: false; waiting: string } | { done: false; failed: string };

/** Whether the rollout is complete, as `kubectl rollout status` decides it. */
export function rolloutState(kind: RestartableKind, obj: WorkloadObject): RolloutState {
  const gen = obj.metadata?.generation ?? 0;
  const s = obj.status ?? {};
  const observed = s.observedGeneration ?? 0;
  if (kind === 'Deployment') {
    if (gen > observed) return { done: false, waiting: 'waiting for the rollout to be observed' };
    if ((s.conditions ?? []).some((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded'))
      return { done: false, failed: 'the rollout exceeded its progress deadline' };
    const want = obj.spec?.replicas ?? 1;
    const updated = s.updatedReplicas ?? 0;
    if (updated < want) return { done: false, waiting: `${updated} of ${want} new replicas updated` };
    if ((s.replicas ?? 0) > updated)
      return { done: false, waiting: `${(s.replicas ?? 0) - updated} old replicas pending termination` };
    if ((s.availableReplicas ?? 0) < updated)
      return { done: false, waiting: `${s.availableReplicas ?? 0} of ${updated} updated replicas available` };
    return { done: true };
  }
  if (kind === 'DaemonSet') {
    if (gen > observed) return { done: false, waiting: 'waiting for the rollout to be observed' };
    const want = s.desiredNumberScheduled ?? 0;
    if ((s.updatedNumberScheduled ?? 0) < want)
      return { done: false, waiting: `${s.updatedNumberScheduled ?? 0} of ${want} updated pods scheduled` };
    if ((s.numberAvailable ?? 0) < want)
      return { done: false, waiting: `${s.numberAvailable ?? 0} of ${want} updated pods available` };
    return { done: true };
  }
  if (observed === 0 || gen > observed)
    return { done: false, waiting: 'waiting for the StatefulSet spec update to be observed' };
  const want = obj.spec?.replicas ?? 1;
  if ((s.readyReplicas ?? 0) < want) return { done: false, waiting: `${s.readyReplicas ?? 0} of ${want} pods ready` };
  const partition = obj.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
  if (partition > 0) {
    const needed = want - partition;
    if ((s.updatedReplicas ?? 0) < needed)
      return { done: false, waiting: `${s.updatedReplicas ?? 0} of ${needed} pods updated (partition)` };
    return { done: true };
  }
  if (s.updateRevision !== s.currentRevision)
    return { done: false, waiting: `${s.updatedReplicas ?? 0} pods at the new revision` };
  return { done: true };
}

/** Split `items` into batches of at most `size` (at least 1), in order. */
export function batches<T>(items: readonly T[], size: number): T[][] {
  const n = Math.max(1, Math.floor(size));
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += n) out.push(items.slice(i, i + n));
  return out;
}

/** A stale workload with the action the desired state (or `--workloads`) gives it. */
export interface WorkloadDecision {
  workload: StaleWorkload;
  /** `evict`: `restart` asked for pods no rollout restart reaches, and the section's `evict` names their kind. */
  action: WorkloadAction | 'evict';
  /** `restart` asked but not done: not a Deployment/DaemonSet/StatefulSet, or `blocked`; reported with this. */
  reportReason?: string;
  /** `restart` asked for a workload a rollout restart does nothing for (`workload.blocker`): reported as blocked. */
  blocked?: true;
}

export function decide(
  workloads: readonly StaleWorkload[],
  policy: WorkloadPolicy | undefined,
  override: 'restart' | 'report' | undefined,
): WorkloadDecision[] {
  return workloads.map((w) => {
    const action = workloadAction(policy, override, w);
    if (action === 'restart' && isRestartable(w.kind) && w.blocker)
      return { workload: w, action: 'report', reportReason: w.blocker, blocked: true };
    if (action === 'restart' && !isRestartable(w.kind) && (policy?.evict ?? []).includes(w.kind as EvictableKind))
      return { workload: w, action: 'evict' };
    if (action === 'restart' && !isRestartable(w.kind)) {
      const what =
        w.kind === 'Pod'
          ? 'a bare pod'
          : w.kind === 'Job'
            ? "a Job's pods"
            : `pods of ${w.controller ?? 'another controller'}`;
      return {
        workload: w,
        action: 'report',
        reportReason:
          `${what}: a rollout restart does not apply; evict the pods by hand, ` +
          `or name ${w.kind} in the workloads section's \`evict\``,
      };
    }
    return { workload: w, action };
  });
}
