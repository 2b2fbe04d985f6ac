/**
 * `rotate status`, the pure half: from what the nodes trust, the operator's client certificates, the
 * plan's verdict and the state's last run, one report with the conditions a cron job or a monitoring
 * exporter acts on. The exit code is the most urgent condition (documented in the README):
 * 0 all well, 3 an unfinished run, 2 drift from the desired state, 4 something expires within the warning
 * window or has expired. (1 stays "could not tell": an error.)
 */
import type { ApiKind, Fingerprint, NodeRole } from '../domain/types.js';

export interface StatusCaRef {
  fingerprint: Fingerprint;
  certPem: string;
}

export interface StatusNodeInput {
  address: string;
  hostname: string;
  role: NodeRole;
  talos: { current: StatusCaRef | null; accepted: StatusCaRef[] };
  kubernetes: { current: StatusCaRef | null; accepted: StatusCaRef[] };
}

export interface StatusClientInput {
  kind: 'talosconfig' | 'kubeconfig';
  path: string;
  context: string | null;
  certPem: string | null;
  /** Why no certificate could be read (e.g. the file does not exist yet). */
  problem?: string;
}

export interface StatusRunInput {
  id: string;
  operation: string;
  status: string;
  startedAt: string;
  /** The first step not done, if any. */
  step: string | null;
  error: string | null;
}

/** The workload phase of the latest apply run that had one: what was restarted, what is left and why. */
export interface StatusWorkloads {
  runId: string;
  /** Present (`rollback`) when the latest workload phase was a rollback's. */
  operation?: 'rollback';
  restarted: string[];
  left: { workload: string; status: string; reason: string }[];
}

export interface StatusInput {
  nodes: readonly StatusNodeInput[];
  /** Authority names of the desired state, by API and fingerprint. */
  names: ReadonlyMap<string, string>;
  clients: readonly StatusClientInput[];
  drift: { changes: boolean; steps: readonly string[]; refused: readonly string[] };
  run: StatusRunInput | null;
  workloads?: StatusWorkloads | null;
  now: Date;
  warnDays: number;
  describe: (certPem: string) => { notAfter: Date; subject: string };
}

export interface StatusCa {
  api: ApiKind;
  name: string | null;
  fingerprint: Fingerprint;
  notAfter: string;
  daysLeft: number;
  subject: string;
  /** Nodes that issue from it (their current CA), and nodes that only accept it. */
  issuingOn: string[];
  acceptedOn: string[];
}

export interface StatusClient {
  kind: 'talosconfig' | 'kubeconfig';
  path: string;
  context: string | null;
  notAfter: string | null;
  daysLeft: number | null;
  problem: string | null;
}

export interface StatusWarning {
  code: 'STATUS_EXPIRED' | 'STATUS_EXPIRING' | 'STATUS_DRIFT' | 'STATUS_UNFINISHED_RUN' | 'STATUS_CLIENT_UNREADABLE';
  message: string;
}

export interface StatusReport {
  generatedAt: string;
  warnDays: number;
  exitCode: 0 | 2 | 3 | 4;
  conditions: { drift: boolean; unfinishedRun: boolean; expiring: boolean; expired: boolean };
  cas: StatusCa[];
  nodes: { address: string; hostname: string; role: NodeRole; talos: NodeApiView; kubernetes: NodeApiView }[];
  clients: StatusClient[];
  drift: { changes: boolean; steps: string[]; refused: string[] };
  run: StatusRunInput | null;
  /** Absent when no run had a workload phase. */
  workloads?: StatusWorkloads;
  warnings: StatusWarning[];
}

export interface NodeApiView {
  current: { name: string | null; fingerprint: Fingerprint } | null;
  accepted: { name: string | null; fingerprint: Fingerprint }[];
}

const DAY_MS = 86_400_000;
const API_TITLE: Record<ApiKind, string> = { talos: 'Talos API', kubernetes: 'Kubernetes API' };

export function nameKey(api: ApiKind, fp: Fingerprint): string {
  return `${api}:${fp}`;
}

