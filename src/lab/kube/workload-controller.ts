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
 *
 * This file holds the pods (admission, scheduling, status, deletion) and the pass over every workload; each
 * kind's controller is in workload-deployments.ts, workload-sets.ts or workload-jobs-pdbs.ts.
 */
import type { LabCluster, LabNode } from '../core/model.js';
import { randomSuffix, type ObjectStore, type Stored } from './object-store.js';
import type { PodFleet } from './pods.js';
import {
  clone,
  controllerRef,
  eligible,
  isPodReady,
  ownedBy,
  stamp,
  type Obj,
  type SyncContext,
} from './workload-common.js';
import { syncDeployment, syncReplicaSet } from './workload-deployments.js';
import { pdbState, syncJob, syncPdb } from './workload-jobs-pdbs.js';
import { syncDaemonSet, syncStatefulSet } from './workload-sets.js';
import { CLIENT_ANNOTATION } from './workloads.js';

export const SA_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

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
  /** What the per-kind controllers (workload-deployments.ts, workload-sets.ts, workload-jobs-pdbs.ts) sync through. */
  readonly #ctx: SyncContext;

  constructor(store: ObjectStore, fleet: PodFleet, cluster: LabCluster) {
    this.#store = store;
    this.#fleet = fleet;
    this.#cluster = cluster;
    this.#ctx = {
      store,
      cluster,
      revisions: this.#revisions,
      podsOf: (owner) => this.#podsOf(owner),
      podFromTemplate: this.#podFromTemplate,
      deletePod: (namespace, name) => this.deletePod(namespace, name),
    };
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
    for (const d of this.#store.list('deployments')) syncDeployment(this.#ctx, d);
    for (const rs of this.#store.list('replicasets')) syncReplicaSet(this.#ctx, rs);
    for (const ds of this.#store.list('daemonsets')) syncDaemonSet(this.#ctx, ds);
    for (const s of this.#store.list('statefulsets')) syncStatefulSet(this.#ctx, s);
    for (const j of this.#store.list('jobs')) syncJob(this.#ctx, j);
    for (const p of this.#store.list('poddisruptionbudgets')) syncPdb(this.#ctx, p);
  }

  /** The PodDisruptionBudget's healthy count and allowance (disruption controller). */
  pdbState(pdb: Stored): { expected: number; healthy: number; desired: number; allowed: number } {
    return pdbState(this.#store, pdb);
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

  /** SyncContext.podFromTemplate (the signature is stated there). */
  readonly #podFromTemplate: SyncContext['podFromTemplate'] = (
    owner,
    ownerKind,
    ownerApi,
    template,
    extraLabels,
    name,
    nodeName,
  ) => {
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
  };

  #podsOf(owner: Stored): Stored[] {
    return this.#store.list('pods', owner.metadata.namespace).filter((p) => ownedBy(p, owner.metadata.uid));
  }
}
