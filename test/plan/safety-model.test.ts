import t from 'tap';
import type { ApiState, ObservedNode, OperatorClient } from '../../src/plan/model/input.js';
import {
  evaluateSequence,
  failingPairs,
  strandedKubelets,
  summarizeOutcomes,
  type EdgeOutcome,
  type SequencePatch,
} from '../../src/plan/safety/index.js';
import { api, cluster, fp, K_NEW, K_OLD, NAMES, T_NEW, T_OLD, withRoleState } from './fixtures/cluster.js';

// Talos states of the rotation (talos-behaviour.md §2.2)
const T_ACCEPT = api(T_OLD, T_NEW);
const T_SWAP = api(T_NEW, T_OLD);
const T_DROP = api(T_NEW);
// Kubernetes, legacy style
const K_ACCEPT = api(K_OLD, K_NEW);
const K_SWAP = api(K_NEW, K_OLD);
const K_DROP = api(K_NEW);

const CURRENT: OperatorClient = { clientSigner: T_OLD, trusts: [T_OLD] };
const INTERMEDIATE: OperatorClient = { clientSigner: T_NEW, trusts: [T_OLD, T_NEW] };
const TALOSCTL_INTERMEDIATE: OperatorClient = { clientSigner: T_NEW, trusts: [T_OLD] };
const NEW: OperatorClient = { clientSigner: T_NEW, trusts: [T_NEW] };

type Api = 'talos' | 'kubernetes';

/** One single-node group per node of `role`, in cluster order. */
function each(
  nodes: ObservedNode[],
  role: 'controlplane' | 'worker',
  which: Api,
  state: ApiState | ((n: ObservedNode) => ApiState),
): SequencePatch[][] {
  return nodes
    .filter((n) => n.role === role)
    .map((n) => [{ address: n.address, target: { [which]: typeof state === 'function' ? state(n) : state } }]);
}

function start(nodes: ObservedNode[]) {
  return { nodes, endpoints: ['127.0.0.10'], operator: { talos: CURRENT, kubernetes: null }, names: NAMES };
}

/** Counted outcomes other than pods' (pod-apiserver has its own tests at the end). */
function counted(outcomes: EdgeOutcome[]): EdgeOutcome[] {
  return outcomes.filter((o) => !o.notice && o.kind !== 'pod-apiserver');
}

t.test('a steady-state cluster has no failing edge', async (t) => {
  const out = evaluateSequence(start(cluster()), []);
  t.same(out, []);
});

t.test(
  'Talos: our order (control planes first for accept and swap) with old+new client trust breaks nothing',
  async (t) => {
    const nodes = cluster();
    const groups = [
      ...each(nodes, 'controlplane', 'talos', T_ACCEPT),
      ...each(nodes, 'worker', 'talos', T_ACCEPT),
      ...each(nodes, 'controlplane', 'talos', T_SWAP),
      ...each(nodes, 'worker', 'talos', T_SWAP),
      ...each(nodes, 'controlplane', 'talos', T_DROP),
      ...each(nodes, 'worker', 'talos', T_DROP),
    ];
    const clients = [...Array(5).fill(CURRENT), ...Array(5).fill(INTERMEDIATE), ...Array(5).fill(NEW)];
    t.same(counted(evaluateSequence(start(nodes), groups, { talosClients: clients })), []);
  },
);

