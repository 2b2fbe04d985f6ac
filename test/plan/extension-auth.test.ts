/**
 * Where the plan places the extension-apiserver-authentication step (src/plan/planner/extension-auth.ts),
 * how the human plan shows it, and how a resumed run carries it over (src/apply/extension-auth.ts).
 */
import t from 'tap';
import { planRotation } from '../../src/plan/planner/index.js';
import { renderPlanText } from '../../src/plan/render/human.js';
import { renderPlanSummary } from '../../src/plan/render/summary.js';
import { carryExtensionAuth } from '../../src/apply/extension-auth.js';
import { api, cluster, desired, fp, input, K_NEW, K_OLD, T_OLD, withRoleState, withState } from './fixtures/cluster.js';

t.test(
  'a full Kubernetes CA rotation: replaced after the Kubernetes drop step, with exactly the desired trust',
  async (t) => {
    const plan = planRotation(input(cluster()));
    const ext = plan.extensionAuth!;
    t.ok(ext, 'planned');
    t.equal(ext.afterStep, 'kubernetes-drop', 'after the step that removes the old CA from every control plane');
    t.same(ext.clientCa, [K_NEW]);
    t.same(ext.removes, [K_OLD]);
    t.equal(ext.mode, 'replace');
    t.equal(ext.requestHeaderCa, 'unchanged');
    t.ok(ext.gate.settleMs > 0);
    const text = renderPlanText(plan);
    t.match(
      text,
      new RegExp(
        /ConfigMap kube-system\/extension-apiserver-authentication, after step 4 \(kubernetes-drop\): /.source +
          /replace\s+client-ca-file/.source,
      ),
    );
    t.match(text, /never deleted/);
    t.same(JSON.parse(JSON.stringify(plan)).extensionAuth, ext, 'in the JSON plan');
    t.match(
      renderPlanSummary(plan),
      new RegExp(
        /\| after 4\. `kubernetes-extension-auth` \| replace `client-ca-file` of ConfigMap /.source +
          /`kube-system\/extension-apiserver-authentication`/.source,
      ),
      'in the Markdown summary',
    );
  },
);

t.test(
  'a staged rotation: nothing dropped yet, no step; the drop commit gets it; accepted CAs stay in the bundle',
  async (t) => {
    const staged = planRotation(
      input(cluster(), { desired: { talos: desired(T_OLD), kubernetes: desired(K_NEW, [K_OLD]) } }),
    );
    t.equal(staged.extensionAuth, undefined, 'the old CA is still trusted: nothing to replace');
    t.notMatch(renderPlanText(staged), /extension-apiserver-authentication/);

    const third = fp('k8s-third');
    const nodes = withRoleState(
      withRoleState(cluster(), 'controlplane', 'kubernetes', api(K_NEW, K_OLD, third)),
      'worker',
      'kubernetes',
      api(K_NEW, K_OLD, third),
    );
    const drop = planRotation(
      input(nodes, { desired: { talos: desired(T_OLD), kubernetes: desired(K_NEW, [third]) } }),
    );
    t.equal(drop.extensionAuth?.afterStep, 'kubernetes-drop');
    t.same(drop.extensionAuth?.clientCa, [K_NEW, third], 'issuing and accepted: what every apiserver trusts');
    t.same(drop.extensionAuth?.removes, [K_OLD]);
  },
);

t.test('only a worker drops the old CA: no control plane changes, no step', async (t) => {
  const nodes = withState(
    withRoleState(cluster(), 'controlplane', 'kubernetes', api(K_NEW)),
    '127.0.0.20',
    'kubernetes',
    api(K_NEW, K_OLD),
  );
  const plan = planRotation(input(nodes, { desired: { talos: desired(T_OLD), kubernetes: desired(K_NEW) } }));
  t.ok(plan.steps.length > 0);
  t.equal(plan.extensionAuth, undefined);
  t.ok(
    plan.notices.some((n) => /extension-apiserver-authentication keeps the dropped Kubernetes CA/.test(n)),
    'said why',
  );
});

