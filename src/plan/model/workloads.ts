/**
 * What the plan finds in the live cluster that will hold the old Kubernetes API CA once the control planes
 * serve from the new one (talos-behaviour.md §5.4): pods that loaded `ca.crt` before that step, grouped by the workload
 * that owns them, and Secret / ConfigMap keys that embed the old CA. Names only, never object data.
 * `docs/plan-format.md` documents it.
 */
import type { Fingerprint } from '../../domain/types.js';

/** How a pod is owned: its controller chain folded to the workload a user manages. */
export type WorkloadKind = 'Deployment' | 'DaemonSet' | 'StatefulSet' | 'Job' | 'Other' | 'Pod';

export interface StalePod {
  name: string;
  /** `status.startTime` as the API returned it; null when not set yet (a pending pod). */
  startTime: string | null;
  node: string | null;
}

/** One workload whose pods mount the service-account CA and started before the issue step. */
export interface StaleWorkload {
  namespace: string;
  kind: WorkloadKind;
  name: string;
  /** For kind `Other`: the controller's `apiVersion` and `kind` (e.g. `apps/v1 ReplicaSet`, `example.com/v1 Foo`). */
  controller?: string;
  /**
   * The labels of its first pod (its pod template's), without the controllers' hash labels; what `workloads.selectors`
   * match.
   */
  labels?: Record<string, string>;
  pods: StalePod[];
  /**
   * Why a rollout restart would replace none of its pods (a paused Deployment, the `OnDelete` update
   * strategy, a StatefulSet partition), read from the workload at plan time; absent: a restart rolls it.
   */
  blocker?: string;
  /**
   * Why `action` is `report` although the desired state asks for `restart` (the blocker, or a kind no rollout restart
   * applies to).
   */
  reason?: string;
  /**
   * What `rotate apply` does with it by the desired state's `workloads` section (`--workloads` may
   * override): `restart` only for Deployments, DaemonSets and StatefulSets a rollout restart rolls (no
   * `blocker`); `evict` for Job / other-controller / bare pods where the section's `evict` names the kind;
   * absent in plans made before it.
   */
  action?: 'restart' | 'report' | 'ignore' | 'evict';
}

/** A Secret or ConfigMap with keys whose value embeds the old CA (PEM, or base64 of PEM, at any depth). */
export interface StaleObject {
  kind: 'Secret' | 'ConfigMap';
  namespace: string;
  name: string;
  keys: string[];
  /** Some matching key also holds the new issuing CA (a client that trusts both keeps working). */
  holdsNewCa: boolean;
}

export interface WorkloadsReport {
  /** Index of the step from which control planes serve the Kubernetes API from the new issuing CA. */
  issueStep: number;
  /** The issuing Kubernetes CA(s) the control planes serve from before that step. */
  oldCas: Fingerprint[];
  newCa: Fingerprint;
  /** `listed`: read from the cluster; `unavailable`: the Kubernetes API could not be read (see `reason`). */
  status: 'listed' | 'unavailable';
  reason?: string;
  workloads: StaleWorkload[];
  objects: StaleObject[];
}

/**
 * Where the run's workload phase runs and what it does (`plan.workloadPhase`): right after step `afterStep`
 * (the step from which the control planes serve the Kubernetes API from `newCa`), once `kube-root-ca.crt`
 * holds `newCa` in the namespaces concerned. Absent when the plan changes no issuing Kubernetes CA.
 */
export interface WorkloadPhaseEntry {
  afterStep: number;
  afterStepId: string;
  /** The issuing Kubernetes CA the restarted pods load. */
  newCa: Fingerprint;
  /** `restart` / `report` for every workload, or `mixed`: the workloads section restarts some and not others. */
  mode: 'restart' | 'report' | 'mixed';
  /**
   * What chose the mode: `flag` (`--workloads`), `desired-state` (its `workloads` section), `default` (neither:
   * report).
   */
  modeSource: 'flag' | 'desired-state' | 'default';
  /**
   * A rollback's phase only: pods started before this time (when the rolled-back run's Kubernetes issue step
   * began) loaded the CA the rollback returns to, and are left alone.
   */
  podsStartedAfter?: string;
}
