/**
 * Announcements that are not edge failures of the cluster: credentials of other users that stop working,
 * the operator's own kubeconfig, kube-apiserver restarts, workloads the tool leaves alone.
 */
import type { ApiKind, Fingerprint } from '../../domain/types.js';
import type { ApiState, PlanInput } from '../model/input.js';
import type { PemRepair, Step } from '../model/plan.js';
import type { CaIndex } from '../safety/cas.js';
import type { Finding } from '../safety/engine.js';
import type { ModelNode } from '../safety/world.js';

export interface NoticeContext {
  input: PlanInput;
  cas: CaIndex;
  steps: readonly Step[];
  stepFindings: readonly (readonly Finding[])[];
  world0: readonly ModelNode[];
  names: ReadonlyMap<Fingerprint, string>;
}

const CREDENTIALS: Record<ApiKind, { api: string; file: string }> = {
  talos: { api: 'Talos API', file: 'talosconfig' },
  kubernetes: { api: 'Kubernetes API', file: 'kubeconfig' },
};

function trusted(s: ApiState): Set<Fingerprint> {
  return new Set(s.issuing ? [...s.accepted, s.issuing] : s.accepted);
}

export function buildNotices(ctx: NoticeContext): string[] {
  const { input, cas, steps } = ctx;
  const out: string[] = [];
  const name = (fp: Fingerprint): string => cas.describe(cas.id(fp));

  for (const api of ['talos', 'kubernetes'] as const) {
    const cred = CREDENTIALS[api];
    const serverChange = new Map<Fingerprint, { step: Step; to: Fingerprint }>();
    const clientDrop = new Map<Fingerprint, Step>();
    for (const step of steps) {
      for (const n of step.nodes) {
        if (n.role !== 'controlplane') continue;
        const cur = n.current[api];
        const tgt = n.target[api];
        if (!cur || !tgt) continue;
        if (cur.issuing && tgt.issuing && cur.issuing !== tgt.issuing && !serverChange.has(cur.issuing))
          serverChange.set(cur.issuing, { step, to: tgt.issuing });
        const after = trusted(tgt);
        for (const fp of trusted(cur)) if (!after.has(fp) && !clientDrop.has(fp)) clientDrop.set(fp, step);
      }
    }
    const written = steps.find((s) =>
      api === 'talos' ? !!(s.talosconfigAfter || s.talosconfigBefore) : s.outputsAfter.includes('kubeconfig'),
    );
    for (const [old, { step, to }] of serverChange) {
      out.push(
        `From step ${step.index} (${step.id}) control planes serve ${cred.api} certificates signed by ${name(to)}: ` +
          `any ${cred.file} that trusts only ${name(old)} (other users' copies, CI) stops verifying them` +
          (written ? `; the ${cred.file} this plan writes (step ${written.index}) trusts the new CA.` : '.'),
      );
    }
    for (const [old, step] of clientDrop) {
      out.push(
        `From step ${step.index} (${step.id}) control planes refuse ${cred.api} client certificates signed by ` +
          `${name(old)}: every ${cred.file} signed by it stops working; issue new ones from ` +
          `${input.desired[api] ? name(input.desired[api].issuing) : 'the new CA'}.`,
      );
    }
  }

  const talosWrites = steps.flatMap((s) => [
    ...(s.talosconfigBefore ? [`before step ${s.index} (${s.talosconfigBefore} client)`] : []),
    ...(s.talosconfigAfter ? [`after step ${s.index} (${s.talosconfigAfter} client)`] : []),
  ]);
  if (talosWrites.length > 0) {
    out.push(
      `The operator's talosconfig is replaced ${talosWrites.join(', then ')}; the old one stops working once ` +
        'control planes no longer trust its signer.',
    );
  }

  ctx.stepFindings.forEach((fs, i) => {
    const f = fs.find((x) => x.notice);
    if (!f) return;
    if (ctx.stepFindings.slice(0, i).some((prev) => prev.some((x) => x.notice))) return;
    const step = steps[i]!;
    const next = steps.slice(i).find((s) => s.outputsAfter.includes('kubeconfig'));
    out.push(
      `The kubeconfig in use stops working during step ${step.index} (${f.reason})` +
        (next
          ? `; a new kubeconfig is written after step ${next.index}`
          : '; fetch a new one with `talosctl kubeconfig`') +
        '.',
    );
  });

  const cps = input.nodes.filter((n) => n.role === 'controlplane').length;
  const apiserverSteps = steps.filter((s) => s.nodes.some((n) => n.role === 'controlplane' && n.target.kubernetes));
  if (apiserverSteps.length > 0) {
    if (cps === 1) {
      out.push(
        'Single control plane: its kube-apiserver restarts in ' +
          `step(s) ${apiserverSteps.map((s) => s.index).join(', ')}, a brief Kubernetes API outage each time (not ` +
          'a trust failure).',
      );
    } else {
      out.push(
        'kube-apiserver restarts on each control plane it patches in ' +
          `step(s) ${apiserverSteps.map((s) => s.index).join(', ')}, one control plane at a time (the next starts ` +
          'once its static pods run the new config).',
      );
    }
  }
  const pods = podDisruptionNotice(steps);
  if (pods) out.push(pods);
  return out;
}

