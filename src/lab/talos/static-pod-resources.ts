/**
 * A control plane's static pods as machined holds them (namespace `k8s`):
 * - `StaticPods.kubernetes.talos.dev` kube-apiserver, kube-controller-manager, kube-scheduler: the manifests
 *   `k8s.ControlPlaneStaticPodController` renders, annotated with the secrets and config versions they were
 *   rendered from (v1.13.9 internal/app/machined/pkg/controllers/k8s/control_plane_static_pod.go; v1.14
 *   k8s/internal/k8stemplates/). Workers have none.
 * - `StaticPodStatuses.kubernetes.talos.dev` `kube-system/<pod>-<node name>`: the status the kubelet reports
 *   for each static pod (k8s/kubelet_static_pod.go refreshPodStatus, id `<namespace>/<name>`); all are
 *   destroyed while the kubelet is not running (teardownStatuses).
 * Specs are `map[string]any` sent as a google.protobuf.Struct; `yaml_spec` is the map itself (MarshalYAML).
 * The lab runs no kube-scheduler of its own: its pod is rendered and reported like the others.
 */
import { stringify } from 'yaml';
import { talosProtos } from '../../talos/proto.js';
import type { LabNode } from '../core/model.js';
import type { Rendered } from './cosi.js';
import { KUBERNETES_VERSION } from '../kube/objects.js';

export const STATIC_POD_TYPE = 'StaticPods.kubernetes.talos.dev';
export const STATIC_POD_STATUS_TYPE = 'StaticPodStatuses.kubernetes.talos.dev';
const COMPONENTS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;

/** What the Kubernetes side knows about a control plane's running static pods. */
export interface StaticPodsView {
  /** The apiserver of the current generation listens (its pod is Ready). */
  apiserverReady: boolean;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** google.protobuf.Value in protobufjs's object form. */
function toValue(v: Json): Record<string, unknown> {
  if (v === null) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  return { structValue: toStruct(v) };
}

function toStruct(o: { [k: string]: Json }): Record<string, unknown> {
  return { fields: Object.fromEntries(Object.entries(o).map(([k, v]) => [k, toValue(v)])) };
}

function manifest(node: LabNode, component: string): { [k: string]: Json } {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: component,
      namespace: 'kube-system',
      annotations: {
        'talos.dev/secrets-version': String(node.secretsVersion),
        'talos.dev/config-version': String(node.configVersion),
      },
      labels: {
        tier: 'control-plane',
        'k8s-app': component,
        component,
        'app.kubernetes.io/name': component,
        'app.kubernetes.io/version': KUBERNETES_VERSION.slice(1),
        'app.kubernetes.io/component': 'control-plane',
        'app.kubernetes.io/managed-by': 'Talos',
      },
    },
    spec: {
      hostNetwork: true,
      priorityClassName: 'system-cluster-critical',
      containers: [{ name: component, image: `registry.k8s.io/${component}:${KUBERNETES_VERSION}` }],
    },
  };
}

function podStatus(node: LabNode, ready: boolean): { [k: string]: Json } {
  const flag = ready ? 'True' : 'False';
  return {
    phase: 'Running',
    hostIP: node.address,
    podIP: node.address,
    conditions: [
      { type: 'Initialized', status: 'True' },
      { type: 'Ready', status: flag },
      { type: 'ContainersReady', status: flag },
      { type: 'PodScheduled', status: 'True' },
    ],
  };
}

/**
 * The last rendering per node with what it was rendered from: every COSI Get and List on a control plane
 * renders its resources again (this side is not told when the Kubernetes side changes), and encoding six
 * Structs plus their YAML each time cost a 200-node lab over a second of CPU per rotation.
 */
const rendered = new WeakMap<LabNode, { inputs: string; out: Rendered[] }>();

/** The node's StaticPods and StaticPodStatuses (none on a worker). */
export function renderStaticPods(node: LabNode, view: StaticPodsView | null): Rendered[] {
  if (node.role !== 'controlplane') return [];
  // Everything manifest() and podStatus() read.
  const inputs = [
    node.secretsVersion,
    node.configVersion,
    node.address,
    node.hostname,
    node.kubelet?.running ?? false,
    view?.apiserverReady ?? true,
  ].join('\u0000');
  const hit = rendered.get(node);
  if (hit && hit.inputs === inputs) return hit.out;
  const out = renderStaticPodsNow(node, view);
  rendered.set(node, { inputs, out });
  return out;
}

function renderStaticPodsNow(node: LabNode, view: StaticPodsView | null): Rendered[] {
  const protos = talosProtos();
  const podCodec = protos.codec('talos.resource.definitions.k8s.StaticPodSpec');
  const statusCodec = protos.codec('talos.resource.definitions.k8s.StaticPodStatusSpec');
  const out: Rendered[] = COMPONENTS.map((c) => {
    const pod = manifest(node, c);
    return {
      namespace: 'k8s',
      type: STATIC_POD_TYPE,
      id: c,
      owner: 'k8s.ControlPlaneStaticPodController',
      protoSpec: podCodec.encode({ pod: toStruct(pod) }),
      yamlSpec: stringify(pod),
    };
  });
  if (!node.kubelet?.running) return out;
  for (const c of COMPONENTS) {
    const status = podStatus(node, c === 'kube-apiserver' ? (view?.apiserverReady ?? true) : true);
    out.push({
      namespace: 'k8s',
      type: STATIC_POD_STATUS_TYPE,
      id: `kube-system/${c}-${node.hostname}`,
      owner: 'k8s.KubeletStaticPodController',
      protoSpec: statusCodec.encode({ pod_status: toStruct(status) }),
      yamlSpec: stringify(status),
    });
  }
  return out;
}
