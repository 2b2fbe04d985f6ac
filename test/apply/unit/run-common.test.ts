/**
 * Pieces of `rotate apply` / `rotate rollback` that need no cluster: the target a resumed run plans
 * towards (from the authorities of the plan it was applying) and the summary a finished run prints.
 */
import t from 'tap';
import type { Plan } from '../../../src/plan/model/index.js';
import { planRotation } from '../../../src/plan/planner/index.js';
import { needsApprovalError, runSummary, startedNodes, targetFromPlan } from '../../../src/apply/run-common.js';
import type { OutputRecord, Run } from '../../../src/state/index.js';
import { K_NEW, NAMES, T_NEW, T_OLD, cluster, desired, input } from '../../plan/fixtures/cluster.js';
import { K_OLD, fullPlan, samplePlan } from '../../state/fixtures/plan.js';

t.test('targetFromPlan: the issuing and accepted CAs of each API the plan rotates, with their names', async (t) => {
  const target = targetFromPlan(fullPlan());
  t.same(target, {
    talos: { issuing: T_NEW, accepted: [], names: { [T_NEW]: NAMES[T_NEW], [T_OLD]: NAMES[T_OLD] } },
    kubernetes: { issuing: K_NEW, accepted: [], names: { [K_NEW]: NAMES[K_NEW], [K_OLD]: NAMES[K_OLD] } },
  });

  const talosOnly = targetFromPlan(samplePlan());
  t.same(Object.keys(talosOnly), ['talos'], 'a Talos-only plan targets the Talos API only');

  const keepOld = targetFromPlan(
    planRotation(input(cluster({ controlPlanes: 2, workers: 1 }), { desired: { talos: desired(T_NEW, [T_OLD]) } })),
  );
  t.same(keepOld.talos?.issuing, T_NEW);
  t.same(keepOld.talos?.accepted, [T_OLD], 'a CA the desired state keeps accepted stays accepted');
});

t.test('targetFromPlan: planning again from the same cluster towards it gives the same plan', async (t) => {
  const nodes = cluster({ controlPlanes: 2, workers: 1 });
  const plan = planRotation(input(nodes));
  const again = planRotation(input(nodes, { desired: targetFromPlan(plan) }));
  t.same(
    again.steps.map((s) => [s.id, s.nodes.map((n) => [n.address, n.target])]),
    plan.steps.map((s) => [s.id, s.nodes.map((n) => [n.address, n.target])]),
  );
});

const out = (
  kind: OutputRecord['kind'],
  path: string,
  backupPath: string | null,
  step: string | null,
): OutputRecord => ({ kind, path, backupPath, step, writtenAt: '2026-01-01T00:00:00.000Z' });

function run(operation: 'apply' | 'rollback', outputs: OutputRecord[]): Run {
  return { operation, outputs } as unknown as Run;
}

t.test('runSummary of an apply run: each file once, with the backup of what it first replaced', async (t) => {
  const plan = fullPlan();
  const summary = runSummary(
    run('apply', [
      out('talosconfig', '/c/talosconfig', '/c/talosconfig.before-r1', 'talos-kubernetes-accept'),
      out('talosconfig', '/c/talosconfig', '/c/talosconfig.before-r1', 'talos-kubernetes-issue'),
      out('kubeconfig', '/c/kubeconfig', '/c/kubeconfig.before-r1', 'talos-kubernetes-issue'),
      out('secretsBundle', '/c/secrets.yaml', '/c/secrets.yaml.before-r1', 'talos-kubernetes-issue'),
      out('kubeconfig', '/c/kubeconfig', '/c/kubeconfig.before-r1', 'talos-kubernetes-drop'),
    ]),
    plan,
  );
  t.same(summary.outputs, [
    { kind: 'talosconfig', path: '/c/talosconfig', backupPath: '/c/talosconfig.before-r1' },
    { kind: 'kubeconfig', path: '/c/kubeconfig', backupPath: '/c/kubeconfig.before-r1' },
    { kind: 'secretsBundle', path: '/c/secrets.yaml', backupPath: '/c/secrets.yaml.before-r1' },
  ]);
  const pods = summary.notes.filter((n) => n.startsWith('In-cluster clients:'));
  t.equal(pods.length, 1, 'a Kubernetes rotation announces the in-cluster client disruption once');
  t.match(
    pods[0],
    new RegExp(
      /from step 2 \(talos-kubernetes-issue\), waves 1–2, .*clients started before step 2 .* possibly /.source +
        /stale .* re-read ca\.crt .* or restart/.source,
    ),
  );
  t.ok(plan.notices.includes(pods[0]!), 'word for word what the plan announced');
  t.match(
    summary.notes.join('\n'),
    /talosconfigs signed by the dropped Talos CA no longer work/,
    'a Talos drop reminds of other talosconfigs',
  );

  const talosOnly = runSummary(run('apply', []), samplePlan());
  t.notMatch(talosOnly.notes.join('\n'), /In-cluster clients/, 'no pod note without a Kubernetes step');
  const acceptOnly = planRotation(
    input(cluster({ controlPlanes: 2, workers: 1 }), { desired: { kubernetes: desired(K_OLD, [K_NEW]) } }),
  );
  t.same(
    acceptOnly.steps.map((s) => s.id),
    ['kubernetes-accept'],
  );
  t.notMatch(
    runSummary(run('apply', []), acceptOnly).notes.join('\n'),
    /In-cluster clients/,
    'accepting a CA changes no issuing CA: no pod note',
  );
  t.same(runSummary(undefined, samplePlan()).outputs, [], 'no run: nothing written');
});

