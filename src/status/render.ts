/**
 * `rotate status` output: a human summary, and the Prometheus text exposition format for the node
 * exporter's textfile collector (metric names prefixed `talos_rotate_`). Pure.
 */
import { shortFingerprint } from '../domain/types.js';
import type { NodeApiView, StatusReport } from './report.js';

const API_TITLE = { talos: 'Talos API', kubernetes: 'Kubernetes API' } as const;

function caLabel(ref: { name: string | null; fingerprint: string }): string {
  return ref.name ?? `(not in the desired state) ${ref.fingerprint.slice(0, 16)}`;
}

function nodeApi(v: NodeApiView): string {
  const current = v.current ? caLabel(v.current) : '-';
  return v.accepted.length > 0 ? `${current} + ${v.accepted.map(caLabel).join(', ')}` : current;
}

export function renderStatusText(r: StatusReport): string {
  const lines: string[] = [];
  for (const api of ['talos', 'kubernetes'] as const) {
    const cas = r.cas.filter((c) => c.api === api);
    lines.push(`${API_TITLE[api]} CAs:`);
    for (const c of cas) {
      const where = [
        c.issuingOn.length > 0 ? `current on ${c.issuingOn.length}` : '',
        c.acceptedOn.length > 0 ? `accepted on ${c.acceptedOn.length}` : '',
      ]
        .filter(Boolean)
        .join(', ');
      lines.push(
        `  ${(c.name ?? '(unnamed)').padEnd(20)} ${shortFingerprint(c.fingerprint)}  ` +
          `until ${c.notAfter.slice(0, 10)} (${c.daysLeft} days)  ${where} node(s)`,
      );
    }
  }
  lines.push('', 'Nodes (current CA + accepted):');
  const width = Math.max(...r.nodes.map((n) => n.address.length), 7);
  for (const n of r.nodes)
    lines.push(
      `  ${n.address.padEnd(width)}  ${n.role.padEnd(12)}  talos: ${nodeApi(n.talos)}   ` +
        `kubernetes: ${nodeApi(n.kubernetes)}`,
    );
  lines.push('', 'Client certificates:');
  for (const c of r.clients) {
    lines.push(
      `  ${c.kind.padEnd(11)}  ${c.path}${c.context ? ` (context ${c.context})` : ''}  ` +
        (c.notAfter ? `until ${c.notAfter.slice(0, 10)} (${c.daysLeft} days)` : c.problem),
    );
  }
  lines.push(
    '',
    r.drift.changes || r.drift.refused.length > 0
      ? `Drift: ${r.drift.steps.length} step(s) to apply (${r.drift.steps.join(', ') || 'refused'})`
      : 'Drift: none, the cluster matches the desired state',
  );
  lines.push(
    r.run
      ? `Unfinished run: ${r.run.operation} ${r.run.id}, ${r.run.status}${r.run.step ? ` at step ${r.run.step}` : ''}`
      : 'Unfinished run: none',
  );
  if (r.workloads) {
    const rollback = r.workloads.operation === 'rollback';
    lines.push(
      `Workloads (${rollback ? 'rollback ' : ''}run ${r.workloads.runId}): ${r.workloads.restarted.length} ` +
        `restarted, ${r.workloads.left.length} left ` +
        `with ${rollback ? 'the CA the rollback took away' : 'the old Kubernetes API CA'} possibly loaded`,
    );
    for (const w of r.workloads.restarted) lines.push(`  restarted  ${w}`);
    for (const w of r.workloads.left) lines.push(`  left       ${w.workload} (${w.status}): ${w.reason}`);
  }
  if (r.warnings.length > 0) {
    lines.push('');
    for (const w of r.warnings) lines.push(`warning: ${w.message} [${w.code}]`);
  }
  lines.push('', r.exitCode === 0 ? 'Status: OK' : `Status: attention needed (exit ${r.exitCode})`);
  return lines.join('\n');
}

function labels(l: Record<string, string>): string {
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
  return `{${Object.entries(l)
    .map(([k, v]) => `${k}="${esc(v)}"`)
    .join(',')}}`;
}

export function renderStatusPrometheus(r: StatusReport): string {
  const out: string[] = [];
  const metric = (name: string, help: string, type: 'gauge', samples: [Record<string, string>, number][]): void => {
    out.push(`# HELP talos_rotate_${name} ${help}`, `# TYPE talos_rotate_${name} ${type}`);
    for (const [l, v] of samples) out.push(`talos_rotate_${name}${Object.keys(l).length ? labels(l) : ''} ${v}`);
  };
  metric(
    'ca_not_after_seconds',
    'Expiry (Unix time) of each CA a node trusts.',
    'gauge',
    r.cas.map((c) => [
      { api: c.api, name: c.name ?? '', fingerprint: c.fingerprint },
      Math.floor(Date.parse(c.notAfter) / 1000),
    ]),
  );
  metric(
    'ca_nodes',
    'Nodes that trust each CA, by role of the CA on the node (current or accepted).',
    'gauge',
    r.cas.flatMap((c) => [
      [{ api: c.api, name: c.name ?? '', fingerprint: c.fingerprint, use: 'current' }, c.issuingOn.length] as [
        Record<string, string>,
        number,
      ],
      [{ api: c.api, name: c.name ?? '', fingerprint: c.fingerprint, use: 'accepted' }, c.acceptedOn.length] as [
        Record<string, string>,
        number,
      ],
    ]),
  );
  metric(
    'client_cert_not_after_seconds',
    "Expiry (Unix time) of the operator's client certificates.",
    'gauge',
    r.clients
      .filter((c) => c.notAfter)
      .map((c) => [{ kind: c.kind, path: c.path }, Math.floor(Date.parse(c.notAfter!) / 1000)]),
  );
  metric('drift', '1 when the cluster differs from the desired state (rotate plan has changes).', 'gauge', [
    [{}, r.conditions.drift ? 1 : 0],
  ]);
  metric('unfinished_run', '1 when the state holds an unfinished apply or rollback run.', 'gauge', [
    [{}, r.conditions.unfinishedRun ? 1 : 0],
  ]);
  metric('expiring', '1 when a CA or client certificate expires within the warning window or has expired.', 'gauge', [
    [{ window_days: String(r.warnDays) }, r.conditions.expiring || r.conditions.expired ? 1 : 0],
  ]);
  metric('status_exit_code', 'The exit code of rotate status (0 all well).', 'gauge', [[{}, r.exitCode]]);
  metric('status_generated_seconds', 'When this status was taken (Unix time).', 'gauge', [
    [{}, Math.floor(Date.parse(r.generatedAt) / 1000)],
  ]);
  return `${out.join('\n')}\n`;
}
