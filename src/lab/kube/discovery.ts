/**
 * The discovery documents the emulated kube-apiserver serves (`/api`, `/apis`, `/apis/<group>[/<version>]`):
 * the API groups, versions and resources the lab implements, as kubectl 1.32 and client-go read them.
 * Pure functions (no fs/net).
 */
import type { KubeObject } from './objects.js';

interface ResourceDef {
  name: string;
  singularName: string;
  namespaced: boolean;
  kind: string;
  verbs: string[];
  shortNames?: string[];
}

// The workload resources (workload-api.ts).
const WORKLOAD_VERBS = ['get', 'list', 'patch', 'update', 'watch'];
const WORKLOAD_CORE_RESOURCES: ResourceDef[] = [
  { name: 'pods/eviction', singularName: '', namespaced: true, kind: 'Eviction', verbs: ['create'] },
  { name: 'pods/status', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
  { name: 'secrets', singularName: 'secret', namespaced: true, kind: 'Secret', verbs: ['get', 'list', 'watch'] },
  {
    name: 'namespaces',
    singularName: 'namespace',
    namespaced: false,
    kind: 'Namespace',
    verbs: ['get', 'list'],
    shortNames: ['ns'],
  },
];
const workload = (
  name: string,
  singularName: string,
  kind: string,
  shortNames: string[],
  verbs = WORKLOAD_VERBS,
): ResourceDef[] => [
  { name, singularName, namespaced: true, kind, verbs, ...(shortNames.length > 0 ? { shortNames } : {}) },
  { name: `${name}/status`, singularName: '', namespaced: true, kind, verbs: ['get', 'patch', 'update'] },
];

const CORE_RESOURCES: ResourceDef[] = [
  {
    name: 'nodes',
    singularName: 'node',
    namespaced: false,
    kind: 'Node',
    verbs: ['get', 'list', 'patch', 'update'],
    shortNames: ['no'],
  },
  { name: 'nodes/status', singularName: '', namespaced: false, kind: 'Node', verbs: ['get', 'patch', 'update'] },
  {
    name: 'configmaps',
    singularName: 'configmap',
    namespaced: true,
    kind: 'ConfigMap',
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    shortNames: ['cm'],
  },
  {
    name: 'pods',
    singularName: 'pod',
    namespaced: true,
    kind: 'Pod',
    verbs: ['delete', 'get', 'list', 'patch', 'watch'],
    shortNames: ['po'],
  },
  ...WORKLOAD_CORE_RESOURCES,
];

/** The API groups served besides the core group, with their resources. */
const GROUPS: Record<string, { version: string; resources: ResourceDef[] }> = {
  apps: {
    version: 'v1',
    resources: [
      ...workload('daemonsets', 'daemonset', 'DaemonSet', ['ds']),
      ...workload('deployments', 'deployment', 'Deployment', ['deploy']),
      ...workload('replicasets', 'replicaset', 'ReplicaSet', ['rs']),
      ...workload('statefulsets', 'statefulset', 'StatefulSet', ['sts']),
    ],
  },
  batch: { version: 'v1', resources: workload('jobs', 'job', 'Job', [], ['get', 'list', 'watch']) },
  policy: {
    version: 'v1',
    resources: workload(
      'poddisruptionbudgets',
      'poddisruptionbudget',
      'PodDisruptionBudget',
      ['pdb'],
      ['get', 'list', 'watch'],
    ),
  },
  'coordination.k8s.io': {
    version: 'v1',
    resources: [
      {
        name: 'leases',
        singularName: 'lease',
        namespaced: true,
        kind: 'Lease',
        verbs: ['create', 'delete', 'get', 'list', 'update'],
      },
    ],
  },
  'certificates.k8s.io': {
    version: 'v1',
    resources: [
      {
        name: 'certificatesigningrequests',
        singularName: 'certificatesigningrequest',
        namespaced: false,
        kind: 'CertificateSigningRequest',
        verbs: ['create', 'get', 'list'],
        shortNames: ['csr'],
      },
    ],
  },
};

export function apiVersions(serverAddress: string): KubeObject {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function apiGroup(name: string): KubeObject {
  const version = GROUPS[name]!.version;
  const gv = { groupVersion: `${name}/${version}`, version };
  return { name, versions: [gv], preferredVersion: gv };
}

export function apiGroupList(): KubeObject {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: Object.keys(GROUPS).map(apiGroup) };
}

export function apiGroupDocument(group: string): KubeObject | null {
  return group in GROUPS ? { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(group) } : null;
}

function resourceList(groupVersion: string, resources: ResourceDef[]): KubeObject {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion,
    resources: resources.map((r) => ({
      name: r.name,
      singularName: r.singularName,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
      ...(r.shortNames ? { shortNames: r.shortNames } : {}),
    })),
  };
}

export function coreResourceList(): KubeObject {
  return resourceList('v1', CORE_RESOURCES);
}

export function groupResourceList(group: string, version: string): KubeObject | null {
  const g = GROUPS[group];
  return g && g.version === version ? resourceList(`${group}/${version}`, g.resources) : null;
}
