import t from 'tap';
import type { PlanInput } from '../../src/plan/model/input.js';
import type { Plan, Step } from '../../src/plan/model/plan.js';
import { planRotation, refuseIfRefused } from '../../src/plan/planner/index.js';
import { RotateError } from '../../src/domain/errors.js';
import { renderPlanText } from '../../src/plan/render/human.js';
import { noSecretsBundleWarning } from '../../src/cluster/session/build-plan.js';
import { evaluateSequence } from '../../src/plan/safety/sequence.js';
import {
  api,
  cluster,
  desired,
  input,
  K_NEW,
  K_OLD,
  T_NEW,
  T_OLD,
  withRoleState,
  withState,
} from './fixtures/cluster.js';

const roles = (s: Step): string[] => s.waves.map((w) => w.role);
const problems = (s: Step) => s.proof.edges.filter((e) => e.status !== 'ok' && !e.preExisting);

t.test('full rotation of both APIs: merged accept and issue, then the drop of each API in its own order', async (t) => {
  const plan = planRotation(input(cluster()));
  t.equal(plan.formatVersion, 1);
  t.equal(plan.changes, true);
  t.equal(plan.applyable, true);
  t.equal(plan.refused, undefined);
  t.same(
    plan.steps.map((s) => s.id),
    ['talos-kubernetes-accept', 'talos-kubernetes-issue', 'talos-drop', 'kubernetes-drop'],
  );
  const [accept, issue, talosDrop, kubeDrop] = plan.steps as [Step, Step, Step, Step];
  t.same(roles(accept), ['controlplane', 'worker'], 'accept: control planes first');
  t.same(roles(issue), ['controlplane', 'worker'], 'swap: control planes first');
  t.same(
    roles(talosDrop),
    ['controlplane', 'worker'],
    'Talos drop: control planes first, so workers re-register for a bundle without the old CA',
  );
  t.same(roles(kubeDrop), ['worker', 'controlplane'], 'Kubernetes drop: workers first');

  t.equal(accept.order.talos!.chosen, 'controlplanes-first');
  t.same(
    accept.order.talos!.alternatives.map((a) => [a.order, a.verdict]),
    [['workers-first', 'unsafe']],
    'workers-first accept breaks the later swap',
  );
  t.match(accept.order.talos!.alternatives[0]!.problem, /talos issue: apid-proxy broken/);
  t.equal(kubeDrop.order.kubernetes!.chosen, 'workers-first');
  t.same(
    kubeDrop.order.kubernetes!.alternatives.map((a) => [a.order, a.verdict]),
    [['controlplanes-first', 'unsafe']],
    "talosctl's drop order strands worker kubelets",
  );
  t.equal(talosDrop.order.talos!.chosen, 'controlplanes-first');
  t.same(
    talosDrop.order.talos!.alternatives.map((a) => [a.order, a.verdict, a.stale]),
    [['workers-first', 'safe', true]],
    'workers-first is as safe, but leaves the old CA in the workers’ bundles',
  );
  t.match(
    talosDrop.order.talos!.reason,
    /workers-first would be safe too, but talos: 2 worker\(s\) would keep trusting a dropped Talos CA/,
  );
  t.notOk(
    plan.notices.some((n) => /still accept Talos API client certificates/.test(n)),
    'no worker is left trusting the dropped CA',
  );

  t.same(
    plan.steps.map((s) => s.proof.verdict),
    ['safe', 'safe-with-announced-disruption', 'safe', 'safe-with-announced-disruption'],
    'the issue step is never safe: in-cluster clients',
  );
  const pods = problems(issue);
  t.ok(
    pods.length > 0 &&
      pods.every((e) => e.kind === 'pod-apiserver' && e.status === 'degraded' && e.certainty === 'possible'),
    'the issue step announces only the pod edge',
  );
  t.same(
    [...new Set(pods.flatMap((e) => e.toNodes))].sort(),
    ['127.0.0.10', '127.0.0.11', '127.0.0.12'],
    'against every apiserver',
  );
  t.same([...new Set(pods.flatMap((e) => e.waves))].sort(), [1, 2], 'from the control-plane wave on');
  t.ok(
    pods.some((e) => e.persists),
    'clients that loaded the old CA stay failing after the step',
  );
  t.match(
    pods.find((e) => e.persists)!.window,
    /from waves 1–2 of step 2, .* clients started before step 2: possibly stale until they re-read ca\.crt/,
  );
  for (const s of [accept, talosDrop, kubeDrop])
    t.notOk(
      problems(s).some((e) => e.kind === 'pod-apiserver'),
      `${s.id}: no pod edge`,
    );
  t.ok(
    accept.proof.edges.some((e) => e.kind === 'pod-apiserver' && e.status === 'ok'),
    'a Kubernetes step checks the pod edge',
  );
  t.ok(
    plan.notices.some((n) => /In-cluster clients: from step 2 \(talos-kubernetes-issue\), waves 1–2/.test(n)),
    'a notice names the step and waves',
  );
  t.same(problems(talosDrop), [], 'the Talos drop breaks nothing');
  const window = problems(kubeDrop);
  t.ok(window.length > 0 && window.every((e) => e.kind === 'kubelet-apiserver' && e.status === 'degraded'));
  t.ok(
    window.every((e) => e.fromNodes.concat(e.toNodes).every((a) => a.startsWith('127.0.0.1'))),
    'only among control planes',
  );
  t.match(window[0]!.window, /during wave 2 of step 4, until .* patched; at most the duration of step 4/);
  t.equal(plan.verdict, 'safe-with-announced-disruption');

  t.same(
    plan.steps.map((s) => s.talosClient),
    ['current', 'intermediate', 'new', 'new'],
  );
  t.same(
    plan.steps.map((s) => s.gate.talos?.client),
    ['intermediate', 'new', 'new', undefined],
  );
  t.same(
    plan.steps.map((s) => s.talosconfigAfter ?? null),
    ['intermediate', 'new', null, null],
  );
  t.same(
    plan.steps.map((s) => s.outputsAfter),
    [['talosconfig'], ['talosconfig', 'kubeconfig', 'secretsBundle'], [], ['kubeconfig']],
  );
  t.same(
    plan.steps.map((s) => s.outputsBefore),
    [[], [], [], []],
  );
  t.same(
    { ...plan.talosClients.intermediate, trusts: [...plan.talosClients.intermediate!.trusts].sort() },
    { signer: T_NEW, trusts: [T_NEW, T_OLD].sort(), minted: true },
  );
  t.same(plan.talosClients.new, { signer: T_NEW, trusts: [T_NEW], minted: true });

  for (const s of plan.steps) {
    t.same(
      s.kubeletRestarts.sort(),
      s.apis.includes('kubernetes') ? ['127.0.0.10', '127.0.0.11', '127.0.0.12', '127.0.0.20', '127.0.0.21'] : [],
    );
    t.same(s.gate.kubernetes?.kubeletRestartsObserved, s.apis.includes('kubernetes') ? s.kubeletRestarts : undefined);
    t.equal(s.gate.talos?.nodes, s.apis.includes('talos') ? 'all' : undefined);
  }
  t.same(
    plan.steps.map((s) => s.dependsOn),
    [[], ['talos-kubernetes-accept'], ['talos-kubernetes-issue'], ['talos-kubernetes-issue', 'talos-drop']],
  );
  t.same(
    issue.nodes.find((n) => n.address === '127.0.0.20')!.target,
    { talos: api(T_NEW, T_OLD), kubernetes: api(K_NEW, K_OLD) },
    'one apply carries both APIs',
  );
  t.same(plan.summary.phases, { talos: ['accept', 'issue', 'drop'], kubernetes: ['accept', 'issue', 'drop'] });
  t.equal(plan.summary.nodesChanged, 5);
  t.equal(plan.summary.kubeletRestarts, 15);
  t.ok(
    plan.notices.some((n) => /refuse Talos API client certificates signed by talos-2025/.test(n)),
    'other users’ talosconfigs: a notice',
  );
  t.ok(plan.notices.some((n) => /kubeconfig in use stops working during step 2/.test(n)));
});

