/**
 * Items 1, 2 and 5 of issue 14 on a 3+2 lab with `--workloads standard`: `rotate plan` lists the workloads
 * and the Secret/ConfigMap that will hold the old Kubernetes API CA (never their data); `rotate apply
 * --workloads restart` restarts the Deployments, DaemonSets and StatefulSets right after the Kubernetes
 * issue step, once each, reports the rest with why; the real kubectl sees the restart annotation and the
 * rollout status; the run's summary and `rotate status` name what was restarted and what is left.
 */
import t from 'tap';
import type { Plan } from '../../../src/plan/model/index.js';
import { checkCompleted, runsOf } from './fixtures/expect.js';
import { Scenario } from './fixtures/scenario.js';
import { kubectl } from './fixtures/kubectl.js';

t.test('find, then roll: plan lists, apply --workloads restart restarts once after the issue step', async (t) => {
  const s = await Scenario.start(t, { style: 'legacy', workloads: 'standard' });
  const { lab } = s;

  const plan: Plan = await s.planJson();
  const report = plan.workloads;
  t.ok(report, 'the plan has a workloads section');
  t.equal(report?.status, 'listed', report?.reason ?? '');
  const issue = plan.steps.find((st) => st.id === 'talos-kubernetes-issue')!;
  t.equal(report?.issueStep, issue.index, 'found for the Kubernetes issue step');
  const found = new Set(report!.workloads.map((w) => `${w.kind} ${w.namespace}/${w.name}`));
  for (const w of [
    'Deployment apps/api-gateway',
    'Deployment default/web',
    'Deployment apps/batch-runner',
    'StatefulSet apps/db',
    'StatefulSet apps/cache',
    'Job apps/migrate',
    'Pod default/debug-shell',
  ]) {
    t.ok(found.has(w), `found ${w}`);
  }
  t.ok(
    [...found].some((w) => w.startsWith('DaemonSet kube-system/holding-')),
    'found the per-node DaemonSets',
  );
  // Blocked workloads are read as such at plan time (never counted as restarts).
  const blockerOf = (kind: string, ns: string, name: string) =>
    report!.workloads.find((w) => w.kind === kind && w.namespace === ns && w.name === name)?.blocker;
  t.match(blockerOf('Deployment', 'apps', 'batch-runner'), /paused/);
  t.match(blockerOf('StatefulSet', 'apps', 'db'), /partition/);
  t.match(blockerOf('DaemonSet', 'kube-system', 'node-exporter'), /OnDelete/);
  t.equal(blockerOf('Deployment', 'apps', 'api-gateway'), undefined);
  t.notOk(
    [...found].some((w) => /kube-apiserver|kube-controller-manager|kube-scheduler/.test(w)),
    'no mirror pod',
  );
  t.same(
    report!.objects.map((o) => `${o.kind} ${o.namespace}/${o.name}`).sort(),
    ['ConfigMap apps/legacy-ca-bundle', 'Secret apps/operator-kubeconfig'],
    "the Secret and ConfigMap that embed the old CA, nothing else (kube-root-ca.crt is Kubernetes's own)",
  );
  const planText = await lab.run('plan', '--json');
  t.notOk(/certificate-authority-data|BEGIN CERTIFICATE/.test(planText.stdout), 'no Secret/ConfigMap data in the plan');
  const human = await lab.run('plan');
  // Plan prose wraps at 100 columns: join continuation lines (deeper-indented) before matching.
  const unwrapped = human.stdout.replace(/\n {5,}/g, ' ');
  t.match(
    unwrapped,
    new RegExp(
      /Workloads that hold the old Kubernetes API CA from step \d+ /.source +
        /on:\n(?:.*\n)*? {2}apps +.*Deployments?.*possibly stale; 1 Secret embedding it /.source +
        /\(operator-kubeconfig\); 1 ConfigMap embedding it \(legacy-ca-bundle\)/.source,
    ),
  );

  type WorkloadSummary = {
    kind: string;
    namespace: string;
    name: string;
    restartedAt: string | null;
    pods: { name: string; uid: string; startedAt: string | null }[];
  };
  const workloadsOf = async () =>
    ((await lab.inspectCli()) as unknown as { pods: { workloads?: WorkloadSummary[] } }).pods.workloads ?? [];
  const podsBefore = new Set((await workloadsOf()).flatMap((w) => w.pods.map((p) => p.uid)));

  const apply = await s.run('apply', 'apply', '--auto-approve', '--workloads', 'restart');
  checkCompleted(t, apply, 'rotate apply --workloads restart');
  const [run] = await runsOf(lab);
  const records =
    (
      run as unknown as {
        workloads?: {
          namespace: string;
          kind: string;
          name: string;
          status: string;
          restartedAt?: string;
          reason?: string;
        }[];
      }
    ).workloads ?? [];
  const rec = (kind: string, ns: string, name: string) =>
    records.find((r) => r.kind === kind && r.namespace === ns && r.name === name);
  t.equal(rec('Deployment', 'apps', 'api-gateway')?.status, 'restarted');
  t.equal(rec('StatefulSet', 'apps', 'cache')?.status, 'restarted');
  t.ok(
    records
      .filter((r) => r.kind === 'DaemonSet' && r.name.startsWith('holding-'))
      .every((r) => r.status === 'restarted'),
    'the holding DaemonSets restarted',
  );
  t.match(rec('Deployment', 'apps', 'batch-runner'), { status: 'blocked', reason: /paused/ });
  t.match(rec('StatefulSet', 'apps', 'db'), { status: 'blocked', reason: /partition/ });
  t.match(
    records.find((r) => r.name === 'node-exporter'),
    { status: 'blocked', reason: /OnDelete/ },
  );
  t.match(rec('Job', 'apps', 'migrate'), { status: 'reported', reason: /rollout restart does not apply/ });
  t.match(rec('Pod', 'default', 'debug-shell'), { status: 'reported', reason: /bare pod/ });

  // Once each: one `started` event per restarted workload, and the phase ran right after the issue step.
  const events = apply.proc.events;
  const started = events
    .filter((e) => e.type === 'workload' && e.status === 'started')
    .map((e) => `${String(e.kind)} ${String(e.namespace)}/${String(e.name)}`);
  t.same(started.length, new Set(started).size, 'no workload restarted twice');
  const order = events
    .filter((e) => e.type === 'step-complete' || (e.type === 'workload' && e.status === 'started'))
    .map((e) => (e.type === 'workload' ? 'workload' : String(e.stepId)));
  t.equal(
    order.slice(0, order.indexOf('workload')).pop(),
    'talos-kubernetes-issue',
    'the workload phase starts right after the issue step',
  );

  // Every restarted workload's pods are new and started after the issue step finished. A pod's startedAt has
  // the API's precision (whole seconds), so it is compared with the second the step finished in; that the pods
  // are new (none of the uids from before the run) shows they come from the restart, which followed the step.
  const issueDone = Date.parse(run!.steps.find((st) => st.id === 'talos-kubernetes-issue')!.finishedAt!);
  const issueSecond = Math.floor(issueDone / 1000) * 1000;
  const summaries = await workloadsOf();
  for (const r of records.filter((x) => x.status === 'restarted')) {
    const w = summaries.find((x) => x.kind === r.kind && x.namespace === r.namespace && x.name === r.name);
    t.equal(
      w?.restartedAt,
      r.restartedAt,
      `${r.kind} ${r.namespace}/${r.name}: the lab holds the annotation the state recorded`,
    );
    const pods = w?.pods ?? [];
    const seen = JSON.stringify(pods.map((p) => [p.name, p.startedAt, podsBefore.has(p.uid) ? 'old' : 'new']));
    t.ok(
      pods.length > 0 &&
        pods.every((p) => !podsBefore.has(p.uid) && p.startedAt !== null && Date.parse(p.startedAt) >= issueSecond),
      `${r.kind} ${r.namespace}/${r.name}: every pod new and started after the issue step (done at ` +
        `${new Date(issueDone).toISOString()}; ${seen})`,
    );
  }

  // After the run, pod → apiserver failures come only from pods of the workloads the run reported (blocked,
  // the Job, the bare pod: they keep the old CA and legitimately keep failing), none from a restarted one.
  // "After" is by the lab's own sequence: past everything the ledger held when apply had exited.
  const atEnd = await s.watch.snapshot();
  const endSeq = Math.max(
    0,
    ...atEnd.entries.map((e) => e.seq),
    ...atEnd.configChanges.map((c) => c.seq),
    ...atEnd.notReady.map((n) => n.seq),
  );
  const keyOf = (w: { kind: string; namespace: string; name: string }) => `${w.kind} ${w.namespace}/${w.name}`;
  const restartedKeys = new Set(records.filter((r) => r.status === 'restarted').map(keyOf));
  const reportedKeys = new Set(records.filter((r) => r.status !== 'restarted').map(keyOf));
  const ownerOf = new Map<string, string>();
  const learnPods = (ws: typeof summaries) => {
    for (const w of ws) for (const p of w.pods) ownerOf.set(p.name, keyOf(w));
  };
  learnPods(summaries);
  const podOf = (from: string) => from.slice(from.indexOf('/') + 1);
  const after = (d: { entries: { edge: string; from: string; seq: number }[] }) =>
    d.entries.filter((e) => e.edge === 'pod-apiserver' && e.seq > endSeq);
  // Wait (bounded, on the ledger) until a reported workload's pod has failed after the run: the window then spans
  // client calls.
  const later = await s.waitForLedger('a pod of a reported workload failing after the run', (d) =>
    after(d).some((e) => reportedKeys.has(ownerOf.get(podOf(e.from)) ?? '')),
  );
  learnPods(((await lab.inspectCli()) as unknown as { pods: { workloads?: typeof summaries } }).pods.workloads ?? []);
  const failing = [...new Set(after(later).map((e) => ownerOf.get(podOf(e.from)) ?? `unknown pod ${e.from}`))].sort();
  t.same(
    failing.filter((k) => !reportedKeys.has(k)),
    [],
    `failures after the run only from reported workloads' pods (seen: ${failing.join(', ')})`,
  );
  t.same(
    failing.filter((k) => restartedKeys.has(k)),
    [],
    'none from a restarted workload',
  );

  // The real kubectl sees the annotation and a complete rollout.
  const kc = lab.file('kubeconfig');
  const ann = await kubectl(kc, [
    '-n',
    'apps',
    'get',
    'deployment',
    'api-gateway',
    '-o',
    'jsonpath={.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}',
  ]);
  t.equal(ann.code, 0, ann.stderr);
  t.equal(ann.stdout, rec('Deployment', 'apps', 'api-gateway')?.restartedAt, 'kubectl sees the restartedAt annotation');
  const status = await kubectl(kc, ['-n', 'apps', 'rollout', 'status', 'deployment/api-gateway', '--timeout', '30s']);
  t.equal(status.code, 0, status.stderr);
  t.match(status.stdout, /successfully rolled out/);

  // Item 5: the summary and rotate status say what was restarted and what is left, and why.
  const notes = ((apply.proc.ofType('run-summary')[0]?.notes as string[] | undefined) ?? []).join('\n');
  t.match(
    notes,
    /workloads restarted so that their pods load the new Kubernetes API CA \(\d+\): .*Deployment apps\/api-gateway/,
  );
  t.match(notes, /not restarted: .*Deployment apps\/batch-runner — the Deployment is paused/);
  const st = await lab.run('status');
  t.match(st.stdout, /Workloads \(run [^)]+\): \d+ restarted, \d+ left/);
  t.match(st.stdout, /left {7}StatefulSet apps\/db \(blocked\): .*partition/);
});
