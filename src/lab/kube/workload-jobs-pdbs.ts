/**
 * The Job controller and the PodDisruptionBudget status of the lab's kube-controller-manager (see
 * workload-controller.ts); the Eviction API (workload-api.ts) checks the budget through `pdbState`.
 */
import { matchesSelectorObject } from './list-paging.js';
import type { ObjectStore, Stored } from './object-store.js';
import { isPodReady, stamp, type Obj, type SyncContext } from './workload-common.js';

export function syncJob(ctx: SyncContext, j: Stored): void {
  const spec = j.spec as { parallelism?: number; template: Obj };
  const labels = {
    'batch.kubernetes.io/controller-uid': j.metadata.uid!,
    'batch.kubernetes.io/job-name': j.metadata.name,
    'controller-uid': j.metadata.uid!,
    'job-name': j.metadata.name,
  };
  const pods = ctx.podsOf(j);
  for (let i = pods.length; i < (spec.parallelism ?? 1); i++)
    ctx.podFromTemplate(j, 'Job', 'batch/v1', spec.template, labels, { generateName: `${j.metadata.name}-` });
  const now = ctx.podsOf(j);
  const prev = (j.status ?? {}) as { startTime?: string };
  ctx.store.updateStatus('jobs', j.metadata.namespace, j.metadata.name, {
    startTime: prev.startTime ?? stamp(new Date()),
    active: now.length,
    ready: now.filter(isPodReady).length,
    terminating: 0,
    uncountedTerminatedPods: {},
  });
}

// ------------------------------------------------------------------------------------------------ PDBs

/** The PodDisruptionBudget's healthy count and allowance (disruption controller). */
export function pdbState(
  store: ObjectStore,
  pdb: Stored,
): { expected: number; healthy: number; desired: number; allowed: number } {
  const spec = pdb.spec as {
    minAvailable?: number | string;
    maxUnavailable?: number | string;
    selector?: Parameters<typeof matchesSelectorObject>[1];
  };
  const pods = store
    .list('pods', pdb.metadata.namespace)
    .filter((p) => matchesSelectorObject(p.metadata.labels, spec.selector));
  const expected = pods.length;
  const healthy = pods.filter(isPodReady).length;
  const pct = (v: number | string, roundUp: boolean): number => {
    if (typeof v === 'number') return v;
    const n = (Number(v.replace('%', '')) * expected) / 100;
    return roundUp ? Math.ceil(n) : Math.floor(n);
  };
  const desired =
    spec.minAvailable !== undefined
      ? pct(spec.minAvailable, true)
      : Math.max(0, expected - pct(spec.maxUnavailable ?? 0, true));
  return { expected, healthy, desired, allowed: Math.max(0, healthy - desired) };
}

export function syncPdb(ctx: SyncContext, pdb: Stored): void {
  const s = pdbState(ctx.store, pdb);
  ctx.store.updateStatus('poddisruptionbudgets', pdb.metadata.namespace, pdb.metadata.name, {
    observedGeneration: pdb.metadata.generation ?? 1,
    disruptionsAllowed: s.allowed,
    currentHealthy: s.healthy,
    desiredHealthy: s.desired,
    expectedPods: s.expected,
  });
}
