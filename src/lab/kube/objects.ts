/**
 * The Kubernetes API objects the emulated kube-apiserver serves, in the shapes real clients (kubectl 1.32,
 * client-go) expect: the version document, Status errors, Nodes (+ the `meta.k8s.io/v1` Table kubectl asks
 * for to print its human table), Leases and CertificateSigningRequests. Pure functions (no fs/net).
 * The discovery documents are in discovery.ts.
 */

import { KUBERNETES_VERSION } from './version.js';

export { KUBERNETES_VERSION };

export type KubeObject = Record<string, unknown>;

export function versionInfo(): KubeObject {
  const [major, minor] = KUBERNETES_VERSION.slice(1).split('.');
  return {
    major,
    minor,
    gitVersion: KUBERNETES_VERSION,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2025-03-11T19:52:21Z',
    goVersion: 'go1.23.6',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

export function statusFailure(code: number, reason: string, message: string, details?: KubeObject): KubeObject {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

/**
 * The Status of a create whose object carries a resourceVersion: etcd3's store refuses it with a plain error
 * (`storage.ErrResourceVersionSetOnCreate`), which the handler answers as a 500 with no reason and no details.
 * Only a version that parses as a non-zero unsigned integer counts (`APIObjectVersioner.ObjectResourceVersion`):
 * "0" or "-1" pass. Null when the create may go on.
 */
export function resourceVersionSetOnCreate(resourceVersion: unknown): KubeObject | null {
  if (typeof resourceVersion !== 'string' || !/^\d+$/.test(resourceVersion)) return null;
  const v = BigInt(resourceVersion);
  if (v === 0n || v > 0xffffffffffffffffn) return null;
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'resourceVersion should not be set on objects to be created',
    code: 500,
  };
}

export const notFoundStatus = (): KubeObject =>
  statusFailure(404, 'NotFound', 'the server could not find the requested resource', {});
export const unauthorizedStatus = (): KubeObject => statusFailure(401, 'Unauthorized', 'Unauthorized');

export function forbiddenStatus(
  user: string,
  verb: string,
  resource: string,
  group: string,
  name?: string,
  namespace?: string,
): KubeObject {
  const scope = namespace ? `in the namespace "${namespace}"` : 'at the cluster scope';
  const what = name ? `${resource} "${name}"` : resource;
  return statusFailure(
    403,
    'Forbidden',
    `${what} is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "${group}" ${scope}`,
    { ...(name ? { name } : {}), ...(group ? { group } : {}), kind: resource },
  );
}

export function objectNotFound(resource: string, name: string, group = ''): KubeObject {
  return statusFailure(404, 'NotFound', `${resource}${group ? `.${group}` : ''} "${name}" not found`, {
    name,
    ...(group ? { group } : {}),
    kind: resource,
  });
}

export function badRequest(message: string): KubeObject {
  return statusFailure(400, 'BadRequest', message);
}

export function methodNotAllowed(): KubeObject {
  return statusFailure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
}

/** What a DELETE answers when the object is gone at once (no finalizers): a Success Status naming it. */
export function deletedStatus(details: KubeObject): KubeObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details };
}

// -------------------------------------------------------------------------------------------------- nodes

export interface NodeView {
  name: string;
  address: string;
  controlPlane: boolean;
  uid: string;
  createdAt: Date;
  /** Last successful heartbeat, null before the first. */
  lastHeartbeat: Date | null;
  ready: boolean;
  /** When the Ready condition last changed. */
  lastTransition: Date;
  resourceVersion: string;
  osImage: string;
}

function readyCondition(n: NodeView): KubeObject {
  const heartbeat = (n.lastHeartbeat ?? n.createdAt).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const transition = n.lastTransition.toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (n.ready) {
    return {
      type: 'Ready',
      status: 'True',
      lastHeartbeatTime: heartbeat,
      lastTransitionTime: transition,
      reason: 'KubeletReady',
      message: 'kubelet is posting ready status',
    };
  }
  return {
    type: 'Ready',
    status: 'Unknown',
    lastHeartbeatTime: heartbeat,
    lastTransitionTime: transition,
    reason: n.lastHeartbeat ? 'NodeStatusUnknown' : 'NodeStatusNeverUpdated',
    message: n.lastHeartbeat ? 'Kubelet stopped posting node status.' : 'Kubelet never posted node status.',
  };
}

function nodeMetadata(n: NodeView): KubeObject {
  return {
    name: n.name,
    uid: n.uid,
    resourceVersion: n.resourceVersion,
    creationTimestamp: n.createdAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    labels: {
      'beta.kubernetes.io/arch': 'amd64',
      'beta.kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'kubernetes.io/hostname': n.name,
      'kubernetes.io/os': 'linux',
      ...(n.controlPlane ? { 'node-role.kubernetes.io/control-plane': '' } : {}),
    },
    annotations: { 'node.alpha.kubernetes.io/ttl': '0' },
  };
}

