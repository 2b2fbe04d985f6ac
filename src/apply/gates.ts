/**
 * Verification gates that end each step (facts §1.4, §1.5): the Talos gate calls `Version` on every node
 * through the endpoints with the client that must work from now on; the Kubernetes gate lists Nodes with a
 * freshly fetched admin kubeconfig and requires every Node Ready. Both retry transient failures with
 * backoff inside a bounded time and fail naming the nodes.
 */
import { RotateError } from '../domain/errors.js';
import { listKubeNodes, type KubeNodeStatus } from '../kube/nodes.js';
import type { TalosClient } from '../talos/client.js';
import { mapSettledLimit } from '../util/concurrency.js';
import { BUDGETS, isTransient, sleep } from './retry.js';

export interface GateOptions {
  parallelism: number;
  signal?: AbortSignal;
  onAttempt?: (attempt: number, problem: string) => void;
  /** Budget override (ms). */
  budgetMs?: number;
}

export async function talosGate(client: TalosClient, nodes: readonly string[], clientLabel: string, opts: GateOptions): Promise<void> {
  const deadline = Date.now() + (opts.budgetMs ?? BUDGETS.talosGateMs);
  let pending = [...nodes];
  const failures = new Map<string, unknown>();
  for (let attempt = 1; ; attempt++) {
    const results = await mapSettledLimit(pending, opts.parallelism, (n) => client.version(n, { timeoutMs: 10_000, signal: opts.signal }));
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
    const permanent = pending.filter((n) => !isTransient(failures.get(n)));
    if (permanent.length > 0 || Date.now() >= deadline || opts.signal?.aborted) {
      throw gateError('GATE_TALOS_FAILED', `the Talos API gate failed with ${clientLabel}`, pending, failures);
    }
    opts.onAttempt?.(attempt, `${pending.length} node(s) not answering yet`);
    await sleep(Math.min(4_000, 250 * 2 ** (attempt - 1)), opts.signal);
  }
}

export interface KubernetesGateTarget {
  /** Admin kubeconfig source: fetched through the Talos API from a control plane on every attempt. */
  fetchKubeconfig: () => Promise<{ text: string; origin: string }>;
  serverOverride?: string;
  /** Listed machines (address, hostname) that must each be a Ready Node. */
  nodes: readonly { address: string; hostname: string }[];
}

export async function kubernetesGate(target: KubernetesGateTarget, opts: GateOptions): Promise<KubeNodeStatus[]> {
  const deadline = Date.now() + (opts.budgetMs ?? BUDGETS.kubernetesGateMs);
  let problem = '';
  for (let attempt = 1; ; attempt++) {
    try {
      const kc = await target.fetchKubeconfig();
      const list = await listKubeNodes({ ...kc, ...(target.serverOverride ? { serverOverride: target.serverOverride } : {}) }, { timeoutMs: 15_000 });
      const notReady: string[] = [];
      for (const n of target.nodes) {
        const k = list.find((x) => x.addresses.includes(n.address) || (n.hostname !== '' && x.name === n.hostname));
        if (!k) notReady.push(`${n.address} (no Node)`);
        else if (!k.ready) notReady.push(`${n.address} (${k.name} NotReady)`);
      }
      for (const k of list) if (!k.ready && !notReady.some((s) => s.includes(`(${k.name} `))) notReady.push(`${k.name} NotReady`);
      if (notReady.length === 0) return list;
      problem = `not Ready: ${notReady.join(', ')}`;
    } catch (err) {
      if (!isTransient(err) && RotateError.is(err) && err.code === 'KUBE_TLS') throw err;
      problem = RotateError.is(err) ? err.message : String(err);
    }
    if (Date.now() >= deadline || opts.signal?.aborted) {
      throw new RotateError('GATE_KUBERNETES_FAILED', `the Kubernetes gate failed: ${problem}`, {
        hint: 'look at the listed nodes (kubectl describe node; talosctl -n <node> service kubelet); when they are Ready, run `rotate apply` again to resume, or `rotate rollback`',
        source: 'cluster',
      });
    }
    opts.onAttempt?.(attempt, problem);
    await sleep(Math.min(5_000, 500 * 2 ** (attempt - 1)), opts.signal);
  }
}

function gateError(code: string, what: string, nodes: string[], failures: Map<string, unknown>): RotateError {
  const lines = nodes.map((n) => {
    const e = failures.get(n);
    return `  - ${n}: ${RotateError.is(e) ? e.message : String(e)}`;
  });
  return new RotateError(code, `${what}: ${nodes.length} node(s) failed:\n${lines.join('\n')}`, {
    hint: 'fix what the nodes report (nothing after this gate ran); then run `rotate apply` again to resume, or `rotate rollback`',
    source: 'cluster',
  });
}
