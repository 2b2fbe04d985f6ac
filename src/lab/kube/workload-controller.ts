/**
 * The workload controllers of the lab's kube-controller-manager (and the parts of kube-apiserver and the
 * scheduler that pods need), over the ObjectStore:
 *
 * - Deployment: one ReplicaSet per pod template (`<name>-<pod-template-hash>`, revision annotation), sized
 *   by the RollingUpdate (maxSurge/maxUnavailable) or Recreate strategy (rollout.ts); a paused Deployment
 *   creates no new ReplicaSet. ReplicaSet: keeps `spec.replicas` pods (so an evicted pod comes back, from
 *   the ReplicaSet's template). Pods → ReplicaSet → Deployment through controller ownerReferences.
 * - DaemonSet: one pod per eligible node (taints/tolerations, nodeSelector); RollingUpdate deletes old pods
 *   within maxUnavailable and the next pass creates the new one; OnDelete replaces only pods that are gone.
 * - StatefulSet: pods `<name>-<ordinal>` created in order once the lower ones are ready; RollingUpdate
 *   deletes, from the highest ordinal down to `partition`, one pod whose revision is not the update
 *   revision at a time; pods below the partition are (re)created from the current revision.
 * - Job: keeps `parallelism` pods running (the lab's clients never complete).
 * - PodDisruptionBudget status (healthy pods, disruptionsAllowed), which the Eviction API checks.
 *
 * Each status carries `observedGeneration` and the counters `kubectl rollout status` reads. Progress is
 * event-driven: any store change or client start/stop schedules a pass over every workload; a created pod
 * becomes Running and Ready when the kubelet has started its client (pods.ts), which loads the `ca.crt`
 * current then. Pods are admitted as kube-apiserver's ServiceAccount admission does: the
 * `kube-api-access-<5>` projected volume (token, kube-root-ca.crt `ca.crt`, namespace) mounted in every container.
 */
import type { LabCluster, LabNode } from '../core/model.js';
import { matchesSelectorObject } from './list-paging.js';
import { randomSuffix, templateHash, type ObjectStore, type Stored } from './object-store.js';
import type { PodFleet } from './pods.js';
import { daemonSetBudget, recreateStep, resolveFenceposts, rollingStep } from './rollout.js';
import { CLIENT_ANNOTATION } from './workloads.js';

type Obj = Record<string, unknown>;
const stamp = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export const SA_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

export function isPodReady(pod: Stored): boolean {
  const conds = ((pod.status ?? {}).conditions ?? []) as { type: string; status: string }[];
  return conds.some((c) => c.type === 'Ready' && c.status === 'True');
}

const ownedBy = (o: Stored, uid: string | undefined): boolean =>
  (o.metadata.ownerReferences ?? []).some((r) => r.controller && r.uid === uid);
