/**
 * The pure parts of the lab's workload API and controllers: strategic merge of the annotation kubectl's
 * `rollout restart` sends, merge and JSON patch, list pagination (limit/continue), selectors, the rollout
 * arithmetic of Deployments and DaemonSets, and `kubectl rollout status`'s verdicts.
 */
import t from 'tap';
import {
  decodeContinue,
  matchesFields,
  matchesLabelSelector,
  paginate,
  parseFieldSelector,
} from '../../../src/lab/kube/list-paging.js';
import { applyPatch, jsonPatch, mergePatch, patchTypeOf, strategicMerge } from '../../../src/lab/kube/patch.js';
import { daemonSetBudget, resolveFenceposts, rollingStep, rolloutStatus } from '../../../src/lab/kube/rollout.js';
import { ObjectStore, type Stored } from '../../../src/lab/kube/object-store.js';

const deployment = {
  metadata: { name: 'web', annotations: { a: '1' } },
  spec: {
    replicas: 2,
    template: {
      metadata: { labels: { app: 'web' }, annotations: { keep: 'me' } },
      spec: {
        containers: [
          { name: 'client', image: 'x:1', env: [{ name: 'A', value: '1' }] },
          { name: 'side', image: 's:1' },
        ],
      },
    },
  },
};

t.test('strategic merge: the restartedAt pod-template annotation, as kubectl rollout restart sends it', async (t) => {
  const patch = {
    spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-12-05T13:00:00Z' } } } },
  };
  const out = strategicMerge(deployment, patch) as typeof deployment;
  t.same(
    out.spec.template.metadata.annotations,
    { keep: 'me', 'kubectl.kubernetes.io/restartedAt': '2026-12-05T13:00:00Z' },
    'annotation added, others kept',
  );
  t.same(out.spec.template.spec, deployment.spec.template.spec, 'the rest of the template is untouched');
  t.equal(deployment.spec.template.metadata.annotations.keep, 'me', 'the input is not modified');
  t.notOk(
    'kubectl.kubernetes.io/restartedAt' in deployment.spec.template.metadata.annotations,
    'the input is not modified',
  );
});

t.test('strategic merge: containers merge by name, null deletes, $patch directives', async (t) => {
  const out = strategicMerge(deployment, {
    spec: { template: { spec: { containers: [{ name: 'client', image: 'x:2' }] } } },
  }) as typeof deployment;
  t.same(
    out.spec.template.spec.containers.map((c) => [c.name, c.image]),
    [
      ['client', 'x:2'],
      ['side', 's:1'],
    ],
    'merged by name: side kept',
  );
  t.same(out.spec.template.spec.containers[0]!.env, [{ name: 'A', value: '1' }], 'fields of the merged element kept');
  const merged = mergePatch(deployment, {
    spec: { template: { spec: { containers: [{ name: 'client', image: 'x:2' }] } } },
  }) as typeof deployment;
  t.same(
    merged.spec.template.spec.containers,
    [{ name: 'client', image: 'x:2' }],
    'JSON merge patch replaces the list',
  );
  const deleted = strategicMerge(deployment, {
    metadata: { annotations: { a: null } },
    spec: { template: { spec: { containers: [{ name: 'side', $patch: 'delete' }] } } },
  }) as typeof deployment;
  t.same(deleted.metadata.annotations, {}, 'null deletes a key');
  t.same(
    deleted.spec.template.spec.containers.map((c) => c.name),
    ['client'],
    '$patch: delete removes the element',
  );
  const replaced = strategicMerge(deployment, {
    metadata: { annotations: { $patch: 'replace', b: '2' } },
  }) as typeof deployment;
  t.same(replaced.metadata.annotations, { b: '2' }, '$patch: replace replaces the map');
});

t.test('JSON patch and patch types', async (t) => {
  const out = jsonPatch(deployment, [
    { op: 'add', path: '/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt', value: 'now' },
    { op: 'replace', path: '/spec/replicas', value: 3 },
    { op: 'test', path: '/metadata/name', value: 'web' },
  ]) as typeof deployment;
  t.equal(
    (out.spec.template.metadata.annotations as Record<string, string>)['kubectl.kubernetes.io/restartedAt'],
    'now',
  );
  t.equal(out.spec.replicas, 3);
  t.throws(() => jsonPatch(deployment, [{ op: 'test', path: '/metadata/name', value: 'other' }]), /failed/);
  t.throws(() => jsonPatch(deployment, [{ op: 'replace', path: '/spec/nothing', value: 1 }]), /missing/);
  t.equal(patchTypeOf('application/strategic-merge-patch+json'), 'strategic');
  t.equal(patchTypeOf('application/merge-patch+json; charset=utf-8'), 'merge');
  t.equal(patchTypeOf('application/json-patch+json'), 'json');
  t.equal(patchTypeOf('application/json'), null, 'a plain JSON body is not a patch (415)');
  t.same(applyPatch('merge', { a: { b: 1, c: 2 } }, { a: { b: null } }), { a: { c: 2 } });
});