export function buildStatusReport(input: StatusInput): StatusReport {
  const { now } = input;
  const warnings: StatusWarning[] = [];
  const daysLeft = (d: Date): number => Math.floor((d.getTime() - now.getTime()) / DAY_MS);
  const horizon = now.getTime() + input.warnDays * DAY_MS;
  let expiring = false;
  let expired = false;
  const check = (what: string, notAfter: Date): void => {
    if (notAfter.getTime() <= now.getTime()) {
      expired = true;
      warnings.push({ code: 'STATUS_EXPIRED', message: `${what} expired on ${notAfter.toISOString()}` });
    } else if (notAfter.getTime() <= horizon) {
      expiring = true;
      warnings.push({
        code: 'STATUS_EXPIRING',
        message: `${what} expires on ${notAfter.toISOString()} (in ${daysLeft(notAfter)} days)`,
      });
    }
  };

  const cas = new Map<string, StatusCa>();
  const caOf = (api: ApiKind, ref: StatusCaRef): StatusCa => {
    const key = nameKey(api, ref.fingerprint);
    let ca = cas.get(key);
    if (!ca) {
      const d = input.describe(ref.certPem);
      ca = {
        api,
        name: input.names.get(key) ?? null,
        fingerprint: ref.fingerprint,
        notAfter: d.notAfter.toISOString(),
        daysLeft: daysLeft(d.notAfter),
        subject: d.subject,
        issuingOn: [],
        acceptedOn: [],
      };
      cas.set(key, ca);
    }
    return ca;
  };
  const nodes = input.nodes.map((n) => {
    const view = (api: ApiKind): NodeApiView => {
      const s = n[api];
      const current = s.current ? caOf(api, s.current) : null;
      if (current) current.issuingOn.push(n.address);
      const accepted = s.accepted.filter((a) => a.fingerprint !== s.current?.fingerprint).map((a) => caOf(api, a));
      for (const a of accepted) a.acceptedOn.push(n.address);
      return {
        current: current ? { name: current.name, fingerprint: current.fingerprint } : null,
        accepted: accepted.map((a) => ({ name: a.name, fingerprint: a.fingerprint })),
      };
    };
    return {
      address: n.address,
      hostname: n.hostname,
      role: n.role,
      talos: view('talos'),
      kubernetes: view('kubernetes'),
    };
  });
  for (const ca of cas.values())
    check(
      `${API_TITLE[ca.api]} CA ${ca.name ?? ca.fingerprint.slice(0, 16)} (trusted ` +
        `by ${ca.issuingOn.length + ca.acceptedOn.length} node(s))`,
      new Date(ca.notAfter),
    );

  const clients = input.clients.map((c): StatusClient => {
    if (!c.certPem) {
      warnings.push({
        code: 'STATUS_CLIENT_UNREADABLE',
        message: `${c.kind} ${c.path}: ${c.problem ?? 'no client certificate'}`,
      });
      return {
        kind: c.kind,
        path: c.path,
        context: c.context,
        notAfter: null,
        daysLeft: null,
        problem: c.problem ?? 'no client certificate',
      };
    }
    const { notAfter } = input.describe(c.certPem);
    check(`the ${c.kind} client certificate (${c.path}${c.context ? `, context ${c.context}` : ''})`, notAfter);
    return {
      kind: c.kind,
      path: c.path,
      context: c.context,
      notAfter: notAfter.toISOString(),
      daysLeft: daysLeft(notAfter),
      problem: null,
    };
  });

  const drift = input.drift.changes || input.drift.refused.length > 0;
  if (drift) {
    const what =
      input.drift.steps.length > 0
        ? `${input.drift.steps.length} step(s) to apply: ${input.drift.steps.join(', ')}`
        : 'changes the planner refuses';
    warnings.push({
      code: 'STATUS_DRIFT',
      message: `the cluster differs from the desired state (${what}); see \`rotate plan\``,
    });
  }
  if (input.run) {
    warnings.push({
      code: 'STATUS_UNFINISHED_RUN',
      message:
        `${input.run.operation} run ${input.run.id} is ${input.run.status} ` +
        `(started ${input.run.startedAt}${input.run.step ? `, at step ${input.run.step}` : ''}): ` +
        `\`rotate apply\` resumes it, \`rotate rollback\` undoes it`,
    });
  }
  const exitCode = input.run ? 3 : drift ? 2 : expiring || expired ? 4 : 0;
  return {
    generatedAt: now.toISOString(),
    warnDays: input.warnDays,
    exitCode,
    conditions: { drift, unfinishedRun: input.run !== null, expiring, expired },
    cas: [...cas.values()],
    nodes,
    clients,
    drift: { changes: input.drift.changes, steps: [...input.drift.steps], refused: [...input.drift.refused] },
    run: input.run,
    ...(input.workloads ? { workloads: input.workloads } : {}),
    warnings,
  };
}