t.test(
  'concurrency: kube-apiserver restarts one control plane at a time; kubelet restarts by --max-unavailable alone',
  async (t) => {
    const plan = planRotation(
      input(cluster(), { options: { allowDisruption: false, maxUnavailable: 5, parallelism: 4 } }),
    );
    const accept = plan.steps[0]!;
    t.same(
      accept.waves.map((w) => [w.role, w.maxConcurrent]),
      [
        ['controlplane', 1],
        ['worker', 5],
      ],
      'not capped by --parallelism 4',
    );
    t.equal(accept.maxConcurrent, 5);
    const talosOnly = planRotation(
      input(cluster(), {
        desired: { talos: desired(T_NEW) },
        options: { allowDisruption: false, maxUnavailable: 1, parallelism: 3 },
      }),
    );
    t.same(
      talosOnly.steps[0]!.waves.map((w) => w.maxConcurrent),
      [3, 3],
      'no Kubernetes restart: only parallelism bounds a Talos wave',
    );
    t.same(talosOnly.steps[0]!.kubeletRestarts, []);
    t.equal(talosOnly.steps[0]!.gate.kubernetes, undefined);
  },
);

t.test('desired == observed: no changes', async (t) => {
  const plan = planRotation(input(cluster(), { desired: { talos: desired(T_OLD), kubernetes: desired(K_OLD) } }));
  t.equal(plan.changes, false);
  t.equal(plan.applyable, false);
  t.same(plan.steps, []);
  t.same(plan.initialProof, []);
  t.match(plan.summary.text, /No changes/);
});

