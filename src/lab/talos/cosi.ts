/**
 * The COSI State API of one node (cosi-project/specification state.proto, served read-only by machined
 * behind internal/app/resources/access.go; talos-behaviour.md §3.3). The lab keeps the resources rotation code reads:
 * - config/MachineConfigs.config.talos.dev/v1alpha1 (sensitive): MachineConfigSpec{yaml_marshalled} wrapping
 *   the YAML as last submitted, yaml_spec, annotation `talos.dev/yaml-spec`; version bumps on every apply;
 * - secrets/OSRootSecrets.secrets.talos.dev/os (sensitive) and, on control planes,
 *   secrets/KubernetesRootSecrets.secrets.talos.dev/k8s (sensitive), straight from the config's fields
 *   (a broken CA shows as written);
 * - cluster/Members.cluster.talos.dev (every node; the VIP holder lists the VIP first, as discovery does,
 *   siderolabs/talos#10357) and cluster/Identities.cluster.talos.dev/local;
 * - runtime/Services.v1alpha1.talos.dev/kubelet, present only while the kubelet runs;
 * - controlplane/SecretStatuses.kubernetes.talos.dev/static-pods (control planes): `{ready, version}`, the
 *   KubernetesSecrets version the static pods' secrets were last rendered from (k8s/render_secrets_static_pod.go);
 * - meta/ResourceDefinitions.meta.cosi.dev for every type served here (resource-definitions.ts), which
 *   `talosctl get` resolves names against and the access check reads;
 * - k8s/StaticPods.kubernetes.talos.dev and StaticPodStatuses (control planes; static-pod-resources.ts);
 * - secrets/ApiCertificates.secrets.talos.dev/api (sensitive): apid's certificates as it serves them (node
 *   runtime's credentials): control planes server + proxy client cert + their OSRoot accepted entries (one
 *   per CA), workers the trustd-signed server cert + ONE accepted entry holding the whole bundle trustd
 *   returned (secrets/api.go generateWorker). It changes (UPDATED, version bump) whenever apid's
 *   certificates change: a control plane re-issuing them, a worker re-registering with trustd.
 * Access: writes → PermissionDenied "write access is not allowed"; unknown types → `resource type "T" is
 * not supported`; sensitive types without os:admin → "not authorized". Watch: an empty response first,
 * then (one resource) CREATED with it or DESTROYED with a tombstone, then changes as they happen.
 */
import { stringify } from 'yaml';
import {
  talosProtos,
  type GetRequest,
  type GetResponse,
  type ListRequest,
  type ListResponse,
  type MemberSpec,
  type Resource,
  type ResourceEvent,
  type Timestamp,
  type WatchRequest,
  type WatchResponse,
} from '../../talos/proto.js';
import type { LabCluster, LabNode } from '../core/model.js';
import type { NodeCredentials } from './credentials.js';
import { readConfigCas, splitSans, type RawCa } from '../core/roots.js';
import { GrpcCallError, Status } from './h2-grpc.js';
import { NOT_AUTHORIZED, requireAny, type CallContext } from './machined.js';
import { ROLE_ADMIN } from './peer.js';
import {
  definitionOf,
  definitionProto,
  definitionYaml,
  META_NAMESPACE,
  RESOURCE_DEFINITIONS,
  RESOURCE_DEFINITION_TYPE,
} from './resource-definitions.js';
import { renderStaticPods, type StaticPodsView } from './static-pod-resources.js';

interface TypeInfo {
  sensitive: boolean;
}

