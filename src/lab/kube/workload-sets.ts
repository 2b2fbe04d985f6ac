/**
 * The DaemonSet and StatefulSet controllers of the lab's kube-controller-manager (see workload-controller.ts):
 * a pod per eligible node; ordered pods `<name>-<ordinal>` with revisions and a partition.
 */
import { templateHash, type Stored } from './object-store.js';
import { daemonSetBudget } from './rollout.js';
import { clone, eligible, isPodReady, type Obj, type SyncContext } from './workload-common.js';

export function syncDaemonSet(ctx: SyncContext, ds: Stored): void {
  const spec = ds.spec as {
    template: { spec?: Obj };
    updateStrategy?: { type?: string; rollingUpdate?: { maxUnavailable?: number | string } };
  };
  const hash = templateHash(spec.template);
  const nodes = ctx.cluster.nodes.filter((n) => eligible(spec.template.spec ?? {}, n));
  // Indexed by node: a large lab runs a pod per node and passes are frequent.
  const byNode = (list: Stored[]): Map<string, Stored[]> => {
    const m = new Map<string, Stored[]>();
    for (const p of list) {
      const nn = (p.spec as { nodeName?: string }).nodeName ?? '';
      const l = m.get(nn);
      if (l) l.push(p);
      else m.set(nn, [p]);
    }
    return m;
  };
  const pods = ctx.podsOf(ds);
  const index = byNode(pods);
  for (const n of nodes) {
    if (!index.has(n.hostname)) {
      const p = ctx.podFromTemplate(
        ds,
        'DaemonSet',
        'apps/v1',
        spec.template,
        { 'controller-revision-hash': hash, 'pod-template-generation': String(ds.metadata.generation ?? 1) },
        { generateName: `${ds.metadata.name}-` },
        n.hostname,
      );
      if (p) {
        pods.push(p);
        index.set(n.hostname, [p]);
      }
    }
  }
  if (spec.updateStrategy?.type !== 'OnDelete') {
    const unavailable = nodes.filter((n) => !(index.get(n.hostname) ?? []).some(isPodReady)).length;
    const old = pods.filter((p) => p.metadata.labels?.['controller-revision-hash'] !== hash);
    // Old pods that are not ready cost nothing; then old ready ones within maxUnavailable.
    for (const p of old.filter((p) => !isPodReady(p))) ctx.deletePod(p.metadata.namespace!, p.metadata.name);
    let budget = daemonSetBudget(nodes.length, spec.updateStrategy?.rollingUpdate?.maxUnavailable, unavailable);
    for (const p of old.filter(isPodReady)) {
      if (budget <= 0) break;
      ctx.deletePod(p.metadata.namespace!, p.metadata.name);
      budget -= 1;
    }
  }
  const now = byNode(ctx.podsOf(ds));
  const scheduled = nodes.filter((n) => now.has(n.hostname));
  const readyNodes = nodes.filter((n) => now.get(n.hostname)?.some(isPodReady));
  const updatedNodes = nodes.filter((n) =>
    now.get(n.hostname)?.some((p) => p.metadata.labels?.['controller-revision-hash'] === hash),
  );
  const status: Obj = {
    currentNumberScheduled: scheduled.length,
    numberMisscheduled: 0,
    desiredNumberScheduled: nodes.length,
    numberReady: readyNodes.length,
    observedGeneration: ds.metadata.generation ?? 1,
    updatedNumberScheduled: updatedNodes.length,
    numberAvailable: readyNodes.length,
    ...(nodes.length - readyNodes.length > 0 ? { numberUnavailable: nodes.length - readyNodes.length } : {}),
  };
  ctx.store.updateStatus('daemonsets', ds.metadata.namespace, ds.metadata.name, status);
}

// ---------------------------------------------------------------------------------------- statefulsets

export function syncStatefulSet(ctx: SyncContext, s: Stored): void {
  const spec = s.spec as {
    replicas?: number;
    template: Obj;
    updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } };
  };
  const replicas = spec.replicas ?? 1;
  const key = `${s.metadata.namespace}/${s.metadata.name}`;
  let revisions = ctx.revisions.get(key);
  if (!revisions) ctx.revisions.set(key, (revisions = new Map()));
  const updateRevision = `${s.metadata.name}-${templateHash(spec.template)}`;
  revisions.set(updateRevision, clone(spec.template));
  const prevStatus = (s.status ?? {}) as { currentRevision?: string };
  let currentRevision =
    prevStatus.currentRevision && revisions.has(prevStatus.currentRevision)
      ? prevStatus.currentRevision
      : updateRevision;
  const rolling = spec.updateStrategy?.type !== 'OnDelete';
  const partition = rolling ? (spec.updateStrategy?.rollingUpdate?.partition ?? 0) : 0;
  const pods = ctx.podsOf(s);
  const byOrdinal = new Map<number, Stored>();
  for (const p of pods) {
    const ord = Number(p.metadata.name.slice(s.metadata.name.length + 1));
    if (ord >= replicas) ctx.deletePod(p.metadata.namespace!, p.metadata.name);
    else byOrdinal.set(ord, p);
  }
  // OrderedReady: create the first missing ordinal once every lower one is ready.
  for (let i = 0; i < replicas; i++) {
    const p = byOrdinal.get(i);
    if (p) {
      if (!isPodReady(p)) break;
      continue;
    }
    const revision = rolling && i < partition ? currentRevision : updateRevision;
    const created = ctx.podFromTemplate(
      s,
      'StatefulSet',
      'apps/v1',
      revisions.get(revision)!,
      {
        'controller-revision-hash': revision,
        'statefulset.kubernetes.io/pod-name': `${s.metadata.name}-${i}`,
        'apps.kubernetes.io/pod-index': String(i),
      },
      { name: `${s.metadata.name}-${i}` },
    );
    if (created) byOrdinal.set(i, created);
    break;
  }
  const all = [...byOrdinal.values()];
  if (rolling && all.length === replicas && all.every(isPodReady)) {
    for (let i = replicas - 1; i >= partition; i--) {
      const p = byOrdinal.get(i)!;
      if (p.metadata.labels?.['controller-revision-hash'] !== updateRevision) {
        ctx.deletePod(p.metadata.namespace!, p.metadata.name);
        byOrdinal.delete(i);
        break;
      }
    }
  }
  const now = [...byOrdinal.values()];
  const rev = (p: Stored): string | undefined => p.metadata.labels?.['controller-revision-hash'];
  const ready = now.filter(isPodReady).length;
  const updated = now.filter((p) => rev(p) === updateRevision).length;
  if (rolling && updated === replicas && ready === replicas) currentRevision = updateRevision;
  const status: Obj = {
    observedGeneration: s.metadata.generation ?? 1,
    replicas: now.length,
    readyReplicas: ready,
    currentReplicas: now.filter((p) => rev(p) === currentRevision).length,
    updatedReplicas: updated,
    currentRevision,
    updateRevision,
    collisionCount: 0,
    availableReplicas: ready,
  };
  ctx.store.updateStatus('statefulsets', s.metadata.namespace, s.metadata.name, status);
}
