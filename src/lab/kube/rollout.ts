/**
 * Rollout arithmetic of the workload controllers (pure), after kube-controller-manager's
 * `pkg/controller/deployment` (rolling.go, sync.go, util/deployment_util.go), `pkg/controller/daemon`
 * (update.go) and `pkg/controller/statefulset` (stateful_set_control.go), and the "is it done" checks
 * `kubectl rollout status` makes (`kubectl/pkg/polymorphichelpers/rollout_status.go`).
 */

export type IntOrPercent = number | string | undefined;

/** intstr.GetScaledValueFromIntOrPercent: a percentage of `total`, rounded up or down. */
export function scaled(v: IntOrPercent, total: number, roundUp: boolean, fallback: IntOrPercent): number {
  const value = v ?? fallback;
  if (typeof value === 'number') return value;
  const m = /^(\d+)%$/.exec(String(value ?? '0'));
  if (!m) return Number(value) || 0;
  const exact = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/** deployment_util.ResolveFenceposts: maxSurge rounds up, maxUnavailable down; both 0 means maxUnavailable 1. */
export function resolveFenceposts(
  replicas: number,
  maxSurge: IntOrPercent,
  maxUnavailable: IntOrPercent,
): { surge: number; unavailable: number } {
  const surge = scaled(maxSurge, replicas, true, '25%');
  let unavailable = scaled(maxUnavailable, replicas, false, '25%');
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable };
}

export interface RsCounts {
  /** spec.replicas */
  replicas: number;
  /** status.availableReplicas */
  available: number;
}

/**
 * One pass of the RollingUpdate strategy: the new ReplicaSet's next size and each old ReplicaSet's (oldest
 * first). rolling.go: reconcileNewReplicaSet, then reconcileOldReplicaSets (cleanupUnhealthyReplicas +
 * scaleDownOldReplicaSetsForRollingUpdate).
 */
export function rollingStep(
  replicas: number,
  fence: { surge: number; unavailable: number },
  newRs: RsCounts,
  oldRs: RsCounts[],
): { newReplicas: number; oldReplicas: number[] } {
  const sum = (l: RsCounts[]): number => l.reduce((a, r) => a + r.replicas, 0);
  let newReplicas = newRs.replicas;
  if (newReplicas > replicas) newReplicas = replicas;
  else if (newReplicas < replicas) {
    const maxTotal = replicas + fence.surge;
    const current = newRs.replicas + sum(oldRs);
    if (current < maxTotal) newReplicas += Math.min(maxTotal - current, replicas - newReplicas);
  }
  const old = oldRs.map((r) => r.replicas);
  if (sum(oldRs) === 0) return { newReplicas, oldReplicas: old };
  const all = newReplicas + sum(oldRs);
  const minAvailable = replicas - fence.unavailable;
  const newUnavailable = newReplicas - newRs.available;
  let maxScaledDown = all - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return { newReplicas, oldReplicas: old };
  // Unhealthy old replicas go first: removing them costs no availability.
  oldRs.forEach((r, i) => {
    const unhealthy = Math.max(0, old[i]! - r.available);
    const cut = Math.min(unhealthy, maxScaledDown);
    old[i] = old[i]! - cut;
    maxScaledDown -= cut;
  });
  const availableTotal = newRs.available + oldRs.reduce((a, r, i) => a + Math.min(r.available, old[i]!), 0);
  let budget = Math.min(availableTotal - minAvailable, maxScaledDown);
  for (let i = 0; i < old.length && budget > 0; i++) {
    const cut = Math.min(old[i]!, budget);
    old[i] = old[i]! - cut;
    budget -= cut;
  }
  return { newReplicas, oldReplicas: old };
}

/** The Recreate strategy: old ReplicaSets to 0, and the new one up only once no old pod is left. */
export function recreateStep(
  replicas: number,
  oldPods: number,
  oldRs: RsCounts[],
): { newReplicas: number | null; oldReplicas: number[] } {
  return { newReplicas: oldPods === 0 ? replicas : null, oldReplicas: oldRs.map(() => 0) };
}