/** The resource types the lab serves (everything else is "not supported" here). */
export const RESOURCE_TYPES: Record<string, TypeInfo> = {
  'MachineConfigs.config.talos.dev': { sensitive: true },
  'OSRootSecrets.secrets.talos.dev': { sensitive: true },
  'KubernetesRootSecrets.secrets.talos.dev': { sensitive: true },
  'ApiCertificates.secrets.talos.dev': { sensitive: true },
  'Members.cluster.talos.dev': { sensitive: false },
  'Identities.cluster.talos.dev': { sensitive: false },
  'Services.v1alpha1.talos.dev': { sensitive: false },
  'SecretStatuses.kubernetes.talos.dev': { sensitive: false },
  // resource-definitions.ts, static-pod-resources.ts
  'ResourceDefinitions.meta.cosi.dev': { sensitive: false },
  'StaticPods.kubernetes.talos.dev': { sensitive: false },
  'StaticPodStatuses.kubernetes.talos.dev': { sensitive: false },
};

/** Namespaces a Talos node has (a subset of the real list). */
const NAMESPACES = new Set([
  'config',
  'secrets',
  'cluster',
  'runtime',
  'network',
  'k8s',
  'controlplane',
  'etcd',
  'files',
  'hardware',
  'kubespan',
  'perf',
  'time',
  'block',
  'cri',
  'siderolink',
  'meta',
]);

const READ_ROLES = ['os:admin', 'os:operator', 'os:reader'];

export interface Rendered {
  namespace: string;
  type: string;
  id: string;
  owner: string;
  protoSpec: Uint8Array;
  yamlSpec: string;
  annotations?: Record<string, string>;
  /** Forced version (MachineConfig follows the node's config version). */
  version?: number;
}

interface Stored {
  rendered: Rendered;
  version: number;
  created: Timestamp;
  updated: Timestamp;
  /** The last refresh that rendered it (one not rendered by a refresh is destroyed). */
  seen: number;
}

/** Same spec bytes and forced version: the resource did not change (a byte compare, no encoding). */
function sameSpec(a: Rendered, b: Rendered): boolean {
  return a.version === b.version && Buffer.compare(a.protoSpec, b.protoSpec) === 0;
}

function now(): Timestamp {
  const ms = Date.now();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

const b = (s: string) => Buffer.from(s, 'utf8');
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

function ipBytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map((x) => Number(x)));
}

function pemPair(ca: RawCa | null): { crt: Buffer; key: Buffer } | null {
  if (!ca || ca.key === '') return null;
  return { crt: b(ca.crt), key: b(ca.key) };
}

function firstServiceIp(subnets: readonly string[]): string[] {
  const cidr = subnets[0];
  const m = cidr ? /^(\d+)\.(\d+)\.(\d+)\.(\d+)\//.exec(cidr) : null;
  return m ? [`${m[1]}.${m[2]}.${m[3]}.${Number(m[4]) + 1}`] : [];
}

/** The config-derived resources, memoised per node on (config text, version). */
const configMemo = new WeakMap<LabNode, { config: string; version: number; rendered: Rendered[] }>();

function renderNodeResources(node: LabNode): Rendered[] {
  const hit = configMemo.get(node);
  let rendered: Rendered[];
  if (hit && hit.config === node.config && hit.version === node.configVersion) rendered = hit.rendered;
  else {
    rendered = renderConfigResources(node);
    configMemo.set(node, { config: node.config, version: node.configVersion, rendered });
  }
  const kubelet = node.kubelet;
  const protos = talosProtos();
  const dynamic: Rendered[] = [];
  if (node.role === 'controlplane') {
    const version = String(node.secretsVersion);
    dynamic.push({
      namespace: 'controlplane',
      type: 'SecretStatuses.kubernetes.talos.dev',
      id: 'static-pods',
      owner: 'k8s.RenderSecretsStaticPodController',
      protoSpec: protos.specs.secretsStatus.encode({ ready: true, version }),
      yamlSpec: stringify({ ready: true, version }),
    });
  }
  if (!kubelet) return [...rendered, ...dynamic];
  // `unknown` is "no health check result yet" (system/health/status.go: Unknown = Healthy == nil; the
  // kubelet's first check runs 2 s after it starts, services/kubelet.go HealthSettings). The lab's kubelet
  // turns healthy when it has bootstrapped, so until then its health is taken as not yet checked.
  const unknown = kubelet.running && !kubelet.healthy;
  return [
    ...rendered,
    ...dynamic,
    {
      namespace: 'runtime',
      type: 'Services.v1alpha1.talos.dev',
      id: 'kubelet',
      owner: 'v1alpha1.ServiceController',
      protoSpec: protos.specs.service.encode({ running: kubelet.running, healthy: kubelet.healthy, unknown }),
      yamlSpec: `running: ${kubelet.running}\nhealthy: ${kubelet.healthy}\nunknown: ${unknown}\n`,
    },
  ];
}

