/**
 * Verification gates that end each step (talos-behaviour.md §2.2, §2.3): the Talos gate calls `Version` on every node
 * through the endpoints with the client that must work from now on; the Kubernetes gate lists Nodes with a
 * freshly fetched admin kubeconfig and requires every Node Ready and its Lease renewed since the gate
 * started. Both follow one retry policy (isGateRetryable): another attempt inside the gate's bounded time
 * for a transient failure or a server certificate not trusted yet; any other failure fails the gate at once.
 *
 * Lag cannot fool them (talos-behaviour.md §5.7): a Node stays Ready for the grace period (~40 s) after its kubelet is
 * stranded, so Ready alone is not enough; its Lease `renewTime` must change after the wave ended, compared
 * with the value first read by this gate (never with the local clock: node clocks skew). Every Talos gate
 * attempt opens new connections (a new TLS handshake with the endpoint), since an HTTP/2 connection opened
 * before a swap keeps working after the endpoint's certificate changed (talos-behaviour.md §2.2, "Important subtlety").
 */
import { RotateError, isBug } from '../domain/errors.js';
import { listKubeNodes, listNodeLeases, type KubeNodeStatus } from '../cluster/kube/nodes.js';
import type { TalosApi } from '../talos/talos-api.js';
import { TalosApiError } from '../talos/errors.js';
import { mapSettledLimit } from '../util/concurrency.js';
import { BUDGETS, isTransient, sleep } from './retry.js';

export interface GateOptions {
  parallelism: number;
  signal?: AbortSignal;
  onAttempt?: (attempt: number, problem: string) => void;
  /** Budget override (ms). */
  budgetMs?: number;
}

/**
 * The retry policy of both gates. Transient failures (RotateError.transient) are worth another attempt.
 * So is a server certificate the gate's client does not trust yet, unlike in a single call: while
 * certificates are being re-issued (a control plane's apid re-signs after its Talos CA changed, a worker
 * waits for trustd, a kube-apiserver is re-created from its new config) a server may briefly serve one.
 */
export function isGateRetryable(err: unknown): boolean {
  if (isTransient(err)) return true;
  if (TalosApiError.isTalosApiError(err)) return err.kind === 'tls-untrusted-server';
  return RotateError.is(err) && err.code === 'KUBE_TLS';
}

/**
 * `connect` makes a new client (new connections, new TLS handshakes) for each attempt; the gate closes it.
 * A client reused from before the gate would answer over a connection opened before the change verified.
 */
export async function talosGate(
  connect: () => TalosApi | Promise<TalosApi>,
  nodes: readonly string[],
  clientLabel: string,
  opts: GateOptions,
): Promise<void> {
  const deadline = Date.now() + (opts.budgetMs ?? BUDGETS.talosGateMs);
  let pending = [...nodes];
  const failures = new Map<string, unknown>();
  for (let attempt = 1; ; attempt++) {
    // One new client per attempt, opened after the change it verifies, shared by every node of the
    // attempt: each call goes through the endpoint (apid proxies it to the node), so a client per node
    // only repeated the same handshake with the same endpoint, 200 times at 200 nodes.
    const client = await connect();
    const results = await mapSettledLimit(pending, opts.parallelism, (node) =>
      client.version(node, { timeoutMs: 10_000, ...(opts.signal ? { signal: opts.signal } : {}) }),
    ).finally(() => client.close());
    const next: string[] = [];
    results.forEach((r, i) => {
      const n = pending[i]!;
      if (r.status === 'fulfilled') failures.delete(n);
      else {
        failures.set(n, r.reason);
        next.push(n);
      }
    });
    pending = next;
    if (pending.length === 0) return;
    const permanent = pending.filter((n) => !isGateRetryable(failures.get(n)));
    if (permanent.length > 0 || Date.now() >= deadline || opts.signal?.aborted) {
      throw gateError('GATE_TALOS_FAILED', `the Talos API gate failed with ${clientLabel}`, pending, failures);
    }
    opts.onAttempt?.(attempt, `${pending.length} node(s) not answering yet`);
    await sleep(Math.min(4_000, 250 * 2 ** (attempt - 1)), opts.signal);
  }
}

/** The Kubernetes gate's longest pause between two checks. */
export const KUBERNETES_GATE_TICK_MS = 1_000;

export interface KubernetesGateTarget {
  /** Admin kubeconfig source: fetched through the Talos API from a control plane on every attempt. */
  fetchKubeconfig: () => Promise<{ text: string; origin: string }>;
  serverOverride?: string;
  /** Listed machines (address, hostname) that must each be a Ready Node. */
  nodes: readonly { address: string; hostname: string }[];
}

