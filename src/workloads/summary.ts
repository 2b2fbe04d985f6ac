/**
 * What a run's workload phase did, in words for the run's closing summary and `rotate status`: what was
 * restarted, and what is left and why. Pure; reads the state's workload records.
 */
export interface WorkloadRecordLike {
  namespace: string;
  kind: string;
  name: string;
  status: string;
  reason?: string;
}

export interface WorkloadSummary {
  /** Restarted workloads, and those whose pods were evicted (named so). */
  restarted: string[];
  /** Not restarted (reported, blocked, failed, still in flight), each with why. */
  left: { workload: string; status: string; reason: string }[];
}

const label = (r: WorkloadRecordLike): string => `${r.kind} ${r.namespace}/${r.name}`;

export function workloadSummary(
  records: readonly WorkloadRecordLike[],
  operation: 'apply' | 'rollback' = 'apply',
): WorkloadSummary {
  const restarted: string[] = [];
  const left: WorkloadSummary['left'] = [];
  for (const r of records) {
    if (r.status === 'restarted') restarted.push(label(r));
    else if (r.status === 'evicted') restarted.push(`${label(r)} (pods evicted)`);
    else if (r.status !== 'ignored') {
      const reason =
        r.reason ??
        (r.status === 'started'
          ? `restart sent, rollout not confirmed yet (\`rotate ${operation}\` resumes it)`
          : r.status);
      left.push({ workload: label(r), status: r.status, reason });
    }
  }
  return { restarted: restarted.sort(), left: left.sort((a, b) => a.workload.localeCompare(b.workload)) };
}

/** Sentences: restarted workloads, then those left with their reasons (at most `max` named each). */
export function workloadSummaryNotes(
  s: WorkloadSummary,
  max = 20,
  operation: 'apply' | 'rollback' = 'apply',
): string[] {
  // A rollback's phase restarts pods that loaded the CA it takes away, so that they load the one it returns to.
  const [loads, holds] =
    operation === 'rollback'
      ? ['the Kubernetes API CA the rollback returned to', 'the Kubernetes API CA the rollback took away']
      : ['the new Kubernetes API CA', 'the old Kubernetes API CA'];
  const names = (xs: string[]): string =>
    xs.length > max ? `${xs.slice(0, max).join(', ')} and ${xs.length - max} more` : xs.join(', ');
  const notes: string[] = [];
  if (s.restarted.length > 0)
    notes.push(`workloads restarted so that their pods load ${loads} (${s.restarted.length}): ${names(s.restarted)}`);
  if (s.left.length > 0) {
    const byReason = new Map<string, string[]>();
    for (const l of s.left) byReason.set(l.reason, [...(byReason.get(l.reason) ?? []), l.workload]);
    notes.push(
      `workloads whose pods may still hold ${holds} (${s.left.length}), ` +
        `not restarted: ${[...byReason].map(([reason, ws]) => `${names(ws)} — ${reason}`).join('; ')}`,
    );
  }
  return notes;
}
