import t from 'tap';
import { MemoryStateBacking, createMemoryStateStore } from '../../src/state/index.js';
import { stateDocumentProblems } from '../../src/state/schema.js';
import { samplePlan, sampleBefore } from './fixtures/plan.js';

t.test('workload records: upserted per workload, validated, and state written before them still loads', async (t) => {
  const backing = new MemoryStateBacking();
  const store = createMemoryStateStore({ backing });
  const run = await store.startRun({ operation: 'apply', plan: samplePlan(), before: sampleBefore() });
  const before = JSON.parse(backing.text!) as { runs: Record<string, unknown>[] };
  t.notOk('workloads' in before.runs[0]!, 'a run without a workload phase has no workloads key (older tools read it)');
  t.same(stateDocumentProblems(before), [], 'a state without workload records conforms');

  await store.recordWorkload(run.id, {
    namespace: 'a',
    kind: 'Deployment',
    name: 'web',
    status: 'started',
    restartedAt: '2026-12-05T12:00:00.000Z',
  });
  await store.recordWorkload(run.id, {
    namespace: 'a',
    kind: 'DaemonSet',
    name: 'legacy',
    status: 'blocked',
    reason: 'OnDelete',
  });
  await store.recordWorkload(run.id, {
    namespace: 'a',
    kind: 'Deployment',
    name: 'web',
    status: 'restarted',
    restartedAt: '2026-12-05T12:00:00.000Z',
  });
  const reopened = createMemoryStateStore({ backing });
  const records = (await reopened.read())!.runs[0]!.workloads!;
  t.same(
    records.map((r) => [r.kind, r.name, r.status, r.restartedAt ?? null]),
    [
      ['Deployment', 'web', 'restarted', '2026-12-05T12:00:00.000Z'],
      ['DaemonSet', 'legacy', 'blocked', null],
    ],
  );
  const doc = JSON.parse(backing.text!) as { runs: { workloads: { status: string }[] }[] };
  t.same(stateDocumentProblems(doc), []);
  doc.runs[0]!.workloads[0]!.status = 'bounced';
  t.ok(stateDocumentProblems(doc).length > 0, 'an unknown status is refused');
});