const obj = (namespace: string, name: string, labels: Record<string, string> = {}, nodeName = '') => ({
  metadata: { namespace, name, labels },
  spec: { nodeName },
});

t.test('pagination: limit + continue walks every item once, in key order, with remainingItemCount', async (t) => {
  const items = [obj('b', 'x'), obj('a', 'z'), obj('a', 'y'), obj('c', 'a'), obj('b', 'a')];
  const seen: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const page = paginate(items, { limit: '2', continue: token ?? null, resourceVersion: 42, oldestRv: 1 });
    if (!page.ok) throw new Error(page.message);
    pages += 1;
    seen.push(
      ...page.items.map(
        (o) => `${(o.metadata as { namespace: string }).namespace}/${(o.metadata as { name: string }).name}`,
      ),
    );
    if (page.continue) {
      t.equal(page.remainingItemCount, items.length - seen.length, 'remainingItemCount counts what is left');
      t.equal(decodeContinue(page.continue)?.rv, 42, 'the token keeps the first page’s resourceVersion');
    }
    token = page.continue;
  } while (token);
  t.equal(pages, 3);
  t.same(seen, ['a/y', 'a/z', 'b/a', 'b/x', 'c/a']);
  const all = paginate(items, { limit: null, continue: null, resourceVersion: 1, oldestRv: 1 });
  t.ok(all.ok && all.items.length === 5 && all.continue === undefined, 'no limit: one page, no token');
  const bad = paginate(items, { limit: '2', continue: 'not-a-token', resourceVersion: 1, oldestRv: 1 });
  t.same(bad.ok ? null : [bad.code, bad.reason], [400, 'BadRequest']);
  const first = paginate(items, { limit: '1', continue: null, resourceVersion: 5, oldestRv: 1 });
  const expired = paginate(items, {
    limit: '1',
    continue: first.ok ? first.continue! : '',
    resourceVersion: 50,
    oldestRv: 10,
  });
  t.same(
    expired.ok ? null : [expired.code, expired.reason],
    [410, 'Expired'],
    'a token older than the window is 410 Expired',
  );
});

t.test('selectors', async (t) => {
  t.ok(matchesLabelSelector({ app: 'web', tier: 'a' }, 'app=web,tier in (a, b)'));
  t.notOk(matchesLabelSelector({ app: 'web' }, 'app=web,tier'));
  t.ok(matchesLabelSelector({ app: 'web' }, 'app!=db,!tier'));
  t.notOk(matchesLabelSelector({ app: 'web', tier: 'c' }, 'tier notin (c)'));
  const f = parseFieldSelector('spec.nodeName=w1,metadata.namespace!=kube-system');
  if ('error' in f) throw new Error(f.error);
  t.ok(matchesFields(obj('apps', 'p', {}, 'w1'), f));
  t.notOk(matchesFields(obj('kube-system', 'p', {}, 'w1'), f));
  t.notOk(matchesFields(obj('apps', 'p', {}, 'w2'), f));
  t.match(parseFieldSelector('spec.bogus=1'), { error: /field label not supported: spec.bogus/ });
});

