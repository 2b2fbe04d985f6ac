/**
 * The Deployment and ReplicaSet controllers of the lab's kube-controller-manager (see workload-controller.ts):
 * one ReplicaSet per pod template, sized by the rollout strategy (rollout.ts); a ReplicaSet keeps its replicas.
 */
import { templateHash, type Stored } from './object-store.js';
import { recreateStep, resolveFenceposts, rollingStep } from './rollout.js';
import { clone, controllerRef, isPodReady, ownedBy, stamp, type Obj, type SyncContext } from './workload-common.js';

export function syncDeployment(ctx: SyncContext, d: Stored): void {
  const spec = d.spec as {
    replicas?: number;
    paused?: boolean;
    template: Obj;
    strategy?: { type?: string; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
  };
  const replicas = spec.replicas ?? 1;
  const all = ctx.store.list('replicasets', d.metadata.namespace).filter((rs) => ownedBy(rs, d.metadata.uid));
  const hash = templateHash(spec.template);
  let newRs = all.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash);
  const revisionOf = (rs: Stored): number =>
    Number(rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0);
  if (!newRs && !spec.paused) {
    const revision = Math.max(0, ...all.map(revisionOf)) + 1;
    const t = clone(spec.template) as { metadata?: { labels?: Record<string, string> } };
    t.metadata = { ...(t.metadata ?? {}), labels: { ...(t.metadata?.labels ?? {}), 'pod-template-hash': hash } };
    const selector = clone((d.spec as { selector?: { matchLabels?: Record<string, string> } }).selector ?? {});
    selector.matchLabels = { ...(selector.matchLabels ?? {}), 'pod-template-hash': hash };
    newRs =
      ctx.store.create('replicasets', {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `${d.metadata.name}-${hash}`,
          namespace: d.metadata.namespace!,
          labels: { ...(t.metadata.labels ?? {}) },
          annotations: {
            'deployment.kubernetes.io/desired-replicas': String(replicas),
            'deployment.kubernetes.io/max-replicas': String(
              replicas +
                resolveFenceposts(
                  replicas,
                  spec.strategy?.rollingUpdate?.maxSurge,
                  spec.strategy?.rollingUpdate?.maxUnavailable,
                ).surge,
            ),
            'deployment.kubernetes.io/revision': String(revision),
          },
          ownerReferences: [controllerRef(d, 'Deployment', 'apps/v1')],
        },
        spec: { replicas: 0, selector, template: t },
        status: { replicas: 0 },
      }) ?? undefined;
    if (newRs) all.push(newRs);
  }
  const counts = (rs: Stored) => ({
    replicas: (rs.spec as { replicas?: number }).replicas ?? 0,
    available: ((rs.status ?? {}) as { availableReplicas?: number }).availableReplicas ?? 0,
  });
  const old = all.filter((rs) => rs !== newRs).sort((a, b) => revisionOf(a) - revisionOf(b));
  if (newRs && !spec.paused) {
    let sizes: { newReplicas: number | null; oldReplicas: number[] };
    if (spec.strategy?.type === 'Recreate') {
      const oldPods = old.reduce((a, rs) => a + (((rs.status ?? {}) as { replicas?: number }).replicas ?? 0), 0);
      sizes = recreateStep(replicas, oldPods, old.map(counts));
    } else {
      sizes = rollingStep(
        replicas,
        resolveFenceposts(
          replicas,
          spec.strategy?.rollingUpdate?.maxSurge,
          spec.strategy?.rollingUpdate?.maxUnavailable,
        ),
        counts(newRs),
        old.map(counts),
      );
    }
    const scale = (rs: Stored, n: number): void => {
      if (counts(rs).replicas !== n) ctx.store.update('replicasets', { ...rs, spec: { ...rs.spec, replicas: n } });
    };
    old.forEach((rs, i) => scale(rs, sizes.oldReplicas[i]!));
    if (sizes.newReplicas !== null) scale(newRs, sizes.newReplicas);
    const rev = newRs.metadata.annotations?.['deployment.kubernetes.io/revision'];
    if (rev && d.metadata.annotations?.['deployment.kubernetes.io/revision'] !== rev) {
      d =
        ctx.store.update('deployments', {
          ...d,
          metadata: {
            ...d.metadata,
            annotations: { ...(d.metadata.annotations ?? {}), 'deployment.kubernetes.io/revision': rev },
          },
        }) ?? d;
    }
  }
  const st = (rs: Stored | undefined) =>
    (rs?.status ?? {}) as { replicas?: number; readyReplicas?: number; availableReplicas?: number };
  const sum = (f: (s: ReturnType<typeof st>) => number | undefined): number =>
    all.reduce((a, rs) => a + (f(st(rs)) ?? 0), 0);
  const available = sum((s) => s.availableReplicas);
  const updated = st(newRs).replicas ?? 0;
  const fence = resolveFenceposts(
    replicas,
    spec.strategy?.rollingUpdate?.maxSurge,
    spec.strategy?.rollingUpdate?.maxUnavailable,
  );
  const complete = updated === replicas && sum((s) => s.replicas) === replicas && available >= replicas;
  const prevConds = ((d.status ?? {}).conditions ?? []) as Obj[];
  const cond = (type: string, status: boolean, reason: string, message: string): Obj => {
    const prev = prevConds.find((c) => c.type === type);
    const now = stamp(new Date());
    const same = prev && prev.status === (status ? 'True' : 'False');
    const sameReason = same && prev.reason === reason;
    return {
      type,
      status: status ? 'True' : 'False',
      lastUpdateTime: sameReason ? prev.lastUpdateTime : now,
      lastTransitionTime: same ? prev.lastTransitionTime : now,
      reason,
      message,
    };
  };
  const newName = newRs?.metadata.name ?? '';
  const status: Obj = {
    observedGeneration: d.metadata.generation ?? 1,
    replicas: sum((s) => s.replicas),
    updatedReplicas: updated,
    readyReplicas: sum((s) => s.readyReplicas),
    availableReplicas: available,
    ...(Math.max(0, replicas - available) > 0 ? { unavailableReplicas: Math.max(0, replicas - available) } : {}),
    conditions: [
      available >= replicas - fence.unavailable
        ? cond('Available', true, 'MinimumReplicasAvailable', 'Deployment has minimum availability.')
        : cond('Available', false, 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.'),
      spec.paused
        ? cond('Progressing', false, 'DeploymentPaused', 'Deployment is paused')
        : complete
          ? cond('Progressing', true, 'NewReplicaSetAvailable', `ReplicaSet "${newName}" has successfully progressed.`)
          : cond('Progressing', true, 'ReplicaSetUpdated', `ReplicaSet "${newName}" is progressing.`),
    ],
  };
  for (const k of ['readyReplicas', 'availableReplicas', 'updatedReplicas', 'replicas'] as const)
    if (status[k] === 0) delete status[k];
  ctx.store.updateStatus('deployments', d.metadata.namespace, d.metadata.name, status);
}

