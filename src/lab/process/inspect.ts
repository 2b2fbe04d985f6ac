/**
 * `rotate lab inspect`: what every node's applied config states about its two CAs (as the lab's own
 * reading of Talos's rules, core/roots.ts), whether its Kubernetes Node is Ready, and the ledger. Built in
 * the lab process, pure over the cluster model; inspect-render.ts turns it into text for the CLI.
 */
import { pemFingerprints } from '../kube/pods.js';
import type { LabCluster, LabNode, RootCa } from '../core/model.js';
import { readConfigCas, type ConfigCaView, type RawCa } from '../core/roots.js';
import type { InspectNode, InspectPods, InspectReport, InspectRoot } from './contracts.js';

export const RECENT_LOG = 20;

/**
 * One API's CAs as the config states them, read with the lab's own reading (core/roots.ts): the issuing
 * certificate (null when the config has none, e.g. a document-style worker) and the accepted list in
 * config order. Entries holding no certificate are counted in `unreadable`; `error` is the problem the
 * node has with its material (RootCa.error), if any.
 */
export function inspectRoot(issuing: RawCa | null, accepted: readonly string[], root: RootCa): InspectRoot {
  const issuingFp = issuing && issuing.crt.trim() !== '' ? (pemFingerprints(issuing.crt)[0] ?? null) : null;
  const fps = accepted.map(pemFingerprints);
  const unreadable = fps.filter((f) => f.length === 0).length;
  return {
    issuing: issuingFp,
    accepted: fps.flat(),
    ...(unreadable ? { unreadable } : {}),
    ...(root.error ? { error: root.error } : {}),
  };
}

/** Reading a config costs a YAML parse; a node's view only changes when a config is applied. */
const viewCache = new WeakMap<LabNode, { version: number; view: ConfigCaView }>();

function configView(node: LabNode): ConfigCaView {
  const hit = viewCache.get(node);
  if (hit && hit.version === node.configVersion) return hit.view;
  const view = readConfigCas(node.config);
  viewCache.set(node, { version: node.configVersion, view });
  return view;
}

export function inspectNode(node: LabNode, ready: boolean): InspectNode {
  const view = configView(node);
  return {
    address: node.address,
    role: node.role,
    hostname: node.hostname,
    talos: inspectRoot(view.machineCa, view.machineAccepted, node.roots.talos),
    kubernetes: inspectRoot(view.kubernetesCa, view.kubernetesAccepted, node.roots.kubernetes),
    ready,
    kubelet: node.kubelet ? { running: node.kubelet.running, healthy: node.kubelet.healthy } : null,
    configVersion: node.configVersion,
    faults: { ...node.faults },
    applyConfiguration: node.applyLock.stats(),
  };
}

export function buildInspectReport(
  cluster: LabCluster,
  nodeReady: (address: string) => boolean,
  pods: InspectPods = { rootCaConfigMap: [], clients: [] },
): InspectReport {
  const ledger = cluster.ledger.snapshot();
  return {
    cluster: {
      name: cluster.clusterName,
      endpoint: `https://${cluster.clusterEndpointAddress}:6443`,
      kubernetesCaStyle: cluster.kubernetesCaStyle,
      vip: cluster.vipAddress,
    },
    nodes: cluster.nodes.map((n) => inspectNode(n, nodeReady(n.address))),
    trustFailures: ledger.trustFailures,
    notReadyEvents: ledger.notReadyEvents,
    unavailable: ledger.unavailable,
    configChanges: ledger.configChanges,
    recent: {
      trustFailures: ledger.trustFailureLog.slice(-RECENT_LOG),
      unavailable: ledger.unavailableLog.slice(-RECENT_LOG),
      notReady: ledger.notReadyLog.slice(-RECENT_LOG),
      configChanges: ledger.configChangeLog.slice(-RECENT_LOG),
    },
    pods,
    staticPods: ledger.staticPods,
    kubelets: ledger.kubelets,
  };
}
