/**
 * A control plane's static pods (kube-apiserver, kube-controller-manager) as Talos renders them and its
 * kubelet runs them, and the mirror pods the kubelet publishes for them in `kube-system`.
 *
 * How a Kubernetes CA change reaches them in Talos (read in v1.13.9 and main):
 * - KubernetesRootSecrets changes → `secrets.KubernetesController` regenerates `KubernetesSecrets.secrets.talos.dev`
 *   (new resource version) → `k8s.RenderSecretsStaticPodController` writes the files and sets
 *   `SecretStatuses.kubernetes.talos.dev/static-pods` (namespace `controlplane`) `{ready: true, version: <that
 *   KubernetesSecrets version>}` (internal/app/machined/pkg/controllers/k8s/render_secrets_static_pod.go);
 * - `k8s.ControlPlaneStaticPodController` renders the pods with annotation `talos.dev/secrets-version` = that
 *   version (main: k8s/internal/k8stemplates/apiserver.go, controller-manager.go; v1.13.9:
 *   k8s/control_plane_static_pod.go); the kubelet, restarted by the same change, re-creates the pods from the
 *   new manifests and publishes a new mirror pod `<pod>-<node name>`.
 * - Until then the running kube-apiserver serves its old certificate and client-CA bundle and the running
 *   kube-controller-manager signs CSRs with the CA it started with.
 *
 * Here: the secrets version moves shortly after the change (`SECRETS_RENDER_MS`); the pods are re-created
 * `staticPodDelayMs` after the change, but never while the node's kubelet is not running. `root` is the
 * Kubernetes CA state the running pods were started with: the apiserver serves from it and the
 * controller-manager signs with its issuing CA (`issuing`), so both switch at re-render time, not at apply.
 * Ledger: `changed` at the config change, `rendered` once the new apiserver listens (mirror pod Ready).
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { CaMaterial } from '../../pki/index.js';
import type { ConfigChange, LabCluster, LabNode, RootCa } from '../core/model.js';
import { subscribe } from '../core/events.js';
import { KUBERNETES_VERSION } from './objects.js';

/** KubernetesRoot → KubernetesSecrets → rendered files: controllers on the node, well under a second. */
export const SECRETS_RENDER_MS = 100;
export const SECRETS_VERSION_ANNOTATION = 'talos.dev/secrets-version';
export const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

export interface RunningPods {
  /** The Kubernetes CA state the running apiserver and controller-manager were started with. */
  root: RootCa;
  /** `talos.dev/secrets-version` of the running pods. */
  secretsVersion: number;
  /** Identity of the current pod generation (a re-render makes a new pod: new uid, new mirror pod). */
  uid: string;
  createdAt: Date;
}

/**
 * Events: `render` (RunningPods) when the pods are re-created from new manifests; `mirror` whenever what its
 * mirror pods show changes (a new generation, the apiserver listening or not, the node going down).
 */
export class StaticPods extends EventEmitter {
  readonly node: LabNode;
  readonly #cluster: LabCluster;
  #running: RunningPods;
  /** The apiserver of the current generation listens (its mirror pod is Ready). */
  #apiserverReady = false;
  #lagging = false;
  #renderTimer: NodeJS.Timeout | null = null;
  #secretsTimer: NodeJS.Timeout | null = null;
  /** The delay passed; waiting for the kubelet to run again. */
  #due = false;
  #stopped = false;
  readonly #off: Array<() => void> = [];