t.test('Deployment RollingUpdate arithmetic (deployment_util.ResolveFenceposts, rolling.go)', async (t) => {
  t.same(resolveFenceposts(2, '25%', '25%'), { surge: 1, unavailable: 0 }, 'surge rounds up, unavailable down');
  t.same(resolveFenceposts(4, 0, 0), { surge: 0, unavailable: 1 }, 'both zero: one unavailable');
  const fence = resolveFenceposts(2, '25%', '25%');
  // Fresh template: the new ReplicaSet grows by the surge first; old pods stay (maxUnavailable 0).
  const s1 = rollingStep(2, fence, { replicas: 0, available: 0 }, [{ replicas: 2, available: 2 }]);
  t.same(s1, { newReplicas: 1, oldReplicas: [2] }, 'surge one, keep every old pod');
  // The new pod is not ready yet: nothing more happens.
  t.same(rollingStep(2, fence, { replicas: 1, available: 0 }, [{ replicas: 2, available: 2 }]), {
    newReplicas: 1,
    oldReplicas: [2],
  });
  // It is ready: one old pod may go.
  t.same(rollingStep(2, fence, { replicas: 1, available: 1 }, [{ replicas: 2, available: 2 }]), {
    newReplicas: 1,
    oldReplicas: [1],
  });
  t.same(rollingStep(2, fence, { replicas: 1, available: 1 }, [{ replicas: 1, available: 1 }]), {
    newReplicas: 2,
    oldReplicas: [1],
  });
  t.same(rollingStep(2, fence, { replicas: 2, available: 2 }, [{ replicas: 1, available: 1 }]), {
    newReplicas: 2,
    oldReplicas: [0],
  });
  // Unhealthy old pods are removed first, whatever the budget.
  t.same(rollingStep(2, { surge: 0, unavailable: 1 }, { replicas: 0, available: 0 }, [{ replicas: 2, available: 0 }]), {
    newReplicas: 0,
    oldReplicas: [1],
  });
  t.equal(daemonSetBudget(5, 1, 0), 1);
  t.equal(daemonSetBudget(5, 1, 1), 0, 'a node already unavailable uses the budget');
  t.equal(daemonSetBudget(10, '25%', 0), 3, 'a percentage of the desired nodes, rounded up');
});

t.test('kubectl rollout status verdicts', async (t) => {
  const d = (generation: number, status: Record<string, unknown>, replicas = 2) => ({
    metadata: { name: 'web', generation },
    spec: { replicas },
    status,
  });
  t.match(
    rolloutStatus('Deployment', d(2, { observedGeneration: 1, updatedReplicas: 2, replicas: 2, availableReplicas: 2 })),
    { done: false, message: /spec update to be observed/ },
  );
  t.match(
    rolloutStatus('Deployment', d(2, { observedGeneration: 2, updatedReplicas: 1, replicas: 3, availableReplicas: 2 })),
    { done: false, message: /1 out of 2 new replicas/ },
  );
  t.match(
    rolloutStatus('Deployment', d(2, { observedGeneration: 2, updatedReplicas: 2, replicas: 3, availableReplicas: 2 })),
    { done: false, message: /1 old replicas are pending termination/ },
  );
  t.match(
    rolloutStatus('Deployment', d(2, { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 1 })),
    { done: false, message: /1 of 2 updated replicas are available/ },
  );
  t.match(
    rolloutStatus('Deployment', d(2, { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 2 })),
    { done: true },
  );
  t.match(
    rolloutStatus('DaemonSet', {
      metadata: { name: 'ds', generation: 1 },
      spec: { updateStrategy: { type: 'OnDelete' } },
      status: {},
    }),
    { error: /only available for RollingUpdate/ },
  );
  const ds = { metadata: { name: 'ds', generation: 2 }, spec: { updateStrategy: { type: 'RollingUpdate' } } };
  t.match(
    rolloutStatus('DaemonSet', {
      ...ds,
      status: { observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 2, numberAvailable: 3 },
    }),
    { done: false },
  );
  t.match(
    rolloutStatus('DaemonSet', {
      ...ds,
      status: { observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 },
    }),
    { done: true },
  );
  const sts = (partition: number, status: Record<string, unknown>) => ({
    metadata: { name: 'db', generation: 2 },
    spec: { replicas: 2, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition } } },
    status: { observedGeneration: 2, readyReplicas: 2, ...status },
  });
  t.match(
    rolloutStatus('StatefulSet', sts(2, { updatedReplicas: 0, currentRevision: 'db-a', updateRevision: 'db-b' })),
    { done: true, message: /partitioned roll out complete: 0 new pods/ },
    'partition = replicas: done with nothing updated',
  );
  t.match(
    rolloutStatus('StatefulSet', sts(0, { updatedReplicas: 1, currentRevision: 'db-a', updateRevision: 'db-b' })),
    { done: false },
  );
  t.match(
    rolloutStatus(
      'StatefulSet',
      sts(0, { updatedReplicas: 2, currentRevision: 'db-b', updateRevision: 'db-b', currentReplicas: 2 }),
    ),
    { done: true },
  );
});

