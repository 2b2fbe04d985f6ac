/**
 * Reads what the workload finder needs from the Kubernetes API (@kubernetes/client-node, TLS verified as the
 * kubeconfig says): every Pod and ReplicaSet, the Deployments / DaemonSets / StatefulSets a rollout restart
 * does nothing for, and every Secret and ConfigMap reduced at once to the
 * certificate fingerprints its keys hold (`objectKeyFacts`): no Secret data is kept past its page. Lists
 * are paginated (`limit` / `continue`), as kubectl does for large clusters.
 */
import type { Fingerprint } from '../../domain/types.js';
import {
  certificateFingerprints,
  objectKeyFacts,
  ROOT_CA_CONFIGMAP,
  SERVICE_ACCOUNT_TOKEN_TYPE,
  type ObjectKeyFacts,
  type PodLike,
  type ReplicaSetLike,
  type WorkloadBlocker,
  type WorkloadInventory,
} from '../../workloads/find.js';
import { restartBlocker, type RestartableKind, type WorkloadObject } from '../../workloads/rollout.js';
import type { KubeconfigSource } from './nodes.js';
import { coreApi, kubeError, loadKubeconfig, withTimeout } from './nodes.js';

export const DEFAULT_PAGE_SIZE = 500;

interface Page<T> {
  items: T[];
  metadata?: { _continue?: string };
}

/**
 * Every page of a list, `onPage` called per page. An expired continue token (HTTP 410) restarts the list
 * once from the beginning, as the API asks (`onRestart` lets the caller drop what it collected).
 */
export async function listAllPages<T>(
  fetchPage: (args: { limit: number; _continue?: string }) => Promise<Page<T>>,
  onPage: (items: T[]) => void,
  opts: { pageSize?: number; onRestart?: () => void } = {},
): Promise<number> {
  const limit = opts.pageSize ?? DEFAULT_PAGE_SIZE;
  let pages = 0;
  for (let attempt = 0; ; attempt++) {
    let token: string | undefined;
    try {
      do {
        const page = await fetchPage({ limit, ...(token ? { _continue: token } : {}) });
        pages++;
        onPage(page.items);
        token = page.metadata?._continue || undefined;
      } while (token);
      return pages;
    } catch (err) {
      if (attempt === 0 && token && (err as { code?: number }).code === 410) {
        opts.onRestart?.();
        continue;
      }
      throw err;
    }
  }
}

/** Pods, ReplicaSets, token Secrets and certificate-bearing keys of the whole cluster. */
export async function readWorkloadInventory(
  source: KubeconfigSource,
  opts: { timeoutMs?: number; pageSize?: number } = {},
): Promise<WorkloadInventory> {
  const { k8s, kc, server } = await loadKubeconfig(source);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const pageOpts = opts.pageSize === undefined ? {} : { pageSize: opts.pageSize };
  const run = async <T>(
    what: string,
    fetchPage: (args: { limit: number; _continue?: string }) => Promise<Page<T>>,
    onPage: (items: T[]) => void,
    onRestart: () => void,
  ): Promise<void> => {
    try {
      await listAllPages((args) => withTimeout(fetchPage(args), timeoutMs, `${what} at ${server}`), onPage, {
        ...pageOpts,
        onRestart,
      });
    } catch (err) {
      throw kubeError(err, server, source.origin, what);
    }
  };

  let pods: PodLike[] = [];
  await run(
    'listing Pods',
    (a) => core.listPodForAllNamespaces(a),
    (items) => pods.push(...items),
    () => (pods = []),
  );
  let replicaSets: ReplicaSetLike[] = [];
  await run(
    'listing ReplicaSets',
    (a) => apps.listReplicaSetForAllNamespaces(a),
    (items) => replicaSets.push(...items.map((r) => ({ metadata: r.metadata }))),
    () => (replicaSets = []),
  );
  // Deployments / DaemonSets / StatefulSets, reduced at once to those a rollout restart does nothing for.
  let blockers: WorkloadBlocker[] = [];
  const blocked = (kind: RestartableKind) => (items: object[]) => {
    for (const item of items) {
      const o = item as WorkloadObject & { metadata?: { namespace?: string; name?: string } };
      const reason = restartBlocker(kind, o);
      if (reason) blockers.push({ kind, namespace: o.metadata?.namespace ?? '', name: o.metadata?.name ?? '', reason });
    }
  };
  const dropKind = (kind: RestartableKind) => () => (blockers = blockers.filter((b) => b.kind !== kind));
  await run(
    'listing Deployments',
    (a) => apps.listDeploymentForAllNamespaces(a) as Promise<Page<object>>,
    blocked('Deployment'),
    dropKind('Deployment'),
  );
  await run(
    'listing DaemonSets',
    (a) => apps.listDaemonSetForAllNamespaces(a) as Promise<Page<object>>,
    blocked('DaemonSet'),
    dropKind('DaemonSet'),
  );
  await run(
    'listing StatefulSets',
    (a) => apps.listStatefulSetForAllNamespaces(a) as Promise<Page<object>>,
    blocked('StatefulSet'),
    dropKind('StatefulSet'),
  );
  let objects: ObjectKeyFacts[] = [];
  let tokenSecrets: string[] = [];
  await run(
    'listing Secrets',
    (a) => core.listSecretForAllNamespaces(a),
    (items) => {
      for (const s of items) {
        if (s.type === SERVICE_ACCOUNT_TOKEN_TYPE)
          tokenSecrets.push(`${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}`);
        objects.push(...objectKeyFacts('Secret', s));
      }
    },
    () => {
      objects = objects.filter((o) => o.kind !== 'Secret');
      tokenSecrets = [];
    },
  );
  await run(
    'listing ConfigMaps',
    (a) => core.listConfigMapForAllNamespaces(a),
    (items) => {
      for (const c of items) objects.push(...objectKeyFacts('ConfigMap', c));
    },
    () => (objects = objects.filter((o) => o.kind !== 'ConfigMap')),
  );
  return { pods, replicaSets, blockers, tokenSecrets, objects };
}

/**
 * Namespaces (of `namespaces`) whose `kube-root-ca.crt` ConfigMap does not hold `newCa` yet (or is
 * missing): the controller-manager leader publishes its issuing CA there, and a pod started before it
 * does would load the old one again.
 */
export async function rootCaLagging(
  source: KubeconfigSource,
  namespaces: readonly string[],
  newCa: Fingerprint,
  opts: { timeoutMs?: number } = {},
): Promise<string[]> {
  const { api: core, server } = await coreApi(source);
  const lagging: string[] = [];
  for (const namespace of namespaces) {
    let text = '';
    try {
      const cm = await withTimeout(
        core.readNamespacedConfigMap({ namespace, name: ROOT_CA_CONFIGMAP }),
        opts.timeoutMs ?? 15_000,
        `reading ${namespace}/${ROOT_CA_CONFIGMAP} at ${server}`,
      );
      text = cm.data?.['ca.crt'] ?? '';
    } catch (err) {
      if ((err as { code?: number }).code !== 404)
        throw kubeError(err, server, source.origin, `reading ${namespace}/${ROOT_CA_CONFIGMAP}`);
    }
    if (!certificateFingerprints(text).includes(newCa)) lagging.push(namespace);
  }
  return lagging;
}
