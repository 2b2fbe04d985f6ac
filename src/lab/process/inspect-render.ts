/**
 * `rotate lab inspect` as text: a table of the nodes and a ledger summary. Pure, and light to import (the
 * CLI loads it without the lab).
 */
import { shortFingerprint, type Fingerprint } from '../../domain/types.js';
import { EDGE_KINDS } from '../core/ledger.js';
import type { InspectReport, InspectRoot } from './contracts.js';

function short(fp: string | null): string {
  return fp === null ? '-' : shortFingerprint(fp as Fingerprint);
}

function rootCell(root: InspectRoot): { issuing: string; accepted: string } {
  return {
    issuing: root.error ? `${short(root.issuing)} (!)` : short(root.issuing),
    accepted: root.accepted.length ? root.accepted.map(short).join(',') : '-',
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function renderInspectReport(report: InspectReport): string {
  const rows = [
    ['ADDRESS', 'ROLE', 'HOSTNAME', 'READY', 'TALOS ISSUING', 'TALOS ACCEPTED', 'K8S ISSUING', 'K8S ACCEPTED'],
  ];
  for (const n of report.nodes) {
    const t = rootCell(n.talos);
    const k = rootCell(n.kubernetes);
    const ready = n.faults.down ? 'down' : n.ready ? 'yes' : 'no';
    rows.push([n.address, n.role, n.hostname, ready, t.issuing, t.accepted, k.issuing, k.accepted]);
  }
  const lines = [
    `cluster ${report.cluster.name}  endpoint ${report.cluster.endpoint}  kubernetes CA ` +
      `style ${report.cluster.kubernetesCaStyle}${report.cluster.vip ? `  vip ${report.cluster.vip}` : ''}`,
    '',
    table(rows),
    '',
    'fingerprints: first 16 hex digits of the SHA-256 (inspect --json has them in full); (!) = CA material ' +
      'the node cannot use',
  ];
  const errors = report.nodes.flatMap((n) => [
    ...(n.talos.error ? [`  ${n.address} talos: ${n.talos.error}`] : []),
    ...(n.kubernetes.error ? [`  ${n.address} kubernetes: ${n.kubernetes.error}`] : []),
  ]);
  if (errors.length) lines.push('CA problems:', ...errors);
  // Absent when the lab is older than the CLI (the contract does not require it).
  const applies = report.nodes.filter((n) => n.applyConfiguration);
  if (applies.length) {
    const most = Math.max(...applies.map((n) => n.applyConfiguration.maxConcurrent));
    const refused = applies.reduce((sum, n) => sum + n.applyConfiguration.refusedInProgress, 0);
    lines.push(`ApplyConfiguration: at most ${most} at once on one node; ${refused} refused as already in progress`);
    for (const n of applies)
      if (n.applyConfiguration.foreignHoldUntil)
        lines.push(
          `  ${n.address}: apply lock held by a foreign operator until ${n.applyConfiguration.foreignHoldUntil}`,
        );
  }
  lines.push('', 'ledger');
  const counts = [['EDGE', 'TRUST FAILURES', 'UNAVAILABLE']];
  for (const edge of EDGE_KINDS)
    counts.push([edge, String(report.trustFailures[edge]), String(report.unavailable[edge])]);
  lines.push(table(counts).replace(/^/gm, '  '));
  lines.push(`  NotReady events: ${report.notReadyEvents}`);
  const recentTrust = report.recent.trustFailures.slice(-5);
  if (recentTrust.length) {
    lines.push('  latest trust failures:');
    for (const e of recentTrust)
      lines.push(`    ${e.at} ${e.edge} ${e.from} -> ${e.to}: ${e.reason} (refused by ${e.refusedBy})`);
  }
  const recentNotReady = report.recent.notReady.slice(-5);
  if (recentNotReady.length) {
    lines.push('  latest NotReady:');
    for (const e of recentNotReady) lines.push(`    ${e.at} ${e.node} (last heartbeat ${e.lastHeartbeat ?? 'never'})`);
  }
  return lines.join('\n');
}
