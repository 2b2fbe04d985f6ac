/** `rotate plan --summary`: a Markdown view of a plan for pull-request comments. */
import t from 'tap';
import { planRotation } from '../../src/plan/planner/index.js';
import { renderPlanSummary } from '../../src/plan/render/summary.js';
import { cluster, desired, input, K_OLD, T_OLD } from './fixtures/cluster.js';

t.test('one row per step, the authorities, no diffs or keys', async (t) => {
  const plan = planRotation(input(cluster()));
  const md = renderPlanSummary(plan);
  t.match(md, /^\*\*talos-rotate plan: 4 step\(s\), safe-with-announced-disruption\.\*\* /);
  const rows = md.split('\n').filter((l) => /^\| \d\. `/.test(l));
  t.same(
    rows.map((r) => r.split('|')[1]!.trim()),
    plan.steps.map((s) => `${s.index}. \`${s.id}\``),
  );
  t.match(
    md,
    /\| 1\. `talos-kubernetes-accept` \| Talos API: accept talos-2026 .* \| 5 \| cp×3 by 1, w×2 by 1 \| 5 \| safe \|/,
  );
  t.match(md, /\| talos-2025 \| Talos API \| `[0-9a-f]{16}` \| dropped \|/);
  t.notMatch(md, /PRIVATE KEY|LS0t|undefined|\[object Object\]/);
  t.ok(md.split('\n').length < 20, 'a few lines, not the full plan');
});

t.test('no changes, and refusals', async (t) => {
  t.equal(
    renderPlanSummary(
      planRotation(input(cluster(), { desired: { talos: desired(T_OLD), kubernetes: desired(K_OLD) } })),
    ),
    '**talos-rotate plan: no changes.** The cluster matches the desired CA state.\n',
  );
  t.match(
    renderPlanSummary(planRotation(input(cluster(), { endpoints: ['127.0.0.20'] }))),
    /\*\*Refused \(1\):\*\*\n- `PLAN_ENDPOINT_IS_WORKER`: endpoint 127\.0\.0\.20 is a worker/,
  );
});