t.test('runSummary of a rollback run: its last write of each file is what is left', async (t) => {
  const plan: Plan = fullPlan();
  const summary = runSummary(
    run('rollback', [
      out('talosconfig', '/c/talosconfig', '/c/talosconfig.before-r2', 'talos-kubernetes-accept'),
      out('talosconfig', '/c/talosconfig', null, null),
      out('kubeconfig', '/c/kubeconfig', null, null),
    ]),
    plan,
  );
  t.same(summary.outputs, [
    { kind: 'talosconfig', path: '/c/talosconfig', backupPath: null },
    { kind: 'kubeconfig', path: '/c/kubeconfig', backupPath: null },
  ]);
  t.match(summary.notes[0], /trusts what it did before the rolled-back run/);
  t.match(summary.notes.join('\n'), /In-cluster clients: from step 2/, 'the rollback plan announces the pods too');
  t.match(summary.notes.join('\n'), /The rollback restarts the Deployments, DaemonSets and StatefulSets among them/);
  t.notMatch(summary.notes.join('\n'), /apply restarts|The plan lists/, "a rollback's note speaks of the rollback");
  t.notMatch(summary.notes.join('\n'), /talosconfigs signed by the dropped/, 'no hand-out reminder after a rollback');
});

t.test('startedNodes: the nodes recorded started and not done, each once', async (t) => {
  const node = (address: string, status: string) => ({ address, status });
  const r = {
    steps: [
      { nodes: [node('127.0.0.10', 'done'), node('127.0.0.20', 'started')] },
      { nodes: [node('127.0.0.11', 'pending'), node('127.0.0.20', 'started'), node('127.0.0.21', 'started')] },
    ],
  } as unknown as Run;
  t.same(startedNodes(r), ['127.0.0.20', '127.0.0.21']);
  t.same(startedNodes({ steps: [] } as unknown as Run), []);
});

t.test('no terminal to ask on: apply and rollback each name their own way to approve (issue 10 item 4)', async (t) => {
  const apply = needsApprovalError('apply');
  t.match(apply.message, /^rotate apply needs approval/);
  t.match(apply.hint, /`rotate apply FILE`/);
  const rollback = needsApprovalError('rollback');
  t.match(rollback.message, /^rotate rollback needs approval/);
  t.match(rollback.hint, /`rotate rollback --auto-approve`/);
  t.notMatch(rollback.hint, /rotate apply|rotate plan --out/, 'a rollback takes no saved plan');
});

t.test('the run summary names the restarted workloads and those left, with why', async (t) => {
  const { runSummary } = await import('../../../src/apply/run-common.js');
  const plan = { steps: [] } as unknown as Parameters<typeof runSummary>[1];
  const run = {
    operation: 'apply',
    outputs: [],
    workloads: [
      {
        namespace: 'kube-system',
        kind: 'DaemonSet',
        name: 'kube-proxy',
        status: 'restarted',
        restartedAt: 'x',
        updatedAt: 'x',
      },
      {
        namespace: 'web',
        kind: 'Deployment',
        name: 'paused',
        status: 'blocked',
        reason: 'the Deployment is paused',
        updatedAt: 'x',
      },
      {
        namespace: 'web',
        kind: 'Pod',
        name: 'bare',
        status: 'reported',
        reason: 'a bare pod: a rollout restart does not apply',
        updatedAt: 'x',
      },
    ],
  } as unknown as Parameters<typeof runSummary>[0];
  const { notes } = runSummary(run, plan);
  t.match(notes.join('\n'), /workloads restarted .*\(1\): DaemonSet kube-system\/kube-proxy/);
  t.match(
    notes.join('\n'),
    new RegExp(
      /may still hold the old Kubernetes API CA \(2\), not restarted: Deployment web\/paused — the /.source +
        /Deployment is paused; Pod web\/bare — a bare pod/.source,
    ),
  );
});

t.test(
  'the run summary says an extension-apiserver-authentication step in report mode was not written, and what ' +
    'stays trusted',
  async (t) => {
    const ext = {
      id: 'kubernetes-extension-auth',
      namespace: 'kube-system',
      name: 'extension-apiserver-authentication',
      afterStep: null,
      mode: 'report',
      clientCa: ['b'.repeat(64)],
      removes: ['a'.repeat(64)],
      requestHeaderCa: 'unchanged',
      gate: { settleMs: 1 },
      reason: 'x',
    };
    const run = { operation: 'apply', outputs: [] } as unknown as Parameters<typeof runSummary>[0];
    const report = runSummary(run, { steps: [], extensionAuth: ext } as unknown as Parameters<typeof runSummary>[1]);
    t.match(
      report.notes.join('\n'),
      new RegExp(
        /extension-apiserver-authentication was not written \(report only\): .*1 Kubernetes CA\(s\) no /.source +
          /apiserver trusts any more \(aaaaaaaaaaaaaaaa\)/.source,
      ),
    );
    const replace = runSummary(run, { steps: [], extensionAuth: { ...ext, mode: 'replace' } } as unknown as Parameters<
      typeof runSummary
    >[1]);
    t.notMatch(replace.notes.join('\n'), /not written/, 'a replace step says nothing of the kind');
  },
);
