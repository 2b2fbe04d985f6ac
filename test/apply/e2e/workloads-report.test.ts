/**
 * Issue 14, "the same run with report only": on a 3+2 lab with `--workloads standard`, a full Kubernetes API
 * CA rotation with `rotate apply --workloads report` lists every affected workload (plan and state) and
 * touches none: the same pods (uid, start time) afterwards, no restartedAt annotation, no eviction, as the
 * lab and the real kubectl see it.
 */
import t from 'tap';
import type { Plan } from '../../../src/plan/model/index.js';
import { checkCompleted, runsOf } from './fixtures/expect.js';
import { Scenario } from './fixtures/scenario.js';
import { kubectl } from './fixtures/kubectl.js';

/**
 * Every pod with its owner kind: mirror pods (owner Node) are the static pods Talos re-creates in a Kubernetes CA
 * change, not workloads.
 */
const PODS =
  'jsonpath={range .items[*]}{.metadata.ownerReferences[0].kind} {.metadata.namespace}/{.metadata.name} ' +
  '{.metadata.uid} {.status.startTime}{"\\n"}{end}';

interface Summary {
  kind: string;
  namespace: string;
  name: string;
  restartedAt: string | null;
  generation: number | null;
  pods: { name: string; uid: string; startedAt: string | null }[];
}

t.test('report only: every affected workload listed, none touched', async (t) => {
  const s = await Scenario.start(t, { style: 'legacy', workloads: 'standard' });
  const { lab } = s;
  const workloadsOf = async () =>
    ((await lab.inspectCli()) as unknown as { pods: { workloads?: Summary[] } }).pods.workloads ?? [];
  const key = (w: { kind: string; namespace: string; name: string }) => `${w.kind} ${w.namespace}/${w.name}`;

  const plan: Plan = await s.planJson();
  const listed = new Set((plan.workloads?.workloads ?? []).map(key));
  const before = await workloadsOf();
  // Every lab workload whose pods mount the service-account CA is listed (all of the lab's do).
  for (const w of before) if (w.pods.length > 0) t.ok(listed.has(key(w)), `the plan lists ${key(w)}`);
  t.ok(listed.size >= 9, `${listed.size} workloads listed`);
  const kc = lab.file('kubeconfig');
  const podsBefore = await kubectl(kc, ['get', 'pods', '-A', '-o', PODS]);
  t.equal(podsBefore.code, 0, podsBefore.stderr);

  const apply = await s.run('apply', 'apply', '--auto-approve', '--workloads', 'report');
  checkCompleted(t, apply, 'rotate apply --workloads report');
  const [run] = await runsOf(lab);
  const records =
    (run as unknown as { workloads?: { namespace: string; kind: string; name: string; status: string }[] }).workloads ??
    [];
  t.same(records.map(key).sort(), [...listed].sort(), 'the run recorded every listed workload');
  t.same([...new Set(records.map((r) => r.status))], ['reported'], 'all of them reported only');
  const events = apply.proc.events.filter((e) => e.type === 'workload');
  t.notOk(
    events.some((e) => e.status === 'started' || e.status === 'restarted' || e.status === 'evicted'),
    'no restart or eviction started',
  );

  // Touched none: the same pods, the same start times, no annotation, no new generation.
  const after = await workloadsOf();
  for (const w of before) {
    const now = after.find((x) => key(x) === key(w));
    t.same(
      now?.pods.map((p) => [p.name, p.uid, p.startedAt]).sort(),
      w.pods.map((p) => [p.name, p.uid, p.startedAt]).sort(),
      `${key(w)}: same pods, same start times`,
    );
    t.equal(now?.restartedAt, null, `${key(w)}: no restartedAt annotation`);
    t.equal(now?.generation, w.generation, `${key(w)}: spec unchanged`);
  }
  const podsAfter = await kubectl(kc, ['get', 'pods', '-A', '-o', PODS]);
  t.equal(podsAfter.code, 0, podsAfter.stderr);
  const lines = (x: string) => x.split('\n').filter(Boolean).sort();
  const workloadPods = (x: string) => lines(x).filter((l) => !l.startsWith('Node '));
  t.ok(workloadPods(podsBefore.stdout).length >= 15, 'kubectl listed the workload pods');
  t.same(
    workloadPods(podsAfter.stdout),
    workloadPods(podsBefore.stdout),
    'kubectl: every workload pod the same (name, uid, start time)',
  );
  const ann = await kubectl(kc, [
    'get',
    'deployments,daemonsets,statefulsets',
    '-A',
    '-o',
    'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}=' +
      '{.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}{"\\n"}{end}',
  ]);
  t.equal(ann.code, 0, ann.stderr);
  t.ok(lines(ann.stdout).length >= 8, 'kubectl listed the workloads');
  t.same(
    lines(ann.stdout).filter((l) => !l.endsWith('=')),
    [],
    'kubectl: no workload carries a restartedAt annotation',
  );

  // The summary says what is left and why.
  const notes = ((apply.proc.ofType('run-summary')[0]?.notes as string[] | undefined) ?? []).join('\n');
  t.match(notes, /not restarted: .*report only/);
});
