/**
 * Machine configs for emulated nodes, in the shape `talosctl gen config` writes them (test/lab/setup
 * compares them with what the real talosctl generates at test time):
 * - legacy (v1.13 contract): one v1alpha1 document (Kubernetes CA in `.cluster.ca`, base64 PEM) plus a
 *   HostnameConfig document;
 * - document (v1.14 contract): a slim v1alpha1 document plus Kube*Config documents, the Kubernetes CA in
 *   `KubeAPIServerCAConfig` as plain PEM.
 * Control planes carry every CA with its key; workers get `.machine.ca` with `key: ""`, no etcd, and the
 * Kubernetes CA certificate only (legacy `.cluster.ca` crt / document `acceptedCAs`).
 * `.machine.certSANs` lists the node address and the cluster endpoint host, so apid's certificate covers
 * what the operator dials.
 */
import { stringify } from 'yaml';
import { encodeTalosBase64Pem, type CaMaterial } from '../../pki/index.js';
import type { KubernetesCaStyle, LabRole } from '../core/model.js';
import type { LabSecrets } from './secrets.js';
import { KUBERNETES_VERSION } from '../kube/version.js';

export interface MachineConfigOptions {
  role: LabRole;
  style: KubernetesCaStyle;
  hostname: string;
  /** The node's own address. */
  address: string;
  clusterName: string;
  /** `https://127.A.B.3:6443` */
  clusterEndpoint: string;
  /** Extra `.machine.certSANs` entries (e.g. a VIP on control planes). */
  extraCertSans?: string[];
  /**
   * A shared Layer 2 VIP this control plane may hold: declared as on a real node, in a `Layer2VIPConfig`
   * document (pkg/machinery/config/types/network/layer2_vip.go, v1.13 and v1.14: `name` is the IP, `link`
   * is required); Talos only advertises a VIP its config declares.
   */
  vip?: string;
}

const POD_SUBNETS = ['10.244.0.0/16'];
const SERVICE_SUBNETS = ['10.96.0.0/12'];

const b64 = (pem: string) => encodeTalosBase64Pem(pem);
const caPair = (ca: CaMaterial) => ({ crt: b64(ca.certPem), key: b64(ca.key.reveal()) });
const caCrtOnly = (ca: CaMaterial) => ({ crt: b64(ca.certPem), key: '' });
const plainPair = (ca: CaMaterial) => ({ cert: ca.certPem, key: ca.key.reveal() });

function hostOf(endpoint: string): string {
  try {
    return new URL(endpoint).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return endpoint;
  }
}

function render(docs: object[], opts: MachineConfigOptions): string {
  if (opts.vip && opts.role === 'controlplane')
    docs = [...docs, { apiVersion: 'v1alpha1', kind: 'Layer2VIPConfig', name: opts.vip, link: 'eth0' }];
  return docs.map((d) => stringify(d, { indent: 4, lineWidth: 0 })).join('---\n');
}

function certSans(opts: MachineConfigOptions): string[] {
  return [...new Set([opts.address, hostOf(opts.clusterEndpoint), ...(opts.extraCertSans ?? [])])];
}

function legacy(s: LabSecrets, opts: MachineConfigOptions): string {
  const cp = opts.role === 'controlplane';
  const machine: Record<string, unknown> = {
    type: opts.role,
    token: s.trustdToken,
    ca: cp ? caPair(s.os) : caCrtOnly(s.os),
    certSANs: certSans(opts),
    kubelet: {
      image: `ghcr.io/siderolabs/kubelet:${KUBERNETES_VERSION}`,
      defaultRuntimeSeccompProfileEnabled: true,
      disableManifestsDirectory: true,
    },
    install: { wipe: false, grubUseUKICmdline: true },
    features: {
      diskQuotaSupport: true,
      kubePrism: { enabled: true, port: 7445 },
      hostDNS: { enabled: true, forwardKubeDNSToHost: true },
    },
  };
  if (cp) machine.nodeLabels = { 'node.kubernetes.io/exclude-from-external-load-balancers': '' };
  const cluster: Record<string, unknown> = {
    id: s.clusterId,
    secret: s.clusterSecret,
    controlPlane: { endpoint: opts.clusterEndpoint },
    clusterName: opts.clusterName,
    network: { dnsDomain: 'cluster.local', podSubnets: POD_SUBNETS, serviceSubnets: SERVICE_SUBNETS },
    token: s.bootstrapToken,
  };
  if (cp) {
    cluster.secretboxEncryptionSecret = s.secretboxEncryptionSecret;
    cluster.ca = caPair(s.k8s);
    cluster.aggregatorCA = caPair(s.k8sAggregator);
    cluster.serviceAccount = { key: b64(s.serviceAccountKey.reveal()) };
    cluster.apiServer = {
      image: `registry.k8s.io/kube-apiserver:${KUBERNETES_VERSION}`,
      certSANs: [hostOf(opts.clusterEndpoint)],
    };
    cluster.controllerManager = { image: `registry.k8s.io/kube-controller-manager:${KUBERNETES_VERSION}` };
    cluster.proxy = { image: `registry.k8s.io/kube-proxy:${KUBERNETES_VERSION}` };
    cluster.scheduler = { image: `registry.k8s.io/kube-scheduler:${KUBERNETES_VERSION}` };
    cluster.discovery = { enabled: true, registries: { kubernetes: { disabled: true }, service: {} } };
    cluster.etcd = { ca: caPair(s.etcd) };
  } else {
    cluster.ca = caCrtOnly(s.k8s);
    cluster.discovery = { enabled: true, registries: { kubernetes: { disabled: true }, service: {} } };
  }
  return render(
    [
      { version: 'v1alpha1', debug: false, persist: true, machine, cluster },
      { apiVersion: 'v1alpha1', kind: 'HostnameConfig', auto: 'off', hostname: opts.hostname },
    ],
    opts,
  );
}