t.test('intermediate desired states', async (t) => {
  const afterAccept = planRotation(
    input(cluster(), { desired: { talos: desired(T_OLD, [T_NEW]), kubernetes: desired(K_OLD, [K_NEW]) } }),
  );
  t.same(
    afterAccept.steps.map((s) => s.id),
    ['talos-kubernetes-accept'],
  );
  t.equal(afterAccept.steps[0]!.gate.talos!.client, 'current', 'no issuing change: no new client is minted');
  t.same(afterAccept.steps[0]!.outputsAfter, []);
  t.equal(afterAccept.talosClients.new, undefined);

  const afterSwap = planRotation(
    input(cluster(), { desired: { talos: desired(T_NEW, [T_OLD]), kubernetes: desired(K_NEW, [K_OLD]) } }),
  );
  t.same(
    afterSwap.steps.map((s) => s.id),
    ['talos-kubernetes-accept', 'talos-kubernetes-issue'],
  );
  t.equal(afterSwap.steps[1]!.talosconfigAfter, 'new');
  t.notOk(
    afterSwap.notices.some((n) => /refuse .* client certificates/.test(n)),
    'the old CA stays trusted: no client is refused',
  );
  t.equal(afterSwap.verdict, 'safe-with-announced-disruption', 'in-cluster clients holding the old ca.crt: announced');
  t.equal(afterSwap.applyable, true, 'allowed without allowDisruption');
  const swapEdges = afterSwap.steps[1]!.proof.edges.filter((e) => e.status !== 'ok');
  t.ok(
    swapEdges.length > 0 && swapEdges.every((e) => e.kind === 'pod-apiserver'),
    'the only announced edge is the pods’',
  );
});

t.test('a half-done cluster continues: Talos crashed mid-swap, Kubernetes not started', async (t) => {
  let nodes = withRoleState(cluster(), 'controlplane', 'talos', api(T_OLD, T_NEW));
  nodes = withRoleState(nodes, 'worker', 'talos', api(T_OLD, T_NEW));
  nodes = withState(nodes, '127.0.0.10', 'talos', api(T_NEW, T_OLD));
  // the previous run wrote the intermediate talosconfig
  const plan = planRotation(
    input(nodes, { operator: { talos: { clientSigner: T_NEW, trusts: [T_OLD, T_NEW] }, kubernetes: null } }),
  );
  t.same(
    plan.steps.map((s) => s.id),
    ['kubernetes-accept', 'talos-kubernetes-issue', 'talos-drop', 'kubernetes-drop'],
    'phases are aligned, not forced together',
  );
  const issue = plan.steps[1]!;
  t.same(
    issue.nodes.filter((n) => n.target.talos).map((n) => n.address),
    ['127.0.0.11', '127.0.0.12', '127.0.0.20', '127.0.0.21'],
    'the swapped control plane is not patched again',
  );
  t.equal(issue.talosClient, 'current', 'the intermediate talosconfig on disk already works across the swap');
  t.same(issue.outputsBefore, []);
  t.equal(issue.gate.talos!.client, 'new');
  t.equal(plan.verdict, 'safe-with-announced-disruption');
  t.same(plan.initialProof, []);
});