export function nodeObject(n: NodeView): KubeObject {
  return {
    kind: 'Node',
    apiVersion: 'v1',
    metadata: nodeMetadata(n),
    spec: n.controlPlane ? { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] } : {},
    status: {
      conditions: [readyCondition(n)],
      addresses: [
        { type: 'InternalIP', address: n.address },
        { type: 'Hostname', address: n.name },
      ],
      nodeInfo: {
        kubeletVersion: KUBERNETES_VERSION,
        kubeProxyVersion: KUBERNETES_VERSION,
        osImage: n.osImage,
        kernelVersion: '6.12.18-talos',
        containerRuntimeVersion: 'containerd://2.0.3',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    },
  };
}

export function nodeList(nodes: NodeView[], resourceVersion: string): KubeObject {
  return { kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion }, items: nodes.map(nodeObject) };
}

/** kubectl's duration.HumanDuration, which the AGE column uses. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8)
    return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const years = Math.floor(hours / 24 / 365);
    const days = Math.floor(hours / 24) % 365;
    return days === 0 ? `${years}y` : `${years}y${days}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

/** The Name and Age columns every kube-apiserver printer of a namespaced object has (pkg/printers/internalversion). */
export const NAME_COLUMN: TableColumn = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace.',
  priority: 0,
};
export const AGE_COLUMN: TableColumn = {
  name: 'Age',
  type: 'string',
  format: '',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
  priority: 0,
};

/** What the lab's own stores (namespaced-store.ts) keep of an object's metadata. */
export interface StoredMeta {
  namespace: string;
  name: string;
  uid: string;
  createdAt: Date;
  resourceVersion: string;
}

/** `metadata` as kube-apiserver serves it for an object of one of the lab's own stores. */
export function storedMetadata(o: StoredMeta): KubeObject {
  return {
    name: o.name,
    namespace: o.namespace,
    uid: o.uid,
    resourceVersion: o.resourceVersion,
    creationTimestamp: o.createdAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}

/** The objects of `namespace` (every namespace when undefined), in namespace then name order. */
export function inNamespaceOrder<T extends { namespace: string; name: string }>(
  items: Iterable<T>,
  namespace: string | undefined,
): T[] {
  return [...items]
    .filter((o) => namespace === undefined || o.namespace === namespace)
    .sort((a, b) =>
      a.namespace === b.namespace ? a.name.localeCompare(b.name) : a.namespace.localeCompare(b.namespace),
    );
}

const NODE_COLUMNS = [
  { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
  { name: 'Status', type: 'string', format: '', description: 'The status of the node', priority: 0 },
  { name: 'Roles', type: 'string', format: '', description: 'The roles of the node', priority: 0 },
  {
    name: 'Age',
    type: 'string',
    format: '',
    description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
    priority: 0,
  },
  { name: 'Version', type: 'string', format: '', description: 'Kubelet Version reported by the node.', priority: 0 },
  {
    name: 'Internal-IP',
    type: 'string',
    format: '',
    description: 'List of addresses reachable to the node.',
    priority: 1,
  },
  {
    name: 'External-IP',
    type: 'string',
    format: '',
    description: 'List of addresses reachable to the node.',
    priority: 1,
  },
  {
    name: 'OS-Image',
    type: 'string',
    format: '',
    description: 'OS Image reported by the node from /etc/os-release.',
    priority: 1,
  },
  {
    name: 'Kernel-Version',
    type: 'string',
    format: '',
    description: 'Kernel Version reported by the node.',
    priority: 1,
  },
  {
    name: 'Container-Runtime',
    type: 'string',
    format: '',
    description: 'Container runtime version reported by the node.',
    priority: 1,
  },
];

export type TableObjectMode = 'None' | 'Metadata' | 'Object';

/** What a Table row carries of its object (`includeObject`; kube-apiserver's default is the metadata). */
export function tableMode(query: URLSearchParams): TableObjectMode {
  const v = query.get('includeObject');
  return v === 'None' || v === 'Object' ? v : 'Metadata';
}

export interface TableColumn {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

/**
 * A `meta.k8s.io/v1` Table as kube-apiserver returns it for a list: one row of printer cells per object,
 * with the object itself, its metadata only (PartialObjectMetadata) or nothing, as `includeObject` asks.
 */
export function objectTable<T>(
  items: readonly T[],
  columns: readonly TableColumn[],
  resourceVersion: string,
  include: TableObjectMode,
  row: { cells: (item: T) => unknown[]; object: (item: T) => KubeObject; metadata: (item: T) => KubeObject },
): KubeObject {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: columns,
    rows: items.map((item) => ({
      cells: row.cells(item),
      ...(include === 'None'
        ? {}
        : {
            object:
              include === 'Object'
                ? row.object(item)
                : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: row.metadata(item) },
          }),
    })),
  };
}

/** The Table of a kind of the lab's own stores (ConfigMaps, Leases): Name, the one column of its printer, Age. */
export function storedObjectTable<T extends StoredMeta>(
  items: readonly T[],
  column: TableColumn,
  cell: (item: T) => unknown,
  now: Date,
  resourceVersion: string,
  include: TableObjectMode,
  render: { object: (item: T) => KubeObject; metadata: (item: T) => KubeObject },
): KubeObject {
  return objectTable(items, [NAME_COLUMN, column, AGE_COLUMN], resourceVersion, include, {
    cells: (o) => [o.name, cell(o), humanDuration(now.getTime() - o.createdAt.getTime())],
    ...render,
  });
}

/** The `meta.k8s.io/v1` Table kube-apiserver returns for nodes (columns as its printers define them). */
export function nodeTable(nodes: NodeView[], now: Date, resourceVersion: string, include: TableObjectMode): KubeObject {
  return objectTable(nodes, NODE_COLUMNS, resourceVersion, include, {
    cells: (n) => [
      n.name,
      n.ready ? 'Ready' : 'NotReady',
      n.controlPlane ? 'control-plane' : '<none>',
      humanDuration(now.getTime() - n.createdAt.getTime()),
      KUBERNETES_VERSION,
      n.address,
      '<none>',
      n.osImage,
      '6.12.18-talos',
      'containerd://2.0.3',
    ],
    object: nodeObject,
    metadata: nodeMetadata,
  });
}

/**
 * Whether an Accept header asks for a `meta.k8s.io/v1` Table (kubectl's human output sends
 * `application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json`).
 */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const params = new Map(
      part
        .split(';')
        .slice(1)
        .map((p) => p.trim().split('=') as [string, string]),
    );
    return params.get('as') === 'Table' && params.get('g') === 'meta.k8s.io' && params.get('v') === 'v1';
  });
}

