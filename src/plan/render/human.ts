/**
 * The plan for humans, in the style of talosctl's phase headers and Terraform's plan output:
 *
 *   > step 1/3: talos-kubernetes-accept — Talos API: accept talos-2026 (877dc9b7dc2c4826); …
 *     wave 1/2: control planes, one at a time (kube-apiserver restarts)
 *     - 127.0.0.10 (cp-1): talos +accept talos-2026 (877dc9b7dc2c4826); kubernetes +accept k8s-2026 (…); kubelet
 *       restarts
 *     gate: …
 *     proof: safe
 *
 * Fingerprints are shown in their short form with the authority name; keys never appear in a plan. In the
 * per-node config diffs, a certificate value (a base64 blob of over 1,000 characters) is shown as one line
 * naming the authority, short fingerprint, subject and not-after, decoded by the caller (rendering does no
 * crypto); the JSON plan keeps the exact bytes.
 *
 * Prose lines (headers, orders, gates, proofs, notices, proof edges) are wrapped at `width` columns with a
 * hanging indent, so a plan reads at 100–120 columns whatever the node lists hold; config diff lines and the
 * closing verdict (it holds a command to copy) are never wrapped. Each gate check has its own `gate:` line,
 * and a proof edge says what fails and when, then between whom, then why, each on its own line.
 */
import { shortFingerprint, type ApiKind, type Fingerprint } from '../../domain/types.js';
import type { ApiState } from '../model/input.js';
import type { ExtensionAuthStep, Plan, ProofEdge, Step, StepNode, TalosClientKind, Wave } from '../model/plan.js';
import { workloadLines, workloadPhaseLines } from './workloads.js';

const API_SHORT: Record<ApiKind, string> = { talos: 'talos', kubernetes: 'kubernetes' };
const CLIENT_WORDS: Record<TalosClientKind, string> = {
  current: 'the current talosconfig',
  intermediate: 'the intermediate talosconfig (new client cert, trusts old + new CAs)',
  new: 'the new talosconfig',
};

/** A certificate as the caller decoded it from a config-diff value. */
export interface CertificateSummary {
  fingerprint: Fingerprint;
  subject: string;
  notAfter: string;
}

export interface PlanTextOptions {
  /** Decodes a certificate value (base64 of PEM) in a config diff; null when it is not one certificate. */
  describeCertificate?: (value: string) => CertificateSummary | null;
  /**
   * The command that applies this plan, for the closing hint (default `rotate apply`); null when the plan is
   * shown inside `rotate apply` or `rotate rollback`, which ask for approval themselves.
   */
  applyCommand?: string | null;
  /** Columns prose lines are wrapped at (default DEFAULT_PLAN_WIDTH); diff lines are never wrapped. */
  width?: number;
}

/** The width of a plan shown in a log or a pipe; on a terminal, planTextWidth picks its own. */
export const DEFAULT_PLAN_WIDTH = 100;

/** A terminal's width, kept within 80–120 columns (wider lines read badly); anything else: DEFAULT_PLAN_WIDTH. */
export function planTextWidth(stream: { isTTY?: boolean; columns?: number }): number {
  if (!stream.isTTY || !stream.columns) return DEFAULT_PLAN_WIDTH;
  return Math.min(120, Math.max(80, stream.columns));
}

/**
 * One line as several of at most `width` columns where it has spaces to break at (a longer word stays whole),
 * preferring a break after `; `,
 * continuation lines indented `hang` spaces. Breaks only after the line's own indent.
 */
export function wrapLine(line: string, width: number, hang: number): string[] {
  if (line.length <= width) return [line];
  const pad = ' '.repeat(hang);
  const out: string[] = [];
  let rest = line;
  let start = line.length - line.trimStart().length;
  while (rest.length > width) {
    // After a `; ` in the second half of the room if there is one (`talos …;` / `kubernetes …`), else at a space.
    const semi = rest.lastIndexOf('; ', width - 1);
    let cut = semi > start + (width - start) / 2 ? semi + 1 : rest.lastIndexOf(' ', width);
    if (cut <= start) cut = rest.indexOf(' ', width + 1);
    if (cut <= start || cut < 0) break;
    out.push(rest.slice(0, cut).trimEnd());
    rest = pad + rest.slice(cut + 1).trimStart();
    start = hang;
  }
  out.push(rest);
  return out;
}