t.test('a half-done Kubernetes drop continues with the control planes left', async (t) => {
  let nodes = withRoleState(cluster(), 'controlplane', 'kubernetes', api(K_NEW, K_OLD));
  nodes = withRoleState(nodes, 'worker', 'kubernetes', api(K_NEW));
  nodes = withState(nodes, '127.0.0.10', 'kubernetes', api(K_NEW));
  const plan = planRotation(input(nodes, { desired: { kubernetes: desired(K_NEW) } }));
  t.same(
    plan.steps.map((s) => s.id),
    ['kubernetes-drop'],
  );
  t.same(
    plan.steps[0]!.nodes.map((n) => n.address),
    ['127.0.0.11', '127.0.0.12'],
  );
  t.ok(
    plan.initialProof.some(
      (e) => e.kind === 'kubelet-apiserver' && e.toNodes.includes('127.0.0.10') && e.certainty === 'possible',
    ),
    'a not-yet-patched CP kubelet may already be refused by the patched one',
  );
  const pre = plan.steps[0]!.proof.edges.filter((e) => e.preExisting);
  t.ok(pre.length > 0, 'shown in the step, marked pre-existing');
  t.equal(plan.steps[0]!.proof.verdict, 'safe-with-announced-disruption');
});

t.test('single control-plane cluster', async (t) => {
  const plan = planRotation(
    input(cluster({ controlPlanes: 1, workers: 2 }), {
      options: { allowDisruption: false, maxUnavailable: 3, parallelism: 4 },
    }),
  );
  t.same(
    plan.steps.map((s) => s.proof.verdict),
    ['safe', 'safe-with-announced-disruption', 'safe', 'safe'],
    'workers first in the Kubernetes drop: not even a window',
  );
  t.same(
    plan.steps[1]!.proof.edges.filter((e) => e.status !== 'ok').map((e) => [e.kind, e.toNodes, e.waves, e.persists]),
    [['pod-apiserver', ['127.0.0.10'], [1, 2], true]],
    'one control plane: no mixed state, but clients that loaded the old CA fail after its swap',
  );
  const drop = plan.steps[3]!;
  t.same(roles(drop), ['worker', 'controlplane']);
  t.same(
    drop.order.kubernetes!.alternatives.map((a) => a.verdict),
    ['unsafe'],
  );
  t.ok(
    plan.steps.every(
      (s) => !s.apis.includes('kubernetes') || s.waves.find((w) => w.role === 'controlplane')!.maxConcurrent === 1,
    ),
  );
  t.ok(plan.notices.some((n) => /Single control plane: its kube-apiserver restarts in step\(s\) 1, 2, 4/.test(n)));
});

t.test(
  "dropping the CA that signed the operator's talosconfig: a client of the issuing CA is minted before the drop",
  async (t) => {
    const nodes = withRoleState(
      withRoleState(cluster(), 'controlplane', 'talos', api(T_NEW, T_OLD)),
      'worker',
      'talos',
      api(T_NEW, T_OLD),
    );
    const base = input(nodes, {
      desired: { talos: desired(T_NEW) },
      operator: { talos: { clientSigner: T_OLD, trusts: [T_OLD, T_NEW] }, kubernetes: null },
    });
    const plan = planRotation(base);
    t.same(
      plan.steps.map((s) => s.id),
      ['talos-drop'],
    );
    const step = plan.steps[0]!;
    t.same(step.outputsBefore, ['talosconfig'], 'a talosconfig with a minted client is written before the drop');
    t.not(step.talosClient, 'current', 'the step does not use the talosconfig whose signer it drops');
    t.equal(plan.talosClients[step.talosClient]!.signer, T_NEW, 'minted from the issuing CA');
    t.equal(step.proof.verdict, 'safe');
    t.equal(plan.applyable, true);

    // Without the minted client the same step would refuse the operator: the model sees the edge.
    const outcomes = evaluateSequence(
      {
        nodes,
        endpoints: base.endpoints,
        operator: { talos: { clientSigner: T_OLD, trusts: [T_OLD, T_NEW] }, kubernetes: null },
      },
      [step.nodes.map((n) => ({ address: n.address, target: n.target }))],
    );
    t.ok(
      outcomes.some((o) => o.kind === 'operator-apid' && o.status === 'broken'),
      'the old talosconfig is refused once control planes drop its signer',
    );

    const ownClient = planRotation({
      ...base,
      operator: { talos: { clientSigner: T_NEW, trusts: [T_NEW] }, kubernetes: null },
    });
    t.equal(ownClient.steps[0]!.talosClient, 'current', 'a talosconfig signed by the issuing CA is kept');
    t.same(ownClient.steps[0]!.outputsBefore, []);
  },
);