/** DaemonSet RollingUpdate (maxSurge 0): how many nodes' old pods may be deleted now. */
export function daemonSetBudget(desired: number, maxUnavailable: IntOrPercent, unavailableNow: number): number {
  let max = scaled(maxUnavailable, desired, true, 1);
  if (max === 0) max = 1;
  return Math.max(0, max - unavailableNow);
}

type Status = Record<string, unknown>;
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

/**
 * `kubectl rollout status`'s verdict for an object (done + message), or an error message when it does
 * not apply (OnDelete strategies) — the same texts kubectl prints.
 */
export function rolloutStatus(
  kind: 'Deployment' | 'DaemonSet' | 'StatefulSet',
  o: { metadata: { name: string; generation?: number }; spec?: Status; status?: Status },
): { done: boolean; message: string } | { error: string } {
  const name = o.metadata.name;
  const s = o.status ?? {};
  const spec = o.spec ?? {};
  const observed = num(s.observedGeneration) >= (o.metadata.generation ?? 0);
  if (kind === 'Deployment') {
    if (!observed) return { done: false, message: 'Waiting for deployment spec update to be observed...' };
    const conds = (s.conditions ?? []) as { type: string; reason?: string }[];
    if (conds.some((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded'))
      return { error: `deployment "${name}" exceeded its progress deadline` };
    const replicas = typeof spec.replicas === 'number' ? spec.replicas : 1;
    const updated = num(s.updatedReplicas);
    if (updated < replicas)
      return {
        done: false,
        message:
          `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${replicas} new replicas have ` +
          `been updated...`,
      };
    if (num(s.replicas) > updated)
      return {
        done: false,
        message:
          `Waiting for deployment "${name}" rollout to finish: ${num(s.replicas) - updated} old replicas are ` +
          `pending termination...`,
      };
    if (num(s.availableReplicas) < updated)
      return {
        done: false,
        message:
          `Waiting for deployment "${name}" rollout to finish: ${num(s.availableReplicas)} of ${updated} ` +
          `updated replicas are available...`,
      };
    return { done: true, message: `deployment "${name}" successfully rolled out` };
  }
  const strategy = (spec.updateStrategy ?? {}) as { type?: string; rollingUpdate?: { partition?: number } };
  if (strategy.type !== 'RollingUpdate')
    return { error: 'rollout status is only available for RollingUpdate strategy type' };
  if (kind === 'DaemonSet') {
    if (!observed) return { done: false, message: 'Waiting for daemon set spec update to be observed...' };
    const desired = num(s.desiredNumberScheduled);
    if (num(s.updatedNumberScheduled) < desired)
      return {
        done: false,
        message:
          `Waiting for daemon set "${name}" rollout to finish: ${num(s.updatedNumberScheduled)} out ` +
          `of ${desired} new pods have been updated...`,
      };
    if (num(s.numberAvailable) < desired)
      return {
        done: false,
        message:
          `Waiting for daemon set "${name}" rollout to finish: ${num(s.numberAvailable)} of ${desired} updated ` +
          `pods are available...`,
      };
    return { done: true, message: `daemon set "${name}" successfully rolled out` };
  }
  if (!observed) return { done: false, message: 'Waiting for statefulset spec update to be observed...' };
  const replicas = typeof spec.replicas === 'number' ? spec.replicas : 1;
  if (num(s.readyReplicas) < replicas)
    return { done: false, message: `Waiting for ${replicas - num(s.readyReplicas)} pods to be ready...` };
  const partition = strategy.rollingUpdate?.partition;
  if (typeof partition === 'number' && partition > 0) {
    if (num(s.updatedReplicas) < replicas - partition)
      return {
        done: false,
        message:
          `Waiting for partitioned roll out to finish: ${num(s.updatedReplicas)} out of ${replicas - partition} ` +
          `new pods have been updated...`,
      };
    return {
      done: true,
      message: `partitioned roll out complete: ${num(s.updatedReplicas)} new pods have been updated...`,
    };
  }
  if (s.updateRevision !== s.currentRevision)
    return {
      done: false,
      message:
        `waiting for statefulset rolling update to complete ${num(s.updatedReplicas)} pods at ` +
        `revision ${String(s.updateRevision)}...`,
    };
  return {
    done: true,
    message:
      `statefulset rolling update complete ${num(s.currentReplicas)} pods at ` +
      `revision ${String(s.currentRevision)}...`,
  };
}