function renderConfigResources(node: LabNode): Rendered[] {
  const protos = talosProtos();
  const view = readConfigCas(node.config);
  const out: Rendered[] = [];
  out.push({
    namespace: 'config',
    type: 'MachineConfigs.config.talos.dev',
    id: 'v1alpha1',
    owner: '',
    protoSpec: protos.specs.machineConfig.encode({ yaml_marshalled: b(node.config) }),
    // Go's yaml.Marshal of the config string (resources/config/machine_config.go MarshalYAML): a literal
    // block, which talosctl re-emits in the style it finds (a folded scalar would print every line doubled).
    yamlSpec: stringify(node.config, { blockQuote: 'literal', lineWidth: 0 }),
    annotations: { 'talos.dev/yaml-spec': '1' },
    version: node.configVersion,
  });
  const osAccepted = [...view.machineAccepted, ...(view.machineCa ? [view.machineCa.crt] : [])];
  const sans = splitSans(view.certSans);
  out.push({
    namespace: 'secrets',
    type: 'OSRootSecrets.secrets.talos.dev',
    id: 'os',
    owner: 'secrets.RootOSController',
    protoSpec: protos.specs.osRoot.encode({
      issuing_ca: pemPair(view.machineCa),
      cert_sani_ps: sans.ips.map((ip) => ({ ip: ipBytes(ip) })),
      cert_sandns_names: sans.dnsNames,
      token: view.trustdToken,
      accepted_c_as: osAccepted.map((crt) => ({ crt: b(crt) })),
    }),
    yamlSpec: stringify({
      issuingCA:
        view.machineCa && view.machineCa.key !== ''
          ? { crt: b64(view.machineCa.crt), key: b64(view.machineCa.key) }
          : null,
      acceptedCAs: osAccepted.map((crt) => ({ crt: b64(crt) })),
      certSANIPs: sans.ips,
      certSANDNSNames: sans.dnsNames,
      token: view.trustdToken,
    }),
  });
  if (node.role === 'controlplane') {
    const ca = view.kubernetesCa;
    const document = view.style === 'document';
    const accepted = document
      ? [...(ca && ca.crt !== '' ? [ca.crt] : []), ...view.kubernetesAccepted]
      : [...view.kubernetesAccepted, ...(ca ? [ca.crt] : [])];
    const localEndpoint = view.kubePrism.enabled
      ? `https://127.0.0.1:${view.kubePrism.port}`
      : 'https://localhost:6443';
    out.push({
      namespace: 'secrets',
      type: 'KubernetesRootSecrets.secrets.talos.dev',
      id: 'k8s',
      owner: 'secrets.RootKubernetesController',
      protoSpec: protos.specs.kubernetesRoot.encode({
        name: view.clusterName,
        endpoint: { full_path: view.clusterEndpoint },
        local_endpoint: { full_path: localEndpoint },
        cert_sa_ns: view.apiServerCertSans,
        dns_domain: view.dnsDomain,
        issuing_ca: pemPair(ca),
        service_account: view.serviceAccountKey ? { key: b(view.serviceAccountKey) } : null,
        aggregator_ca: pemPair(view.aggregatorCa),
        api_server_ips: firstServiceIp(view.serviceSubnets).map((ip) => ({ ip: ipBytes(ip) })),
        accepted_c_as: accepted.map((crt) => ({ crt: b(crt) })),
      }),
      yamlSpec: stringify({
        name: view.clusterName,
        endpoint: view.clusterEndpoint,
        localEndpoint,
        certSANs: view.apiServerCertSans,
        dnsDomain: view.dnsDomain,
        issuingCA: ca && ca.key !== '' ? { crt: b64(ca.crt), key: b64(ca.key) } : null,
        acceptedCAs: accepted.map((crt) => ({ crt: b64(crt) })),
      }),
    });
  }
  out.push({
    namespace: 'cluster',
    type: 'Identities.cluster.talos.dev',
    id: 'local',
    owner: 'cluster.NodeIdentityController',
    protoSpec: protos.specs.identity.encode({ node_id: node.nodeId }),
    yamlSpec: stringify({ nodeId: node.nodeId }),
  });
  return out;
}