t.test(
  'an unknown operator talosconfig: the accept step still needs it, the minted client takes over after',
  async (t) => {
    const plan = planRotation(
      input(cluster(), { desired: { talos: desired(T_NEW) }, operator: { talos: null, kubernetes: null } }),
    );
    t.equal(plan.steps[0]!.talosClient, 'current', 'the new cert is not accepted anywhere before the accept step');
    t.equal(plan.steps[0]!.talosconfigAfter, 'intermediate');
    t.same(
      plan.steps.map((s) => s.talosClient),
      ['current', 'intermediate', 'new'],
    );
    t.ok(
      plan.notices.some((n) => /could not be read: its operator → apid edges are not proved for step\(s\) 1;/.test(n)),
    );
    t.equal(plan.applyable, true);
  },
);

t.test('a client is minted before a step when the talosconfig on disk cannot do it', async (t) => {
  // accept done; the operator still holds the old talosconfig, which the swapped endpoint will refuse
  const nodes = withRoleState(
    withRoleState(cluster(), 'controlplane', 'talos', api(T_OLD, T_NEW)),
    'worker',
    'talos',
    api(T_OLD, T_NEW),
  );
  const plan = planRotation(input(nodes, { desired: { talos: desired(T_NEW) } }));
  t.same(
    plan.steps.map((s) => s.id),
    ['talos-issue', 'talos-drop'],
  );
  t.equal(plan.steps[0]!.talosClient, 'intermediate');
  t.same(plan.steps[0]!.outputsBefore, ['talosconfig']);
  t.equal(plan.steps[0]!.talosconfigBefore, 'intermediate');
  t.equal(plan.verdict, 'safe');
});

t.test('document-style workers', async (t) => {
  const plan = planRotation(input(cluster({ style: 'document' }), { desired: { kubernetes: desired(K_NEW) } }));
  const targets = plan.steps.map((s) => s.nodes.find((n) => n.address === '127.0.0.20')!.target.kubernetes);
  t.same(
    targets,
    [api(null, K_OLD, K_NEW), api(null, K_NEW, K_OLD), api(null, K_NEW)],
    'issuing null, NEW at position 0 after the swap',
  );
  t.ok(
    plan.steps[1]!.kubeletRestarts.includes('127.0.0.20'),
    'the reorder changes the kubelet CA bundle: kubelet restarts',
  );
  t.equal(plan.steps[1]!.proof.verdict, 'safe-with-announced-disruption');
  t.same(
    [...new Set(plan.steps[1]!.proof.edges.filter((e) => e.status !== 'ok').map((e) => e.kind))],
    ['pod-apiserver'],
    'only the pods: worker kubelets keep working',
  );
});

