/**
 * The Eviction API (policy/v1 `pods/<name>/eviction`, as `kubectl drain` uses it) through
 * @kubernetes/client-node, TLS verified as the kubeconfig says. The API server refuses an eviction that
 * would break a PodDisruptionBudget with 429 TooManyRequests (Kubernetes
 * `pkg/registry/core/pod/storage/eviction.go`); that answer is returned, never worked around: this module
 * has no pod DELETE.
 */
import type { KubeconfigSource } from './nodes.js';
import { kubeError, loadKubeconfig, withTimeout } from './nodes.js';

export type EvictionOutcome = { outcome: 'evicted' } | { outcome: 'gone' } | { outcome: 'refused'; reason: string };

export interface EvictionApi {
  evict(namespace: string, pod: string): Promise<EvictionOutcome>;
}

/** The message of a Status body (and its first cause, which names the budget), for a refused eviction. */
export function statusReason(body: unknown): string {
  let b = body;
  if (typeof b === 'string') {
    try {
      b = JSON.parse(b) as unknown;
    } catch {
      return b as string;
    }
  }
  const s = (b ?? {}) as { message?: string; details?: { causes?: { message?: string }[] } };
  const cause = s.details?.causes?.find((c) => c.message)?.message;
  return [s.message, cause].filter(Boolean).join(' ') || 'refused by a PodDisruptionBudget';
}

export async function evictionApi(source: KubeconfigSource, opts: { timeoutMs?: number } = {}): Promise<EvictionApi> {
  const { k8s, kc, server } = await loadKubeconfig(source);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return {
    async evict(namespace, pod) {
      const what = `evicting pod ${namespace}/${pod}`;
      try {
        await withTimeout(
          core.createNamespacedPodEviction({
            namespace,
            name: pod,
            body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { namespace, name: pod } },
          }),
          timeoutMs,
          `${what} at ${server}`,
        );
        return { outcome: 'evicted' };
      } catch (err) {
        const e = err as { code?: number; body?: unknown };
        if (e.code === 404) return { outcome: 'gone' };
        if (e.code === 429) return { outcome: 'refused', reason: statusReason(e.body) };
        throw kubeError(err, server, source.origin, what);
      }
    },
  };
}