export function syncReplicaSet(ctx: SyncContext, rs: Stored): void {
  const want = (rs.spec as { replicas?: number }).replicas ?? 1;
  const pods = ctx.podsOf(rs);
  if (pods.length < want) {
    const template = (rs.spec as { template: Obj }).template;
    for (let i = pods.length; i < want; i++) {
      const p = ctx.podFromTemplate(
        rs,
        'ReplicaSet',
        'apps/v1',
        template,
        {},
        { generateName: `${rs.metadata.name}-` },
      );
      if (p) pods.push(p);
    }
  } else if (pods.length > want) {
    // kube-controller-manager deletes unready pods first, then the newest.
    const order = [...pods].sort(
      (a, b) =>
        Number(isPodReady(a)) - Number(isPodReady(b)) ||
        String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)),
    );
    for (const p of order.slice(0, pods.length - want)) ctx.deletePod(p.metadata.namespace!, p.metadata.name);
  }
  const now = ctx.podsOf(rs);
  const ready = now.filter(isPodReady).length;
  const status: Obj = {
    replicas: now.length,
    fullyLabeledReplicas: now.length,
    readyReplicas: ready,
    availableReplicas: ready,
    observedGeneration: rs.metadata.generation ?? 1,
  };
  for (const k of ['readyReplicas', 'availableReplicas', 'fullyLabeledReplicas'] as const)
    if (status[k] === 0) delete status[k];
  ctx.store.updateStatus('replicasets', rs.metadata.namespace, rs.metadata.name, status);
}