t.test('merging follows the phases of each API', async (t) => {
  let nodes = withRoleState(
    withRoleState(cluster(), 'controlplane', 'talos', api(T_NEW, T_OLD)),
    'worker',
    'talos',
    api(T_NEW, T_OLD),
  );
  // The workers registered with trustd after the control planes made the new CA issuing (their ApiCertificates).
  nodes = nodes.map((n) => (n.role === 'worker' ? { ...n, talosGrant: { signer: T_NEW, bundle: [T_NEW, T_OLD] } } : n));
  const plan = planRotation(
    input(nodes, { operator: { talos: { clientSigner: T_NEW, trusts: [T_NEW] }, kubernetes: null } }),
  );
  t.same(
    plan.steps.map((s) => s.id),
    ['kubernetes-accept', 'kubernetes-issue', 'talos-drop', 'kubernetes-drop'],
  );
  t.same(
    plan.steps.map((s) => s.dependsOn),
    [[], ['kubernetes-accept'], ['kubernetes-issue'], ['kubernetes-issue', 'talos-drop']],
  );
  t.same(roles(plan.steps[2]!), ['controlplane', 'worker']);
  t.same(roles(plan.steps[3]!), ['worker', 'controlplane']);
  t.equal(plan.steps[0]!.gate.talos, undefined, 'a Kubernetes-only step has no Talos gate');
  t.notOk(plan.notices.some((n) => /still accept Talos API client certificates/.test(n)));
});

