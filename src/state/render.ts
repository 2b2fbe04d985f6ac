/**
 * `rotate state show`: a human summary of a state (runs, steps, nodes, gates, outputs, escrowed key
 * files) and its lock. Pure; the state holds no key material, and this prints fingerprints and paths only.
 */
import { shortFingerprint } from '../domain/types.js';
import { describeHolder, unlockCommand, type LockStatus } from './lock.js';
import { isUnfinished } from './runs.js';
import type { NodeRecord, Run, StateDocument, StepRecord } from './types.js';

const LAST_EVENTS_SHOWN = 5;

export function renderLock(lock: LockStatus | null, statePath: string): string[] {
  if (!lock) return ['Lock: none'];
  const lines = [`Lock: held by ${describeHolder(lock.info)}`];
  if (lock.liveness.state === 'gone') {
    lines.push(`  stale: ${lock.liveness.reason}`, `  break it with: ${unlockCommand(lock.info.id, statePath)}`);
  } else if (lock.liveness.state === 'alive') {
    lines.push(`  ${lock.liveness.reason}`);
  } else if (lock.liveness.state === 'unknown') {
    lines.push(`  ${lock.liveness.reason}`);
  }
  return lines;
}

function span(start: string | null, end: string | null): string {
  if (!start) return '';
  return end ? `${start} → ${end}` : `since ${start}`;
}

function nodeLine(node: NodeRecord, hostname: string | undefined): string {
  const name = hostname ? `${node.address} (${hostname})` : node.address;
  const parts = [`    - ${name}: ${node.status}`];
  const when = span(node.startedAt, node.finishedAt);
  if (when) parts.push(when);
  if (node.attempts > 1) parts.push(`${node.attempts} attempts`);
  if (node.status === 'started')
    parts.push('in flight when last recorded: its config may or may not have been applied; a resumed run verifies it');
  if (node.skipReason) parts.push(node.skipReason);
  if (node.error && node.status !== 'done') parts.push(`error[${node.error.code}]: ${node.error.message}`);
  return parts.join('  ');
}

function gateText(step: StepRecord): string {
  const g = step.gate;
  if (g.status === 'not-required') return 'no gate';
  const attempts = g.attempts === 1 ? '1 attempt' : `${g.attempts} attempts`;
  const checks = Object.entries(g.checks);
  const perCheck = checks.length > 1 ? ` (${checks.map(([name, c]) => `${name} ${c.status}`).join(', ')})` : '';
  const last = g.lastError && g.status !== 'passed' ? `; last: error[${g.lastError.code}]: ${g.lastError.message}` : '';
  return `gate ${g.status}${perCheck}${g.attempts > 0 ? `, ${attempts}` : ''}${last}`;
}

function renderRun(run: Run, n: number, total: number): string[] {
  const lines: string[] = [];
  const steps = run.plan.steps ?? [];
  lines.push(`Run ${n}/${total}: ${run.operation} ${run.status} (id ${run.id})`);
  lines.push(
    `  started ${run.startedAt}${run.finishedAt ? `, finished ${run.finishedAt}` : ''} by ${run.who} ` +
      `(pid ${run.pid}, talos-rotate ${run.toolVersion})`,
  );
  for (const r of run.resumes)
    lines.push(`  resumed ${r.at} (was ${r.from === 'running' ? 'running when its process stopped' : r.from})`);
  if (run.plan.summary?.text) lines.push(`  plan: ${run.plan.summary.text}`);
  for (const step of run.steps) {
    const planStep = steps.find((s) => s.id === step.id);
    const title = planStep?.title ? `: ${planStep.title}` : '';
    const when = span(step.startedAt, step.finishedAt);
    lines.push(`  step ${step.index}/${run.steps.length} ${step.id}${title}`);
    lines.push(
      `    ${step.status}${when ? `  ${when}` : ''}; ${gateText(step)}${step.skipReason ? `; ${step.skipReason}` : ''}`,
    );
    if (step.error) lines.push(`    error[${step.error.code}]: ${step.error.message}`);
    if (step.status === 'pending') continue;
    for (const node of step.nodes)
      lines.push(nodeLine(node, planStep?.nodes.find((p) => p.address === node.address)?.hostname));
  }
  if (run.outputs.length > 0) {
    lines.push('  outputs:');
    for (const o of run.outputs) {
      const after = o.step ? ` (step ${o.step})` : '';
      lines.push(
        `    - ${o.kind} ${o.path}${o.backupPath ? ` (previous kept as ${o.backupPath})` : ''}${after} ` +
          `at ${o.writtenAt}`,
      );
    }
  }
  if (run.keys.length > 0) {
    lines.push('  escrowed keys (files only):');
    for (const k of run.keys) lines.push(`    - ${k.api} ${shortFingerprint(k.fingerprint)} ${k.role}: ${k.file}`);
  }
  if (run.error) lines.push(`  error[${run.error.code}]: ${run.error.message}`);
  if (isUnfinished(run) && run.events && run.events.length > 0) {
    lines.push('  last events:');
    for (const e of run.events.slice(-LAST_EVENTS_SHOWN)) lines.push(`    ${e.time} ${e.message}`);
  }
  return lines;
}

export function renderStateSummary(doc: StateDocument | null, statePath: string, lock: LockStatus | null): string {
  if (!doc)
    return [`No state at ${statePath} (nothing was applied with it yet).`, ...renderLock(lock, statePath)].join('\n');
  const lines = [
    `State ${statePath}`,
    `  lineage ${doc.lineage}, serial ${doc.serial}, written by talos-rotate ${doc.toolVersion} at ${doc.updatedAt}`,
  ];
  if (doc.desiredFile) lines.push(`  desired-state file ${doc.desiredFile}`);
  lines.push(...renderLock(lock, statePath));
  if (doc.runs.length === 0) lines.push('', 'No runs.');
  doc.runs.forEach((run, i) => lines.push('', ...renderRun(run, i + 1, doc.runs.length)));
  return lines.join('\n');
}