/** meta/ResourceDefinitions.meta.cosi.dev, the same on every node (resource-definitions.ts). */
let definitionsMemo: Rendered[] | null = null;

function renderDefinitions(): Rendered[] {
  definitionsMemo ??= RESOURCE_DEFINITIONS.map((d) => ({
    namespace: META_NAMESPACE,
    type: RESOURCE_DEFINITION_TYPE,
    id: d.id,
    owner: 'meta',
    protoSpec: definitionProto(d),
    yamlSpec: definitionYaml(d),
  }));
  return definitionsMemo;
}

/** ApiCertificates rendered once per credentials object (a new object = new certificates). */
const apiCertsMemo = new WeakMap<NodeCredentials, Rendered>();

/** secrets/ApiCertificates.secrets.talos.dev/api from apid's current credentials (secrets/api.go). */
export function renderApiCertificates(credentials: NodeCredentials): Rendered {
  const hit = apiCertsMemo.get(credentials);
  if (hit) return hit;
  const protos = talosProtos();
  const pair = (c: { certPem: string; key: { reveal(): string } } | null) =>
    c ? { crt: b(c.certPem), key: b(c.key.reveal()) } : null;
  const rendered: Rendered = {
    namespace: 'secrets',
    type: 'ApiCertificates.secrets.talos.dev',
    id: 'api',
    owner: 'secrets.APIController',
    protoSpec: protos.specs.apiCerts.encode({
      client: pair(credentials.impersonator),
      server: pair(credentials.server),
      accepted_c_as: credentials.acceptedEntries.map((crt) => ({ crt: b(crt) })),
      skip_verifying_client_cert: false,
    }),
    // APICertsSpec's yaml tags in field order; a worker's nil client shows as null (resources/secrets/api.go).
    yamlSpec: stringify({
      acceptedCAs: credentials.acceptedEntries.map((crt) => ({ crt: b64(crt) })),
      client: credentials.impersonator
        ? { crt: b64(credentials.impersonator.certPem), key: b64(credentials.impersonator.key.reveal()) }
        : null,
      server: { crt: b64(credentials.server.certPem), key: b64(credentials.server.key.reveal()) },
      skipVerifyingClientCert: false,
    }),
  };
  apiCertsMemo.set(credentials, rendered);
  return rendered;
}

/** Members.cluster.talos.dev as every node sees them. `vipHolder` lists the VIP first. */
export function renderMembers(cluster: LabCluster, vipHolder: LabNode | null): Rendered[] {
  const protos = talosProtos();
  return cluster.nodes
    .filter((n) => !n.isRemoved)
    .map((n) => {
      const addresses = n === vipHolder && cluster.vipAddress ? [cluster.vipAddress, n.address] : [n.address];
      const spec: MemberSpec = {
        node_id: n.nodeId,
        addresses: addresses.map((ip) => ({ ip: ipBytes(ip) })),
        hostname: n.hostname,
        machine_type: n.role === 'controlplane' ? 'TYPE_CONTROL_PLANE' : 'TYPE_WORKER',
        operating_system: `Talos (${n.talosTag})`,
        control_plane: n.role === 'controlplane' ? { api_server_port: 6443 } : null,
      };
      return {
        namespace: 'cluster',
        type: 'Members.cluster.talos.dev',
        id: n.hostname,
        owner: 'cluster.MemberController',
        protoSpec: protos.specs.member.encode(spec),
        yamlSpec: stringify({
          nodeId: n.nodeId,
          addresses,
          hostname: n.hostname,
          machineType: n.role,
          operatingSystem: `Talos (${n.talosTag})`,
          // ControlPlane.APIServerPort has the yaml tag `port` (resources/cluster/affiliate.go).
          ...(n.role === 'controlplane' ? { controlPlane: { port: 6443 } } : {}),
        }),
      };
    });
}