/** A long base64 value ending a diff line (`+    crt: LS0t…`, `-  - LS0t…`), optionally quoted. */
const DIFF_BLOB_RE = /^([ +-].*?)(["']?)([A-Za-z0-9+/]{64,}={0,2})\2\s*$/;

/** The first line of a PEM certificate written out in a diff (`+        -----BEGIN CERTIFICATE-----`). */
const PEM_BEGIN_RE = /^([ +-])(\s*)-----BEGIN CERTIFICATE-----\s*$/;

export function renderPlanText(plan: Plan, opts: PlanTextOptions = {}): string {
  const names = new Map<string, string>();
  for (const a of plan.authorities) if (a.name) names.set(a.fingerprint, a.name);
  const ca = (fp: Fingerprint | null): string => {
    if (fp === null) return 'none';
    const name = names.get(fp);
    return name ? `${name} (${shortFingerprint(fp)})` : shortFingerprint(fp);
  };
  const diffLine = (line: string): string => {
    const m = opts.describeCertificate ? DIFF_BLOB_RE.exec(line) : null;
    const cert = m ? opts.describeCertificate!(m[3]!) : null;
    if (!m || !cert) return line;
    const name = names.get(cert.fingerprint);
    return (
      `${m[1]}certificate ${name ? `${name} ` : ''}(${shortFingerprint(cert.fingerprint)}), ` +
      `subject ${cert.subject || '(empty)'}, not after ${cert.notAfter}`
    );
  };
  /** The diff's lines, each PEM certificate written out over several lines (document style) as one line. */
  const diffLines = (diff: string): string[] => {
    const lines = diff.replace(/\n$/, '').split('\n');
    const out: string[] = [];
    for (let i = 0; i < lines.length; i++) {
      const begin = opts.describeCertificate ? PEM_BEGIN_RE.exec(lines[i]!) : null;
      const end = begin
        ? lines.findIndex((l, j) => j > i && l[0] === begin[1] && l.trim().endsWith('-----END CERTIFICATE-----'))
        : -1;
      const block = end > i ? lines.slice(i, end + 1) : null;
      const cert =
        block && block.every((l) => l[0] === begin![1])
          ? opts.describeCertificate!(block.map((l) => l.slice(1).trim()).join('\n'))
          : null;
      if (!cert) {
        out.push(diffLine(lines[i]!));
        continue;
      }
      const name = names.get(cert.fingerprint);
      out.push(
        `${begin![1]}${begin![2]}certificate ${name ? `${name} ` : ''}(${shortFingerprint(cert.fingerprint)}), ` +
          `subject ${cert.subject || '(empty)'}, not after ${cert.notAfter}`,
      );
      i = end;
    }
    return out;
  };
  const width = opts.width ?? DEFAULT_PLAN_WIDTH;
  const out: (string | DiffLine)[] = [];
  out.push(`Plan: ${plan.summary.text}`);

  if (plan.authorities.length > 0) {
    out.push('', 'Authorities:');
    for (const a of plan.authorities) {
      out.push(
        `  ${(a.api === 'talos' ? 'Talos API' : 'Kubernetes API').padEnd(15)} ${(a.name ?? '(unnamed)').padEnd(20)} ` +
          `${shortFingerprint(a.fingerprint)}  ${a.disposition}`,
      );
    }
  }

  if (plan.initialProof.length > 0) {
    out.push('', 'Already failing in the observed cluster:');
    for (const e of plan.initialProof) out.push(...edgeLines(e, '  '));
  }

  plan.steps.forEach((step) => out.push('', ...stepLines(step, plan.steps.length, ca, diffLines, plan.options)));
  if (plan.extensionAuth) out.push('', ...extensionAuthLines(plan.extensionAuth, plan.steps, ca));
  const closing: string[] = [];

  if (plan.workloadPhase) out.push('', ...workloadPhaseLines(plan.workloadPhase));
  if (plan.workloads) out.push('', ...workloadLines(plan.workloads));
  if (plan.notices.length > 0) {
    out.push('', 'Notices:');
    for (const n of plan.notices) out.push(`  - ${n}`);
  }
  if (plan.refused && plan.refused.length > 0) {
    out.push('', `Refused (${plan.refused.length}):`);
    for (const r of plan.refused) out.push(`  ! ${r.code}: ${r.reason}`);
    out.push('  Fix the cause, or plan with --allow-disruption to accept the breakage.');
  }
  out.push('');
  if (!plan.changes) closing.push('No changes. The cluster matches the desired CA state.');
  else if (plan.applyable) {
    const cmd = opts.applyCommand === undefined ? 'rotate apply' : opts.applyCommand;
    closing.push(`Verdict: ${plan.verdict}.${cmd === null ? '' : ` Apply with \`${cmd}\`.`}`);
  } else closing.push(`Verdict: ${plan.verdict}. This plan cannot be applied.`);
  return `${[...out.flatMap((l) => (typeof l === 'string' ? wrapProse(l, width) : l.diff)), ...closing].join('\n')}\n`;
}

/** A diff line, kept as it is (wrapping would change what it says). */
interface DiffLine {
  diff: string;
}

/**
 * Continuation lines go 4 columns in from the line's indent, 6 past a bullet (`- `, `! `, `~ `, `= `: beyond
 * the lines an edge has below it); never 6, where a continuation starting with `+` or `-` would look like a
 * config diff line (and be coloured as one, color.ts).
 */
function wrapProse(line: string, width: number): string[] {
  const indent = line.length - line.trimStart().length;
  const hang = indent + (/^[-!~=] /.test(line.slice(indent)) ? 6 : 4);
  return wrapLine(line, width, hang === 6 ? 8 : hang);
}

/** The files a step writes; a talosconfig names the client certificate it holds. */
function outputList(kinds: readonly Step['outputsBefore'][number][], talosconfig: TalosClientKind | undefined): string {
  return kinds.map((k) => (k === 'talosconfig' && talosconfig ? `talosconfig (${talosconfig} client)` : k)).join(', ');
}

function stepLines(
  step: Step,
  total: number,
  ca: (fp: Fingerprint | null) => string,
  diffLines: (diff: string) => string[],
  options: Plan['options'],
): (string | DiffLine)[] {
  const out: (string | DiffLine)[] = [];
  out.push(`> step ${step.index}/${total}: ${step.id} — ${step.title}`);
  if (step.dependsOn.length > 0) out.push(`  after: ${step.dependsOn.join(', ')}`);
  for (const api of step.apis) {
    const o = step.order[api];
    if (o) out.push(`  order (${API_SHORT[api]}): ${o.chosen} — ${o.reason}`);
  }
  if (step.outputsBefore.length > 0) {
    out.push(`  before: write ${outputList(step.outputsBefore, step.talosconfigBefore)}`);
  }
  for (const wave of step.waves) {
    const noun = wave.role === 'controlplane' ? 'control planes' : 'workers';
    out.push(`  wave ${wave.index}/${step.waves.length}: ${noun}, ${batchWords(wave, options)}`);
    for (const n of step.nodes.filter((x) => x.wave === wave.index)) {
      out.push(
        `  - ${n.address} (${n.hostname}): ${nodeChanges(n, ca)}${n.kubeletRestart ? '; kubelet restarts' : ''}`,
      );
      if (n.configDiff) for (const line of diffLines(n.configDiff)) out.push({ diff: `      ${line}` });
    }
  }
  out.push(`  client: ${CLIENT_WORDS[step.talosClient]} during the step`);
  // One line per check of the gate (each wrapped on its own).
  if (step.gate.talos) {
    const eps = step.gate.talos.endpoints.length > 0 ? step.gate.talos.endpoints.join(', ') : 'the endpoints';
    out.push(`  gate: Talos Version on every node through ${eps} with ${CLIENT_WORDS[step.gate.talos.client]}`);
  }
  if (step.gate.kubernetes) {
    out.push(
      `  gate: Kubernetes: kubelet restart observed on ${step.gate.kubernetes.kubeletRestartsObserved.length} ` +
        'node(s), every Node Ready with its Lease renewed after the wave (fresh admin kubeconfig)',
    );
  }
  if (step.outputsAfter.length > 0) {
    out.push(`  then: write ${outputList(step.outputsAfter, step.talosconfigAfter)}`);
  }
  const kinds = step.proof.edges.filter((e) => e.status === 'ok').map((e) => e.kind);
  out.push(
    `  proof: ${step.proof.verdict} (${step.proof.statesChecked} state(s), ${step.proof.classes} node ` +
      `class(es)${kinds.length ? `; no failure: ${kinds.join(', ')}` : ''})`,
  );
  for (const e of step.proof.edges) if (e.status !== 'ok') out.push(...edgeLines(e, '    '));
  return out;
}

/** The wave's batch size and what set it, e.g. `up to 19 at a time (--max-unavailable 10%)`. */
function batchWords(wave: Wave, options: Plan['options']): string {
  const b = wave.bound;
  if (!b) return `up to ${wave.maxConcurrent} at a time`;
  if (b.by === 'controlplane-restart') return `one at a time (kube-apiserver restarts)`;
  const flag =
    b.by === 'parallelism'
      ? '--parallelism'
      : `--max-unavailable ${options.maxUnavailableRequested ?? options.maxUnavailable}`;
  return `up to ${wave.maxConcurrent} at a time (${flag})`;
}

function edgeLines(e: ProofEdge, indent: string): string[] {
  const mark = e.preExisting ? '=' : e.status === 'broken' ? '!' : '~';
  const tags = [e.status, e.certainty === 'possible' ? 'possible' : null, e.preExisting ? 'pre-existing' : null]
    .filter(Boolean)
    .join(', ');
  return [
    `${indent}${mark} ${e.kind} [${tags}]: ${e.window}`,
    `${indent}    ${e.from} → ${e.to}`,
    `${indent}    ${e.reason}`,
  ];
}

function trustedOf(s: ApiState): Set<string> {
  return new Set(s.issuing ? [...s.accepted, s.issuing] : s.accepted);
}

export function nodeChanges(n: StepNode, ca: (fp: Fingerprint | null) => string): string {
  const parts: string[] = [];
  for (const api of ['talos', 'kubernetes'] as const) {
    const cur = n.current[api];
    const tgt = n.target[api];
    if (!cur || !tgt) continue;
    const tokens: string[] = [];
    const before = trustedOf(cur);
    const after = trustedOf(tgt);
    if (cur.issuing !== tgt.issuing && tgt.issuing !== null)
      tokens.push(`~issuing ${ca(cur.issuing)} → ${ca(tgt.issuing)}`);
    else if (cur.issuing === null && tgt.issuing === null && cur.accepted[0] !== tgt.accepted[0]) {
      tokens.push(`~first accepted ${ca(cur.accepted[0] ?? null)} → ${ca(tgt.accepted[0] ?? null)}`);
    }
    for (const fp of after) if (!before.has(fp)) tokens.push(`+accept ${ca(fp as Fingerprint)}`);
    for (const fp of before) if (!after.has(fp)) tokens.push(`-drop ${ca(fp as Fingerprint)}`);
    if (tokens.length === 0) tokens.push('reorder accepted CAs');
    parts.push(`${API_SHORT[api]} ${tokens.join(', ')}`);
  }
  return parts.join('; ');
}

/** The extension-apiserver-authentication step (model ExtensionAuthStep), after the step it follows. */
export function extensionAuthLines(
  ext: ExtensionAuthStep,
  steps: readonly Step[],
  ca: (fp: Fingerprint | null) => string,
): string[] {
  const after =
    ext.afterStep === null
      ? 'after the last step'
      : `after step ${steps.find((s) => s.id === ext.afterStep)?.index ?? '?'} (${ext.afterStep})`;
  if (ext.mode === 'report') {
    return [
      `ConfigMap ${ext.namespace}/${ext.name}, ${after}: ` +
        'report only, not written (workloads.extensionApiserverAuthentication: report)',
      `  would replace client-ca-file with exactly ${ext.clientCa.map(ca).join(', ')} (what every kube-apiserver ` +
        'then trusts)',
      `  would remove: ${ext.removes.map(ca).join(', ')} (extension API servers keep trusting it until it expires)`,
      `  why: ${ext.reason}`,
    ];
  }
  return [
    `ConfigMap ${ext.namespace}/${ext.name}, ${after}: replace client-ca-file`,
    `  client-ca-file: exactly ${ext.clientCa.map(ca).join(', ')} (what every kube-apiserver then trusts); ` +
      'every other key kept; never deleted',
    `  removes: ${ext.removes.map(ca).join(', ')}`,
    `  requestheader-client-ca-file: unchanged (the aggregator CA is not rotated)`,
    `  gate: re-read after ${Math.round(ext.gate.settleMs / 1000)} s: no kube-apiserver wrote a removed CA back`,
    `  why: ${ext.reason}`,
  ];
}
