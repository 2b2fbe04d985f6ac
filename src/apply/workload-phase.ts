/**
 * The workload phase of a run whose plan changes the control planes' issuing Kubernetes CA: once every
 * control plane serves from the new CA (after the Kubernetes issue step) and the `kube-root-ca.crt`
 * ConfigMap of each namespace concerned holds it, the workloads whose pods loaded the old CA are restarted
 * (`kubectl rollout restart`, in batches, each rollout waited for) or reported, as the desired state's
 * `workloads` section or `--workloads` says. Every decision is recorded in the state before it acts, so a
 * resumed run never restarts a workload twice. The Kubernetes calls are injected (`WorkloadPhaseDeps`).
 */
import { RotateError } from '../domain/errors.js';
import type { Fingerprint } from '../domain/types.js';
import type { WorkloadPolicy } from '../desired/types.js';
import type { RestartOutcome, WorkloadApi } from '../kube/rollout.js';
import { restartWorkload } from '../kube/rollout.js';
import type { StaleWorkload } from '../plan/model/index.js';
import type { WorkloadRecord } from '../state/types.js';
import { staleWorkloads, type WorkloadInventory } from '../workloads/find.js';
import { batches, decide, isRestartable } from '../workloads/rollout.js';

export interface WorkloadPhaseDeps {
  inventory(): Promise<WorkloadInventory>;
  /** Namespaces (of those given) whose kube-root-ca.crt does not hold `newCa` yet. */
  rootCaLagging(namespaces: readonly string[], newCa: Fingerprint): Promise<string[]>;
  api: WorkloadApi;
  /** What the state holds for this run (a resume sees the earlier attempt's records). */
  records(): Promise<WorkloadRecord[]>;
  record(r: Omit<WorkloadRecord, 'updatedAt'>): Promise<void>;
  policy: WorkloadPolicy | undefined;
  override: 'restart' | 'report' | undefined;
  newCa: Fingerprint;
  batchSize: number;
  now(): Date;
  /** Per rollout; and how long kube-root-ca.crt may take to hold the new CA. */
  timeoutMs: number;
  pollMs?: number;
  nap?: (ms: number) => Promise<void>;
  signal?: AbortSignal;
  onWorkload?: (w: StaleWorkload, status: WorkloadRecord['status'], detail: string | null) => void;
}

export interface WorkloadPhaseResult {
  restarted: number;
  left: number;
}

const idOf = (w: { namespace: string; kind: string; name: string }): string => `${w.namespace}\u0000${w.kind}\u0000${w.name}`;