const keyOf = (ns: string, type: string, id: string) => `${ns}\u0000${type}\u0000${id}`;

/**
 * Each rendered resource's key, made once per object: the Members and definitions are the same objects at
 * every refresh (a 200-node lab renders 200 Members for each node on every COSI read).
 */
const renderedKeys = new WeakMap<Rendered, string>();

function keyOfRendered(r: Rendered): string {
  let key = renderedKeys.get(r);
  if (key === undefined) {
    key = keyOf(r.namespace, r.type, r.id);
    renderedKeys.set(r, key);
  }
  return key;
}

function toResource(s: Stored): Resource {
  const r = s.rendered;
  return {
    metadata: {
      namespace: r.namespace,
      type: r.type,
      id: r.id,
      version: String(s.version),
      owner: r.owner,
      phase: 'running',
      created: s.created,
      updated: s.updated,
      ...(r.annotations ? { annotations: r.annotations } : {}),
    },
    spec: { proto_spec: r.protoSpec, yaml_spec: r.yamlSpec },
  };
}

function tombstone(ns: string, type: string, id: string): Resource {
  return { metadata: { namespace: ns, type, id, version: 'undefined', phase: 'running' }, spec: {} };
}

interface Watcher {
  ns: string;
  type: string;
  id: string | undefined;
  push(e: ResourceEvent): void;
}

/** One node's resources: recomputed on `refresh()`, with versions and watch events. */
export class NodeResources {
  readonly #node: LabNode;
  readonly #members: () => Rendered[];
  readonly #apiCredentials: () => NodeCredentials | null;
  readonly #staticPods: () => StaticPodsView | null;
  readonly #entries = new Map<string, Stored>();
  #refreshes = 0;
  readonly #watchers = new Set<Watcher>();

  /**
   * `apiCredentials`: apid's current certificates (null before it has any). Call refresh() when they change.
   * `staticPods`: what the Kubernetes side knows of the node's static pods (null: not known); read again on
   * every Get/List, since that side does not notify this one.
   */
  constructor(
    node: LabNode,
    members: () => Rendered[],
    apiCredentials: () => NodeCredentials | null = () => null,
    staticPods: () => StaticPodsView | null = () => null,
  ) {
    this.#node = node;
    this.#members = members;
    this.#apiCredentials = apiCredentials;
    this.#staticPods = staticPods;
    this.refresh();
  }

