/**
 * The workload phase as the plan states it (`plan.workloadPhase`: after which step, which mode) and the
 * rollback's own phase (issue 14): which pods it concerns, what its summary and `rotate status` say, and the
 * workloads section the apply run keeps for it in the state.
 */
import t from 'tap';
import type { Fingerprint } from '../../src/domain/types.js';
import type { Plan } from '../../src/plan/model/index.js';
import { workloadPhaseLines } from '../../src/plan/render/workloads.js';
import { kubernetesServerChange, staleWorkloads, type PodLike } from '../../src/workloads/find.js';
import { rolledBackIssueStart, workloadPhaseEntry, workloadPhaseMode } from '../../src/workloads/phase.js';
import { runSummary } from '../../src/apply/run-common.js';
import { workloadsOf } from '../../src/cli/commands/status/run.js';
import { renderStatusText } from '../../src/status/render.js';
import { buildStatusReport } from '../../src/status/report.js';
import { MemoryStateBacking, createMemoryStateStore, type Run } from '../../src/state/index.js';
import { stateDocumentProblems } from '../../src/state/schema.js';
import { fullPlan, samplePlan, sampleBefore } from '../state/fixtures/plan.js';

const A = 'a'.repeat(64) as Fingerprint;
const B = 'b'.repeat(64) as Fingerprint;

function planWith(steps: { index: number; cur: Fingerprint; tgt: Fingerprint }[]): Pick<Plan, 'steps'> {
  return {
    steps: steps.map((s) => ({
      index: s.index,
      id: `step-${s.index}`,
      nodes: [
        {
          role: 'controlplane',
          current: { kubernetes: { issuing: s.cur, accepted: [] } },
          target: { kubernetes: { issuing: s.tgt, accepted: [] } },
        },
      ],
    })) as unknown as Plan['steps'],
  };
}

t.test('workloadPhaseMode: --workloads wins, then the section, else report', async (t) => {
  const policy = (d: 'restart' | 'report' | 'ignore', ns: Record<string, 'restart' | 'report' | 'ignore'> = {}) => ({
    default: d,
    namespaces: ns,
    selectors: [],
    evict: [],
  });
  t.same(workloadPhaseMode(policy('report'), 'restart'), { mode: 'restart', modeSource: 'flag' });
  t.same(workloadPhaseMode(undefined, 'report'), { mode: 'report', modeSource: 'flag' });
  t.same(workloadPhaseMode(undefined, undefined), { mode: 'report', modeSource: 'default' });
  t.same(workloadPhaseMode(policy('restart'), undefined), { mode: 'restart', modeSource: 'desired-state' });
  t.same(workloadPhaseMode(policy('report', { web: 'report' }), undefined), {
    mode: 'report',
    modeSource: 'desired-state',
  });
  t.same(workloadPhaseMode(policy('report', { web: 'restart' }), undefined), {
    mode: 'mixed',
    modeSource: 'desired-state',
  });
  t.same(
    workloadPhaseMode(
      { default: 'restart', namespaces: {}, selectors: [{ matchLabels: { a: 'b' }, action: 'ignore' }], evict: [] },
      undefined,
    ).mode,
    'mixed',
  );
});

t.test(
  'workloadPhaseEntry: after the step from which the control planes serve the new CA; none without one',
  async (t) => {
    const plan = fullPlan();
    const change = kubernetesServerChange(plan)!;
    const entry = workloadPhaseEntry(plan, undefined, 'restart');
    t.same(entry, {
      afterStep: change.issueStep,
      afterStepId: plan.steps.find((s) => s.index === change.issueStep)!.id,
      newCa: change.newCa,
      mode: 'restart',
      modeSource: 'flag',
    });
    t.equal(workloadPhaseEntry(samplePlan(), undefined, 'restart'), null, 'a Talos-only plan has no workload phase');
    t.match(
      workloadPhaseEntry(planWith([{ index: 1, cur: B, tgt: A }]), undefined, undefined, '2026-12-05T09:00:00.000Z'),
      { afterStep: 1, newCa: A, mode: 'report', podsStartedAfter: '2026-12-05T09:00:00.000Z' },
    );
    const text = workloadPhaseLines(entry!).join('\n');
    t.match(
      text,
      new RegExp(
        `^Workload phase: after step ${change.issueStep} \\(${entry!.afterStepId}\\), once kube-root-ca.crt ` +
          `holds ${change.newCa.slice(0, 16)}`,
      ),
    );
    t.match(text, /mode restart, from --workloads/);
    t.match(
      workloadPhaseLines({ ...entry!, podsStartedAfter: '2026-12-05T09:00:00.000Z' }).join('\n'),
      /Only pods started since 2026-12-05T09:00:00.000Z/,
    );
  },
);

t.test(
  "rolledBackIssueStart: the earliest start of the rolled-back run's issue step, across its re-plans; else " +
    "the run's start",
  async (t) => {
    const plan = planWith([
      { index: 1, cur: A, tgt: A },
      { index: 2, cur: A, tgt: B },
    ]);
    const run = {
      startedAt: '2026-12-05T08:00:00.000Z',
      plan,
      steps: [
        { index: 1, startedAt: '2026-12-05T08:01:00.000Z' },
        { index: 2, startedAt: '2026-12-05T08:30:00.000Z' },
      ],
      resumes: [],
    };
    t.equal(rolledBackIssueStart(run), '2026-12-05T08:30:00.000Z');
    // Killed during the issue step, resumed: the re-plan starts at what is left of it.
    const replanned = planWith([{ index: 1, cur: A, tgt: B }]);
    t.equal(
      rolledBackIssueStart({
        ...run,
        plan: replanned,
        steps: [{ index: 1, startedAt: '2026-12-05T09:00:00.000Z' }],
        resumes: [{ replanned: { plan, steps: run.steps } }],
      }),
      '2026-12-05T08:30:00.000Z',
    );
    t.equal(
      rolledBackIssueStart({
        ...run,
        steps: [
          { index: 1, startedAt: null },
          { index: 2, startedAt: null },
        ],
      }),
      '2026-12-05T08:00:00.000Z',
      'no record: the run start',
    );
  },
);

