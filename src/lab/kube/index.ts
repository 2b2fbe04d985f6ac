/**
 * The Kubernetes side of the lab (docs/lab-design.md): a kube-apiserver per control plane, the cluster
 * endpoint balancer and the VIP, KubePrism, a kubelet per node, the controller-manager CSR signer and the
 * Node readiness registry, all on real TLS over the nodes' loopback addresses.
 *
 * Every edge is exercised: kubelets heartbeat through KubePrism (one kept connection each); in addition, after a
 * Kubernetes CA change at either end of a kubelet → apiserver edge, that edge is dialled once: when an apiserver is
 * back up after a CA change every running kubelet dials it, and when a kubelet is running again after a CA change
 * of its node it dials every apiserver that is up. So an edge broken by a change is seen even if round
 * robin would not hit it soon. Edges with no changed end keep what they had, so they are not re-dialled.
 * These one-off dials are spread (jittered) over a window that grows with the lab's size.
 */
import { randomUUID } from 'node:crypto';
import { RotateError } from '../../domain/errors.js';
import type { LabCluster, LabNode } from '../core/model.js';
import { APISERVER_PORT, KubeApiServer } from './apiserver.js';
import { ControllerManager, CsrStore } from './controller-manager.js';
import { issueAdminKubeconfig } from './kubeconfig.js';
import { Kubelet } from './kubelet.js';
import { NodeRegistry } from './node-registry.js';
import { PodFleet, POD_NAMESPACE, type PodView } from './pods.js';
import { ObjectStore, type Stored } from './object-store.js';
import { WorkloadController } from './workload-controller.js';
import { workloadManifests, type WorkloadSet } from './workloads.js';
import { ConfigMapStore, ROOT_CA_CONFIGMAP, ROOT_CA_KEY, RootCaPublisher } from './root-ca-publisher.js';
import { MirrorPods, StaticPods } from './static-pods.js';
import type { CaMaterial } from '../../pki/index.js';
import { startTcpForwarder, type TcpForwarder } from '../core/tcp-forward.js';
import { VerdictNotes } from './tls-outcome.js';
import { kubeDialer } from './dial-thread.js';
import { DIAL_THREAD_MIN_NODES } from '../core/worker-thread.js';
import { LeaseStore } from './lease-store.js';
import { extensionAuthView, type ExtensionAuthView } from './extension-auth.js';

export { issueAdminKubeconfig, renderKubeconfig } from './kubeconfig.js';
export { APISERVER_PORT } from './apiserver.js';
export { KUBERNETES_VERSION } from './objects.js';

export interface KubeSide {
  stop(): Promise<void>;
  /** Node Ready: its kubelet's last successful heartbeat is younger than `nodeGraceMs`. */
  nodeReady(address: string): boolean;
  allReady(): boolean;
  /** Resolves once every Node is Ready; RotateError LAB_NOT_READY after `timeoutMs`. */
  whenAllReady(timeoutMs: number): Promise<void>;
  /** Whether the control plane's apiserver is listening (false while it restarts or its node is down). */
  apiserverUp(address: string): boolean;
  /** The kubelet's current client certificate (null while it has none). */
  kubeletCertPem(address: string): string | null;
  /** The apiserver the kubelet's heartbeat connection goes to (null while it has none open). */
  kubeletUpstream(address: string): string | null;
  /** How many heartbeat connections the kubelet opened (each a KubePrism pick). */
  kubeletConnections(address: string): number;
  /** How many TLS bootstraps the kubelet completed. */
  kubeletBootstraps(address: string): number;
  /** Address of the control plane holding the controller-manager leader lease (null if none is up). */
  controllerManagerLeader(): string | null;
  /** The CA the leader's running kube-controller-manager signs with (changes at static pod re-render). */
  controllerManagerIssuingCa(): CaMaterial | null;
  /** A control plane's static pods: the secrets version they run with, and whether they lag behind the config. */
  staticPods(address: string): { secretsVersion: number; lagging: boolean; apiserverReady: boolean } | null;
  /** Address of the control plane the VIP forwards to (null without a VIP or if none is up). */
  vipHolder(): string | null;
  /** A fresh admin kubeconfig (see issueAdminKubeconfig). Holds a private key: write it 0600. */
  adminKubeconfig(opts?: { via?: LabNode; server?: string }): Promise<string>;
  /** `ca.crt` of the pods' `kube-root-ca.crt` ConfigMap (null before the first publication). */
  rootCaConfigMap(): string | null;
  /** The emulated in-cluster clients (pods.ts). */
  pods(): PodView[];
  /** The stored objects of a workload resource (`deployments`, `pods`, ...), as the API serves them (copies). */
  objects(resource: string, namespace?: string): Stored[];
  /** The `extension-apiserver-authentication` ConfigMap and the apiservers' trust controllers (extension-auth.ts). */
  extensionAuth(): ExtensionAuthView;
  /** Whether the kubelets' and clients' requests are made on the dial thread now (dial-thread.ts). */
  dialThreaded(): boolean;
}

