/**
 * The warnings of planning: their shape, the plan's own (no secrets bundle),
 * and which of the desired state's warnings are still news once the cluster has been read.
 */
import type { DesiredState, Diagnostic } from '../../desired/types.js';
import { formatDiagnostic } from '../../desired/index.js';
import type { Plan } from '../../plan/model/index.js';
import type { LiveNode } from '../observe-cluster.js';

/** A warning of planning: one stable code, the text, and what to do (or null). */
export interface PlanWarning {
  code: string;
  text: string;
  hint: string | null;
}

/**
 * Without `cluster.secretsBundle` nothing records the new issuing CAs where `talosctl gen config` reads
 * them: said once per plan that makes a CA issuing, since a config generated later from the old bundle
 * carries the CA the rotation drops (a node joined with it would not trust, or be trusted by, the cluster).
 */
export function noSecretsBundleWarning(plan: Plan, secretsBundle: string | undefined): PlanWarning | null {
  if (secretsBundle) return null;
  const issued = (['talos', 'kubernetes'] as const).filter((api) => plan.steps.some((s) => s.phase[api] === 'issue'));
  if (issued.length === 0) return null;
  const what = issued
    .map((api) => (api === 'talos' ? 'Talos API CA (certs.os)' : 'Kubernetes API CA (certs.k8s)'))
    .join(' and ');
  return {
    code: 'PLAN_NO_SECRETS_BUNDLE',
    text:
      'the desired state names no secrets bundle (cluster.secretsBundle), so apply updates none: ' +
      'machine configs generated later from an old bundle (talosctl gen config --with-secrets) ' +
      `carry the ${what} this rotation replaces and then drops`,
    hint: 'name the bundle in cluster.secretsBundle, or update it by hand after apply',
  };
}

/** A desired-state warning as a warning event carries it: the code and the hint apart from the text. */
export function diagnosticWarning(d: Diagnostic): PlanWarning {
  return { code: d.code, text: formatDiagnostic(d, { bare: true }), hint: d.hint ? d.hint : null };
}

/**
 * The desired state's warnings that still say something once the cluster has been read: an authority that
 * is neither issuing nor accepted (DESIRED_UNUSED_AUTHORITY) matters while a node still trusts it (the plan
 * removes it); once no node does, keeping it defined is the recommended layout (a way back), not news.
 */
const CLUSTER_DEPENDENT = new Set(['DESIRED_UNUSED_AUTHORITY', 'DESIRED_ISSUING_NO_KEY']);

/** The desired state's warnings to say at once, and those that wait for the cluster (relevantDesiredWarnings). */
export function splitDesiredWarnings(warnings: readonly Diagnostic[]): {
  now: Diagnostic[];
  afterObserve: Diagnostic[];
} {
  return {
    now: warnings.filter((w) => !CLUSTER_DEPENDENT.has(w.code)),
    afterObserve: warnings.filter((w) => CLUSTER_DEPENDENT.has(w.code)),
  };
}

export function relevantDesiredWarnings(
  warnings: readonly Diagnostic[],
  desired: DesiredState,
  nodes: readonly LiveNode[],
): Diagnostic[] {
  const trusted = new Set<string>();
  for (const n of nodes) {
    for (const api of [n.ca.talos, n.ca.kubernetes]) {
      for (const ca of [api.issuing, ...api.accepted]) if (ca) trusted.add(ca.fingerprint);
    }
  }
  // Per API: does every node issue from the desired issuing CA already (a document-style worker's current
  // CA is its first accepted one)?
  const everywhere = { talos: true, kubernetes: true };
  for (const n of nodes) {
    for (const api of ['talos', 'kubernetes'] as const) {
      const fp = n.ca[api].issuing?.fingerprint ?? n.ca[api].accepted[0]?.fingerprint;
      if (!fp || fp !== desired[api]?.issuing.certificate.fingerprint) everywhere[api] = false;
    }
  }
  return warnings.filter((w) => {
    const name = /^authorities\.(.+)$/.exec(w.path)?.[1];
    const authority = name === undefined ? undefined : desired.authorities[name];
    if (w.code === 'DESIRED_ISSUING_NO_KEY') {
      // News only while some node does not issue from it yet (the plan then needs the key and stops).
      const api = (['talos', 'kubernetes'] as const).find((a) => desired[a]?.issuing.name === name);
      return api === undefined || !everywhere[api];
    }
    if (w.code !== 'DESIRED_UNUSED_AUTHORITY') return true;
    return authority === undefined || trusted.has(authority.certificate.fingerprint);
  });
}