t.test('staleWorkloads(startedAfter): pods started before the bound are left out; a pending one is kept', async (t) => {
  const pod = (name: string, startTime?: string): PodLike => ({
    metadata: { namespace: 'a', name },
    spec: { volumes: [{ name: 'kube-api-access-x' }] },
    status: { phase: 'Running', ...(startTime ? { startTime } : {}) },
  });
  const inventory = {
    pods: [pod('old', '2026-12-05T07:00:00Z'), pod('new', '2026-12-05T10:00:00Z'), pod('pending')],
    replicaSets: [],
    tokenSecrets: [],
  };
  t.same(
    staleWorkloads(inventory, '2026-12-05T12:00:00Z', '2026-12-05T09:00:00Z')
      .map((w) => w.name)
      .sort(),
    ['new', 'pending'],
  );
  t.same(
    staleWorkloads(inventory, '2026-12-05T12:00:00Z')
      .map((w) => w.name)
      .sort(),
    ['new', 'old', 'pending'],
    'no bound: all of them (apply)',
  );
});

const records = [
  { namespace: 'apps', kind: 'Deployment', name: 'web', status: 'restarted', restartedAt: 'x', updatedAt: 'x' },
  {
    namespace: 'apps',
    kind: 'DaemonSet',
    name: 'agent',
    status: 'blocked',
    reason: 'the DaemonSet uses the OnDelete update strategy',
    updatedAt: 'x',
  },
] as const;

t.test("a rollback's summary and `rotate status` name what its own phase restarted and left", async (t) => {
  const rollback = { id: 'r2', operation: 'rollback', outputs: [], workloads: records } as unknown as Run;
  const notes = runSummary(rollback, { steps: [] } as unknown as Plan).notes.join('\n');
  t.match(
    notes,
    new RegExp(
      /workloads restarted so that their pods load the Kubernetes API CA the rollback returned to /.source +
        /\(1\): Deployment apps\/web/.source,
    ),
  );
  t.match(
    notes,
    new RegExp(
      /may still hold the Kubernetes API CA the rollback took away \(1\), not restarted: DaemonSet /.source +
        /apps\/agent — the DaemonSet uses the OnDelete/.source,
    ),
  );

  const apply = { id: 'r1', operation: 'apply', workloads: [{ ...records[0], restartedAt: 'y' }] } as unknown as Run;
  const w = workloadsOf([apply, rollback])!;
  t.match(
    w,
    { runId: 'r2', operation: 'rollback', restarted: ['Deployment apps/web'] },
    'the latest phase: the rollback',
  );
  t.notOk('operation' in workloadsOf([apply])!, "an apply's keeps the old shape");
  const report = buildStatusReport({
    nodes: [],
    names: new Map(),
    clients: [],
    drift: { changes: false, steps: [], refused: [] },
    run: null,
    now: new Date(),
    warnDays: 90,
    describe: () => ({ notAfter: new Date(), subject: '' }),
    workloads: w,
  });
  t.match(
    renderStatusText(report),
    /Workloads \(rollback run r2\): 1 restarted, 1 left with the CA the rollback took away possibly loaded/,
  );
});

t.test('the apply run keeps its workloads section for the rollback, and the state schema takes it', async (t) => {
  const backing = new MemoryStateBacking();
  const store = createMemoryStateStore({ backing });
  const workloads = {
    default: 'report' as const,
    namespaces: { apps: 'restart' as const },
    selectors: [{ matchLabels: { tier: 'edge' }, action: 'ignore' as const }],
  };
  await store.startRun({
    operation: 'apply',
    plan: samplePlan(),
    before: sampleBefore(),
    cluster: {
      desiredFile: '/x/rotate.yaml',
      talosconfig: '/x/talosconfig',
      context: 'c',
      endpoints: ['127.0.0.1'],
      controlPlanes: ['127.0.0.1'],
      workers: [],
      workloads,
    },
  });
  const doc = JSON.parse(backing.text!) as { runs: { cluster: { workloads: { default: string } } }[] };
  t.same(stateDocumentProblems(doc), []);
  t.same((await createMemoryStateStore({ backing }).read())!.runs[0]!.cluster!.workloads, workloads);
  doc.runs[0]!.cluster.workloads.default = 'bounce';
  t.ok(stateDocumentProblems(doc).length > 0, 'an unknown action is refused');
});

t.test(
  'the recorded workloads section keeps evict and the ConfigMap switch (the whole section, as apply records it)',
  async (t) => {
    const backing = new MemoryStateBacking();
    const store = createMemoryStateStore({ backing });
    const workloads = {
      default: 'restart' as const,
      namespaces: {},
      selectors: [],
      evict: ['Job' as const, 'Pod' as const],
      extensionApiserverAuthentication: 'report' as const,
    };
    await store.startRun({
      operation: 'apply',
      plan: samplePlan(),
      before: sampleBefore(),
      cluster: {
        desiredFile: '/x/rotate.yaml',
        talosconfig: '/x/talosconfig',
        context: 'c',
        endpoints: ['127.0.0.1'],
        controlPlanes: ['127.0.0.1'],
        workers: [],
        workloads,
      },
    });
    t.same(stateDocumentProblems(JSON.parse(backing.text!)), []);
    t.same((await createMemoryStateStore({ backing }).read())!.runs[0]!.cluster!.workloads, workloads);
  },
);