t.test(
  'workers whose registration is unknown: the only safe Talos drop leaves the old CA in their bundles, announced',
  async (t) => {
    // Their apid certificate may still be signed by the old CA (it is not observed): control planes first would
    // break proxying to them, so they go first and re-register while the control planes still trust the old CA.
    const nodes = withRoleState(
      withRoleState(cluster(), 'controlplane', 'talos', api(T_NEW, T_OLD)),
      'worker',
      'talos',
      api(T_NEW, T_OLD),
    );
    const plan = planRotation(
      input(nodes, { operator: { talos: { clientSigner: T_NEW, trusts: [T_NEW] }, kubernetes: null } }),
    );
    t.same(
      plan.steps.map((s) => s.id),
      ['kubernetes-accept', 'kubernetes-issue', 'talos-kubernetes-drop'],
    );
    t.same(roles(plan.steps[2]!), ['worker', 'controlplane']);
    t.match(plan.steps[2]!.order.talos!.reason, /controlplanes-first would be unsafe: talos drop: apid-proxy broken/);
    t.ok(
      plan.notices.some((n) =>
        new RegExp(
          /worker\(s\) 127\.0\.0\.20, 127\.0\.0\.21 still accept Talos API client certificates signed /.source +
            /by \{talos-2025/.source,
        ).test(n),
      ),
    );
  },
);

t.test('an observed registration older than the control planes counts as possibly about to change', async (t) => {
  let nodes = withRoleState(
    withRoleState(cluster(), 'controlplane', 'talos', api(T_NEW, T_OLD)),
    'worker',
    'talos',
    api(T_NEW, T_OLD),
  );
  // apid still shows a certificate of the old CA: the worker was just patched and has not re-registered yet.
  nodes = nodes.map((n) => (n.role === 'worker' ? { ...n, talosGrant: { signer: T_OLD, bundle: [T_NEW, T_OLD] } } : n));
  const plan = planRotation(
    input(nodes, { operator: { talos: { clientSigner: T_NEW, trusts: [T_NEW] }, kubernetes: null } }),
  );
  t.same(
    plan.steps.map((s) => s.id),
    ['kubernetes-accept', 'kubernetes-issue', 'talos-kubernetes-drop'],
    'control planes first could break proxying to them',
  );
  t.same(roles(plan.steps[2]!), ['worker', 'controlplane']);
});

t.test('a worker left trusting a dropped Talos CA is announced', async (t) => {
  // The workers already dropped the old CA (by hand); the control planes still trust it, so the bundle trustd
  // gave the workers holds it, and nothing in the plan makes them ask again.
  let nodes = withRoleState(cluster(), 'controlplane', 'talos', api(T_NEW, T_OLD));
  nodes = withRoleState(nodes, 'worker', 'talos', api(T_NEW));
  const plan = planRotation(
    input(nodes, {
      desired: { talos: desired(T_NEW) },
      operator: { talos: { clientSigner: T_NEW, trusts: [T_NEW] }, kubernetes: null },
    }),
  );
  t.same(
    plan.steps.map((s) => s.id),
    ['talos-drop'],
  );
  t.same(roles(plan.steps[0]!), ['controlplane']);
  const notice = plan.notices.find((n) => /still accept Talos API client certificates/.test(n));
  t.match(
    notice,
    /worker\(s\) 127\.0\.0\.20, 127\.0\.0\.21 still accept Talos API client certificates signed by \{talos-2025/,
  );
  t.match(notice, /within 12 h/);
});

t.test(
  'a rollback from mid-issue: the order chosen per API is re-proved with both APIs, and a safe merged order ' +
    'replaces it',
  async (t) => {
    // Killed in step 2 of a full rotation (document style): cp-1 and cp-2 issue NEW, cp-3 still OLD; the workers'
    // apid certificate is still signed by OLD. Rolling back, the Kubernetes issue step restarts apiservers, which
    // makes workers re-register with trustd while some control plane still issues NEW: dropping NEW on the
    // control planes first (the Talos chain's own choice) would then break proxying to the workers.
    let nodes = cluster({ style: 'document' });
    for (const n of nodes) {
      nodes = withState(nodes, n.address, 'talos', api(T_OLD, T_NEW));
      nodes = withState(
        nodes,
        n.address,
        'kubernetes',
        n.role === 'worker' ? api(null, K_OLD, K_NEW) : api(K_OLD, K_NEW),
      );
    }
    for (const a of ['127.0.0.10', '127.0.0.11']) {
      nodes = withState(nodes, a, 'talos', api(T_NEW, T_OLD));
      nodes = withState(nodes, a, 'kubernetes', api(K_NEW, K_OLD));
    }
    nodes = nodes.map((n) =>
      n.role === 'worker' ? { ...n, talosGrant: { signer: T_OLD, bundle: [T_OLD, T_NEW] } } : n,
    );
    const plan = planRotation(
      input(nodes, {
        desired: { talos: desired(T_OLD), kubernetes: desired(K_OLD) },
        operator: {
          talos: { clientSigner: T_NEW, trusts: [T_OLD, T_NEW] },
          kubernetes: { clientSigner: K_NEW, trusts: [K_OLD, K_NEW] },
        },
      }),
    );
    t.equal(plan.refused, undefined, 'not refused');
    t.not(plan.verdict, 'unsafe');
    const drop = plan.steps.find((s) => s.phase.talos === 'drop')!;
    t.same(roles(drop), ['worker', 'controlplane'], 'the Talos drop goes workers first');
    t.same(
      plan.steps.flatMap((s) => problems(s).filter((e) => e.kind === 'apid-proxy')),
      [],
      'no apid-proxy edge broken',
    );
  },
);

t.test('structural refusals and notices', async (t) => {
  const noCp = planRotation(input(cluster({ controlPlanes: 0, workers: 2 }), { endpoints: [] }));
  t.same(noCp.steps, []);
  t.same(
    noCp.refused?.map((r) => r.code),
    ['PLAN_NO_CONTROLPLANE'],
  );

  const workerEp = planRotation(input(cluster(), { endpoints: ['127.0.0.20:50000'] }));
  t.ok(workerEp.refused?.some((r) => r.code === 'PLAN_ENDPOINT_IS_WORKER'));

  const vip = planRotation(input(cluster(), { endpoints: ['https://cluster.example:50000'] }));
  t.ok(vip.notices.some((n) => /not a node address/.test(n)));
  t.equal(vip.applyable, true);

  const notReady = cluster().map((n) => (n.address === '127.0.0.21' ? { ...n, ready: false } : n));
  const nr = planRotation(input(notReady));
  t.same(
    nr.refused?.map((r) => r.code),
    ['PLAN_NODE_NOT_READY'],
  );
  t.equal(
    planRotation(input(notReady, { desired: { talos: desired(T_NEW) } })).refused,
    undefined,
    'a Talos-only plan has no Kubernetes gate',
  );

  // plan, apply and rollback all stop on a refused plan with the same PLAN_REFUSED error, listing every problem.
  t.doesNotThrow(() => refuseIfRefused(planRotation(input(cluster()))), 'a plan that is not refused passes');
  let thrown: unknown;
  try {
    refuseIfRefused(nr);
  } catch (err) {
    thrown = err;
  }
  t.ok(RotateError.is(thrown) && thrown.code === 'PLAN_REFUSED', 'PLAN_REFUSED');
  const refusal = thrown as RotateError;
  t.match(refusal.message, /cannot be reached safely \(1 problem\):\n {2}- /);
  t.ok(
    nr.refused!.every((r) => refusal.message.includes(r.reason)),
    'every reason is listed',
  );
  t.match(refusal.hint, /--allow-disruption/);
});

t.test('invalid input is a bug in the caller', async (t) => {
  const nodes = cluster();
  t.throws(() => planRotation(input([...nodes, nodes[0]!])), { code: 'PLAN_INPUT_INVALID' });
  t.throws(
    () => planRotation(input(nodes, { options: { allowDisruption: false, maxUnavailable: 0, parallelism: 1 } })),
    { code: 'PLAN_INPUT_INVALID' },
  );
  const bad = { ...input(nodes) } as PlanInput;
  bad.desired = { talos: { issuing: 'nope' as typeof T_NEW, accepted: [], names: {} as Record<typeof T_NEW, string> } };
  t.throws(() => planRotation(bad), { code: 'PLAN_INPUT_INVALID' });
});

t.test('deterministic: the same input gives the same plan', async (t) => {
  const a: Plan = planRotation(input(cluster()));
  const b: Plan = planRotation(input(cluster()));
  t.same(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b)));
  t.same(
    a.basedOn.nodes.map((n) => n.configDigest),
    cluster().map((n) => n.configDigest),
  );
});

