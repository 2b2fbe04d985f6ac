/**
 * `startLab`: build an emulated Talos cluster (setup/cluster.ts: secrets, one machine config per node, the
 * lab's own reading of them) inside a freshly claimed loopback /24 and start its Talos side and
 * Kubernetes side in this process. `stop()` stops both and releases the address block.
 *
 * Independence (docs/lab-design.md): nothing here imports the planner's code (src/desired, src/plan,
 * src/apply, src/state, src/machineconfig).
 */
import type { Secret } from '../domain/secret.js';
import { TalosClient } from '../talos/client.js';
import type { LabCluster, KubernetesCaStyle, LabTimings } from './core/model.js';
import { startKubeSide } from './kube/index.js';
import type { PodView } from './kube/pods.js';
import type { WorkloadSet } from './kube/workloads.js';
import type { Stored } from './kube/object-store.js';
import type { ExtensionAuthView } from './kube/extension-auth.js';
import { assembleLabCluster, issueAdminClientCert } from './setup/cluster.js';
import {
  generateLabSecrets,
  renderSecretsBundle,
  type LabSecretsOptions,
  type ServiceAccountKeyKind,
} from './setup/secrets.js';
import { startTalosSide } from './talos/index.js';
import { blockKey, blockName, KUBE_APISERVER_PORT, type AddressBlock } from './process/address-block.js';
import { allocateAddressBlock } from './process/address-allocation.js';
import { deriveTimings } from './process/options.js';

export interface StartLabOptions {
  controlPlanes: number;
  workers: number;
  kubernetesCaStyle: KubernetesCaStyle;
  vip?: boolean;
  /** Overrides; the rest is derived from the lab's size (process/options.ts deriveTimings). */
  timings?: Partial<LabTimings>;
  clusterName?: string;
  secretsOptions?: LabSecretsOptions;
  /** The service-account key's type (`rotate lab up --service-account-key`); overrides secretsOptions'. */
  serviceAccountKey?: ServiceAccountKeyKind;
  /** Recorded in the address-block lock so a human (and `lab down`) can tell whose it is. */
  labDir?: string;
  /** Progress messages (no secrets). */
  log?: (message: string) => void;
  /** Emulated in-cluster clients per node (kube/pods.ts; default 0 here, 2 with `rotate lab up`). */
  podsPerNode?: number;
  /** The other workloads (kube/workloads.ts; default `none`; `rotate lab up --workloads standard`). */
  workloads?: WorkloadSet;
  /** How many address blocks to try when a side finds an address taken (default 5). */
  blockAttempts?: number;
}

/** What an operator's talosconfig needs: the Talos CA and an `os:admin` client certificate issued by it. */
export interface TalosAdminCredentials {
  /** Context name: the cluster name. */
  context: string;
  /** Control-plane addresses. */
  endpoints: string[];
  /** Every node address. */
  nodes: string[];
  caPem: string;
  certPem: string;
  key: Secret;
}

export interface RunningLab {
  readonly cluster: LabCluster;
  readonly block: AddressBlock;
  /** `https://127.A.B.3:6443` */
  readonly clusterEndpoint: string;
  /** The cluster's secrets bundle in talosctl format (secrets.yaml). */
  readonly secretsBundle: string;
  readonly talosAdmin: TalosAdminCredentials;
  nodeReady(address: string): boolean;
  allReady(): boolean;
  whenAllReady(timeoutMs: number): Promise<void>;
  /** The admin kubeconfig as the first control plane's Talos `Kubeconfig` API returns it. */
  fetchKubeconfig(timeoutMs?: number): Promise<string>;
  /** `ca.crt` of the `kube-root-ca.crt` ConfigMap (null before it is published). */
  rootCaConfigMap(): string | null;
  /** The emulated in-cluster clients. */
  pods(): PodView[];
  /** The stored objects of a workload resource (kube/index.ts KubeSide.objects). */
  objects(resource: string, namespace?: string): Stored[];
  /** The `extension-apiserver-authentication` ConfigMap (fingerprints) and the apiservers' trust controllers. */
  extensionAuth(): ExtensionAuthView;
  stop(): Promise<void>;
}

interface Side {
  stop(): Promise<void>;
}