  constructor(node: LabNode, cluster: LabCluster) {
    super();
    this.node = node;
    this.#cluster = cluster;
    this.#running = this.#generation();
    const onConfig = (change: ConfigChange): void => this.#onConfig(change);
    const onKubelet = (): void => {
      if (this.#due) this.#render();
    };
    const onUp = (): void => {
      // A boot starts the pods from the current manifests at once.
      this.#clearTimers();
      this.#due = false;
      this.#running = this.#generation();
      this.#apiserverReady = false;
      this.emit('mirror');
    };
    const onDown = (): void => {
      this.emit('mirror');
    };
    this.#off.push(...subscribe(node, { config: onConfig, kubelet: onKubelet, up: onUp, down: onDown }));
  }

  get running(): RunningPods {
    return this.#running;
  }

  /** The CA state the running pods use (apiserver serving cert and client CAs, controller-manager signer). */
  get root(): RootCa {
    return this.#running.root;
  }

  /** The CA the running kube-controller-manager signs with (its `--cluster-signing-*` and `ca.crt`). */
  get issuing(): CaMaterial | null {
    return this.#running.root.error ? null : this.#running.root.issuing;
  }

  /** The config changed the Kubernetes CA and the pods do not run from it yet. */
  get lagging(): boolean {
    return this.#lagging;
  }

  get apiserverReady(): boolean {
    return this.#apiserverReady && !this.node.isDown;
  }

  /** Called by the apiserver each time it listens, and when it stops listening. */
  apiserverListening(up: boolean): void {
    const changed = this.#apiserverReady !== up;
    this.#apiserverReady = up;
    if (changed) this.emit('mirror');
    if (
      up &&
      this.#lagging &&
      this.#running.secretsVersion === this.node.secretsVersion &&
      !this.#due &&
      !this.#renderTimer
    ) {
      this.#lagging = false;
      this.#cluster.ledger.staticPods(this.node.address, 'rendered', this.#running.secretsVersion);
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#clearTimers();
    for (const off of this.#off) off();
  }

  #generation(): RunningPods {
    return {
      root: this.node.roots.kubernetes,
      secretsVersion: this.node.secretsVersion,
      uid: randomUUID(),
      createdAt: new Date(),
    };
  }

  #clearTimers(): void {
    if (this.#renderTimer) clearTimeout(this.#renderTimer);
    if (this.#secretsTimer) clearTimeout(this.#secretsTimer);
    this.#renderTimer = null;
    this.#secretsTimer = null;
  }

  #onConfig(change: ConfigChange): void {
    if (this.#stopped || !change.kubernetesChanged || this.node.isDown) return;
    // Talos cannot build certificates from a broken CA: nothing is re-rendered, the pods stay as they are.
    if (change.roots.kubernetes.error) return;
    this.#lagging = true;
    this.#cluster.ledger.staticPods(this.node.address, 'changed', this.#running.secretsVersion);
    if (!this.#secretsTimer) {
      this.#secretsTimer = setTimeout(() => {
        this.#secretsTimer = null;
        if (this.#stopped || this.node.isDown) return;
        this.node.bumpSecretsVersion();
        if (this.#due) this.#render();
      }, SECRETS_RENDER_MS);
    }
    if (!this.#renderTimer && !this.#due) {
      this.#renderTimer = setTimeout(() => {
        this.#renderTimer = null;
        this.#due = true;
        this.#render();
      }, this.#cluster.timings.staticPodDelayMs);
    }
  }

  /** Re-create the pods once the delay passed, the secrets are rendered and the kubelet runs. */
  #render(): void {
    if (this.#stopped || this.node.isDown || !this.#due || this.#secretsTimer) return;
    const kubelet = this.node.kubelet;
    if (!kubelet?.running) return;
    this.#due = false;
    this.#running = this.#generation();
    this.#apiserverReady = false;
    this.emit('render', this.#running);
    this.emit('mirror');
  }
}

/**
 * Mirror pods of every control plane's static pods, as the kubelets write them through the API (cluster-wide, as
 * in etcd): each is created (ADDED), updated when its readiness changes (MODIFIED), and deleted and created anew
 * for a new generation of its static pod (a new uid: DELETED, then ADDED). Every change goes to `sink` (the object
 * store's history), which gives it its resourceVersion, so watches see them in the store's one order.
 */
export class MirrorPods {
  readonly #cluster: LabCluster;
  readonly #pods: StaticPods[];
  readonly #nodeUid = new Map<string, string>();
  readonly #sink: MirrorPodSink;
  /** Each mirror pod as last written to the sink, with the resourceVersion the sink gave it. */
  readonly #published = new Map<string, MirrorPodView>();

  constructor(cluster: LabCluster, pods: StaticPods[], sink: MirrorPodSink) {
    this.#cluster = cluster;
    this.#pods = pods;
    this.#sink = sink;
    for (const n of cluster.nodes) this.#nodeUid.set(n.hostname, randomUUID());
    for (const p of pods) {
      this.#publish(p);
      p.on('mirror', () => this.#publish(p));
    }
  }

  /** Writes what changed of one control plane's mirror pods; returns both as written. */
  #publish(p: StaticPods): MirrorPodView[] {
    return this.#statesOf(p).map((state) => {
      const last = this.#published.get(state.name);
      if (last && last.uid === state.uid && last.ready === state.ready) return last;
      if (last && last.uid !== state.uid) this.#sink.publish('DELETED', mirrorPodObject(last));
      const prev = last && last.uid === state.uid ? mirrorPodObject(last) : undefined;
      const rv = this.#sink.publish(
        prev ? 'MODIFIED' : 'ADDED',
        mirrorPodObject({ ...state, resourceVersion: '' }),
        prev,
      );
      const view = { ...state, resourceVersion: String(rv) };
      this.#published.set(state.name, view);
      return view;
    });
  }

  /** Every mirror pod in `kube-system` (kube-apiserver-<host>, kube-controller-manager-<host>), as written. */
  list(): MirrorPodView[] {
    return this.#pods.flatMap((p) => this.#publish(p));
  }

