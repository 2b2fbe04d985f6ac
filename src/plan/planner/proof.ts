/**
 * From the engine's findings to a step's proof: which edges count, the verdict, a score to compare
 * orders by, and the "for how long" wording.
 */
import type { Finding } from '../safety/engine.js';
import { edgeEnds } from '../safety/step-types.js';
import type { EdgeKind, ProofEdge, StepProof, Verdict } from '../model/plan.js';

export const VERDICT_RANK: Record<Verdict, number> = { safe: 0, 'safe-with-announced-disruption': 1, unsafe: 2 };
export const VERDICT_BY_RANK: Verdict[] = ['safe', 'safe-with-announced-disruption', 'unsafe'];

/**
 * An edge counts against a step unless it only repeats what already failed before the step (reported as
 * pre-existing) or is an announced notice. Operator edges always count: apply cannot work without them.
 */
export function counts(f: Finding): boolean {
  if (f.notice) return false;
  return f.kind === 'operator-apid' || !f.inStart;
}

export function verdictOf(findings: readonly Finding[]): Verdict {
  let rank = 0;
  for (const f of findings) if (counts(f)) rank = Math.max(rank, f.status === 'broken' ? 2 : 1);
  return VERDICT_BY_RANK[rank]!;
}

/**
 * Pods trusting only kube-root-ca.crt fail whenever the control planes' issuing CA changes, in whatever
 * order the nodes are patched: the same in every order, so orders are not compared on it.
 */
const sameInEveryOrder = (f: Finding): boolean => f.kind === 'pod-apiserver';

/** Node pairs affected × waves affected; a broken pair weighs as much as a thousand degraded ones. */
export function scoreOf(findings: readonly Finding[]): number {
  let score = 0;
  for (const f of findings) {
    if (!counts(f) || sameInEveryOrder(f)) continue;
    const pairs =
      f.fromNodes.length * f.toNodes.length - (f.excludeSelf ? Math.min(f.fromNodes.length, f.toNodes.length) : 0);
    score += (f.status === 'broken' ? 1000 : 1) * Math.max(1, pairs) * Math.max(1, f.waves.length);
  }
  return score;
}

export function firstProblem(findings: readonly Finding[]): Finding | null {
  const counted = findings.filter((f) => counts(f) && !sameInEveryOrder(f));
  return counted.find((f) => f.status === 'broken') ?? counted[0] ?? null;
}

export function describeFinding(f: Finding): string {
  return `${f.kind} ${f.status}: ${f.from} → ${f.to} (${f.reason})`;
}

function plural(nodes: readonly string[]): boolean {
  return nodes.length > 1;
}

export function windowOf(f: Finding, stepIndex: number): string {
  const n = stepIndex;
  const ws = f.waves.map((w) => w + 1);
  const span = ws.length === 0 ? '' : ws.length === 1 ? `wave ${ws[0]}` : `waves ${ws[0]}–${ws[ws.length - 1]}`;
  if (f.inStart && f.kind !== 'operator-apid') {
    if (f.inEnd || (f.atGate && ws.length === 0)) return `already failing before step ${n} and still after it`;
    return ws.length === 0
      ? `already failing before step ${n}, healed by its first patch`
      : `already failing before step ${n}, until ${span} completes`;
  }
  if (ws.length === 0) return f.atGate ? `at the gate of step ${n} and after it` : `step ${n}`;
  if (f.kind === 'pod-apiserver') {
    if (!f.inEnd)
      return (
        `during ${span} of step ${n}, while control planes serve from different issuing CAs; ` +
        `at most the duration of step ${n}`
      );
    return (
      `from ${span} of step ${n}, and after it for clients started before step ${n}: ` +
      'possibly stale until they re-read ca.crt (client-go: about every 5 minutes) or restart'
    );
  }
  if (f.inEnd) return `from ${span} of step ${n} on, and still after it (not healed by this step)`;
  let s = `during ${span} of step ${n}`;
  if (f.fromVersion === 'before')
    s += `, until ${f.fromNodes.join(', ')} ${plural(f.fromNodes) ? 'are' : 'is'} patched`;
  else if (f.toVersion === 'before') s += `, until ${f.toNodes.join(', ')} ${plural(f.toNodes) ? 'are' : 'is'} patched`;
  else if (f.toVersion === 'lagging')
    s +=
      ', until the kube-apiserver / controller-manager ' +
      `of ${f.toNodes.join(', ')} ${plural(f.toNodes) ? 'are' : 'is'} re-created from the new config`;
  return `${s}; at most the duration of step ${n}`;
}

/** A finding as a proof edge; where and for how long it fails is the caller's to say. */
export function edgeOf(f: Finding, when: Pick<ProofEdge, 'window' | 'waves' | 'persists' | 'preExisting'>): ProofEdge {
  return {
    ...edgeEnds(f),
    status: f.status,
    window: when.window,
    reason: f.reason,
    waves: when.waves,
    persists: when.persists,
    certainty: f.certain ? 'certain' : 'possible',
    preExisting: when.preExisting,
  };
}

export function proofOf(
  findings: readonly Finding[],
  stepIndex: number,
  checked: readonly EdgeKind[],
  states: number,
  classes: number,
): StepProof {
  const edges: ProofEdge[] = [];
  const order = (f: Finding): number => (counts(f) ? 0 : 2) + (f.status === 'broken' ? 0 : 1);
  const sorted = findings.filter((f) => !f.notice).sort((a, b) => order(a) - order(b));
  for (const f of sorted) {
    edges.push(
      edgeOf(f, {
        window: windowOf(f, stepIndex),
        waves: f.waves.map((w) => w + 1),
        persists: f.inEnd || f.atGate,
        preExisting: !counts(f),
      }),
    );
  }
  for (const kind of checked) {
    if (sorted.some((f) => f.kind === kind)) continue;
    edges.push({
      kind,
      from: 'all',
      to: 'all',
      fromNodes: [],
      toNodes: [],
      status: 'ok',
      window: `every state of step ${stepIndex}`,
      reason: `no failing pair in ${states} state(s) over ${classes} node class(es)`,
      waves: [],
      persists: false,
      certainty: 'certain',
      preExisting: false,
    });
  }
  return { verdict: verdictOf(findings), edges, statesChecked: states, classes };
}
