/**
 * `rotate status`: what the cluster trusts now (per API and per node, named from the desired state), the
 * operator's client certificates, drift from the desired state and any unfinished run, with expiry
 * warnings; for humans, as JSON, or in the Prometheus text format. Reads only: no dry run, no lock.
 */
import { promises as fs } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parseCaCertificate } from '../../../pki/index.js';
import { buildPlan } from '../../../cluster/session/build-plan.js';
import { openSession } from '../../../cluster/session/open-session.js';
import { connectTalos } from '../../../talos/talos-api.js';
import { openFileStateStore, resolveStatePath, unfinishedRunOf, type Run } from '../../../state/index.js';
import {
  buildStatusReport,
  nameKey,
  type StatusClientInput,
  type StatusRunInput,
  type StatusWorkloads,
} from '../../../status/report.js';
import { renderStatusPrometheus, renderStatusText } from '../../../status/render.js';
import { workloadSummary } from '../../../workloads/summary.js';
import { printJson, printResult } from '../../output.js';

export interface StatusOptions {
  file: string;
  state?: string | undefined;
  json: boolean;
  prometheus: boolean;
  warnDays: number;
  parallelism?: number | undefined;
  talosconfig?: string | undefined;
  context?: string | undefined;
  endpoints?: string[] | undefined;
}

export async function runStatus(args: StatusOptions): Promise<void> {
  const session = await openSession(args.file, connectTalos, {
    talosconfig: args.talosconfig,
    context: args.context,
    endpoints: args.endpoints,
  });
  try {
    const built = await buildPlan(session, {
      parallelism: args.parallelism,
      maxUnavailable: 1,
      allowDisruption: false,
      nodeDryRun: false,
    });
    const names = new Map<string, string>();
    // A name is bound to its certificate (fingerprint), whichever API section uses it.
    for (const a of Object.values(session.desired.authorities)) {
      for (const api of ['talos', 'kubernetes'] as const) names.set(nameKey(api, a.certificate.fingerprint), a.name);
    }
    const statePath = resolveStatePath({ state: args.state, file: args.file });
    const doc = await openFileStateStore(statePath).read();
    const report = buildStatusReport({
      nodes: built.nodes.map((n) => ({
        address: n.address,
        hostname: n.hostname,
        role: n.ca.role,
        talos: { current: n.ca.talos.issuing, accepted: n.ca.talos.accepted },
        kubernetes: {
          // A document-style worker's current Kubernetes CA is its first accepted one.
          current: n.ca.kubernetes.issuing ?? n.ca.kubernetes.accepted[0] ?? null,
          accepted: n.ca.kubernetes.issuing ? n.ca.kubernetes.accepted : n.ca.kubernetes.accepted.slice(1),
        },
      })),
      names,
      clients: [
        {
          kind: 'talosconfig',
          path: session.desired.cluster.talosconfig,
          context: session.context.name,
          certPem: session.context.certPem,
        },
        ...(session.desired.cluster.kubeconfig ? [await kubeconfigClient(session.desired.cluster.kubeconfig)] : []),
      ],
      drift: {
        changes: built.plan.changes,
        steps: built.plan.steps.map((s) => s.id),
        refused: (built.plan.refused ?? []).map((r) => r.reason),
      },
      run: runOf(unfinishedRunOf(doc)),
      workloads: workloadsOf(doc?.runs ?? []),
      now: new Date(),
      warnDays: args.warnDays,
      describe: (pem) => {
        const c = parseCaCertificate(pem, 'a certificate');
        return { notAfter: c.notAfter, subject: c.subject };
      },
    });
    if (args.json) printJson(report);
    else if (args.prometheus) process.stdout.write(renderStatusPrometheus(report));
    else printResult(renderStatusText(report));
    process.exitCode = report.exitCode;
  } finally {
    session.close();
  }
}

/** The latest run (apply, or the rollback that undid it) with a workload phase, summarised. */
export function workloadsOf(runs: readonly Run[]): StatusWorkloads | null {
  const run = [...runs].reverse().find((r) => r.workloads && r.workloads.length > 0);
  if (!run) return null;
  return {
    runId: run.id,
    ...(run.operation === 'rollback' ? { operation: 'rollback' as const } : {}),
    ...workloadSummary(run.workloads!, run.operation === 'rollback' ? 'rollback' : 'apply'),
  };
}

function runOf(run: Run | null): StatusRunInput | null {
  if (!run) return null;
  return {
    id: run.id,
    operation: run.operation,
    status: run.status,
    startedAt: run.startedAt,
    step: run.steps.find((s) => s.status !== 'done')?.id ?? null,
    error: run.error ? `${run.error.code}: ${run.error.message}` : null,
  };
}

interface KubeconfigDoc {
  'current-context'?: string;
  contexts?: { name: string; context?: { user?: string } }[];
  users?: { name: string; user?: { 'client-certificate-data'?: string } }[];
}

/** The client certificate of the kubeconfig's current context (embedded data only). */
async function kubeconfigClient(path: string): Promise<StatusClientInput> {
  const base = { kind: 'kubeconfig' as const, path };
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (err) {
    return {
      ...base,
      context: null,
      certPem: null,
      problem: `cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    };
  }
  try {
    const doc = parseYaml(text) as KubeconfigDoc;
    const context = doc['current-context'] ?? null;
    const user = doc.contexts?.find((c) => c.name === context)?.context?.user;
    const data = doc.users?.find((u) => u.name === user)?.user?.['client-certificate-data'];
    if (!data)
      return {
        ...base,
        context,
        certPem: null,
        problem: 'its current context has no embedded client certificate (client-certificate-data)',
      };
    return { ...base, context, certPem: Buffer.from(data, 'base64').toString('utf8') };
  } catch {
    return { ...base, context: null, certPem: null, problem: 'it is not a valid kubeconfig' };
  }
}