t.test(
  'outputs: a step announces only the files the desired state names (no "then: write secretsBundle" without one)',
  async (t) => {
    const none = planRotation(input(cluster(), { outputs: { kubeconfig: false, secretsBundle: false } }));
    t.same(
      none.steps.map((s) => s.outputsAfter),
      [['talosconfig'], ['talosconfig'], [], []],
      'only the talosconfig, which is always named',
    );
    t.notOk(renderPlanText(none).includes('secretsBundle'), 'the text never says secretsBundle');
    t.notOk(renderPlanText(none).includes('kubeconfig,'), 'nor kubeconfig');
    const kubeOnly = planRotation(input(cluster(), { outputs: { kubeconfig: true, secretsBundle: false } }));
    t.same(
      kubeOnly.steps.map((s) => s.outputsAfter),
      [['talosconfig'], ['talosconfig', 'kubeconfig'], [], ['kubeconfig']],
    );
    t.ok(kubeOnly.notices.some((n) => /a new kubeconfig is written after step 2/.test(n)));
    const noKube = planRotation(input(cluster(), { outputs: { kubeconfig: false, secretsBundle: true } }));
    t.ok(
      noKube.notices.some((n) =>
        /kubeconfig in use stops working during step 2 .*; fetch a new one with `talosctl kubeconfig`/.test(n),
      ),
      'without a kubeconfig to write, the notice says how to get one',
    );
  },
);

t.test('no secrets bundle: one warning for a plan that makes a CA issuing, none otherwise', async (t) => {
  const full = planRotation(input(cluster(), { outputs: { kubeconfig: true, secretsBundle: false } }));
  const w = noSecretsBundleWarning(full, undefined);
  t.equal(w?.code, 'PLAN_NO_SECRETS_BUNDLE', 'its own code');
  t.match(w?.hint, /cluster\.secretsBundle/, 'the fix in the hint');
  t.match(
    w?.text,
    new RegExp(
      /names no secrets bundle \(cluster\.secretsBundle\).*Talos API CA \(certs\.os\) and Kubernetes /.source +
        /API CA \(certs\.k8s\).*drops/.source,
    ),
  );
  t.equal(noSecretsBundleWarning(full, '/x/secrets.yaml'), null, 'named: no warning');
  const acceptOnly = planRotation(
    input(cluster(), { desired: { talos: desired(T_OLD, [T_NEW]), kubernetes: desired(K_OLD, [K_NEW]) } }),
  );
  t.equal(noSecretsBundleWarning(acceptOnly, undefined), null, 'nothing becomes issuing: no warning');
  const none = planRotation(input(cluster(), { desired: { talos: desired(T_OLD), kubernetes: desired(K_OLD) } }));
  t.equal(noSecretsBundleWarning(none, undefined), null, 'no changes: no warning');
});