export async function runWorkloadPhase(deps: WorkloadPhaseDeps): Promise<WorkloadPhaseResult> {
  const nap = deps.nap ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const earlier = new Map((await deps.records()).map((r) => [idOf(r), r]));

  // Pods started before kube-root-ca.crt held the new CA loaded the old one: before restarting anything,
  // wait until it does in every namespace concerned (a report only needs no wait).
  let inventory = await deps.inventory();
  let candidates = staleWorkloads(inventory);
  const restarting = decide(candidates, deps.policy, deps.override).filter((d) => d.action === 'restart' && isRestartable(d.workload.kind));
  const namespaces = [...new Set(restarting.map((d) => d.workload.namespace))].sort();
  const deadline = Date.now() + deps.timeoutMs;
  for (;;) {
    const lagging = namespaces.length === 0 ? [] : await deps.rootCaLagging(namespaces, deps.newCa);
    if (lagging.length === 0) break;
    if (Date.now() > deadline) {
      throw new RotateError('WORKLOAD_ROOT_CA_STALE', `kube-root-ca.crt does not hold the new Kubernetes API CA yet in namespace(s) ${lagging.join(', ')}; restarting their workloads now would load the old CA again`, {
        hint: "the controller-manager leader publishes its issuing CA there; check that every control plane's kube-controller-manager runs with the new CA, then run `rotate apply` again",
      });
    }
    await nap(deps.pollMs ?? 1000);
  }
  if (namespaces.length > 0) {
    const rootCaAt = deps.now().toISOString();
    inventory = await deps.inventory();
    candidates = staleWorkloads(inventory, rootCaAt);
  }

  let restarted = 0;
  let left = 0;
  const toRestart: StaleWorkload[] = [];
  for (const d of decide(candidates, deps.policy, deps.override)) {
    const w = d.workload;
    const prior = earlier.get(idOf(w));
    if (prior?.status === 'restarted') continue; // restarted by this run already: never twice
    if (d.action === 'restart' && isRestartable(w.kind)) {
      toRestart.push(w);
      continue;
    }
    left++;
    const status = d.blocked ? 'blocked' : d.action === 'ignore' ? 'ignored' : 'reported';
    const reason = d.reportReason ?? (d.action === 'ignore' ? 'ignored by the workloads section' : 'report only (workloads section or --workloads report)');
    await deps.record({ namespace: w.namespace, kind: w.kind, name: w.name, status, reason });
    deps.onWorkload?.(w, status, reason);
  }
  // A workload this run started restarting whose pods are all new now: finish its record too.
  for (const prior of earlier.values()) {
    if (prior.status !== 'started' || toRestart.some((w) => idOf(w) === idOf(prior))) continue;
    if (isRestartable(prior.kind)) toRestart.push({ namespace: prior.namespace, kind: prior.kind, name: prior.name, pods: [] });
  }

  for (const batch of batches(toRestart, deps.batchSize)) {
    if (deps.signal?.aborted) throw new RotateError('WORKLOAD_INTERRUPTED', 'interrupted before the next batch of workload restarts', { hint: '`rotate apply` resumes without restarting a workload twice', exitCode: 130 });
    const outcomes = await Promise.allSettled(
      batch.map(async (w): Promise<RestartOutcome> => {
        const kind = w.kind as 'Deployment' | 'DaemonSet' | 'StatefulSet';
        const prior = earlier.get(idOf(w));
        const restartedAt = prior?.status === 'started' && prior.restartedAt ? prior.restartedAt : deps.now().toISOString();
        const out = await restartWorkload(deps.api, { kind, namespace: w.namespace, name: w.name }, restartedAt, {
          // Recorded before the patch is sent: a resume then never sends a second restart.
          beforePatch: async () => {
            await deps.record({ namespace: w.namespace, kind, name: w.name, status: 'started', restartedAt });
            deps.onWorkload?.(w, 'started', restartedAt);
          },
          timeoutMs: deps.timeoutMs,
          ...(deps.pollMs !== undefined ? { pollMs: deps.pollMs } : {}),
          nap,
          ...(deps.signal ? { signal: deps.signal } : {}),
        });
        if (out.status === 'restarted') await deps.record({ namespace: w.namespace, kind, name: w.name, status: 'restarted', restartedAt });
        else await deps.record({ namespace: w.namespace, kind, name: w.name, status: 'blocked', reason: out.reason });
        deps.onWorkload?.(w, out.status, out.status === 'blocked' ? out.reason : restartedAt);
        return out;
      }),
    );
    const failures: string[] = [];
    for (const [i, o] of outcomes.entries()) {
      const w = batch[i]!;
      if (o.status === 'fulfilled') {
        if (o.value.status === 'restarted') restarted++;
        else left++;
        continue;
      }
      const err = o.reason as unknown;
      const message = RotateError.is(err) ? err.message : String(err);
      if (!(RotateError.is(err) && err.code === 'WORKLOAD_INTERRUPTED')) {
        // The record stays `started` (with its restartedAt) when the patch went out: a resume waits for it.
        const prior = (await deps.records()).find((r) => idOf(r) === idOf(w));
        if (prior?.status !== 'started') await deps.record({ namespace: w.namespace, kind: w.kind, name: w.name, status: 'failed', reason: message });
      }
      failures.push(`${w.kind} ${w.namespace}/${w.name}: ${message}`);
    }
    if (failures.length > 0) {
      throw new RotateError('WORKLOAD_RESTART_FAILED', `the workload phase stopped: ${failures.length} workload(s) did not finish their rollout:\n${failures.map((f) => `  - ${f}`).join('\n')}`, {
        hint: 'fix them (kubectl rollout status), then run `rotate apply` again: restarted workloads are not restarted again',
      });
    }
  }
  return { restarted, left };
}
