import t from 'tap';
import { planRotation } from '../../src/plan/planner/index.js';
import { parsePlanDocument, renderPlanJson, renderPlanText } from '../../src/plan/render/index.js';
import { cluster, desired, input, K_OLD, T_OLD } from './fixtures/cluster.js';

t.test('human rendering: steps, nodes, gates, proof', async (t) => {
  const plan = planRotation(input(cluster()));
  const text = renderPlanText(plan);
  t.match(text, /^Plan: 4 step\(s\)/);
  t.match(text, /\n> step 1\/4: talos-kubernetes-accept — Talos API: accept talos-2026 \([0-9a-f]{16}\); Kubernetes API: accept k8s-2026/);
  t.match(text, /\n {2}- 127\.0\.0\.10 \(cp-1\): talos \+accept talos-2026 \([0-9a-f]{16}\); kubernetes \+accept k8s-2026 \([0-9a-f]{16}\); kubelet restarts\n/);
  t.match(text, /~issuing talos-2025 \([0-9a-f]{16}\) → talos-2026/);
  t.match(text, /-drop k8s-2025/);
  t.match(text, /wave 1\/2: workers, up to 1 at a time/, 'the drop step starts with workers');
  t.match(text, /gate: Talos Version on every node through 127\.0\.0\.10 with the intermediate talosconfig/);
  t.match(text, /then: write talosconfig \(new client\), kubeconfig, secretsBundle/);
  t.match(text, /proof: safe-with-announced-disruption/);
  t.match(text, /~ kubelet-apiserver kubelets of control planes? .*\[degraded\]: during wave 2 of step 4/);
  t.match(text, /Verdict: safe-with-announced-disruption\. Apply with/);
  t.notMatch(text, /PRIVATE KEY|undefined|\[object Object\]/);
});

t.test('the per-node config diff slot is rendered when filled', async (t) => {
  const plan = planRotation(input(cluster({ controlPlanes: 1, workers: 0 })));
  t.notMatch(renderPlanText(plan), /machine:\n/);
  plan.steps[0]!.nodes[0]!.configDiff = '@@ machine.acceptedCAs\n+ - crt: LS0t…\n';
  t.match(renderPlanText(plan), /\n {6}@@ machine\.acceptedCAs\n {6}\+ - crt: LS0t…\n/);
});

t.test('no changes and refusals', async (t) => {
  const none = renderPlanText(planRotation(input(cluster(), { desired: { talos: desired(T_OLD), kubernetes: desired(K_OLD) } })));
  t.match(none, /No changes\. The cluster matches the desired CA state\./);
  t.notMatch(none, /> step/);
  const refused = renderPlanText(planRotation(input(cluster(), { endpoints: ['127.0.0.20'] })));
  t.match(refused, /Refused \(1\):\n {2}! PLAN_ENDPOINT_IS_WORKER: endpoint 127\.0\.0\.20 is a worker/);
  t.match(refused, /This plan cannot be applied\./);
});

t.test('JSON document: plain, versioned, round-trips', async (t) => {
  const plan = planRotation(input(cluster()));
  const json = renderPlanJson(plan);
  t.ok(json.endsWith('\n'));
  t.same(parsePlanDocument(json), JSON.parse(json));
  t.same(parsePlanDocument(json), plan, 'nothing in a plan is lost by JSON (no undefined, no class instances)');
  t.throws(() => parsePlanDocument(json.replace('"formatVersion": 1', '"formatVersion": 2')), { code: 'PLAN_FORMAT_UNSUPPORTED' });
  t.throws(() => parsePlanDocument('{"formatVersion": 1}'), { code: 'PLAN_FORMAT_INVALID' });
  t.throws(() => parsePlanDocument('not json'), { code: 'PLAN_FORMAT_INVALID' });
});