t.test('a resumed run whose drop step was done carries the step over', async (t) => {
  const first = planRotation(input(cluster()));
  const done = planRotation(
    input(
      withRoleState(
        withRoleState(cluster(), 'controlplane', 'kubernetes', api(K_NEW)),
        'worker',
        'kubernetes',
        api(K_NEW),
      ),
      { desired: { talos: desired(T_OLD), kubernetes: desired(K_NEW) } },
    ),
  );
  t.equal(done.extensionAuth, undefined, 'the re-plan alone would lose it');
  const carried = carryExtensionAuth(done, [first]);
  t.equal(carried.extensionAuth?.afterStep, null, 'runs on its own');
  t.same(carried.extensionAuth?.removes, [K_OLD]);
  t.equal(carryExtensionAuth(first, []), first, 'a plan with its own step is kept');
});

t.test('report mode: the step is planned and shown as what would be replaced, nothing to write', async (t) => {
  const plan = planRotation(input(cluster(), { extensionAuth: { mode: 'report' } }));
  const ext = plan.extensionAuth!;
  t.equal(ext.mode, 'report');
  t.same(ext.removes, [K_OLD]);
  const text = renderPlanText(plan);
  t.match(
    text.replace(/\n +/g, ' '),
    /extension-apiserver-authentication, after step 4 \(kubernetes-drop\): report only, not written/,
  );
  t.match(text, /would remove: /);
  t.notMatch(text, /gate: re-read/, 'no gate: nothing is written');
  t.match(renderPlanSummary(plan), /\| after 4\. `kubernetes-extension-auth` \| report `client-ca-file`/);
});

t.test(
  'nothing dropped, but the ConfigMap holds a CA no apiserver trusts any more: cleaned, on its own; trusted ' +
    'CAs never removed',
  async (t) => {
    const stale = fp('k8s-stale-2016');
    const nodes = withRoleState(
      withRoleState(cluster(), 'controlplane', 'kubernetes', api(K_NEW)),
      'worker',
      'kubernetes',
      api(K_NEW),
    );
    const settled = { desired: { talos: desired(T_OLD), kubernetes: desired(K_NEW) } };
    const none = planRotation(input(nodes, settled));
    t.equal(none.extensionAuth, undefined, 'not read: nothing planned');
    t.equal(none.changes, false);

    const plan = planRotation(
      input(nodes, { ...settled, extensionAuth: { mode: 'replace', clientCa: [K_NEW, stale] } }),
    );
    t.same(plan.steps, [], 'no node step');
    t.equal(plan.extensionAuth?.afterStep, null, 'runs on its own');
    t.same(plan.extensionAuth?.removes, [stale], 'only the CA no apiserver trusts');
    t.same(plan.extensionAuth?.clientCa, [K_NEW]);
    t.equal(plan.changes, true, 'a change to apply');
    t.equal(plan.applyable, true);
    t.match(plan.extensionAuth?.reason, /no apiserver trusts any more/);
    t.match(plan.summary.text, /No node changes; .*apply removes them/, 'the summary does not say "no changes"');

    const clean = planRotation(input(nodes, { ...settled, extensionAuth: { mode: 'replace', clientCa: [K_NEW] } }));
    t.equal(clean.extensionAuth, undefined, 'nothing stale: nothing planned');
    // A CA some control plane still trusts (here: one that has not dropped K_OLD yet) is never stale.
    const uneven = withState(nodes, '127.0.0.10', 'kubernetes', api(K_NEW, K_OLD));
    const keep = planRotation(
      input(uneven, { ...settled, extensionAuth: { mode: 'replace', clientCa: [K_NEW, K_OLD, stale] } }),
    );
    t.ok(keep.extensionAuth?.removes.includes(stale), 'the stale one is removed');
    t.equal(keep.extensionAuth?.afterStep, 'kubernetes-drop', 'after the drop of K_OLD from the last control plane');

    const report = planRotation(
      input(nodes, { ...settled, extensionAuth: { mode: 'report', clientCa: [K_NEW, stale] } }),
    );
    t.equal(report.extensionAuth?.mode, 'report');
    t.equal(report.changes, false, 'a report is no change');
  },
);
