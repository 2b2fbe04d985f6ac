/**
 * Where a run's workload phase runs and in which mode, as pure decisions: the plan's `workloadPhase` entry
 * (after the step from which the control planes serve the Kubernetes API from another issuing CA), the mode
 * the `workloads` section or `--workloads` gives it, and, for a rollback, which pods loaded the CA the
 * rollback returns to (those started before the rolled-back run's Kubernetes issue step). No I/O.
 */
import type { WorkloadPolicy } from '../desired/types.js';
import type { Plan, WorkloadPhaseEntry } from '../plan/model/index.js';
import { kubernetesServerChange } from './find.js';

/** The phase's mode: `--workloads` wins; else the section (all restart, none restart, or some); else report. */
export function workloadPhaseMode(
  policy: WorkloadPolicy | undefined,
  override: 'restart' | 'report' | undefined,
): Pick<WorkloadPhaseEntry, 'mode' | 'modeSource'> {
  if (override) return { mode: override, modeSource: 'flag' };
  if (!policy) return { mode: 'report', modeSource: 'default' };
  const actions = [policy.default, ...Object.values(policy.namespaces), ...policy.selectors.map((r) => r.action)];
  const restarts = actions.filter((a) => a === 'restart').length;
  return {
    mode: restarts === 0 ? 'report' : restarts === actions.length ? 'restart' : 'mixed',
    modeSource: 'desired-state',
  };
}

/** The plan's `workloadPhase` entry; null when the plan changes no control plane's issuing Kubernetes CA. */
export function workloadPhaseEntry(
  plan: Pick<Plan, 'steps'>,
  policy: WorkloadPolicy | undefined,
  override: 'restart' | 'report' | undefined,
  podsStartedAfter?: string,
): WorkloadPhaseEntry | null {
  const change = kubernetesServerChange(plan);
  if (!change) return null;
  const step = plan.steps.find((s) => s.index === change.issueStep);
  return {
    afterStep: change.issueStep,
    afterStepId: step?.id ?? String(change.issueStep),
    newCa: change.newCa,
    ...workloadPhaseMode(policy, override),
    ...(podsStartedAfter !== undefined ? { podsStartedAfter } : {}),
  };
}

/** The parts of a state run record the rollback's lower bound reads. */
export interface RolledBackRunLike {
  startedAt: string;
  plan: Pick<Plan, 'steps'>;
  steps: readonly { index: number; startedAt: string | null }[];
  resumes: readonly {
    replanned?: { plan: Pick<Plan, 'steps'>; steps: readonly { index: number; startedAt: string | null }[] };
  }[];
}

/**
 * When the rolled-back run's Kubernetes issue step first began: pods started before it loaded the issuing CA
 * the cluster had before that run, which is what the rollback returns to, so they keep working after it.
 * Across the run's plans (a resume re-plans and keeps the replaced plan), the earliest recorded start of a
 * step that changed the control planes' issuing Kubernetes CA; the run's own start when no record says
 * (still a safe bound: before the run, every control plane issued from the CA the rollback returns to).
 */
export function rolledBackIssueStart(run: RolledBackRunLike): string {
  const attempts = [
    ...run.resumes.flatMap((r) => (r.replanned ? [r.replanned] : [])),
    { plan: run.plan, steps: run.steps },
  ];
  let earliest: string | null = null;
  for (const a of attempts) {
    const change = kubernetesServerChange(a.plan);
    const at = change ? (a.steps.find((s) => s.index === change.issueStep)?.startedAt ?? null) : null;
    if (at !== null && (earliest === null || Date.parse(at) < Date.parse(earliest))) earliest = at;
  }
  return earliest ?? run.startedAt;
}
