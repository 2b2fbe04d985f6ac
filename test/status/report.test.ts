/** `rotate status`'s pure report: names, per-node views, expiry warnings and the exit code's precedence. */
import t from 'tap';
import { asFingerprint } from '../../src/domain/types.js';
import { buildStatusReport, nameKey, type StatusInput } from '../../src/status/report.js';
import { renderStatusPrometheus, renderStatusText } from '../../src/status/render.js';

const NOW = new Date('2026-12-05T00:00:00Z');
const fp = (c: string) => asFingerprint(c.repeat(64));
const notAfter: Record<string, string> = {
  A: '2036-01-01T00:00:00Z',
  B: '2027-01-15T00:00:00Z',
  C: '2026-11-01T00:00:00Z',
  CLIENT: '2027-12-01T00:00:00Z',
};
const ref = (c: 'a' | 'b' | 'c') => ({ fingerprint: fp(c), certPem: c.toUpperCase() });

function input(over: Partial<StatusInput> = {}): StatusInput {
  return {
    nodes: [
      {
        address: '10.0.0.1',
        hostname: 'cp-1',
        role: 'controlplane',
        talos: { current: ref('a'), accepted: [] },
        kubernetes: { current: ref('a'), accepted: [] },
      },
      {
        address: '10.0.0.2',
        hostname: 'w-1',
        role: 'worker',
        talos: { current: ref('a'), accepted: [] },
        kubernetes: { current: ref('a'), accepted: [] },
      },
    ],
    names: new Map([
      [nameKey('talos', fp('a')), 'talos-2026'],
      [nameKey('kubernetes', fp('a')), 'k8s-2026'],
    ]),
    clients: [{ kind: 'talosconfig', path: '/x/talosconfig', context: 'prod', certPem: 'CLIENT' }],
    drift: { changes: false, steps: [], refused: [] },
    run: null,
    now: NOW,
    warnDays: 90,
    describe: (pem) => ({ notAfter: new Date(notAfter[pem]!), subject: `O=${pem}` }),
    ...over,
  };
}

t.test('all well: exit 0, CAs named per API, nodes listed', async (t) => {
  const r = buildStatusReport(input());
  t.equal(r.exitCode, 0);
  t.same(
    r.cas.map((c) => [c.api, c.name, c.issuingOn.length]),
    [
      ['talos', 'talos-2026', 2],
      ['kubernetes', 'k8s-2026', 2],
    ],
  );
  t.same(r.warnings, []);
  t.match(renderStatusText(r), /Status: OK/);
  t.match(renderStatusPrometheus(r), /^talos_rotate_status_exit_code 0$/m);
});

t.test('expiring within the window, or expired: exit 4 with a warning naming it', async (t) => {
  const r = buildStatusReport(
    input({
      nodes: [
        {
          address: '10.0.0.1',
          hostname: '',
          role: 'controlplane',
          talos: { current: ref('a'), accepted: [ref('b'), ref('c')] },
          kubernetes: { current: ref('a'), accepted: [] },
        },
      ],
    }),
  );
  t.equal(r.exitCode, 4);
  t.same(r.conditions, { drift: false, unfinishedRun: false, expiring: true, expired: true });
  t.same(
    r.warnings.map((w) => w.code),
    ['STATUS_EXPIRING', 'STATUS_EXPIRED'],
  );
  t.match(r.warnings[0]!.message, /expires on 2027-01-15.*in 41 days/);
  t.match(
    renderStatusText(r),
    /^warning: .*expires on 2027-01-15.* \[STATUS_EXPIRING\]$/m,
    'printed as every other command prints a warning: `warning: … [CODE]`',
  );
  t.same(
    r.nodes[0]!.talos.accepted.map((a) => a.name),
    [null, null],
    'CAs outside the desired state have no name',
  );
  t.match(renderStatusText(r), /\(not in the desired state\) bbbbbbbbbbbbbbbb/);
});

t.test('precedence: an unfinished run (3) over drift (2) over expiry (4)', async (t) => {
  const run = {
    id: 'r1',
    operation: 'apply',
    status: 'running',
    startedAt: '2026-12-05T00:00:00Z',
    step: 'talos-issue',
    error: null,
  };
  const drift = { changes: true, steps: ['talos-accept'], refused: [] };
  const expiring = { warnDays: 400 };
  t.equal(buildStatusReport(input({ ...expiring })).exitCode, 4);
  t.equal(buildStatusReport(input({ ...expiring, drift })).exitCode, 2);
  const all = buildStatusReport(input({ ...expiring, drift, run }));
  t.equal(all.exitCode, 3);
  t.same(all.warnings.map((w) => w.code).sort(), ['STATUS_DRIFT', 'STATUS_EXPIRING', 'STATUS_UNFINISHED_RUN']);
  t.match(renderStatusPrometheus(all), /^talos_rotate_drift 1$/m);
  t.match(renderStatusPrometheus(all), /^talos_rotate_unfinished_run 1$/m);
  t.match(renderStatusPrometheus(all), /^talos_rotate_expiring\{window_days="400"\} 1$/m);
});

t.test('a client whose certificate cannot be read is a warning, not an expiry', async (t) => {
  const r = buildStatusReport(
    input({
      clients: [
        { kind: 'kubeconfig', path: '/x/kubeconfig', context: null, certPem: null, problem: 'cannot read it (ENOENT)' },
      ],
    }),
  );
  t.equal(r.exitCode, 0);
  t.same(
    r.warnings.map((w) => w.code),
    ['STATUS_CLIENT_UNREADABLE'],
  );
});

t.test('the workload phase of the latest run: what was restarted, what is left and why', async (t) => {
  const { workloadSummary } = await import('../../src/workloads/summary.js');
  const summary = workloadSummary([
    { namespace: 'a', kind: 'Deployment', name: 'web', status: 'restarted' },
    {
      namespace: 'a',
      kind: 'DaemonSet',
      name: 'legacy',
      status: 'blocked',
      reason: 'the DaemonSet uses the OnDelete update strategy: its pods are replaced only when deleted',
    },
    {
      namespace: 'b',
      kind: 'StatefulSet',
      name: 'db',
      status: 'reported',
      reason: 'report only (workloads section or --workloads report)',
    },
    { namespace: 'c', kind: 'Deployment', name: 'skip', status: 'ignored', reason: 'ignored by the workloads section' },
  ]);
  const r = buildStatusReport(input({ workloads: { runId: 'run-1', ...summary } }));
  t.same(r.workloads?.restarted, ['Deployment a/web']);
  t.same(
    r.workloads?.left.map((l) => l.workload),
    ['DaemonSet a/legacy', 'StatefulSet b/db'],
    'ignored workloads are not listed as left',
  );
  const text = renderStatusText(r);
  t.match(text, /Workloads \(run run-1\): 1 restarted, 2 left/);
  t.match(text, /left {7}DaemonSet a\/legacy \(blocked\): .*OnDelete/);
  t.notOk('workloads' in buildStatusReport(input()), 'absent without a workload phase');
});