/**
 * Waves whose batch the planner made smaller than the options asked, one sentence naming each (step and
 * wave), the size asked and the size planned, and why. Today only control planes whose kube-apiserver
 * restarts: one at a time whatever --max-unavailable says. A wave with fewer nodes than the request is not
 * shrunk (nothing changes for it).
 */
export function batchNotices(input: PlanInput, steps: readonly Step[]): string[] {
  const shrunk: { where: string; requested: number; applied: number; reason: string }[] = [];
  for (const step of steps) {
    for (const wave of step.waves) {
      const b = wave.bound;
      if (!b || Math.min(b.requested, wave.nodes.length) <= b.applied) continue;
      const noun = wave.role === 'controlplane' ? 'control planes' : 'workers';
      shrunk.push({
        where: `step ${step.index} (${step.id}) wave ${wave.index} (${noun})`,
        requested: Math.min(b.requested, wave.nodes.length),
        applied: b.applied,
        reason: b.reason,
      });
    }
  }
  // One sentence per distinct shrink (a full rotation restarts control planes in up to three steps).
  const groups = new Map<string, { requested: number; applied: number; reason: string; where: string[] }>();
  for (const s of shrunk) {
    const key = `${s.requested}|${s.applied}|${s.reason}`;
    const g = groups.get(key) ?? { requested: s.requested, applied: s.applied, reason: s.reason, where: [] };
    g.where.push(s.where);
    groups.set(key, g);
  }
  const asked = input.options.maxUnavailable;
  return [...groups.values()].map(
    (g) =>
      `Batches of ${g.applied}, not ${g.requested} as --max-unavailable ${asked} allows, ` +
      `in ${g.where.join(', ')}: ${g.reason}.`,
  );
}

/**
 * The in-cluster client disruption the proofs announce (`pod-apiserver`), in one sentence: the first step
 * whose proof has it and its waves. Null when no step changes the control planes' issuing Kubernetes CA.
 * Apply's run summary repeats it word for word; a rollback's names its own options and what it lists.
 */
export function podDisruptionNotice(steps: readonly Step[], operation: 'apply' | 'rollback' = 'apply'): string | null {
  for (const step of steps) {
    const edges = step.proof.edges.filter((e) => e.kind === 'pod-apiserver' && e.status !== 'ok' && !e.preExisting);
    if (edges.length === 0) continue;
    const waves = [...new Set(edges.flatMap((e) => e.waves))].sort((a, b) => a - b);
    const span =
      waves.length === 0
        ? ''
        : waves.length === 1
          ? `, wave ${waves[0]}`
          : `, waves ${waves[0]}–${waves[waves.length - 1]}`;
    return (
      `In-cluster clients: from step ${step.index} (${step.id})${span}, control planes serve the Kubernetes API ` +
      'from another issuing CA and the controller-manager leader overwrites kube-root-ca.crt with its issuing CA ' +
      `alone, which is all pods trust: clients started before step ${step.index} ` +
      '(kube-proxy, anything using in-cluster config) are possibly stale and fail until they re-read ca.crt ' +
      '(client-go: about every 5 minutes) or restart. ' +
      (operation === 'apply'
        ? 'The plan lists those pods by workload and namespace, and the Secrets and ConfigMaps that embed the old ' +
          'CA (`--json`: each pod and key); apply restarts the Deployments, DaemonSets and StatefulSets among ' +
          "them right after this step only where the desired state's `workloads` section or `--workloads " +
          'restart` asks (default: report only), and edits no Secret or ConfigMap.'
        : 'The rollback restarts the Deployments, DaemonSets and StatefulSets among them right after this step ' +
          "only where `--workloads restart` or the rolled-back run's `workloads` section asks (default: report " +
          'only), and edits no Secret or ConfigMap.')
    );
  }
  return null;
}

/**
 * CA fields whose PEM text lacks its final newline: Talos joins CA entries with no separator and Go's PEM
 * decoder then drops that certificate and the next one (talos-behaviour.md §5.1). The first step that patches that API
 * on the node rewrites them; a node the plan does not patch keeps them as they are.
 */
export function pemRepairs(input: PlanInput, steps: readonly Step[]): { repairs: PemRepair[]; notices: string[] } {
  const repairs: PemRepair[] = [];
  const notices: string[] = [];
  for (const n of input.nodes) {
    for (const api of ['talos', 'kubernetes'] as const) {
      const fields = n.unterminatedPem?.[api] ?? [];
      if (fields.length === 0) continue;
      const step = steps.find((s) => s.nodes.some((x) => x.address === n.address && x.target[api]));
      repairs.push({ address: n.address, api, fields: [...fields], step: step ? step.index : null });
      const what =
        `${n.address}: ${fields.join(', ')} ${fields.length === 1 ? 'lacks its' : 'lack their'} final ` +
        'newline; Talos joins CA entries with no separator, so such a certificate and the one after it are lost ' +
        'from the bundle';
      notices.push(
        step
          ? `${what}. Step ${step.index} (${step.id}) rewrites ${fields.length === 1 ? 'it' : 'them'} with one ` +
              '(repair).'
          : `${what}. No step patches this node's ${CREDENTIALS[api].api} CAs, ` +
              `so ${fields.length === 1 ? 'it stays' : 'they stay'} ` +
              `as ${fields.length === 1 ? 'it is' : 'they are'}: add the newline by hand.`,
      );
    }
  }
  return { repairs, notices };
}