t.test(
  "Talos: talosctl's intermediate client trusts only the old CA, so the swapped endpoint refuses it",
  async (t) => {
    const nodes = cluster();
    const groups = [
      ...each(nodes, 'controlplane', 'talos', T_ACCEPT),
      ...each(nodes, 'worker', 'talos', T_ACCEPT),
      ...each(nodes, 'controlplane', 'talos', T_SWAP),
    ];
    const clients = [...Array(5).fill(CURRENT), ...Array(3).fill(TALOSCTL_INTERMEDIATE)];
    const out = counted(evaluateSequence(start(nodes), groups, { talosClients: clients }));
    t.same([...failingPairs(out)], ['operator-apid operator->127.0.0.10'], 'only the endpoint, only the operator edge');
    t.ok(out.every((o) => o.group >= 5 && o.status === 'broken'));
    t.match(out[0]!.reason, /trusts \{talos-2025/);
  },
);

t.test('Talos: swapping control planes before workers accept the new CA breaks apid proxying and trustd', async (t) => {
  const nodes = cluster();
  const groups = [...each(nodes, 'controlplane', 'talos', T_ACCEPT), ...each(nodes, 'controlplane', 'talos', T_SWAP)];
  const clients = [...Array(3).fill(CURRENT), ...Array(3).fill(INTERMEDIATE)];
  const out = counted(evaluateSequence(start(nodes), groups, { talosClients: clients }));
  const pairs = failingPairs(out);
  for (const cp of ['127.0.0.10', '127.0.0.11', '127.0.0.12']) {
    for (const w of ['127.0.0.20', '127.0.0.21']) {
      t.ok(pairs.has(`apid-proxy ${cp}->${w}`), `proxy ${cp} → ${w} breaks`);
      t.ok(pairs.has(`worker-trustd ${w}->${cp}`), `trustd ${w} → ${cp} breaks`);
    }
  }
  t.notOk(
    [...pairs].some((p) => /apid-proxy 127\.0\.0\.1\d->127\.0\.0\.1\d/.test(p)),
    'control planes still trust each other',
  );
  t.ok(out.filter((o) => o.kind === 'apid-proxy').every((o) => o.certainty === 'certain'));
});

t.test(
  'Talos: workers accepting before control planes get a trustd bundle without the new CA; the swap then ' +
    'breaks proxying',
  async (t) => {
    const nodes = cluster();
    const accept = [...each(nodes, 'worker', 'talos', T_ACCEPT), ...each(nodes, 'controlplane', 'talos', T_ACCEPT)];
    const clients = [...Array(5).fill(CURRENT), ...Array(5).fill(INTERMEDIATE)];
    const talosctlSwap = [
      ...accept,
      ...each(nodes, 'controlplane', 'talos', T_SWAP),
      ...each(nodes, 'worker', 'talos', T_SWAP),
    ];
    const out = counted(evaluateSequence(start(nodes), talosctlSwap, { talosClients: clients }));
    t.same(
      out.filter((o) => o.group < 5),
      [],
      'the accept phase itself shows nothing',
    );
    const proxy = out.filter((o) => o.kind === 'apid-proxy');
    t.ok(proxy.length > 0);
    t.match(proxy[0]!.reason, /bundle trustd gave it, \{talos-2025 \([0-9a-f]+\)\}, which lacks talos-2026/);
    t.ok(failingPairs(out).has('apid-proxy 127.0.0.10->127.0.0.20'));
    t.notOk(
      [...failingPairs(out)].some((p) => p.startsWith('worker-trustd')),
      'workers do trust the new trustd certificate',
    );

    // the model's own finding: swapping workers first re-requests the bundle and repairs it
    const workersFirst = [
      ...accept,
      ...each(nodes, 'worker', 'talos', T_SWAP),
      ...each(nodes, 'controlplane', 'talos', T_SWAP),
    ];
    t.same(counted(evaluateSequence(start(nodes), workersFirst, { talosClients: clients })), []);
  },
);

t.test(
  'Talos: a worker swapped before the control planes keeps an old-signed apid cert, so dropping on control ' +
    'planes first breaks',
  async (t) => {
    const nodes = cluster();
    const groups = [
      ...each(nodes, 'controlplane', 'talos', T_ACCEPT),
      ...each(nodes, 'worker', 'talos', T_ACCEPT),
      ...each(nodes, 'worker', 'talos', T_SWAP),
      ...each(nodes, 'controlplane', 'talos', T_SWAP),
      ...each(nodes, 'controlplane', 'talos', T_DROP),
      ...each(nodes, 'worker', 'talos', T_DROP),
    ];
    const clients = [...Array(5).fill(CURRENT), ...Array(5).fill(INTERMEDIATE), ...Array(5).fill(NEW)];
    const out = counted(evaluateSequence(start(nodes), groups, { talosClients: clients }));
    t.ok(out.length > 0);
    t.ok(out.every((o) => o.kind === 'apid-proxy' && o.group >= 10));
    t.match(out[0]!.reason, /does not trust workers? .*server certificate \(signed by talos-2025/);
  },
);

t.test(
  'Kubernetes: our order (control planes first to accept and swap, workers first to drop) leaves only a short ' +
    'window among control planes',
  async (t) => {
    const nodes = cluster();
    const groups = [
      ...each(nodes, 'controlplane', 'kubernetes', K_ACCEPT),
      ...each(nodes, 'worker', 'kubernetes', K_ACCEPT),
      ...each(nodes, 'controlplane', 'kubernetes', K_SWAP),
      ...each(nodes, 'worker', 'kubernetes', K_SWAP),
      ...each(nodes, 'worker', 'kubernetes', K_DROP),
      ...each(nodes, 'controlplane', 'kubernetes', K_DROP),
    ];
    const out = counted(evaluateSequence(start(nodes), groups));
    t.ok(out.length > 0);
    t.ok(out.every((o) => o.kind === 'kubelet-apiserver' && o.status === 'degraded' && o.certainty === 'certain'));
    const pairs = [...failingPairs(out)];
    t.ok(
      pairs.every((p) => /127\.0\.0\.1\d->127\.0\.0\.1\d$/.test(p)),
      'only control-plane kubelets, only against control planes',
    );
    t.ok(
      pairs.includes('kubelet-apiserver 127.0.0.11->127.0.0.10'),
      'an unpatched CP kubelet (old cert) is refused by the patched CP',
    );
    t.notOk(
      pairs.includes('kubelet-apiserver 127.0.0.10->127.0.0.11'),
      'a patched CP re-bootstrapped from the new CA and is accepted everywhere',
    );
    t.ok(
      out.every((o) => o.group >= 12),
      'nothing before the control-plane drops',
    );
    t.equal(summarizeOutcomes(out).notReadyPossible, false);
    t.same(strandedKubelets(out).size, 0);
  },
);

t.test(
  "Kubernetes: talosctl's drop order (control planes first) strands worker kubelets until their own node is patched",
  async (t) => {
    const nodes = cluster();
    const groups = [
      ...each(nodes, 'controlplane', 'kubernetes', K_ACCEPT),
      ...each(nodes, 'worker', 'kubernetes', K_ACCEPT),
      ...each(nodes, 'controlplane', 'kubernetes', K_SWAP),
      ...each(nodes, 'worker', 'kubernetes', K_SWAP),
      ...each(nodes, 'controlplane', 'kubernetes', K_DROP), // groups 10, 11, 12
      ...each(nodes, 'worker', 'kubernetes', K_DROP), // groups 13, 14
    ];
    const out = counted(evaluateSequence(start(nodes), groups));
    const workerEdges = out.filter((o) => o.fromNodes.some((n) => n.startsWith('127.0.0.2')));
    t.ok(
      workerEdges.some((o) => o.group === 10 && o.status === 'degraded'),
      'rejected by the first patched CP, still served by the others',
    );
    t.ok(
      workerEdges.some((o) => o.group === 12 && o.status === 'broken'),
      'once every CP is patched no apiserver accepts the old kubelet cert',
    );
    const stranded = strandedKubelets(out);
    t.same(stranded.get('127.0.0.20'), [12, 13], 'the first worker until its own patch');
    t.same(stranded.get('127.0.0.21'), [12, 13, 14], 'the last worker waits for every worker before it');
    t.equal(stranded.has('127.0.0.10'), false, 'control-plane kubelets always keep their own apiserver');
    t.same(summarizeOutcomes(out).byKind['kubelet-apiserver'], 'broken');
    t.equal(summarizeOutcomes(out).byKind['apid-proxy'], 'ok');
  },
);

t.test('Kubernetes: a single control plane', async (t) => {
  const nodes = cluster({ controlPlanes: 1, workers: 2 });
  const prefix = [
    ...each(nodes, 'controlplane', 'kubernetes', K_ACCEPT),
    ...each(nodes, 'worker', 'kubernetes', K_ACCEPT),
    ...each(nodes, 'controlplane', 'kubernetes', K_SWAP),
    ...each(nodes, 'worker', 'kubernetes', K_SWAP),
  ];
  const workersFirst = [
    ...prefix,
    ...each(nodes, 'worker', 'kubernetes', K_DROP),
    ...each(nodes, 'controlplane', 'kubernetes', K_DROP),
  ];
  t.same(counted(evaluateSequence(start(nodes), workersFirst)), [], 'workers first: nothing fails, not even briefly');
  const cpFirst = [
    ...prefix,
    ...each(nodes, 'controlplane', 'kubernetes', K_DROP),
    ...each(nodes, 'worker', 'kubernetes', K_DROP),
  ];
  const out = counted(evaluateSequence(start(nodes), cpFirst));
  t.ok(
    out.length > 0 && out.every((o) => o.status === 'broken'),
    'control plane first: every worker kubelet has no apiserver at once',
  );
  t.same(strandedKubelets(out).get('127.0.0.20'), [6, 7], 'from the control-plane patch until its own');
  t.same(strandedKubelets(out).get('127.0.0.21'), [6, 7, 8]);
});

t.test('dropping the only CA workers trust', async (t) => {
  const nodes = cluster();
  const k8s = counted(evaluateSequence(start(nodes), each(nodes, 'worker', 'kubernetes', K_DROP)));
  t.ok(k8s.length > 0);
  t.ok(k8s.every((o) => o.kind === 'kubelet-apiserver' && o.status === 'broken' && o.persists));
  t.match(k8s.find((o) => o.fromNodes.includes('127.0.0.20'))!.reason, /trusts \{k8s-2026 .*\}, not control plane/);

  const talos = counted(evaluateSequence(start(nodes), each(nodes, 'worker', 'talos', T_DROP)));
  t.ok(talos.length > 0);
  t.ok(
    talos.every((o) => o.kind === 'worker-trustd'),
    'the worker keeps its old trustd grant, so proxying still works: only trustd fails',
  );
});

t.test('making a CA issuing that nobody accepts yet', async (t) => {
  const nodes = cluster();
  const out = counted(
    evaluateSequence(start(nodes), [[{ address: '127.0.0.10', target: { talos: T_SWAP, kubernetes: K_SWAP } }]]),
  );
  const pairs = failingPairs(out);
  t.ok(pairs.has('operator-apid operator->127.0.0.10'));
  t.ok(pairs.has('apid-proxy 127.0.0.10->127.0.0.11'), 'other control planes refuse the new proxy cert');
  t.ok(pairs.has('apid-proxy 127.0.0.11->127.0.0.10'), 'and the new server cert');
  t.ok(pairs.has('worker-trustd 127.0.0.20->127.0.0.10'));
  const kube = out.filter((o) => o.kind === 'kubelet-apiserver');
  t.ok(
    kube.length > 0 && kube.every((o) => o.status === 'degraded'),
    'kubelets refuse the new serving cert but other apiservers serve them',
  );
});

t.test('document-style workers: NEW moves to position 0 at the swap and the reorder changes no trust', async (t) => {
  const nodes = cluster({ style: 'document' });
  const doc = (...fps: (typeof K_OLD)[]): ApiState => api(null, ...fps);
  const accept = [
    ...each(nodes, 'controlplane', 'kubernetes', K_ACCEPT),
    ...each(nodes, 'worker', 'kubernetes', doc(K_OLD, K_NEW)),
  ];
  const swap = [
    ...each(nodes, 'controlplane', 'kubernetes', K_SWAP),
    ...each(nodes, 'worker', 'kubernetes', doc(K_NEW, K_OLD)),
  ];
  const drop = [
    ...each(nodes, 'worker', 'kubernetes', doc(K_NEW)),
    ...each(nodes, 'controlplane', 'kubernetes', K_DROP),
  ];
  const out = counted(evaluateSequence(start(nodes), [...accept, ...swap, ...drop]));
  t.ok(
    out.every((o) => o.fromNodes.every((n) => n.startsWith('127.0.0.1'))),
    'only the control-plane window',
  );
  t.same(counted(evaluateSequence(start(nodes), [...accept, ...swap])), []);
});

t.test(
  'a group is any subset: swapping every control plane and worker at once after a complete accept is safe',
  async (t) => {
    const nodes = cluster();
    const accept = [...each(nodes, 'controlplane', 'talos', T_ACCEPT), ...each(nodes, 'worker', 'talos', T_ACCEPT)];
    const all = [nodes.map((n) => ({ address: n.address, target: { talos: T_SWAP } }))];
    const out = counted(
      evaluateSequence(start(nodes), [...accept, ...all], { talosClients: [...Array(5).fill(CURRENT), INTERMEDIATE] }),
    );
    t.same(out, []);
    // ... but not with the operator's current client: some endpoint states refuse it
    const cur = counted(evaluateSequence(start(nodes), [...accept, ...all]));
    t.same([...failingPairs(cur)], ['operator-apid operator->127.0.0.10']);
  },
);

t.test('unknown history makes an outcome "possible", not "certain"', async (t) => {
  // observed after a swap: kubelet certs may be signed by either CA
  const nodes = cluster().map((n) => ({ ...n, kubernetes: { ...n.kubernetes, ...K_SWAP } }));
  const out = counted(evaluateSequence(start(nodes), [...each(nodes, 'controlplane', 'kubernetes', K_DROP)]));
  t.ok(out.length > 0);
  t.ok(out.every((o) => o.certainty === 'possible'));
});

t.test('the operator kubeconfig is reported as a notice', async (t) => {
  const nodes = cluster();
  const out = evaluateSequence(
    { ...start(nodes), operator: { talos: CURRENT, kubernetes: { clientSigner: K_OLD, trusts: [K_OLD] } } },
    [...each(nodes, 'controlplane', 'kubernetes', K_ACCEPT), ...each(nodes, 'controlplane', 'kubernetes', K_SWAP)],
  );
  const notices = out.filter((o) => o.notice);
  t.ok(notices.length > 0 && notices.every((o) => o.kind === 'client-apiserver'));
  const edges = out.filter((o) => o.kind !== 'pod-apiserver');
  t.equal(
    failingPairs(edges).size,
    [...failingPairs(edges)].filter((p) => p.startsWith('kubelet')).length,
    'notices are left out of the pairs',
  );
});

t.test('evaluateSequence rejects a patch for an unknown node', async (t) => {
  t.throws(() => evaluateSequence(start(cluster()), [[{ address: '127.0.0.99', target: { talos: T_DROP } }]]), {
    code: 'PLAN_UNKNOWN_NODE',
  });
});

t.test(
  'pods: a control plane issuing from another CA fails in-cluster clients, announced (degraded, possible), ' +
    'never before',
  async (t) => {
    const nodes = cluster();
    const accept = [
      ...each(nodes, 'controlplane', 'kubernetes', K_ACCEPT),
      ...each(nodes, 'worker', 'kubernetes', K_ACCEPT),
    ];
    const cpSwap = each(nodes, 'controlplane', 'kubernetes', K_SWAP);
    const out = evaluateSequence(start(nodes), [...accept, ...cpSwap]);
    const pods = out.filter((o) => o.kind === 'pod-apiserver');
    t.ok(pods.length > 0, 'pod-apiserver outcomes');
    t.ok(
      pods.every((o) => o.status === 'degraded' && o.certainty === 'possible' && !o.notice),
      'announced: degraded and possible, not a notice',
    );
    t.ok(
      pods.every((o) => o.group >= accept.length),
      'nothing while CAs are only accepted',
    );
    const first = pods.filter((o) => o.group === accept.length);
    const holdingOld = first.filter((o) => o.from.includes('k8s-2025'));
    t.same(
      [...failingPairs(holdingOld)].sort(),
      ['pod-apiserver pods->127.0.0.10'],
      'pods holding OLD are refused by the swapped control plane only',
    );
    t.match(holdingOld[0]!.reason, /ca\.crt \(kube-root-ca\.crt\) holds k8s-2025 .* alone/);
    const holdingNew = first.filter((o) => o.from.includes('k8s-2026'));
    t.same(
      [...failingPairs(holdingNew)].sort(),
      ['pod-apiserver pods->127.0.0.11', 'pod-apiserver pods->127.0.0.12'],
      'pods that loaded NEW (published by a swapped leader) are refused by the others',
    );
    t.equal(summarizeOutcomes(out).byKind['pod-apiserver'], 'degraded');
    t.same(strandedKubelets(out).size, 0, 'pods never strand a kubelet');
  },
);

t.test('pods: the same CA issuing everywhere (accept, drop) never fails them', async (t) => {
  const nodes = cluster();
  const out = evaluateSequence(start(nodes), [
    ...each(nodes, 'controlplane', 'kubernetes', K_ACCEPT),
    ...each(nodes, 'worker', 'kubernetes', K_ACCEPT),
  ]);
  t.same(
    out.filter((o) => o.kind === 'pod-apiserver'),
    [],
  );
  const swapped = withRoleState(
    withRoleState(cluster(), 'controlplane', 'kubernetes', K_SWAP),
    'worker',
    'kubernetes',
    K_SWAP,
  );
  const drop = evaluateSequence(start(swapped), [
    ...each(swapped, 'worker', 'kubernetes', K_DROP),
    ...each(swapped, 'controlplane', 'kubernetes', K_DROP),
  ]);
  t.same(
    drop.filter((o) => o.kind === 'pod-apiserver'),
    [],
    'dropping OLD changes no issuing CA',
  );
});

t.test('apiserver restarts re-register workers (endpoint list change): uneven Talos trust reaches them', async (t) => {
  const { sequenceHistory } = await import('../../src/plan/safety/index.js');
  const X = fp('talos-x');
  const nodes = cluster();
  const cp3 = nodes.find((n) => n.address === '127.0.0.12')!;
  cp3.talos = api(T_OLD, X); // cp-3 alone also accepts X; the workers registered with cp-1 or cp-2 (observed)
  for (const n of nodes) if (n.role === 'worker') n.talosGrant = { signer: T_OLD, bundle: [T_OLD] };
  const workers = nodes.filter((n) => n.role === 'worker').map((n) => n.address);
  const bundles = (h: ReturnType<typeof sequenceHistory>, w: string) =>
    h.grants
      .get(w)!
      .map((g) => [...g.bundle].sort().join('+'))
      .sort();
  const s = { ...start(nodes), names: { ...NAMES, [X]: 'talos-x' } };

  const talosOnly = sequenceHistory(s, each(nodes, 'controlplane', 'talos', api(T_OLD, T_NEW)));
  for (const w of workers)
    t.same(bundles(talosOnly, w), [T_OLD], `${w}: a Talos change on the control planes alone does not re-register it`);

  const kube = sequenceHistory(s, [
    ...each(nodes, 'controlplane', 'kubernetes', K_ACCEPT),
    ...each(nodes, 'worker', 'kubernetes', K_ACCEPT),
  ]);
  for (const w of workers)
    t.same(
      bundles(kube, w),
      [[T_OLD, X].sort().join('+'), T_OLD].sort(),
      `${w}: after the apiserver restarts, cp-3's bundle is possible too`,
    );
  t.same(kube.stale.sort(), workers.sort(), 'so every worker may be stale (X is not trusted everywhere)');

  const even = sequenceHistory(start(cluster()), [...each(cluster(), 'controlplane', 'kubernetes', K_ACCEPT)]);
  t.same(even.stale, [], 'with even trust, restarts change nothing');
  for (const w of workers) t.same(bundles(even, w), [T_OLD]);
});

t.test(
  'Kubernetes: a patched control plane signs kubelet certificates with its old issuing CA until its static ' +
    'pods are re-created',
  async (t) => {
    // One control plane, already accepting NEW; one patch makes NEW issuing and drops OLD at once. Its kubelet
    // restarts right away and re-bootstraps (its OLD-signed cert no longer verifies), but the control plane's
    // own kube-controller-manager is the leader and still runs with OLD: the new kubelet cert may be OLD-signed,
    // which the re-created apiserver (NEW only) refuses.
    const nodes = cluster({ controlPlanes: 1, workers: 0 }).map((n) => ({
      ...n,
      kubernetes: { ...n.kubernetes, ...api(K_OLD, K_NEW) },
    }));
    const out = counted(
      evaluateSequence(start(nodes), [[{ address: '127.0.0.10', target: { kubernetes: api(K_NEW) } }]]),
    );
    t.ok(
      strandedKubelets(out).has('127.0.0.10'),
      "the control plane's own kubelet may be stranded: the CSR signer switches at re-render, not at the patch",
    );
    t.ok(
      out.some((o) => o.kind === 'kubelet-apiserver' && /not yet re-created/.test(o.to)),
      'the window where its apiserver still serves the old state is evaluated',
    );
  },
);

t.test(
  "apiserver restarts: a worker re-registering on a control plane's own restart never meets that control " +
    'plane as it was before its patch',
  async (t) => {
    // The state a run killed mid-issue leaves: cp-1 already issues NEW, the others still OLD, NEW accepted
    // everywhere; the workers' apid certificates are OLD-signed (observed). Rolling cp-1 back (its Kubernetes
    // CA changes too, so its apiserver restarts) must not make NEW-signed worker certificates possible: the
    // restart that makes workers ask trustd again comes after cp-1's patch, when it issues OLD again.
    const { sequenceHistory } = await import('../../src/plan/safety/index.js');
    const nodes = cluster();
    for (const n of nodes) n.talos = api(T_OLD, T_NEW);
    const cp1 = nodes.find((n) => n.address === '127.0.0.10')!;
    cp1.talos = api(T_NEW, T_OLD);
    for (const n of nodes) if (n.role === 'worker') n.talosGrant = { signer: T_OLD, bundle: [T_OLD, T_NEW] };
    const workers = nodes.filter((n) => n.role === 'worker').map((n) => n.address);
    const back = [[{ address: '127.0.0.10', target: { talos: api(T_OLD, T_NEW), kubernetes: K_ACCEPT } }]];
    const h = sequenceHistory(start(nodes), back);
    for (const w of workers) {
      t.same(
        h.grants.get(w)!.map((g) => g.signer),
        [T_OLD],
        `${w}: only OLD-signed grants are possible after cp-1's restart`,
      );
    }
    // Two control planes restarting in one wave: the second's restart may meet the first before its patch.
    const both = [
      [
        { address: '127.0.0.10', target: { talos: api(T_OLD, T_NEW), kubernetes: K_ACCEPT } },
        { address: '127.0.0.11', target: { kubernetes: K_ACCEPT } },
      ],
    ];
    const h2 = sequenceHistory(start(nodes), both);
    for (const w of workers)
      t.ok(
        h2.grants.get(w)!.some((g) => g.signer === T_NEW),
        `${w}: with two restarting control planes in one wave, NEW stays possible`,
      );
  },
);
