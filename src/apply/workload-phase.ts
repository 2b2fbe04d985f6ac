/**
 * The workload phase of a run whose plan changes the control planes' issuing Kubernetes CA: once every
 * control plane serves from the new CA (after the Kubernetes issue step) and the `kube-root-ca.crt`
 * ConfigMap of each namespace concerned holds it, the workloads whose pods loaded the old CA are restarted
 * (`kubectl rollout restart`, in batches, each rollout waited for) or reported, as the desired state's
 * `workloads` section or `--workloads` says. Every decision is recorded in the state before it acts, so a
 * resumed run never restarts a workload twice. The Kubernetes calls are injected (`WorkloadPhaseDeps`).
 * A rollback that reverts the issuing Kubernetes CA runs the same phase after its revert step, for the pods
 * started since the rolled-back run's issue step (`startedAfter`), with records of its own.
 */
import { RotateError } from '../domain/errors.js';
import type { Fingerprint } from '../domain/types.js';
import { EVICTABLE_KINDS, type EvictableKind, type WorkloadPolicy } from '../desired/types.js';
import type { EvictionApi } from '../cluster/kube/eviction.js';
import type { RestartOutcome, WorkloadApi } from '../cluster/kube/rollout.js';
import { restartWorkload } from '../cluster/kube/rollout.js';
import type { StaleWorkload } from '../plan/model/index.js';
import type { WorkloadRecord } from '../state/types.js';
import { staleWorkloads, type WorkloadInventory } from '../workloads/find.js';
import { batches, decide, isRestartable } from '../workloads/rollout.js';

export interface WorkloadPhaseDeps {
  inventory(): Promise<WorkloadInventory>;
  /** Namespaces (of those given) whose kube-root-ca.crt does not hold `newCa` yet. */
  rootCaLagging(namespaces: readonly string[], newCa: Fingerprint): Promise<string[]>;
  api: WorkloadApi;
  /** The Eviction API, for the pods the section's `evict` names (absent: they are reported). */
  evictions?: EvictionApi;
  /**
   * How long a PodDisruptionBudget may keep refusing one pod's eviction (backoff in between) before the workload is
   * reported blocked.
   */
  evictTimeoutMs?: number;
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
  /**
   * A rollback's phase: pods started before this time loaded the CA the rollback returns to (they started
   * before the rolled-back run's Kubernetes issue step) and are left alone.
   */
  startedAfter?: string;
  /** The command that resumes the run, for hints (default apply). */
  operation?: 'apply' | 'rollback';
}

export interface WorkloadPhaseResult {
  restarted: number;
  left: number;
}

const idOf = (w: { namespace: string; kind: string; name: string }): string =>
  `${w.namespace}\u0000${w.kind}\u0000${w.name}`;