export interface KubeSideOptions {
  /** Emulated in-cluster clients per node (pods.ts): one DaemonSet each; 0 for none. */
  podsPerNode?: number;
  /** The other workloads (workloads.ts); default `none`. */
  workloads?: WorkloadSet;
  /**
   * Make the kubelets' and in-cluster clients' requests on a thread of their own (dial-thread.ts); default:
   * for labs of DIAL_THREAD_MIN_NODES nodes or more.
   */
  dialThread?: boolean;
  /** Diagnostics (no secrets); default: none. */
  log?: (message: string) => void;
}

/** Window the one-off dials after a change are spread over: ~40 handshakes/s for a large lab. */
function spreadWindowMs(cluster: LabCluster): number {
  return Math.max(100, Math.min(cluster.timings.probeIntervalMs, cluster.nodes.length * 25));
}

const randomDelay = (max: number): number => Math.floor(Math.random() * max);

/** Round-robin order: each call starts one further along the list. */
function roundRobin(): <T>(items: T[]) => T[] {
  let next = 0;
  return <T>(items: T[]): T[] => {
    if (items.length === 0) return [];
    const start = next % items.length;
    next = start + 1;
    return [...items.slice(start), ...items.slice(0, start)];
  };
}

export async function startKubeSide(cluster: LabCluster, options: KubeSideOptions = {}): Promise<KubeSide> {
  const notes = new VerdictNotes();
  const dialer = kubeDialer(
    notes,
    options.log,
    (options.dialThread ?? cluster.nodes.length >= DIAL_THREAD_MIN_NODES) ? undefined : null,
  );
  const registry = new NodeRegistry(cluster);
  const csrs = new CsrStore();
  const configMaps = new ConfigMapStore();
  const leases = new LeaseStore();
  const pods = new Map(cluster.controlPlanes.map((cp) => [cp, new StaticPods(cp, cluster)] as const));
  const store = new ObjectStore();
  // The kubelets write their mirror pods through the API: each change is in the store's one history.
  const mirrorPods = new MirrorPods(cluster, [...pods.values()], {
    publish: (type, pod, prev) => store.publish('pods', type, pod, prev),
  });
  const controllerManager = new ControllerManager(cluster, csrs, pods);
  const manifests = workloadManifests(options.workloads ?? 'none', options.podsPerNode ?? 0, null, '');
  const publisher = new RootCaPublisher(configMaps, controllerManager, manifests.namespaces);
  const kubelets: Kubelet[] = [];
  const apiservers: KubeApiServer[] = [];
  const spread = spreadWindowMs(cluster);
  // Created before the kubelets start, so that each node's pods start when its kubelet first runs.
  // A new pod's client starts a moment after the kubelet sees it (container start).
  const fleet = new PodFleet(
    { cluster, configMaps, apiservers: () => apiservers, dialer },
    Math.max(20, Math.min(500, Math.round(cluster.timings.heartbeatIntervalMs / 4))),
  );
  const workloads = new WorkloadController(store, fleet, cluster);
  const namespaceCreated = new Date();
  const workloadApi = {
    store,
    controller: workloads,
    mirrorPods,
    namespaces: publisher.namespaces.map((name) => ({ name, uid: randomUUID(), createdAt: namespaceCreated })),
    now: () => new Date(),
  };

  for (const cp of cluster.controlPlanes) {
    apiservers.push(
      new KubeApiServer(cp, {
        cluster,
        registry,
        csrs,
        configMaps,
        notes,
        pods: pods.get(cp)!,
        mirrorPods,
        leases,
        workloads: workloadApi,
        onUp: (server, afterCaChange) => {
          if (!afterCaChange) return;
          for (const k of kubelets) k.probeLater(server, randomDelay(spread));
        },
      }),
    );
  }
  cluster.nodes.forEach((node, i) => {
    kubelets.push(
      new Kubelet(
        node,
        {
          cluster,
          apiservers: () => apiservers,
          dialer,
          onRunning: (kubelet, afterCaChange) => {
            if (!afterCaChange) return;
            for (const s of apiservers) if (s.isUp) kubelet.probeLater(s, randomDelay(spread));
          },
        },
        i % Math.max(1, apiservers.length),
      ),
    );
  });

  const forwarders: TcpForwarder[] = [];
  const stopAll = async (): Promise<void> => {
    registry.stop();
    publisher.stop();
    workloads.stop();
    fleet.stop();
    controllerManager.stop();
    for (const p of pods.values()) p.stop();
    for (const k of kubelets) k.stop();
    await Promise.all([...apiservers.map((s) => s.stop()), ...forwarders.map((f) => f.stop())]);
    await dialer.close();
  };

  try {
    await Promise.all(apiservers.map((s) => s.start()));
    // Cluster endpoint: an outside load balancer, round robin over the control planes, skipping any that
    // refuses the connection (TCP pass-through: TLS stays end to end). Its upstream connections leave from
    // the endpoint's own address, not a node's, so apiservers count refusals of its clients as
    // client-apiserver.
    const order = roundRobin();
    forwarders.push(
      await startTcpForwarder({
        host: cluster.clusterEndpointAddress,
        port: APISERVER_PORT,
        localAddress: cluster.clusterEndpointAddress,
        targets: () =>
          order(cluster.controlPlanes.filter((n) => !n.isDown)).map((n) => ({ host: n.address, port: APISERVER_PORT })),
      }),
    );
    // VIP:6443 → the control plane holding the VIP (the same holder as VIP:50000 on the Talos side).
    const vipAddress = cluster.vipAddress;
    if (vipAddress) {
      forwarders.push(
        await startTcpForwarder({
          host: vipAddress,
          port: APISERVER_PORT,
          localAddress: vipAddress,
          targets: () => {
            const holder = cluster.vipHolder();
            return holder ? [{ host: holder.address, port: APISERVER_PORT }] : [];
          },
        }),
      );
    }
  } catch (err) {
    await stopAll();
    const code = (err as NodeJS.ErrnoException).code;
    throw new RotateError(
      code === 'EADDRINUSE' ? 'LAB_ADDRESS_IN_USE' : 'LAB_KUBE_START',
      `the lab's Kubernetes side could not start: ${(err as Error).message}`,
      {
        hint:
          code === 'EADDRINUSE'
            ? 'another process uses this address block; start the lab on another block'
            : "check the control planes' Kubernetes CA",
        cause: err,
        source: 'internal',
      },
    );
  }

  registry.start();
  publisher.start();
  // The workloads, as a user applied them once the cluster was up; the user data embeds the CA issuing now.
  const leader = controllerManager.leader();
  const firstWorker = cluster.workers[0] ?? cluster.nodes[0]!;
  const seeded = workloadManifests(
    options.workloads ?? 'none',
    options.podsPerNode ?? 0,
    leader ? controllerManager.rootCaPem(leader) : null,
    firstWorker.hostname,
  );
  for (const cm of seeded.configMaps) configMaps.put(cm.namespace, cm.name, cm.data);
  for (const { resource, object } of seeded.objects) workloads.create(resource, object);
  for (const key of seeded.pauseWhenRolledOut) {
    const [namespace, name] = key.split('/') as [string, string];
    const off = store.subscribe(() => {
      const d = store.get('deployments', namespace, name);
      const s = (d?.status ?? {}) as { availableReplicas?: number; updatedReplicas?: number };
      if (!d || (s.availableReplicas ?? 0) < ((d.spec as { replicas?: number }).replicas ?? 1)) return;
      off();
      setImmediate(() => store.update('deployments', { ...d, spec: { ...d.spec, paused: true } }));
    });
  }
  workloads.reconcile();
  // A TLS bootstrap costs a few handshakes and signatures (~30 ms of CPU with OpenSSL 3): spread the
  // first starts so a large lab does not saturate the event loop.
  const startWindow = Math.max(1, Math.min(cluster.timings.heartbeatIntervalMs, cluster.nodes.length * 40));
  for (const k of kubelets) k.start(randomDelay(startWindow));

  const byAddress = <T extends { node: LabNode }>(list: T[], address: string): T | undefined =>
    list.find((x) => x.node.address === address);
  const allReady = (): boolean => cluster.nodes.every((n) => registry.isReady(n.address));

  return {
    stop: stopAll,
    dialThreaded: () => dialer.threaded,
    nodeReady: (address) => registry.isReady(address),
    allReady,
    whenAllReady: (timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        const check = (): void => {
          if (allReady()) return resolve();
          if (Date.now() >= deadline) {
            const waiting = cluster.nodes
              .filter((n) => !registry.isReady(n.address))
              .map((n) => `${n.hostname} (${n.address})`);
            return reject(
              new RotateError(
                'LAB_NOT_READY',
                `Kubernetes Nodes not Ready after ${timeoutMs} ms: ${waiting.join(', ')}`,
                {
                  hint: 'a kubelet could not bootstrap or heartbeat; see the trust failures in `rotate lab inspect`',
                  source: 'cluster',
                },
              ),
            );
          }
          setTimeout(check, 50);
        };
        check();
      }),
    apiserverUp: (address) => byAddress(apiservers, address)?.isUp ?? false,
    kubeletCertPem: (address) => byAddress(kubelets, address)?.certPem ?? null,
    kubeletBootstraps: (address) => byAddress(kubelets, address)?.bootstraps ?? 0,
    kubeletUpstream: (address) => byAddress(kubelets, address)?.upstream ?? null,
    kubeletConnections: (address) => byAddress(kubelets, address)?.connections ?? 0,
    controllerManagerLeader: () => controllerManager.leader()?.address ?? null,
    controllerManagerIssuingCa: () => controllerManager.issuingCa(),
    staticPods: (address) => {
      const p = [...pods.values()].find((x) => x.node.address === address);
      return p
        ? { secretsVersion: p.running.secretsVersion, lagging: p.lagging, apiserverReady: p.apiserverReady }
        : null;
    },
    vipHolder: () => cluster.vipHolder()?.address ?? null,
    adminKubeconfig: (opts) => issueAdminKubeconfig(cluster, opts),
    rootCaConfigMap: () => configMaps.get(POD_NAMESPACE, ROOT_CA_CONFIGMAP)?.data[ROOT_CA_KEY] ?? null,
    pods: () => fleet.views(),
    objects: (resource, namespace) =>
      store.list(resource, namespace).map((o) => JSON.parse(JSON.stringify(o)) as Stored),
    extensionAuth: () =>
      extensionAuthView(
        configMaps,
        apiservers.map((s) => ({ address: s.node.address, controller: s.trustController })),
      ),
  };
}
