/**
 * Apply's `extension-apiserver-authentication` step (plan/model ExtensionAuthStep, talos-behaviour.md §4.5): once the
 * step it follows has removed the dropped Kubernetes CAs from every control plane and each kube-apiserver
 * runs that config, replace the ConfigMap's `client-ca-file` with exactly the Kubernetes CAs every apiserver
 * trusts (other keys kept; optimistic concurrency, retried on conflict; never deleted), then gate: no
 * apiserver writes a removed CA back within the settle window. Idempotent: a resumed run does it again
 * and finds nothing to write.
 */
import type { ExtensionAuthStep, Plan } from '../plan/model/index.js';
import type { CaCatalog } from '../cluster/session/ca-catalog.js';
import type { KubeconfigSource } from '../cluster/kube/nodes.js';
import {
  bundleCertsFromPems,
  extensionAuthGate,
  replaceExtensionAuthClientCa,
  type ReplaceOutcome,
} from '../cluster/kube/extension-auth.js';

/** Override of the gate's settle window (ms), e.g. for a lab whose apiservers re-sync faster than a minute. */
export const SETTLE_ENV = 'ROTATE_EXTENSION_AUTH_SETTLE_MS';

export function settleMs(step: ExtensionAuthStep, env: NodeJS.ProcessEnv = process.env): number {
  const v = env[SETTLE_ENV];
  if (v !== undefined && /^\d+$/.test(v)) return Number(v);
  return step.gate.settleMs;
}

export interface ExtensionAuthRun {
  step: ExtensionAuthStep;
  catalog: CaCatalog;
  /** A fresh admin kubeconfig (after the step: every apiserver serves the new CA). */
  kubeconfig: () => Promise<KubeconfigSource>;
  onWritten?: (outcome: ReplaceOutcome) => void;
  onAttempt?: (attempt: number, problem: string) => void;
}

export async function runExtensionAuth(run: ExtensionAuthRun): Promise<ReplaceOutcome | null> {
  const { step } = run;
  if (step.mode !== 'replace') return null;
  const trusted = bundleCertsFromPems(step.clientCa.map((fp) => run.catalog.requirePem(fp, 'Kubernetes CA')));
  const outcome = await replaceExtensionAuthClientCa(await run.kubeconfig(), trusted);
  run.onWritten?.(outcome);
  if (outcome.absent) return outcome;
  // Watch for a write-back of anything that is not trusted any more: the plan's dropped CAs and whatever else the write
  // removed.
  const removed = [...new Set([...step.removes, ...outcome.removed])];
  await extensionAuthGate(run.kubeconfig, removed, {
    settleMs: settleMs(step),
    ...(run.onAttempt ? { onAttempt: run.onAttempt } : {}),
  });
  return outcome;
}

/**
 * A resumed run re-plans from where the nodes are: once the step the ConfigMap write follows is done, the
 * new plan drops nothing, so it would lose the write. Carry it over from the run's earlier plans, to run
 * after the new plan's last step (or on its own when nothing is left).
 */
export function carryExtensionAuth(plan: Plan, earlier: readonly Plan[]): Plan {
  if (plan.extensionAuth) return plan;
  const prior = [...earlier].reverse().find((p) => p.extensionAuth)?.extensionAuth;
  if (!prior) return plan;
  return { ...plan, extensionAuth: { ...prior, afterStep: plan.steps.at(-1)?.id ?? null } };
}
