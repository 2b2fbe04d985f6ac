/**
 * The control planes' static pods as the Kubernetes API shows them: the mirror pods the kubelet publishes in
 * `kube-system` for Talos's kube-apiserver / kube-controller-manager, with the `talos.dev/secrets-version`
 * annotation Talos puts on them and their Ready condition — what Talos's own upgrade flow reads to know a
 * static pod runs from the new manifest (pkg/cluster/kubernetes/talos_managed.go, checkPodStatus: label
 * `k8s-app=<component>`, `status.hostIP` = node, annotation, Ready). TLS verification stays on.
 */
import type { KubeconfigSource } from './nodes.js';
import { kubeError, withTimeout } from './nodes.js';
import { RotateError } from '../domain/errors.js';

export const SECRETS_VERSION_ANNOTATION = 'talos.dev/secrets-version';

export interface MirrorPodStatus {
  name: string;
  component: string;
  nodeName: string;
  hostIP: string;
  secretsVersion: string | null;
  ready: boolean;
}

/** Pods labelled `k8s-app=<component>` in kube-system, for each component. */
export async function listControlPlanePods(source: KubeconfigSource, components: readonly string[], opts: { timeoutMs?: number } = {}): Promise<MirrorPodStatus[]> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromString(source.text);
  } catch (err) {
    throw new RotateError('KUBE_BAD_KUBECONFIG', `${source.origin} is not a usable kubeconfig: ${(err as Error).message}`, {
      hint: 'fetch a fresh one with `talosctl kubeconfig`',
    });
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new RotateError('KUBE_BAD_KUBECONFIG', `${source.origin} has no current cluster`, { hint: 'check its current-context' });
  if (source.serverOverride) kc.clusters = kc.clusters.map((c) => (c.name === cluster.name ? { ...c, server: source.serverOverride as string } : c));
  const server = source.serverOverride ?? cluster.server;
  const api = kc.makeApiClient(k8s.CoreV1Api);
  const out: MirrorPodStatus[] = [];
  for (const component of components) {
    let list;
    try {
      list = await withTimeout(api.listNamespacedPod({ namespace: 'kube-system', labelSelector: `k8s-app=${component}` }), opts.timeoutMs ?? 15_000, `listing ${component} pods at ${server}`);
    } catch (err) {
      throw kubeError(err, server, source.origin);
    }
    for (const p of list.items) {
      out.push({
        name: p.metadata?.name ?? '',
        component,
        nodeName: p.spec?.nodeName ?? '',
        hostIP: p.status?.hostIP ?? '',
        secretsVersion: p.metadata?.annotations?.[SECRETS_VERSION_ANNOTATION] ?? null,
        ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
      });
    }
  }
  return out;
}
