/**
 * A CA field whose PEM text lacks its final newline (talos-behaviour.md §5.1) is announced by the plan: which node and
 * field, and the step whose patch repairs it; or that it stays when no step patches that API there.
 * Both in `notices` (human and JSON) and in the structured `pemRepairs`.
 */
import t from 'tap';
import { planRotation } from '../../src/plan/planner/index.js';
import { renderPlanJson } from '../../src/plan/render/json.js';
import { cluster, desired, input, K_OLD, T_NEW } from './fixtures/cluster.js';

t.test('an unterminated entry on a node the plan patches: repaired by its first step for that API', async (t) => {
  const nodes = cluster({ controlPlanes: 1, workers: 1 }).map((n) =>
    n.role === 'worker' ? { ...n, unterminatedPem: { talos: ['.machine.acceptedCAs[0]'] } } : n,
  );
  const plan = planRotation(input(nodes, { desired: { talos: desired(T_NEW) } }));
  const w = nodes.find((n) => n.role === 'worker')!;
  const first = plan.steps.find((s) => s.nodes.some((x) => x.address === w.address && x.target.talos))!;
  t.ok(first, 'the worker is patched');
  t.same(plan.pemRepairs, [
    { address: w.address, api: 'talos', fields: ['.machine.acceptedCAs[0]'], step: first.index },
  ]);
  const notice = plan.notices.find((x) => x.includes('.machine.acceptedCAs[0]'));
  t.match(
    notice,
    new RegExp(`^${w.address.replace(/\./g, '\\.')}: \\.machine\\.acceptedCAs\\[0\\] lacks its final newline`),
  );
  t.match(notice, new RegExp(`Step ${first.index} \\(${first.id}\\) rewrites it with one \\(repair\\)`));
  t.match(renderPlanJson(plan), /"pemRepairs": \[/, 'in the JSON document');
});

t.test('an unterminated entry of an API the plan does not touch stays, and the plan says so', async (t) => {
  const nodes = cluster({ controlPlanes: 1, workers: 1 }).map((n) =>
    n.role === 'controlplane' ? { ...n, unterminatedPem: { kubernetes: ['.cluster.acceptedCAs[0]'] } } : n,
  );
  const plan = planRotation(input(nodes, { desired: { talos: desired(T_NEW), kubernetes: desired(K_OLD) } }));
  t.equal(plan.pemRepairs?.[0]?.step, null);
  t.ok(
    plan.notices.some((x) =>
      /\.cluster\.acceptedCAs\[0\] lacks its final newline.*No step patches this node's Kubernetes API CAs/.test(x),
    ),
  );
});

t.test('no unterminated field: no pemRepairs key', async (t) => {
  const plan = planRotation(input(cluster({ controlPlanes: 1, workers: 1 })));
  t.equal(plan.pemRepairs, undefined);
  t.notMatch(renderPlanJson(plan), /pemRepairs/);
});