const controllerRef = (owner: Stored, kind: string, apiVersion: string) => ({
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

/** Whether a pod spec may run on the node: the control-plane NoSchedule taint needs a toleration; nodeSelector must match. */
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

export class WorkloadController {
  readonly #store: ObjectStore;
  readonly #fleet: PodFleet;
  readonly #cluster: LabCluster;
  readonly #off: Array<() => void> = [];
  /** StatefulSet revisions (ControllerRevisions): `<ns>/<name>` → revision name → pod template. */
  readonly #revisions = new Map<string, Map<string, Obj>>();
  #scheduled = false;
  #stopped = false;
  /** Pod IPs: each node's pod CIDR is 10.244.<node index>.0/24, as the lab's flannel would hand out. */
  readonly #podIps = new Map<string, string>();
  readonly #nextIp = new Map<LabNode, number>();

  constructor(store: ObjectStore, fleet: PodFleet, cluster: LabCluster) {
    this.#store = store;
    this.#fleet = fleet;
    this.#cluster = cluster;
    this.#off.push(store.subscribe(() => this.#schedule()));
    this.#off.push(fleet.onChange((uid) => this.#podChanged(uid)));
  }

  stop(): void {
    this.#stopped = true;
    for (const off of this.#off) off();
  }

  /** Creates an object as a client would (pods are admitted and handed to the kubelet). */
  create(resource: string, object: Stored): Stored | null {
    if (resource === 'pods') return this.#createPod(object);
    return this.#store.create(resource, object);
  }

  #schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (!this.#stopped) this.#pass();
    });
  }

  /** Runs a pass at once (tests and start-up). */
  reconcile(): void {
    this.#pass();
  }

  #pass(): void {
    for (const d of this.#store.list('deployments')) this.#syncDeployment(d);
    for (const rs of this.#store.list('replicasets')) this.#syncReplicaSet(rs);
    for (const ds of this.#store.list('daemonsets')) this.#syncDaemonSet(ds);
    for (const s of this.#store.list('statefulsets')) this.#syncStatefulSet(s);
    for (const j of this.#store.list('jobs')) this.#syncJob(j);
    for (const p of this.#store.list('poddisruptionbudgets')) this.#syncPdb(p);
  }

  // ------------------------------------------------------------------------------------------------ pods

  #podChanged(uid: string): void {
    const pod = this.#store.list('pods').find((p) => p.metadata.uid === uid);
    const state = this.#fleet.state(uid);
    if (!pod || !state) return;
    const status = clone(pod.status ?? {});
    const ready = state.running;
    const started = state.startedAt ? stamp(state.startedAt) : null;
    const prevReady = isPodReady(pod);
    const transition = prevReady === ready ? undefined : stamp(new Date());
    const cond = (type: string, s: boolean): Obj => {
      const prev = ((status.conditions ?? []) as Obj[]).find((c) => c.type === type);
      return {
        type,
        status: s ? 'True' : 'False',
        lastProbeTime: null,
        lastTransitionTime:
          prev && prev.status === (s ? 'True' : 'False') ? prev.lastTransitionTime : (transition ?? stamp(new Date())),
      };
    };
    status.phase = started ? 'Running' : 'Pending';
    status.conditions = [
      cond('PodReadyToStartContainers', started !== null),
      cond('Initialized', true),
      cond('Ready', ready),
      cond('ContainersReady', ready),
      cond('PodScheduled', true),
    ];
    if (started && !status.startTime) status.startTime = started;
    const ip = this.#podIps.get(uid);
    if (started && ip) {
      status.podIP = ip;
      status.podIPs = [{ ip }];
    }
    const containers = ((pod.spec?.containers ?? []) as { name: string; image: string }[]).map((c) => ({
      name: c.name,
      image: c.image,
      imageID: `${c.image.split(':')[0]}@sha256:${'0'.repeat(64)}`,
      containerID: `containerd://${(pod.metadata.uid ?? '').replace(/-/g, '')}${String(state.starts).padStart(4, '0')}`,
      ready,
      started: ready,
      restartCount: Math.max(0, state.starts - 1),
      state:
        ready && started
          ? { running: { startedAt: started } }
          : started
            ? { terminated: { exitCode: 255, reason: 'Unknown', startedAt: started } }
            : { waiting: { reason: 'ContainerCreating' } },
    }));
    status.containerStatuses = containers;
    this.#store.updateStatus('pods', pod.metadata.namespace, pod.metadata.name, status);
  }

  /** Pick a node for a pod without one, as the scheduler would: eligible, up, fewest pods. */
  #scheduleNode(spec: Obj): LabNode | null {
    const candidates = this.#cluster.nodes.filter((n) => eligible(spec, n));
    const up = candidates.filter((n) => !n.isDown);
    const pool = up.length > 0 ? up : candidates;
    if (pool.length === 0) return null;
    const load = new Map<string, number>();
    for (const p of this.#store.list('pods')) {
      const nn = (p.spec as { nodeName?: string } | undefined)?.nodeName;
      if (nn) load.set(nn, (load.get(nn) ?? 0) + 1);
    }
    return [...pool].sort((a, b) => (load.get(a.hostname) ?? 0) - (load.get(b.hostname) ?? 0))[0]!;
  }

  /** Admission (ServiceAccount plugin) + scheduling + the kubelet taking the pod. */
  #createPod(object: Stored): Stored | null {
    const pod = clone(object);
    pod.apiVersion = 'v1';
    pod.kind = 'Pod';
    const spec = (pod.spec ??= {}) as Obj;
    spec.serviceAccountName ??= 'default';
    spec.serviceAccount = spec.serviceAccountName;
    spec.enableServiceLinks ??= true;
    spec.priority ??= 0;
    spec.preemptionPolicy ??= 'PreemptLowerPriority';
    const volumes = (spec.volumes ??= []) as Obj[];
    if (!volumes.some((v) => String(v.name).startsWith('kube-api-access-'))) {
      const name = `kube-api-access-${randomSuffix()}`;
      volumes.push({
        name,
        projected: {
          defaultMode: 420,
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
            {
              downwardAPI: {
                items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
              },
            },
          ],
        },
      });
      for (const c of (spec.containers ?? []) as Obj[]) {
        const mounts = (c.volumeMounts ??= []) as Obj[];
        mounts.push({ name, readOnly: true, mountPath: SA_MOUNT_PATH });
      }
    }
    spec.tolerations = [
      ...((spec.tolerations ?? []) as Obj[]),
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ];
    let node =
      typeof spec.nodeName === 'string'
        ? (this.#cluster.nodes.find((n) => n.hostname === spec.nodeName) ?? null)
        : null;
    node ??= this.#scheduleNode(spec);
    if (node) spec.nodeName = node.hostname;
    pod.status = {
      phase: 'Pending',
      qosClass: 'BestEffort',
      ...(node ? { hostIP: node.address, hostIPs: [{ ip: node.address }] } : {}),
    };
    const stored = this.#store.create('pods', pod);
    if (!stored) return null;
    if (node) {
      const n = (this.#nextIp.get(node) ?? 0) + 1;
      this.#nextIp.set(node, n);
      this.#podIps.set(stored.metadata.uid!, `10.244.${this.#cluster.nodes.indexOf(node)}.${1 + ((n - 1) % 254)}`);
      const annotations = stored.metadata.annotations ?? {};
      this.#fleet.add({
        uid: stored.metadata.uid!,
        namespace: stored.metadata.namespace ?? 'default',
        name: stored.metadata.name,
        node,
        reloads: annotations[CLIENT_ANNOTATION] === 'reloading',
      });
    }
    return stored;
  }

  /** Deletes a pod (its client stops at once: the lab skips the grace period). */
  deletePod(namespace: string, name: string): Stored | null {
    const gone = this.#store.delete('pods', namespace, name);
    if (gone) {
      this.#fleet.remove(gone.metadata.uid!);
      this.#podIps.delete(gone.metadata.uid!);
    }
    return gone;
  }

  #podFromTemplate(
    owner: Stored,
    ownerKind: string,
    ownerApi: string,
    template: Obj,
    extraLabels: Record<string, string>,
    name: { name?: string; generateName?: string },
    nodeName?: string,
  ): Stored | null {
    const t = clone(template) as {
      metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec?: Obj;
    };
    const spec = clone(t.spec ?? {});
    if (nodeName) spec.nodeName = nodeName;
    return this.#createPod({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        ...name,
        name: name.name ?? '',
        namespace: owner.metadata.namespace!,
        labels: { ...(t.metadata?.labels ?? {}), ...extraLabels },
        annotations: { ...(t.metadata?.annotations ?? {}) },
        ownerReferences: [controllerRef(owner, ownerKind, ownerApi)],
      },
      spec,
    });
  }

  #podsOf(owner: Stored): Stored[] {
    return this.#store.list('pods', owner.metadata.namespace).filter((p) => ownedBy(p, owner.metadata.uid));
  }

  // ------------------------------------------------------------------------------------------ deployments

  #syncDeployment(d: Stored): void {
    const spec = d.spec as {
      replicas?: number;
      paused?: boolean;
      template: Obj;
      strategy?: { type?: string; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
    };
    const replicas = spec.replicas ?? 1;
    const all = this.#store.list('replicasets', d.metadata.namespace).filter((rs) => ownedBy(rs, d.metadata.uid));
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
        this.#store.create('replicasets', {
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
        if (counts(rs).replicas !== n) this.#store.update('replicasets', { ...rs, spec: { ...rs.spec, replicas: n } });
      };
      old.forEach((rs, i) => scale(rs, sizes.oldReplicas[i]!));
      if (sizes.newReplicas !== null) scale(newRs, sizes.newReplicas);
      const rev = newRs.metadata.annotations?.['deployment.kubernetes.io/revision'];
      if (rev && d.metadata.annotations?.['deployment.kubernetes.io/revision'] !== rev) {
        d =
          this.#store.update('deployments', {
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
            ? cond(
                'Progressing',
                true,
                'NewReplicaSetAvailable',
                `ReplicaSet "${newName}" has successfully progressed.`,
              )
            : cond('Progressing', true, 'ReplicaSetUpdated', `ReplicaSet "${newName}" is progressing.`),
      ],
    };
    for (const k of ['readyReplicas', 'availableReplicas', 'updatedReplicas', 'replicas'] as const)
      if (status[k] === 0) delete status[k];
    this.#store.updateStatus('deployments', d.metadata.namespace, d.metadata.name, status);
  }

  #syncReplicaSet(rs: Stored): void {
    const want = (rs.spec as { replicas?: number }).replicas ?? 1;
    const pods = this.#podsOf(rs);
    if (pods.length < want) {
      const template = (rs.spec as { template: Obj }).template;
      for (let i = pods.length; i < want; i++) {
        const p = this.#podFromTemplate(
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
      for (const p of order.slice(0, pods.length - want)) this.deletePod(p.metadata.namespace!, p.metadata.name);
    }
    const now = this.#podsOf(rs);
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
    this.#store.updateStatus('replicasets', rs.metadata.namespace, rs.metadata.name, status);
  }

  // ------------------------------------------------------------------------------------------ daemonsets

  #syncDaemonSet(ds: Stored): void {
    const spec = ds.spec as {
      template: { spec?: Obj };
      updateStrategy?: { type?: string; rollingUpdate?: { maxUnavailable?: number | string } };
    };
    const hash = templateHash(spec.template);
    const nodes = this.#cluster.nodes.filter((n) => eligible(spec.template.spec ?? {}, n));
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
    const pods = this.#podsOf(ds);
    const index = byNode(pods);
    for (const n of nodes) {
      if (!index.has(n.hostname)) {
        const p = this.#podFromTemplate(
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
      for (const p of old.filter((p) => !isPodReady(p))) this.deletePod(p.metadata.namespace!, p.metadata.name);
      let budget = daemonSetBudget(nodes.length, spec.updateStrategy?.rollingUpdate?.maxUnavailable, unavailable);
      for (const p of old.filter(isPodReady)) {
        if (budget <= 0) break;
        this.deletePod(p.metadata.namespace!, p.metadata.name);
        budget -= 1;
      }
    }
    const now = byNode(this.#podsOf(ds));
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
    this.#store.updateStatus('daemonsets', ds.metadata.namespace, ds.metadata.name, status);
  }

  // ---------------------------------------------------------------------------------------- statefulsets

  #syncStatefulSet(s: Stored): void {
    const spec = s.spec as {
      replicas?: number;
      template: Obj;
      updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } };
    };
    const replicas = spec.replicas ?? 1;
    const key = `${s.metadata.namespace}/${s.metadata.name}`;
    let revisions = this.#revisions.get(key);
    if (!revisions) this.#revisions.set(key, (revisions = new Map()));
    const updateRevision = `${s.metadata.name}-${templateHash(spec.template)}`;
    revisions.set(updateRevision, clone(spec.template));
    const prevStatus = (s.status ?? {}) as { currentRevision?: string };
    let currentRevision =
      prevStatus.currentRevision && revisions.has(prevStatus.currentRevision)
        ? prevStatus.currentRevision
        : updateRevision;
    const rolling = spec.updateStrategy?.type !== 'OnDelete';
    const partition = rolling ? (spec.updateStrategy?.rollingUpdate?.partition ?? 0) : 0;
    const pods = this.#podsOf(s);
    const byOrdinal = new Map<number, Stored>();
    for (const p of pods) {
      const ord = Number(p.metadata.name.slice(s.metadata.name.length + 1));
      if (ord >= replicas) this.deletePod(p.metadata.namespace!, p.metadata.name);
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
      const created = this.#podFromTemplate(
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
          this.deletePod(p.metadata.namespace!, p.metadata.name);
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
    this.#store.updateStatus('statefulsets', s.metadata.namespace, s.metadata.name, status);
  }

  // ---------------------------------------------------------------------------------------------- jobs

  #syncJob(j: Stored): void {
    const spec = j.spec as { parallelism?: number; template: Obj };
    const labels = {
      'batch.kubernetes.io/controller-uid': j.metadata.uid!,
      'batch.kubernetes.io/job-name': j.metadata.name,
      'controller-uid': j.metadata.uid!,
      'job-name': j.metadata.name,
    };
    const pods = this.#podsOf(j);
    for (let i = pods.length; i < (spec.parallelism ?? 1); i++)
      this.#podFromTemplate(j, 'Job', 'batch/v1', spec.template, labels, { generateName: `${j.metadata.name}-` });
    const now = this.#podsOf(j);
    const prev = (j.status ?? {}) as { startTime?: string };
    this.#store.updateStatus('jobs', j.metadata.namespace, j.metadata.name, {
      startTime: prev.startTime ?? stamp(new Date()),
      active: now.length,
      ready: now.filter(isPodReady).length,
      terminating: 0,
      uncountedTerminatedPods: {},
    });
  }

  // ------------------------------------------------------------------------------------------------ PDBs

  /** The PodDisruptionBudget's healthy count and allowance (disruption controller). */
  pdbState(pdb: Stored): { expected: number; healthy: number; desired: number; allowed: number } {
    const spec = pdb.spec as {
      minAvailable?: number | string;
      maxUnavailable?: number | string;
      selector?: Parameters<typeof matchesSelectorObject>[1];
    };
    const pods = this.#store
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

  #syncPdb(pdb: Stored): void {
    const s = this.pdbState(pdb);
    this.#store.updateStatus('poddisruptionbudgets', pdb.metadata.namespace, pdb.metadata.name, {
      observedGeneration: pdb.metadata.generation ?? 1,
      disruptionsAllowed: s.allowed,
      currentHealthy: s.healthy,
      desiredHealthy: s.desired,
      expectedPods: s.expected,
    });
  }
}