  /** Recomputes every resource; changed ones get a new version and notify watchers. */
  refresh(): void {
    const credentials = this.#apiCredentials();
    const rendered = [
      ...renderNodeResources(this.#node),
      ...(credentials ? [renderApiCertificates(credentials)] : []),
      ...this.#members(),
      ...renderDefinitions(),
      ...renderStaticPods(this.#node, this.#staticPods()),
    ];
    const refresh = ++this.#refreshes;
    const t = now();
    for (const r of rendered) {
      const key = keyOfRendered(r);
      const prev = this.#entries.get(key);
      if (prev && (prev.rendered === r || sameSpec(prev.rendered, r))) {
        prev.seen = refresh;
        continue;
      }
      if (!prev) {
        const s: Stored = { rendered: r, version: r.version ?? 1, created: t, updated: t, seen: refresh };
        this.#entries.set(key, s);
        this.#emit(r.namespace, r.type, r.id, { event_type: 'CREATED', resource: toResource(s) });
      } else {
        const old = toResource(prev);
        const s: Stored = {
          rendered: r,
          version: r.version ?? prev.version + 1,
          created: prev.created,
          updated: t,
          seen: refresh,
        };
        this.#entries.set(key, s);
        this.#emit(r.namespace, r.type, r.id, { event_type: 'UPDATED', resource: toResource(s), old });
      }
    }
    // Deleting the entry being visited is safe while iterating a Map (and a watcher's push only writes to its
    // stream: no refresh runs inside another).
    for (const [key, s] of this.#entries) {
      if (s.seen === refresh) continue;
      this.#entries.delete(key);
      const r = s.rendered;
      this.#emit(r.namespace, r.type, r.id, { event_type: 'DESTROYED', resource: toResource(s) });
    }
  }

  #emit(ns: string, type: string, id: string, e: ResourceEvent): void {
    for (const w of this.#watchers) {
      if (w.ns === ns && w.type === type && (w.id === undefined || w.id === id)) w.push(e);
    }
  }

  #list(ns: string, type: string): Stored[] {
    return [...this.#entries.values()]
      .filter((s) => s.rendered.namespace === ns && s.rendered.type === type)
      .sort((a, c) => (a.rendered.id < c.rendered.id ? -1 : a.rendered.id > c.rendered.id ? 1 : 0));
  }

  /** internal/app/resources/access.go, in its order. */
  #authorize(ctx: CallContext, ns: string, type: string): void {
    requireAny(ctx, READ_ROLES);
    // access.go finds the ResourceDefinition by the lower-cased type; the call itself then uses the type as given.
    const info = RESOURCE_TYPES[definitionOf(type)?.type ?? type];
    if (!info) throw new GrpcCallError(Status.PERMISSION_DENIED, `resource type "${type}" is not supported`);
    if (info.sensitive && !ctx.roles.has(ROLE_ADMIN)) throw new GrpcCallError(Status.PERMISSION_DENIED, NOT_AUTHORIZED);
    if (!NAMESPACES.has(ns)) throw new GrpcCallError(Status.PERMISSION_DENIED, `namespace "${ns}" is not supported`);
  }

  get(ctx: CallContext, req: GetRequest): GetResponse {
    const ns = req.namespace ?? '';
    const type = req.type ?? '';
    const id = req.id ?? '';
    this.#authorize(ctx, ns, type);
    this.refresh();
    const s = this.#entries.get(keyOf(ns, type, id));
    if (!s) throw new GrpcCallError(Status.NOT_FOUND, `resource ${type}(${ns}/${id}@undefined) doesn't exist`);
    return { resource: toResource(s) };
  }

  list(ctx: CallContext, req: ListRequest, write: (r: ListResponse) => void): void {
    const ns = req.namespace ?? '';
    const type = req.type ?? '';
    this.#authorize(ctx, ns, type);
    this.refresh();
    for (const s of this.#list(ns, type)) write({ resource: toResource(s) });
  }

  /** Runs until the caller goes away. */
  async watch(ctx: CallContext, req: WatchRequest, write: (r: WatchResponse) => void): Promise<void> {
    const ns = req.namespace ?? '';
    const type = req.type ?? '';
    const id = req.id;
    this.#authorize(ctx, ns, type);
    const watcher: Watcher = { ns, type, id, push: (e) => write({ event: [e] }) };
    write({});
    if (id !== undefined) {
      const s = this.#entries.get(keyOf(ns, type, id));
      write({
        event: [
          s
            ? { event_type: 'CREATED', resource: toResource(s) }
            : { event_type: 'DESTROYED', resource: tombstone(ns, type, id) },
        ],
      });
    } else if (req.options?.bootstrap_contents) {
      for (const s of this.#list(ns, type)) write({ event: [{ event_type: 'CREATED', resource: toResource(s) }] });
      if ((req.api_version ?? 0) >= 1)
        write({ event: [{ event_type: 'BOOTSTRAPPED', resource: tombstone(ns, type, '') }] });
    }
    this.#watchers.add(watcher);
    try {
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) resolve();
        else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      this.#watchers.delete(watcher);
    }
  }
}