  /** The two mirror pods of one control plane's static pods as they are now (before the sink versions them). */
  #statesOf(p: StaticPods): Omit<MirrorPodView, 'resourceVersion'>[] {
    const n = p.node;
    const run = p.running;
    return (['kube-apiserver', 'kube-controller-manager'] as const).map((component) => ({
      name: `${component}-${n.hostname}`,
      component,
      nodeName: n.hostname,
      hostIP: n.address,
      uid: `${run.uid.slice(0, 24)}${component === 'kube-apiserver' ? 'a' : 'c'}${run.uid.slice(25)}`,
      nodeUid: this.#nodeUid.get(n.hostname) ?? '',
      createdAt: run.createdAt,
      secretsVersion: String(run.secretsVersion),
      ready: component === 'kube-apiserver' ? p.apiserverReady : !n.isDown,
    }));
  }

  get cluster(): LabCluster {
    return this.#cluster;
  }
}

/** Where mirror pod changes are written (the object store's history): returns the change's resourceVersion. */
export interface MirrorPodSink {
  publish(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: Record<string, unknown>, prev?: Record<string, unknown>): number;
}

export interface MirrorPodView {
  name: string;
  component: 'kube-apiserver' | 'kube-controller-manager';
  nodeName: string;
  hostIP: string;
  uid: string;
  nodeUid: string;
  createdAt: Date;
  resourceVersion: string;
  secretsVersion: string;
  ready: boolean;
}

/** Config hash of a pod generation (kubelet: `kubernetes.io/config.hash` = `kubernetes.io/config.mirror`). */
function configHash(uid: string): string {
  return uid.replace(/-/g, '').slice(0, 32);
}

/** A mirror Pod object as the apiserver returns it. */
export function mirrorPodObject(p: MirrorPodView): Record<string, unknown> {
  const hash = configHash(p.uid);
  const created = p.createdAt.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const image = `registry.k8s.io/${p.component}:${KUBERNETES_VERSION}`;
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      name: p.name,
      namespace: 'kube-system',
      uid: p.uid,
      resourceVersion: p.resourceVersion,
      creationTimestamp: created,
      labels: {
        tier: 'control-plane',
        'k8s-app': p.component,
        component: p.component,
        'app.kubernetes.io/name': p.component,
        'app.kubernetes.io/component': 'control-plane',
      },
      annotations: {
        [SECRETS_VERSION_ANNOTATION]: p.secretsVersion,
        'kubernetes.io/config.hash': hash,
        [MIRROR_ANNOTATION]: hash,
        'kubernetes.io/config.seen': p.createdAt.toISOString(),
        'kubernetes.io/config.source': 'http',
      },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: p.nodeName, uid: p.nodeUid, controller: true }],
    },
    spec: {
      nodeName: p.nodeName,
      hostNetwork: true,
      priorityClassName: 'system-cluster-critical',
      containers: [{ name: p.component, image }],
    },
    status: {
      phase: 'Running',
      hostIP: p.hostIP,
      podIP: p.hostIP,
      startTime: created,
      conditions: [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: created },
        { type: 'Initialized', status: 'True', lastTransitionTime: created },
        { type: 'ContainersReady', status: p.ready ? 'True' : 'False', lastTransitionTime: created },
        { type: 'Ready', status: p.ready ? 'True' : 'False', lastTransitionTime: created },
      ],
      // What kubectl's READY and STATUS columns read (readiness counted per container, as kubelet reports it):
      // each generation of a static pod is a new mirror pod, so its one container has not restarted.
      containerStatuses: [
        {
          name: p.component,
          image,
          imageID: `registry.k8s.io/${p.component}@sha256:${'0'.repeat(64)}`,
          containerID: `containerd://${hash}`,
          ready: p.ready,
          started: p.ready,
          restartCount: 0,
          state: p.ready ? { running: { startedAt: created } } : { waiting: { reason: 'ContainerCreating' } },
        },
      ],
    },
  };
}

/** `labelSelector` terms of the forms `k=v`, `k==v`, `k!=v`, `k` (all must hold). */
export function matchesLabels(labels: Record<string, string>, selector: string | null): boolean {
  if (!selector) return true;
  for (const raw of selector.split(',')) {
    const term = raw.trim();
    if (term === '') continue;
    const m = /^([^!=\s]+)\s*(!=|==|=)\s*(.*)$/.exec(term);
    if (!m) {
      if (!(term in labels)) return false;
      continue;
    }
    const [, key, op, value] = m;
    const has = labels[key!] === value!.trim();
    if (op === '!=' ? has : !has) return false;
  }
  return true;
}