function documentStyle(s: LabSecrets, opts: MachineConfigOptions): string {
  const cp = opts.role === 'controlplane';
  const v1alpha1 = {
    version: 'v1alpha1',
    debug: false,
    persist: true,
    machine: {
      type: opts.role,
      token: s.trustdToken,
      ca: cp ? caPair(s.os) : caCrtOnly(s.os),
      certSANs: certSans(opts),
      features: { diskQuotaSupport: true },
    },
    cluster: cp ? { token: s.bootstrapToken, etcd: { ca: caPair(s.etcd) } } : { token: s.bootstrapToken },
  };
  const docs: object[] = [
    v1alpha1,
    { apiVersion: 'v1alpha1', kind: 'DiscoveryIdentityConfig', clusterID: s.clusterId, clusterSecret: s.clusterSecret },
    { apiVersion: 'v1alpha1', kind: 'ResolverConfig', hostDNS: { enabled: true, forwardKubeDNSToHost: true } },
    { apiVersion: 'v1alpha1', kind: 'HostnameConfig', auto: 'off', hostname: opts.hostname },
    {
      apiVersion: 'v1alpha1',
      kind: 'KubeClusterConfig',
      clusterName: opts.clusterName,
      endpoint: opts.clusterEndpoint,
    },
    {
      apiVersion: 'v1alpha1',
      kind: 'KubeletConfig',
      image: `ghcr.io/siderolabs/kubelet:${KUBERNETES_VERSION}`,
      config: {},
      defaultRuntimeSeccompProfileEnabled: true,
    },
    {
      apiVersion: 'v1alpha1',
      kind: 'KubeNetworkConfig',
      dnsDomain: 'cluster.local',
      podSubnets: POD_SUBNETS,
      serviceSubnets: SERVICE_SUBNETS,
    },
    cp
      ? { apiVersion: 'v1alpha1', kind: 'KubeAPIServerCAConfig', issuingCA: plainPair(s.k8s) }
      : { apiVersion: 'v1alpha1', kind: 'KubeAPIServerCAConfig', acceptedCAs: [s.k8s.certPem] },
    { apiVersion: 'v1alpha1', kind: 'KubePrismConfig', port: 7445 },
  ];
  if (cp) {
    docs.push(
      { apiVersion: 'v1alpha1', kind: 'KubeAggregatorCAConfig', issuingCA: plainPair(s.k8sAggregator) },
      {
        apiVersion: 'v1alpha1',
        kind: 'KubeEtcdEncryptionConfig',
        config: {
          resources: [
            {
              providers: [{ secretbox: { keys: [{ name: 'key2', secret: s.secretboxEncryptionSecret }] } }],
              resources: ['secrets'],
            },
          ],
        },
      },
      {
        apiVersion: 'v1alpha1',
        kind: 'KubeServiceAccountConfig',
        issuer: { privateKey: s.serviceAccountKey.reveal(), issuerURL: opts.clusterEndpoint },
      },
      {
        apiVersion: 'v1alpha1',
        kind: 'KubeAPIServerConfig',
        image: `registry.k8s.io/kube-apiserver:${KUBERNETES_VERSION}`,
      },
      {
        apiVersion: 'v1alpha1',
        kind: 'KubeControllerManagerConfig',
        image: `registry.k8s.io/kube-controller-manager:${KUBERNETES_VERSION}`,
      },
      {
        apiVersion: 'v1alpha1',
        kind: 'KubeSchedulerConfig',
        image: `registry.k8s.io/kube-scheduler:${KUBERNETES_VERSION}`,
        config: {},
      },
    );
  }
  return render(docs, opts);
}

/** A whole machine config (all documents), holding private keys on control planes. */
export function generateMachineConfig(s: LabSecrets, opts: MachineConfigOptions): string {
  return opts.style === 'legacy' ? legacy(s, opts) : documentStyle(s, opts);
}