t.test('ObjectStore: generation bumps on spec changes only; watch events since a resourceVersion', async (t) => {
  const store = new ObjectStore();
  const created = store.create('deployments', {
    metadata: { name: 'web', namespace: 'apps' },
    spec: { replicas: 1 },
    status: {},
  })!;
  t.equal(created.metadata.generation, 1);
  const rv0 = store.resourceVersion;
  const withStatus = store.updateStatus('deployments', 'apps', 'web', { observedGeneration: 1 })!;
  t.equal(withStatus.metadata.generation, 1, 'a status write keeps generation');
  const annotated = store.update('deployments', {
    ...withStatus,
    metadata: { ...withStatus.metadata, annotations: { a: 'b' } },
  })!;
  t.equal(annotated.metadata.generation, 1, 'a metadata write keeps generation');
  const scaled = store.update('deployments', { ...annotated, spec: { replicas: 2 } })!;
  t.equal(scaled.metadata.generation, 2, 'a spec change bumps generation');
  t.equal(store.update('deployments', scaled), scaled, 'an unchanged write is no write');
  t.same(
    store.eventsSince('deployments', rv0)!.map((e) => e.type),
    ['MODIFIED', 'MODIFIED', 'MODIFIED'],
    'the three writes after rv0 (status, metadata, spec)',
  );
  t.ok(Number(scaled.metadata.resourceVersion) > Number(created.metadata.resourceVersion));
  t.equal(
    store.create('deployments', { metadata: { name: 'web', namespace: 'apps' } }),
    null,
    'a taken name is refused',
  );
});

t.test('lab inspect: workloads with their pods, Pod → ReplicaSet → Deployment, bare pods apart', async (t) => {
  const { summarizeWorkloads } = await import('../../../src/lab/kube/workload-summary.js');
  const ready = {
    conditions: [{ type: 'Ready', status: 'True' }],
    containerStatuses: [{ state: { running: { startedAt: '2026-01-01T00:00:00Z' } } }],
  };
  const ref = (kind: string, uid: string) => [
    { apiVersion: 'apps/v1', kind, name: kind.toLowerCase(), uid, controller: true },
  ];
  const objects: Record<string, Stored[]> = {
    deployments: [
      {
        metadata: { name: 'web', namespace: 'apps', uid: 'd1', generation: 2 },
        spec: {
          paused: true,
          strategy: { type: 'RollingUpdate' },
          template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': 'then' } } },
        },
        status: { observedGeneration: 2 },
      },
    ],
    replicasets: [
      { metadata: { name: 'web-abc', namespace: 'apps', uid: 'r1', ownerReferences: ref('Deployment', 'd1') } },
    ],
    statefulsets: [
      {
        metadata: { name: 'db', namespace: 'apps', uid: 's1', generation: 1 },
        spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } } },
      },
    ],
    pods: [
      {
        metadata: { name: 'web-abc-x', namespace: 'apps', uid: 'p1', ownerReferences: ref('ReplicaSet', 'r1') },
        spec: { nodeName: 'w1' },
        status: ready,
      },
      {
        metadata: { name: 'db-0', namespace: 'apps', uid: 'p2', ownerReferences: ref('StatefulSet', 's1') },
        spec: { nodeName: 'w2' },
        status: {},
      },
      { metadata: { name: 'shell', namespace: 'default', uid: 'p3' }, spec: { nodeName: 'w1' }, status: ready },
    ],
  };
  const out = summarizeWorkloads((r) => objects[r] ?? []);
  t.same(
    out.map((w) => [
      w.kind,
      `${w.namespace}/${w.name}`,
      w.updateStrategy,
      w.paused,
      w.partition,
      w.restartedAt,
      w.pods.map((p) => [p.name, p.ready, p.startedAt]),
    ]),
    [
      ['Deployment', 'apps/web', 'RollingUpdate', true, null, 'then', [['web-abc-x', true, '2026-01-01T00:00:00Z']]],
      ['StatefulSet', 'apps/db', 'RollingUpdate', false, 2, null, [['db-0', false, null]]],
      ['Pod', 'default/shell', null, false, null, null, [['shell', true, '2026-01-01T00:00:00Z']]],
    ],
  );
  t.match(
    out[0]!.rollout,
    { done: false, message: /0 out of 1 new replicas/ },
    'the Deployment: what kubectl rollout status would say',
  );
  t.match(
    out[1]!.rollout,
    { done: false, message: /not observed|spec update to be observed/ },
    'the StatefulSet: its generation not observed yet',
  );
  t.equal(out[2]!.rollout, null, 'a bare pod has no rollout');
});