export async function kubernetesGate(target: KubernetesGateTarget, opts: GateOptions): Promise<KubeNodeStatus[]> {
  const deadline = Date.now() + (opts.budgetMs ?? BUDGETS.kubernetesGateMs);
  let problem: string;
  /** A failure another attempt cannot fix (not isGateRetryable): the gate fails at once. */
  let permanent: unknown;
  /** Each Node's Lease renewTime as first read by this gate (after the wave ended); null: no Lease yet. */
  let baseline: Map<string, string | null> | null = null;
  // Fetched afresh for this gate (after the step's last wave), and again after any failed attempt: minting
  // one costs the control plane a signature, and a new one per tick proved nothing more.
  let kubeconfig: Promise<{ text: string; origin: string }> | null = null;
  for (let attempt = 1; ; attempt++) {
    try {
      const kc = await (kubeconfig ??= target.fetchKubeconfig());
      const source = { ...kc, ...(target.serverOverride ? { serverOverride: target.serverOverride } : {}) };
      const list = await listKubeNodes(source, { timeoutMs: 15_000 });
      const leases = await listNodeLeases(source, { timeoutMs: 15_000 });
      const first = baseline === null;
      baseline ??= leases;
      const seen = baseline;
      const notReady: string[] = [];
      const stale: string[] = [];
      const renewed = (name: string): boolean => {
        const now = leases.get(name) ?? null;
        return now !== null && !first && now !== (seen.get(name) ?? null);
      };
      for (const n of target.nodes) {
        const k = list.find((x) => x.addresses.includes(n.address) || (n.hostname !== '' && x.name === n.hostname));
        if (!k) notReady.push(`${n.address} (no Node)`);
        else if (!k.ready) notReady.push(`${n.address} (${k.name} NotReady)`);
        else if (!renewed(k.name)) stale.push(`${n.address} (${k.name})`);
      }
      for (const k of list) {
        if (notReady.some((s) => s.includes(`(${k.name} `)) || stale.some((s) => s.includes(`(${k.name})`))) continue;
        if (!k.ready) notReady.push(`${k.name} NotReady`);
        else if (
          !target.nodes.some((n) => k.addresses.includes(n.address) || k.name === n.hostname) &&
          !renewed(k.name)
        )
          stale.push(k.name);
      }
      if (notReady.length === 0 && stale.length === 0) return list;
      problem = [
        ...(notReady.length > 0 ? [`not Ready: ${notReady.join(', ')}`] : []),
        ...(stale.length > 0
          ? [
              first
                ? `waiting for every Node's Lease to be renewed (${stale.length} read)`
                : `Lease not renewed since the gate started (kubelet not heartbeating): ${stale.join(', ')}`,
            ]
          : []),
      ].join('; ');
    } catch (err) {
      kubeconfig = null;
      problem = RotateError.is(err) ? err.message : String(err);
      if (!isGateRetryable(err)) permanent = err;
    }
    if (permanent !== undefined || Date.now() >= deadline || opts.signal?.aborted) {
      throw new RotateError('GATE_KUBERNETES_FAILED', `the Kubernetes gate failed: ${problem}`, {
        ...(permanent !== undefined ? { cause: permanent } : {}),
        hint:
          'look at the listed nodes (kubectl describe node; kubectl -n kube-node-lease get lease; ' +
          'talosctl -n <node> service kubelet); when they are Ready and heartbeating, ' +
          'run `rotate apply` again to resume, or `rotate rollback`',
        source: permanent !== undefined && isBug(permanent) ? 'internal' : 'cluster',
      });
    }
    opts.onAttempt?.(attempt, problem);
    // One list of Nodes and one of Leases per tick, whatever the cluster size; the tick stays short (the
    // Leases renew every few seconds) instead of backing off to 5 s, which added up to 5 s to every gate.
    await sleep(Math.min(KUBERNETES_GATE_TICK_MS, 500 * 2 ** (attempt - 1)), opts.signal);
  }
}

function gateError(code: string, what: string, nodes: string[], failures: Map<string, unknown>): RotateError {
  const lines = nodes.map((n) => {
    const e = failures.get(n);
    return `  - ${n}: ${RotateError.is(e) ? e.message : String(e)}`;
  });
  return new RotateError(code, `${what}: ${nodes.length} node(s) failed:\n${lines.join('\n')}`, {
    hint:
      'fix what the nodes report (nothing after this gate ran); then run `rotate apply` again to resume, ' +
      'or `rotate rollback`',
    source: 'cluster',
  });
}
