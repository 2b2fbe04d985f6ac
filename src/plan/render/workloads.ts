/**
 * The human plan's view of `plan.workloads`: one line per namespace (workloads by kind, their pods, the
 * Secrets / ConfigMaps that embed the old CA), then a total. The JSON plan carries every pod and key.
 */
import type { StaleWorkload, WorkloadKind, WorkloadPhaseEntry, WorkloadsReport } from '../model/index.js';

const PLURAL: Record<WorkloadKind, [string, string]> = {
  Deployment: ['Deployment', 'Deployments'],
  DaemonSet: ['DaemonSet', 'DaemonSets'],
  StatefulSet: ['StatefulSet', 'StatefulSets'],
  Job: ['Job', 'Jobs'],
  Other: ['other controller', 'other controllers'],
  Pod: ['bare Pod', 'bare Pods'],
};

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function kindsText(ws: readonly StaleWorkload[]): string {
  const parts: string[] = [];
  for (const kind of Object.keys(PLURAL) as WorkloadKind[]) {
    const of = ws.filter((w) => w.kind === kind);
    if (of.length > 0) parts.push(count(of.length, ...PLURAL[kind]));
  }
  const pods = ws.reduce((n, w) => n + w.pods.length, 0);
  const restart = ws.filter((w) => w.action === 'restart').length;
  const blocked = ws.filter((w) => w.action === 'report' && w.blocker && w.reason === w.blocker).length;
  const evict = ws.filter((w) => w.action === 'evict').length;
  return (
    `${parts.join(', ')} (${count(pods, 'pod', 'pods')}` +
    (restart > 0 ? `; apply restarts ${restart}` : '') +
    (evict > 0 ? `; apply evicts the pods of ${evict}` : '') +
    (blocked > 0 ? `; ${blocked} blocked, reported` : '') +
    ')'
  );
}

export function workloadLines(report: WorkloadsReport): string[] {
  const head = `Workloads that hold the old Kubernetes API CA from step ${report.issueStep} on:`;
  if (report.status === 'unavailable')
    return [head, `  not listed: ${report.reason ?? 'the Kubernetes API could not be read'}`];
  if (report.workloads.length === 0 && report.objects.length === 0) {
    return [
      head,
      '  none found (no running pod mounts the service-account CA; no Secret or ConfigMap embeds the old CA)',
    ];
  }
  const namespaces = [
    ...new Set([...report.workloads.map((w) => w.namespace), ...report.objects.map((o) => o.namespace)]),
  ].sort();
  const width = Math.max(...namespaces.map((n) => n.length));
  const out = [head];
  for (const ns of namespaces) {
    const ws = report.workloads.filter((w) => w.namespace === ns);
    const os = report.objects.filter((o) => o.namespace === ns);
    const parts: string[] = [];
    if (ws.length > 0) parts.push(`${kindsText(ws)} possibly stale`);
    for (const kind of ['Secret', 'ConfigMap'] as const) {
      const of = os.filter((o) => o.kind === kind);
      if (of.length > 0)
        parts.push(`${count(of.length, kind, `${kind}s`)} embedding it (${of.map((o) => o.name).join(', ')})`);
    }
    out.push(`  ${ns.padEnd(width)}  ${parts.join('; ')}`);
  }
  // Asked to restart, but reported: a rollout restart does nothing for them, or does not apply to them.
  const notRestarted = report.workloads.filter((w) => w.action === 'report' && w.reason);
  if (notRestarted.length > 0) {
    out.push(`  reported instead of restarted (${notRestarted.length}):`);
    for (const w of notRestarted) out.push(`    ${w.kind} ${w.namespace}/${w.name}: ${w.reason}`);
  }
  const pods = report.workloads.reduce((n, w) => n + w.pods.length, 0);
  out.push(
    `  ${count(report.workloads.length, 'workload', 'workloads')} (${count(pods, 'pod', 'pods')}) ` +
      `and ${count(report.objects.length, 'Secret/ConfigMap', 'Secrets/ConfigMaps')} ` +
      `in ${count(namespaces.length, 'namespace', 'namespaces')}; \`--json\` lists each pod and key. ` +
      'The tool does not edit Secrets or ConfigMaps: update them to the new CA.',
  );
  return out;
}

/** The plan's `workloadPhase` entry: after which step the workload phase runs, in which mode, and why. */
export function workloadPhaseLines(entry: WorkloadPhaseEntry): string[] {
  const source =
    entry.modeSource === 'flag'
      ? '--workloads'
      : entry.modeSource === 'desired-state'
        ? "the desired state's workloads section"
        : 'the default';
  const what =
    entry.mode === 'restart'
      ? 'restart (rollout restart, in batches) the Deployments, DaemonSets and StatefulSets whose pods loaded the ' +
        'CA it replaces; report the rest'
      : entry.mode === 'report'
        ? 'report the workloads whose pods loaded the CA it replaces; restart none'
        : 'restart or report each workload whose pods loaded the CA it replaces, per namespace and selector';
  const lines = [
    `Workload phase: after step ${entry.afterStep} (${entry.afterStepId}), ` +
      `once kube-root-ca.crt holds ${entry.newCa.slice(0, 16)} in the namespaces concerned: ${what} ` +
      `(mode ${entry.mode}, from ${source}).`,
  ];
  if (entry.podsStartedAfter)
    lines.push(
      `  Only pods started since ${entry.podsStartedAfter} (when the rolled-back run's Kubernetes issue step began) ` +
        'hold that CA; older pods are left alone.',
    );
  return lines;
}