/**
 * The one-row Tables of a watch asked for as a Table, as kube-apiserver encodes them (k8s.io/apiserver
 * `endpoints/handlers` watchEmbeddedEncoder): each event's object becomes a Table of itself, the first with the
 * column definitions and every later one without (`NoHeaders`: `columnDefinitions` null). Call it per event,
 * in the order the events are sent.
 */
export function watchTables(): (table: KubeObject) => KubeObject {
  let headers = true;
  return (table) => {
    const out = headers ? table : { ...table, columnDefinitions: null };
    headers = false;
    return out;
  };
}

// ------------------------------------------------------------------------------------------------ leases

export function leaseObject(
  name: string,
  holder: string,
  renewTime: Date,
  resourceVersion: string,
  durationSeconds: number,
): KubeObject {
  return {
    kind: 'Lease',
    apiVersion: 'coordination.k8s.io/v1',
    metadata: { name, namespace: 'kube-node-lease', resourceVersion },
    spec: {
      holderIdentity: holder,
      leaseDurationSeconds: durationSeconds,
      renewTime: renewTime.toISOString().replace('Z', '000Z'),
    },
  };
}

/** The node Leases (`kube-node-lease`), one per Node whose kubelet has renewed it at least once. */
export function leaseList(
  leases: { name: string; renewTime: Date; resourceVersion: string }[],
  resourceVersion: string,
  durationSeconds: number,
): KubeObject {
  return {
    kind: 'LeaseList',
    apiVersion: 'coordination.k8s.io/v1',
    metadata: { resourceVersion },
    items: leases.map((l) => leaseObject(l.name, l.name, l.renewTime, l.resourceVersion, durationSeconds)),
  };
}

// -------------------------------------------------------------------------------------------------- CSRs

export const KUBELET_CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client-kubelet';

export interface CsrView {
  name: string;
  uid: string;
  createdAt: Date;
  resourceVersion: string;
  requestPem: string;
  signerName: string;
  usages: string[];
  username: string;
  groups: string[];
  state: 'Pending' | 'Approved' | 'Denied' | 'Failed';
  message: string;
  certificatePem: string | null;
}

export function csrObject(c: CsrView): KubeObject {
  const condition =
    c.state === 'Pending'
      ? []
      : [
          {
            type: c.state,
            status: 'True',
            reason:
              c.state === 'Approved' ? 'AutoApproved' : c.state === 'Denied' ? 'NotAutoApproved' : 'SignerFailure',
            message: c.message,
            lastUpdateTime: c.createdAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
          },
        ];
  return {
    kind: 'CertificateSigningRequest',
    apiVersion: 'certificates.k8s.io/v1',
    metadata: {
      name: c.name,
      uid: c.uid,
      resourceVersion: c.resourceVersion,
      creationTimestamp: c.createdAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    },
    spec: {
      request: Buffer.from(c.requestPem).toString('base64'),
      signerName: c.signerName,
      usages: c.usages,
      username: c.username,
      groups: c.groups,
    },
    status: {
      conditions: condition,
      ...(c.certificatePem ? { certificate: Buffer.from(c.certificatePem).toString('base64') } : {}),
    },
  };
}

export function csrList(items: CsrView[], resourceVersion: string): KubeObject {
  return {
    kind: 'CertificateSigningRequestList',
    apiVersion: 'certificates.k8s.io/v1',
    metadata: { resourceVersion },
    items: items.map(csrObject),
  };
}
