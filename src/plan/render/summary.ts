/**
 * A plan in a few lines of Markdown, for a pull-request comment (`rotate plan --summary`): the verdict,
 * one table row per step, the authorities, and what is announced or refused. The full plan (diffs,
 * proofs) stays in `rotate plan` / the saved plan. Pure.
 */
import { shortFingerprint } from '../../domain/types.js';
import type { Plan, ProofEdge } from '../model/plan.js';

const API_TITLE = { talos: 'Talos API', kubernetes: 'Kubernetes API' } as const;

/** A table cell: no pipes or line breaks. */
function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

function announced(edges: readonly ProofEdge[]): number {
  return edges.filter((e) => e.status !== 'ok').length;
}

export function renderPlanSummary(plan: Plan): string {
  const out: string[] = [];
  if (!plan.changes) {
    out.push('**talos-rotate plan: no changes.** The cluster matches the desired CA state.');
    return `${out.join('\n')}\n`;
  }
  out.push(`**talos-rotate plan: ${plan.steps.length} step(s), ${plan.verdict}.** ${cell(plan.summary.text)}`, '');
  out.push('| Step | What | Nodes | Waves (batch sizes) | Kubelet restarts | Proof |', '|---|---|---|---|---|---|');
  for (const s of plan.steps) {
    const waves = s.waves
      .map((w) => `${w.role === 'controlplane' ? 'cp' : 'w'}×${w.nodes.length} by ${w.maxConcurrent}`)
      .join(', ');
    const proof = s.proof.verdict === 'safe' ? 'safe' : `${s.proof.verdict} (${announced(s.proof.edges)} edge(s))`;
    out.push(
      `| ${s.index}. \`${s.id}\` | ${cell(s.title)} | ${s.nodes.length} | ${waves} | ${s.kubeletRestarts.length} ` +
        `| ${proof} |`,
    );
  }
  const ext = plan.extensionAuth;
  if (ext) {
    // One row after the step it follows: the ConfigMap write has no nodes, waves or restarts.
    const after = plan.steps.find((s) => s.id === ext.afterStep)?.index;
    const what =
      `${ext.mode === 'replace' ? 'replace' : 'report'} \`client-ca-file\` of ConfigMap ` +
      `\`${ext.namespace}/${ext.name}\` ` +
      `(removes ${ext.removes.map((fp) => `\`${shortFingerprint(fp)}\``).join(', ')}; never deleted)`;
    out.push(
      `| ${after === undefined ? 'last' : `after ${after}`}. \`${ext.id}\` | ${what} | 0 | – | 0 | gate: ` +
        'no apiserver writes a removed CA back |',
    );
  }
  out.push('', '| Authority | API | Fingerprint | At the end |', '|---|---|---|---|');
  for (const a of plan.authorities)
    out.push(
      `| ${cell(a.name ?? '(unnamed)')} | ${API_TITLE[a.api]} | \`${shortFingerprint(a.fingerprint)}\` ` +
        `| ${a.disposition} |`,
    );
  if (plan.refused && plan.refused.length > 0) {
    out.push('', `**Refused (${plan.refused.length}):**`);
    for (const r of plan.refused) out.push(`- \`${r.code}\`: ${cell(r.reason)}`);
  }
  if (plan.notices.length > 0)
    out.push(
      '',
      `${plan.notices.length} notice(s); the full plan (\`rotate plan\`, or the saved plan) ` +
        'shows them with the per-node diffs and proofs.',
    );
  return `${out.join('\n')}\n`;
}
