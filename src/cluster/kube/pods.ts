/**
 * The control planes' static pods as the Kubernetes API shows them: the mirror pods the kubelet publishes in
 * `kube-system` for Talos's kube-apiserver / kube-controller-manager, with the `talos.dev/secrets-version`
 * annotation Talos puts on them and their Ready condition — what Talos's own upgrade flow reads to know a
 * static pod runs from the new manifest (pkg/cluster/kubernetes/talos_managed.go, checkPodStatus: label
 * `k8s-app=<component>`, `status.hostIP` = node, annotation, Ready). TLS verification stays on.
 */
import type { KubeconfigSource } from './nodes.js';
import { coreApi, kubeCall } from './nodes.js';

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
export async function listControlPlanePods(
  source: KubeconfigSource,
  components: readonly string[],
  opts: { timeoutMs?: number } = {},
): Promise<MirrorPodStatus[]> {
  const { api, server } = await coreApi(source);
  const out: MirrorPodStatus[] = [];
  for (const component of components) {
    const list = await kubeCall(source, server, opts.timeoutMs ?? 15_000, `listing ${component} pods`, () =>
      api.listNamespacedPod({ namespace: 'kube-system', labelSelector: `k8s-app=${component}` }),
    );
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