export async function startLab(options: StartLabOptions): Promise<RunningLab> {
  const log = options.log ?? (() => undefined);
  const timings = deriveTimings(options, options.timings);
  const secrets = await generateLabSecrets({
    ...options.secretsOptions,
    ...(options.serviceAccountKey ? { serviceAccountKey: options.serviceAccountKey } : {}),
  });
  const secretsBundle = renderSecretsBundle(secrets);
  const admin = await issueAdminClientCert(secrets);
  const attempts = options.blockAttempts ?? 5;
  for (let attempt = 1; ; attempt += 1) {
    const allocated = await allocateAddressBlock({
      nodes: options.controlPlanes + options.workers,
      controlPlanes: options.controlPlanes,
      vip: options.vip ?? false,
      ...(options.labDir ? { labDir: options.labDir } : {}),
    });
    const started: Side[] = [];
    try {
      const { cluster } = await assembleLabCluster({
        block: blockKey(allocated.block),
        controlPlanes: options.controlPlanes,
        workers: options.workers,
        style: options.kubernetesCaStyle,
        vip: options.vip ?? false,
        timings,
        secrets,
        ...(options.clusterName ? { clusterName: options.clusterName } : {}),
      });
      log(`assembled ${cluster.nodes.length} node configs in ${blockName(allocated.block)}`);
      const talos = await startTalosSide(cluster, { log });
      started.push(talos);
      log('Talos side started');
      const kube = await startKubeSide(cluster, {
        podsPerNode: options.podsPerNode ?? 0,
        workloads: options.workloads ?? 'none',
        log,
      });
      started.push(kube);
      talos.useStaticPods((address) => kube.staticPods(address));
      log('Kubernetes side started');
      const controlPlanes = cluster.controlPlanes.map((n) => n.address);
      const talosAdmin: TalosAdminCredentials = {
        context: cluster.clusterName,
        endpoints: controlPlanes,
        nodes: cluster.nodes.map((n) => n.address),
        caPem: secrets.os.certPem,
        certPem: admin.certPem,
        key: admin.key,
      };
      let stopping: Promise<void> | undefined;
      return {
        cluster,
        block: allocated.block,
        clusterEndpoint: `https://${cluster.clusterEndpointAddress}:${KUBE_APISERVER_PORT}`,
        secretsBundle,
        talosAdmin,
        nodeReady: (address) => kube.nodeReady(address),
        allReady: () => kube.allReady(),
        whenAllReady: (timeoutMs) => kube.whenAllReady(timeoutMs),
        rootCaConfigMap: () => kube.rootCaConfigMap(),
        pods: () => kube.pods(),
        objects: (resource, namespace) => kube.objects(resource, namespace),
        extensionAuth: () => kube.extensionAuth(),
        async fetchKubeconfig(timeoutMs = 15_000) {
          // As `talosctl -e CP -n CP kubeconfig` asks it: through the first control plane's apid.
          const first = controlPlanes[0]!;
          const client = new TalosClient({
            endpoints: [first],
            caPem: talosAdmin.caPem,
            certPem: talosAdmin.certPem,
            key: talosAdmin.key,
          });
          try {
            return await client.kubeconfig(first, { timeoutMs });
          } finally {
            client.close();
          }
        },
        stop() {
          stopping ??= (async () => {
            // Kubernetes first, so kubelets stop dialling before the Talos side goes away.
            await kube.stop().catch((err: unknown) => log(`stopping the Kubernetes side failed: ${String(err)}`));
            await talos.stop().catch((err: unknown) => log(`stopping the Talos side failed: ${String(err)}`));
            await allocated.release();
          })();
          return stopping;
        },
      };
    } catch (err) {
      for (const side of started.reverse()) await side.stop().catch(() => undefined);
      await allocated.release();
      if (isAddressInUse(err) && attempt < attempts) {
        log(
          `an address in ${blockName(allocated.block)} is taken ` +
            `(${err instanceof Error ? err.message : String(err)}); trying another block`,
        );
        continue;
      }
      throw err;
    }
  }
}

function isAddressInUse(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth += 1) {
    const code = (e as { code?: unknown }).code;
    if (code === 'EADDRINUSE' || code === 'LAB_ADDRESS_IN_USE') return true;
    if (e instanceof Error && /EADDRINUSE/.test(e.message)) return true;
  }
  return false;
}
