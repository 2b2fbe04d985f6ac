/**
 * Kubernetes API checks the rotation relies on: the Node list and each Node's Ready condition, read with
 * @kubernetes/client-node from an admin kubeconfig (a file, or the text the Talos Kubeconfig API returns).
 * TLS verification stays on: the kubeconfig's CA data is the only trust.
 */
import { RotateError } from '../../domain/errors.js';
import { loadKubeClient } from './client-module.js';

export interface KubeNodeStatus {
  name: string;
  ready: boolean;
  /** InternalIP / Hostname addresses the Node reports. */
  addresses: string[];
}

export interface KubeconfigSource {
  /** Kubeconfig YAML text. */
  text: string;
  /** For messages: where it came from (file path, or "kubeconfig from node X"). */
  origin: string;
  /** Replace the cluster server URL (the desired state's Kubernetes endpoint override). */
  serverOverride?: string;
}

export async function listKubeNodes(
  source: KubeconfigSource,
  opts: { timeoutMs?: number } = {},
): Promise<KubeNodeStatus[]> {
  const { api, server } = await coreApi(source);
  const list = await kubeCall(source, server, opts.timeoutMs ?? 15_000, 'listing Nodes', () => api.listNode({}));
  return list.items.map((n) => ({
    name: n.metadata?.name ?? '',
    ready: (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    addresses: (n.status?.addresses ?? []).map((a) => a.address),
  }));
}

/**
 * Each Node's Lease renewal (`kube-node-lease` namespace, Lease name = Node name): `spec.renewTime` as the
 * server returned it (an opaque token to compare with an earlier read, never with the local clock: node
 * clocks skew), or null for a Lease without one.
 */
export async function listNodeLeases(
  source: KubeconfigSource,
  opts: { timeoutMs?: number } = {},
): Promise<Map<string, string | null>> {
  const { k8s, kc, server } = await loadKubeconfig(source);
  const api = kc.makeApiClient(k8s.CoordinationV1Api);
  const list = await kubeCall(source, server, opts.timeoutMs ?? 15_000, 'listing node Leases', () =>
    api.listNamespacedLease({ namespace: 'kube-node-lease' }),
  );
  const out = new Map<string, string | null>();
  for (const l of list.items) {
    const renew = l.spec?.renewTime as unknown;
    const text =
      renew instanceof Date
        ? Number.isNaN(renew.getTime())
          ? null
          : renew.toISOString()
        : typeof renew === 'string'
          ? renew
          : null;
    out.set(l.metadata?.name ?? '', text);
  }
  return out;
}

/**
 * Starts loading @kubernetes/client-node (see client-module.ts) without
 * waiting for it, so that the load overlaps the network waits of what comes before the first Kubernetes call.
 */
export function preloadKubeClient(): void {
  loadKubeClient().catch(() => undefined);
}

/** Loads a kubeconfig for @kubernetes/client-node (TLS verification as the file says; never disabled). */
export async function loadKubeconfig(source: KubeconfigSource) {
  const k8s = await loadKubeClient();
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromString(source.text);
  } catch (err) {
    throw new RotateError(
      'KUBE_BAD_KUBECONFIG',
      `${source.origin} is not a usable kubeconfig: ${(err as Error).message}`,
      {
        hint: 'fetch a fresh one with `talosctl kubeconfig`, or point the desired state at the right file',
      },
    );
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new RotateError('KUBE_BAD_KUBECONFIG', `${source.origin} has no current cluster`, {
      hint: 'check its current-context',
    });
  }
  if (source.serverOverride) {
    kc.clusters = kc.clusters.map((c) =>
      c.name === cluster.name ? { ...c, server: source.serverOverride as string } : c,
    );
  }
  const server = source.serverOverride ?? cluster.server;
  return { k8s, kc, server };
}

export function kubeError(err: unknown, server: string, origin: string, what: string): RotateError {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code ?? '';
  const message = e.message ?? String(err);
  if (RotateError.is(err)) return err;
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|certificate/i.test(`${code} ${message}`)) {
    return new RotateError(
      'KUBE_TLS',
      `the Kubernetes API at ${server} is not trusted by ${origin}: ${code || message}`,
      {
        hint:
          "the kubeconfig's CA data does not include the CA that signed the API server certificate; " +
          'fetch a fresh kubeconfig',
      },
    );
  }
  if (/ECONNREFUSED|EHOSTUNREACH|ETIMEDOUT|ENOTFOUND|ECONNRESET/.test(`${code} ${message}`)) {
    return new RotateError('KUBE_UNREACHABLE', `cannot reach the Kubernetes API at ${server}: ${code || message}`, {
      hint: 'check the cluster endpoint (or set cluster.kubernetesEndpoint in the desired state)',
      transient: true,
    });
  }
  const status = (err as { code?: number }).code;
  if (status === 401 || status === 403) {
    return new RotateError('KUBE_FORBIDDEN', `the Kubernetes API at ${server} refused ${origin} (HTTP ${status})`, {
      hint: 'the kubeconfig needs an admin (system:masters) client certificate',
    });
  }
  return new RotateError('KUBE_API', `${what} at ${server} failed: ${message.split('\n')[0]}`, {
    hint: 'check that the Kubernetes API is healthy',
    // An apiserver restarting or overloaded answers 5xx or 429: another attempt may succeed.
    transient: typeof status === 'number' && (status >= 500 || status === 429),
  });
}

/** The core/v1 API of the kubeconfig's cluster, and the server it talks to. */
export async function coreApi(source: KubeconfigSource) {
  const { k8s, kc, server } = await loadKubeconfig(source);
  return { api: kc.makeApiClient(k8s.CoreV1Api), server };
}

/** One API call through `server`, bounded by `timeoutMs`; a failure becomes kubeError(..., what). */
export async function kubeCall<T>(
  source: KubeconfigSource,
  server: string,
  timeoutMs: number,
  what: string,
  p: () => Promise<T>,
): Promise<T> {
  try {
    return await withTimeout(p(), timeoutMs, `${what} at ${server}`);
  } catch (err) {
    throw kubeError(err, server, source.origin, what);
  }
}

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new RotateError('KUBE_TIMEOUT', `${what} timed out after ${ms} ms`, {
            hint: 'check that the Kubernetes API is reachable',
            transient: true,
          }),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
