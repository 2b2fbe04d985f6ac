/**
 * Where the plan replaces the `extension-apiserver-authentication` ConfigMap's client CAs (talos-behaviour.md §4.5;
 * model/plan.ts ExtensionAuthStep). Pure.
 *
 * Every kube-apiserver keeps that ConfigMap as the union of what it holds and its own `--client-ca-file`,
 * removing only expired certificates (Kubernetes `pkg/controlplane/controller/clusterauthenticationtrust`),
 * so a Kubernetes API CA the plan drops stays there, trusted by every extension API server, until it expires.
 * Replacing it is only worth anything once no apiserver trusts the CA any more, or the first one to re-sync
 * writes it back. So the step is placed after the last step that changes a control plane's Kubernetes trust
 * so that it no longer holds a dropped CA (its patches wait until that control plane's kube-apiserver runs
 * the new config: apply/static-pods.ts), and only when, following every step's targets, no control plane
 * trusts a dropped CA at the end. What it writes is what every apiserver then trusts: the desired
 * Kubernetes issuing CA and accepted CAs.
 */
import type { Fingerprint } from '../../domain/types.js';
import type { ApiState, AuthorityRef, ExtensionAuthStep, PlanInput, Step } from '../model/index.js';

/**
 * How long the gate waits before it re-reads the ConfigMap: every apiserver re-syncs as soon as its informer
 * sees the write (within about a second), and otherwise every minute.
 */
export const EXTENSION_AUTH_SETTLE_MS = 10_000;

function trusted(s: ApiState): Fingerprint[] {
  return s.issuing ? [...s.accepted, s.issuing] : [...s.accepted];
}

export function planExtensionAuth(
  input: PlanInput,
  steps: readonly Step[],
  authorities: readonly AuthorityRef[],
  settleMs = EXTENSION_AUTH_SETTLE_MS,
): { step: ExtensionAuthStep | null; notices: string[] } {
  const desired = input.desired.kubernetes;
  const droppedCas = authorities
    .filter((a) => a.api === 'kubernetes' && a.disposition === 'dropped')
    .map((a) => a.fingerprint);
  if (!desired) return { step: null, notices: [] };
  // CAs the ConfigMap still holds that no control plane trusts now nor at the end (left by an earlier
  // rotation: the union rule keeps them until they expire).
  const controlPlanes = input.nodes.filter((n) => n.role === 'controlplane');
  const trustedSomewhere = new Set([
    ...controlPlanes.flatMap((n) => trusted(n.kubernetes as ApiState)),
    desired.issuing,
    ...desired.accepted,
    ...droppedCas,
  ]);
  const stale = [...new Set(input.extensionAuth?.clientCa ?? [])].filter((fp) => !trustedSomewhere.has(fp));
  const removes = [...droppedCas, ...stale];
  if (removes.length === 0) return { step: null, notices: [] };
  const mode = input.extensionAuth?.mode ?? 'replace';
  const dropped = new Set(droppedCas);
  const holdsDropped = (s: ApiState): boolean => trusted(s).some((fp) => dropped.has(fp));

  // Follow each control plane's Kubernetes trust through the steps.
  const state = new Map(controlPlanes.map((n) => [n.address, n.kubernetes as ApiState] as const));
  let after: Step | null = null;
  for (const step of steps) {
    for (const n of step.nodes) {
      const before = state.get(n.address);
      const target = n.target.kubernetes;
      if (!before || !target) continue;
      if (holdsDropped(before) && !holdsDropped(target)) after = step;
      state.set(n.address, target);
    }
  }
  const still = [...state].filter(([, s]) => holdsDropped(s)).map(([a]) => a);
  // Nothing dropped here, only stale CAs: after the last step (or on its own when there is none).
  const staleOnly = droppedCas.length === 0;
  if (!staleOnly && (still.length > 0 || after === null)) {
    return {
      step: null,
      notices: [
        'extension-apiserver-authentication keeps the dropped Kubernetes CA(s): ' +
          (still.length > 0
            ? `control plane(s) ${still.join(', ')} still trust one at the end of the plan`
            : 'no step removes them from the control planes') +
          ', and each apiserver writes back what it trusts.',
      ],
    };
  }
  const clientCa = [...new Set([desired.issuing, ...desired.accepted])];
  return {
    step: {
      id: 'kubernetes-extension-auth',
      namespace: 'kube-system',
      name: 'extension-apiserver-authentication',
      afterStep: staleOnly ? (steps.at(-1)?.id ?? null) : after!.id,
      mode,
      clientCa,
      removes,
      requestHeaderCa: 'unchanged',
      gate: { settleMs },
      reason:
        'every kube-apiserver keeps this ConfigMap as the union of what it holds and what it trusts, ' +
        'removing only expired certificates: ' +
        (staleOnly
          ? 'it still holds Kubernetes CA(s) that no apiserver trusts any more (left by an earlier rotation), ' +
            'which extension API servers (metrics-server and others) trust until they expire'
          : 'without this step, extension API servers (metrics-server and others) would trust the dropped CA until ' +
            `it expires; after step ${after!.index} (${after!.id}) no apiserver trusts it any more`) +
        (mode === 'report'
          ? '. Report only (workloads.extensionApiserverAuthentication: report): apply writes nothing; ' +
            'replace client-ca-file by hand, or set it to replace'
          : ''),
    },
    notices: [],
  };
}
