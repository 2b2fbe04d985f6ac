/**
 * What a rollback undoes and where it goes: the last apply run (or an unfinished rollback of it), and the
 * one CA state every control plane shared before that run. It says when rollback is not possible.
 */
import t from 'tap';
import { RotateError } from '../../../src/domain/errors.js';
import { rollbackSubject, rollbackTarget } from '../../../src/apply/run-rollback.js';
import type { NodeBefore, Run, RunStatus, StateDocument } from '../../../src/state/index.js';
import { NAMES, K_NEW, fp } from '../../plan/fixtures/cluster.js';
import { K_OLD, T_NEW, T_OLD, sampleBefore } from '../../state/fixtures/plan.js';

const notPossible = (message: RegExp) => ({ code: 'ROLLBACK_NOT_POSSIBLE', message });

t.test('rollbackTarget: the control planes shared one state before the run', async (t) => {
  const before = sampleBefore();
  t.same(rollbackTarget(before, ['talos', 'kubernetes'], NAMES), {
    talos: { issuing: T_OLD, accepted: [], names: NAMES },
    kubernetes: { issuing: K_OLD, accepted: [], names: NAMES },
  });
  t.same(Object.keys(rollbackTarget(before, ['kubernetes'], NAMES)), ['kubernetes'], 'only the APIs the run changed');

  const withAccepted = before.map((n) =>
    n.role === 'controlplane' ? { ...n, talos: { issuing: T_OLD, accepted: [T_NEW, T_OLD] } } : n,
  );
  t.same(
    rollbackTarget(withAccepted, ['talos'], NAMES).talos?.accepted,
    [T_NEW],
    'accepted CAs come back, the issuing one is not repeated',
  );

  const K_EXTRA = fp('k8s-extra');
  const reordered = before.map((n, i) =>
    n.role === 'controlplane'
      ? { ...n, kubernetes: { ...n.kubernetes, accepted: i === 0 ? [K_NEW, K_EXTRA] : [K_EXTRA, K_NEW] } }
      : n,
  );
  t.same(
    rollbackTarget(reordered, ['kubernetes'], NAMES).kubernetes?.accepted,
    [K_NEW, K_EXTRA],
    'accepted order differing between control planes is still one state',
  );

  const oddWorker = before.map((n) => (n.role === 'worker' ? { ...n, talos: { issuing: T_NEW, accepted: [] } } : n));
  t.same(rollbackTarget(oddWorker, ['talos'], NAMES).talos?.issuing, T_OLD, 'workers do not decide the target');
});

t.test('rollbackTarget: no single state to return to', async (t) => {
  const before = sampleBefore();
  const cps = before.filter((n) => n.role === 'controlplane');
  const mixed: NodeBefore[] = before.map((n) =>
    n.address === cps[1]!.address ? { ...n, talos: { issuing: T_NEW, accepted: [T_OLD] } } : n,
  );
  t.throws(
    () => rollbackTarget(mixed, ['talos'], NAMES),
    notPossible(new RegExp(`did not share one talos CA state \\(${cps[0]!.address} and ${cps[1]!.address} differ\\)`)),
    'non-uniform control planes',
  );
  t.same(rollbackTarget(mixed, ['kubernetes'], NAMES).kubernetes?.issuing, K_OLD, 'the other API is still fine');

  const extra = before.map((n) =>
    n.address === cps[1]!.address ? { ...n, kubernetes: { ...n.kubernetes, accepted: [K_NEW] } } : n,
  );
  t.throws(
    () => rollbackTarget(extra, ['kubernetes'], NAMES),
    notPossible(/did not share one kubernetes CA state/),
    'one control plane accepted one more CA',
  );

  const noIssuing = before.map((n) =>
    n.role === 'controlplane' ? { ...n, talos: { issuing: null, accepted: [T_OLD] } } : n,
  );
  t.throws(
    () => rollbackTarget(noIssuing, ['talos'], NAMES),
    notPossible(/did not share one talos CA state/),
    'no issuing CA',
  );

  t.throws(
    () =>
      rollbackTarget(
        before.filter((n) => n.role === 'worker'),
        ['talos'],
        NAMES,
      ),
    notPossible(/recorded no control plane/),
  );
  try {
    rollbackTarget(mixed, ['talos'], NAMES);
  } catch (err) {
    t.ok(
      RotateError.is(err) && err.hint?.includes('rotate plan'),
      'the hint points at plan/apply with a desired state',
    );
  }
});

let seq = 0;
function run(operation: 'apply' | 'rollback', status: RunStatus, extra: Partial<Run> = {}): Run {
  seq += 1;
  return { id: `run-${seq}`, operation, status, ...extra } as unknown as Run;
}
const doc = (...runs: Run[]): StateDocument => ({ runs }) as unknown as StateDocument;

t.test('rollbackSubject: the last apply run', async (t) => {
  const a1 = run('apply', 'rolled-back');
  const r1 = run('rollback', 'complete', { rollbackOf: a1.id });
  const a2 = run('apply', 'complete');
  t.same(rollbackSubject(doc(a1, r1, a2), '/s'), { applyRun: a2, rollbackRun: null }, 'a complete apply');
  const a3 = run('apply', 'running');
  t.same(rollbackSubject(doc(a3), '/s'), { applyRun: a3, rollbackRun: null }, 'a crashed apply');
  const a4 = run('apply', 'failed');
  t.same(rollbackSubject(doc(a4), '/s'), { applyRun: a4, rollbackRun: null }, 'a failed apply');
});

t.test('rollbackSubject: an unfinished rollback is continued', async (t) => {
  for (const status of ['running', 'interrupted', 'failed'] as const) {
    const a = run('apply', 'interrupted');
    const r = run('rollback', status, { rollbackOf: a.id });
    t.same(rollbackSubject(doc(a, r), '/s'), { applyRun: a, rollbackRun: r }, `a ${status} rollback`);
  }
  const orphan = run('rollback', 'interrupted', { rollbackOf: 'gone' });
  t.throws(
    () => rollbackSubject(doc(run('apply', 'complete'), orphan), '/s'),
    notPossible(/unfinished rollback .* names no apply run/),
  );
});

t.test('rollbackSubject: nothing to roll back', async (t) => {
  t.throws(
    () => rollbackSubject(null, '/state/x.json'),
    notPossible(/\/state\/x\.json records no apply run/),
    'no state',
  );
  t.throws(() => rollbackSubject(doc(), '/s'), notPossible(/records no apply run/), 'no run');
  const a = run('apply', 'rolled-back');
  t.throws(
    () => rollbackSubject(doc(a, run('rollback', 'complete', { rollbackOf: a.id })), '/s'),
    notPossible(new RegExp(`\\(${a.id}\\) was already rolled back`)),
    'already rolled back',
  );
});