export async function runWorkloadPhase(deps: WorkloadPhaseDeps): Promise<WorkloadPhaseResult> {
  const nap = deps.nap ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const again = `\`rotate ${deps.operation ?? 'apply'}\``;
  // A rollback's target CA is the one it restores, and the CA it takes away is the rolled-back run's.
  const [target, replaced] = deps.operation === 'rollback' ? ['restored', 'rolled-back'] : ['new', 'old'];
  const earlier = new Map((await deps.records()).map((r) => [idOf(r), r]));

  // Pods started before kube-root-ca.crt held the new CA loaded the old one: before restarting anything,
  // wait until it does in every namespace concerned (a report only needs no wait).
  let inventory = await deps.inventory();
  let candidates = staleWorkloads(inventory, undefined, deps.startedAfter);
  const restarting = decide(candidates, deps.policy, deps.override).filter(
    (d) => (d.action === 'restart' && isRestartable(d.workload.kind)) || (d.action === 'evict' && deps.evictions),
  );
  const namespaces = [...new Set(restarting.map((d) => d.workload.namespace))].sort();
  const deadline = Date.now() + deps.timeoutMs;
  for (;;) {
    const lagging = namespaces.length === 0 ? [] : await deps.rootCaLagging(namespaces, deps.newCa);
    if (lagging.length === 0) break;
    if (Date.now() > deadline) {
      throw new RotateError(
        'WORKLOAD_ROOT_CA_STALE',
        `kube-root-ca.crt does not hold the ${target} Kubernetes API CA yet in namespace(s) ` +
          `${lagging.join(', ')}; restarting their workloads now would load the ${replaced} CA again`,
        {
          hint:
            `the controller-manager leader publishes its issuing CA there; check that every control plane's ` +
            `kube-controller-manager runs with the ${target} CA, then run ${again} again`,
        },
      );
    }
    await nap(deps.pollMs ?? 1000);
  }
  let rootCaAt: string | null = null;
  if (namespaces.length > 0) {
    rootCaAt = deps.now().toISOString();
    inventory = await deps.inventory();
    candidates = staleWorkloads(inventory, rootCaAt, deps.startedAfter);
  }

  let restarted = 0;
  let left = 0;
  const toRestart: StaleWorkload[] = [];
  const toEvict: StaleWorkload[] = [];
  for (const d of decide(candidates, deps.policy, deps.override)) {
    const w = d.workload;
    const prior = earlier.get(idOf(w));
    if (prior?.status === 'restarted' || prior?.status === 'evicted') continue; // done by this run already: never twice
    if (d.action === 'evict' && deps.evictions && rootCaAt) {
      toEvict.push(w);
      continue;
    }
    if (d.action === 'restart' && isRestartable(w.kind)) {
      toRestart.push(w);
      continue;
    }
    left++;
    const status = d.blocked ? 'blocked' : d.action === 'ignore' ? 'ignored' : 'reported';
    const reason =
      d.reportReason ??
      (d.action === 'ignore'
        ? 'ignored by the workloads section'
        : 'report only (workloads section or --workloads report)');
    await deps.record({ namespace: w.namespace, kind: w.kind, name: w.name, status, reason });
    deps.onWorkload?.(w, status, reason);
  }
  // A workload this run started restarting whose pods are all new now: finish its record too.
  for (const prior of earlier.values()) {
    if (prior.status !== 'started' || toRestart.some((w) => idOf(w) === idOf(prior))) continue;
    if (isRestartable(prior.kind))
      toRestart.push({ namespace: prior.namespace, kind: prior.kind, name: prior.name, pods: [] });
  }
  // Likewise a workload whose evictions this run started and whose pods are all gone or replaced now (a
  // replacement started after the recorded cutoff is not stale, so the workload is no longer listed).
  for (const prior of earlier.values()) {
    if (
      prior.status !== 'started' ||
      !prior.evictBefore ||
      !deps.evictions ||
      toEvict.some((w) => idOf(w) === idOf(prior))
    )
      continue;
    const kind = EVICTABLE_KINDS.find((k: EvictableKind) => k === prior.kind);
    if (kind) toEvict.push({ namespace: prior.namespace, kind, name: prior.name, pods: [] });
  }

  for (const batch of batches(toRestart, deps.batchSize)) {
    if (deps.signal?.aborted)
      throw new RotateError('WORKLOAD_INTERRUPTED', 'interrupted before the next batch of workload restarts', {
        hint: `${again} resumes without restarting a workload twice`,
        exitCode: 130,
      });
    const outcomes = await Promise.allSettled(
      batch.map(async (w): Promise<RestartOutcome> => {
        const kind = w.kind as 'Deployment' | 'DaemonSet' | 'StatefulSet';
        const prior = earlier.get(idOf(w));
        const restartedAt =
          prior?.status === 'started' && prior.restartedAt ? prior.restartedAt : deps.now().toISOString();
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
        if (out.status === 'restarted')
          await deps.record({ namespace: w.namespace, kind, name: w.name, status: 'restarted', restartedAt });
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
        if (prior?.status !== 'started')
          await deps.record({ namespace: w.namespace, kind: w.kind, name: w.name, status: 'failed', reason: message });
      }
      failures.push(`${w.kind} ${w.namespace}/${w.name}: ${message}`);
    }
    if (failures.length > 0) {
      throw new RotateError(
        'WORKLOAD_RESTART_FAILED',
        `the workload phase stopped: ${failures.length} workload(s) ` +
          `did not finish their rollout:\n${failures.map((f) => `  - ${f}`).join('\n')}`,
        {
          hint:
            `fix them (kubectl rollout status), then run ${again} again: restarted workloads are not restarted ` +
            'again',
        },
      );
    }
  }
  for (const w of toEvict) {
    if (deps.signal?.aborted)
      throw new RotateError('WORKLOAD_INTERRUPTED', 'interrupted before the next workload eviction', {
        hint: `${again} resumes without evicting a pod twice`,
        exitCode: 130,
      });
    const done = await evictWorkload(deps, w, earlier.get(idOf(w)), rootCaAt ?? deps.now().toISOString(), nap);
    if (done) restarted++;
    else left++;
  }
  return { restarted, left };
}

/** Backoff between refused evictions: 1 s doubling to 30 s (kubectl drain retries every 5 s). */
const EVICT_BACKOFF_MS = [1000, 2000, 4000, 8000, 16000, 30000];
/** How long a budget may keep refusing one pod by default (`kubectl drain` has no limit; a run must end). */
export const EVICT_TIMEOUT_MS = 5 * 60_000;

/**
 * Evict the pods of one Job / other-controller / bare-pod workload that started before `cutoff` (a resume
 * keeps the first attempt's cutoff, so replacement pods are never evicted), each recorded once evicted. A
 * PodDisruptionBudget that refuses (429) is asked again with backoff for `evictTimeoutMs`; then the
 * workload is recorded `blocked` with the budget's answer and the rest of its pods are left alone: no pod
 * is ever deleted around its budget. True when every pod is gone.
 */
async function evictWorkload(
  deps: WorkloadPhaseDeps,
  w: StaleWorkload,
  prior: WorkloadRecord | undefined,
  cutoff: string,
  nap: (ms: number) => Promise<void>,
): Promise<boolean> {
  const evictBefore = prior?.evictBefore ?? cutoff;
  const evicted = new Set(prior?.evicted ?? []);
  const before = Date.parse(evictBefore);
  const pods = w.pods
    .filter((p) => !evicted.has(p.name) && (p.startTime === null || Date.parse(p.startTime) < before))
    .map((p) => p.name);
  const base = { namespace: w.namespace, kind: w.kind, name: w.name, evictBefore };
  await deps.record({ ...base, status: 'started', evicted: [...evicted] });
  deps.onWorkload?.(w, 'started', `evicting ${pods.length} pod(s) started before ${evictBefore}`);
  const limit = deps.evictTimeoutMs ?? EVICT_TIMEOUT_MS;
  for (const pod of pods) {
    let waited = 0;
    for (let attempt = 0; ; attempt++) {
      const out = await deps.evictions!.evict(w.namespace, pod);
      if (out.outcome !== 'refused') break;
      const delay = EVICT_BACKOFF_MS[Math.min(attempt, EVICT_BACKOFF_MS.length - 1)]!;
      if (waited + delay > limit || deps.signal?.aborted) {
        const reason =
          `the eviction of pod ${pod} was refused for ${Math.round(waited / 1000)} s (${out.reason}); ` +
          `not forced: evict it once its PodDisruptionBudget allows, or run \`rotate apply\` again`;
        await deps.record({ ...base, status: 'blocked', evicted: [...evicted], reason });
        deps.onWorkload?.(w, 'blocked', reason);
        return false;
      }
      waited += delay;
      await nap(delay);
    }
    evicted.add(pod);
    await deps.record({ ...base, status: 'started', evicted: [...evicted] });
  }
  await deps.record({ ...base, status: 'evicted', evicted: [...evicted] });
  deps.onWorkload?.(w, 'evicted', `${evicted.size} pod(s) evicted`);
  return true;
}
