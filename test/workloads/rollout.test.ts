import t from 'tap';
import type { WorkloadPolicy } from '../../src/desired/types.js';
import type { StaleWorkload } from '../../src/plan/model/index.js';
import {
  batches,
  decide,
  restartBlocker,
  restartedAtOf,
  restartPatch,
  rolloutState,
  workloadAction,
} from '../../src/workloads/rollout.js';

const policy: WorkloadPolicy = {
  default: 'report',
  namespaces: { 'kube-system': 'restart', batch: 'ignore' },
  selectors: [
    { matchLabels: { app: 'db' }, namespace: 'kube-system', action: 'report' },
    { matchLabels: { tier: 'edge', app: 'proxy' }, action: 'restart' },
  ],
  evict: [],
};

t.test('workloadAction: override, then selectors in order, then namespace, then default', async (t) => {
  t.equal(workloadAction(undefined, undefined, { namespace: 'x' }), 'report', 'no section: report');
  t.equal(workloadAction(policy, undefined, { namespace: 'kube-system' }), 'restart');
  t.equal(
    workloadAction(policy, undefined, { namespace: 'kube-system', labels: { app: 'db' } }),
    'report',
    'a selector beats the namespace',
  );
  t.equal(
    workloadAction(policy, undefined, { namespace: 'other', labels: { app: 'db' } }),
    'report',
    'a selector bound to another namespace does not match',
  );
  t.equal(
    workloadAction(policy, undefined, { namespace: 'batch', labels: { tier: 'edge', app: 'proxy', x: 'y' } }),
    'restart',
    'every label of the selector',
  );
  t.equal(
    workloadAction(policy, undefined, { namespace: 'batch', labels: { tier: 'edge' } }),
    'ignore',
    'a partial match is no match',
  );
  t.equal(workloadAction(policy, undefined, { namespace: 'web' }), 'report', 'default');
  t.equal(
    workloadAction(policy, 'restart', { namespace: 'batch' }),
    'restart',
    '--workloads restart overrides every namespace',
  );
  t.equal(workloadAction(policy, 'report', { namespace: 'kube-system' }), 'report', '--workloads report too');
});

t.test(
  'decide: restart applies to Deployments, DaemonSets and StatefulSets; other pods are reported with why',
  async (t) => {
    const w = (kind: StaleWorkload['kind'], name: string, extra: Partial<StaleWorkload> = {}): StaleWorkload => ({
      namespace: 'kube-system',
      kind,
      name,
      pods: [],
      ...extra,
    });
    const d = decide(
      [
        w('Deployment', 'coredns'),
        w('Pod', 'bare'),
        w('Job', 'j'),
        w('Other', 'o', { controller: 'example.com/v1 Thing' }),
      ],
      policy,
      undefined,
    );
    t.same(
      d.map((x) => x.action),
      ['restart', 'report', 'report', 'report'],
    );
    t.match(d[1]!.reportReason, /bare pod/);
    t.match(d[3]!.reportReason, /example\.com\/v1 Thing/);
  },
);

t.test('decide: a workload a rollout restart does nothing for is reported as blocked, with its reason', async (t) => {
  const w = (kind: StaleWorkload['kind'], name: string, extra: Partial<StaleWorkload> = {}): StaleWorkload => ({
    namespace: 'kube-system',
    kind,
    name,
    pods: [],
    ...extra,
  });
  const d = decide(
    [
      w('Deployment', 'paused', { blocker: 'the Deployment is paused' }),
      w('StatefulSet', 'db', { blocker: 'partition of 2' }),
      w('DaemonSet', 'agent'),
    ],
    undefined,
    'restart',
  );
  t.same(
    d.map((x) => x.action),
    ['report', 'report', 'restart'],
    'never counted as restart',
  );
  t.same(
    d.map((x) => x.blocked ?? false),
    [true, true, false],
  );
  t.equal(d[0]!.reportReason, 'the Deployment is paused');
  const reportOnly = decide([w('Deployment', 'paused', { blocker: 'the Deployment is paused' })], undefined, 'report');
  t.same([reportOnly[0]!.action, reportOnly[0]!.blocked], ['report', undefined], 'report only: reported, not blocked');
});

t.test('decide: `evict` turns restart into eviction for the kinds it names only', async (t) => {
  const w = (kind: StaleWorkload['kind'], name: string): StaleWorkload => ({
    namespace: 'kube-system',
    kind,
    name,
    pods: [],
  });
  const d = decide(
    [w('Job', 'j'), w('Pod', 'bare'), w('Other', 'o'), w('Deployment', 'd')],
    { ...policy, evict: ['Job', 'Other'] },
    undefined,
  );
  t.same(
    d.map((x) => x.action),
    ['evict', 'report', 'evict', 'restart'],
  );
  t.same(
    decide([w('Job', 'j')], { ...policy, evict: ['Job'] }, 'report').map((x) => x.action),
    ['report'],
    '--workloads report evicts nothing',
  );
});

t.test('restartBlocker: paused, OnDelete, partition', async (t) => {
  t.equal(restartBlocker('Deployment', { spec: {} }), null);
  t.match(restartBlocker('Deployment', { spec: { paused: true } }), /paused/);
  t.match(restartBlocker('DaemonSet', { spec: { updateStrategy: { type: 'OnDelete' } } }), /OnDelete/);
  t.match(restartBlocker('StatefulSet', { spec: { updateStrategy: { type: 'OnDelete' } } }), /OnDelete/);
  t.match(
    restartBlocker('StatefulSet', {
      spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } } },
    }),
    /partition of 2/,
  );
  t.equal(
    restartBlocker('StatefulSet', {
      spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } } },
    }),
    null,
  );
});

t.test('restartPatch and restartedAtOf: the pod-template annotation kubectl sets', async (t) => {
  const p = restartPatch('2026-12-05T13:00:00Z');
  t.same(p, {
    spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-12-05T13:00:00Z' } } } },
  });
  t.equal(restartedAtOf(p), '2026-12-05T13:00:00Z');
  t.equal(restartedAtOf({}), null);
});

t.test('rolloutState reads status as kubectl rollout status does', async (t) => {
  const dep = (gen: number, status: object, replicas = 3) => ({
    metadata: { generation: gen },
    spec: { replicas },
    status,
  });
  t.match(
    rolloutState(
      'Deployment',
      dep(2, { observedGeneration: 1, updatedReplicas: 3, replicas: 3, availableReplicas: 3 }),
    ),
    { done: false, waiting: /observed/ },
  );
  t.match(
    rolloutState(
      'Deployment',
      dep(2, { observedGeneration: 2, updatedReplicas: 1, replicas: 3, availableReplicas: 3 }),
    ),
    { done: false, waiting: /1 of 3 new replicas/ },
  );
  t.match(
    rolloutState(
      'Deployment',
      dep(2, { observedGeneration: 2, updatedReplicas: 3, replicas: 4, availableReplicas: 3 }),
    ),
    { done: false, waiting: /1 old replicas pending termination/ },
  );
  t.match(
    rolloutState(
      'Deployment',
      dep(2, { observedGeneration: 2, updatedReplicas: 3, replicas: 3, availableReplicas: 2 }),
    ),
    { done: false, waiting: /2 of 3 updated replicas available/ },
  );
  t.same(
    rolloutState(
      'Deployment',
      dep(2, { observedGeneration: 2, updatedReplicas: 3, replicas: 3, availableReplicas: 3 }),
    ),
    { done: true },
  );
  t.match(
    rolloutState(
      'Deployment',
      dep(2, {
        observedGeneration: 2,
        conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
      }),
    ),
    { done: false, failed: /deadline/ },
  );

  const ds = (gen: number, status: object) => ({ metadata: { generation: gen }, status });
  t.match(
    rolloutState(
      'DaemonSet',
      ds(3, { observedGeneration: 2, desiredNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 2 }),
    ),
    { done: false },
  );
  t.match(
    rolloutState(
      'DaemonSet',
      ds(3, { observedGeneration: 3, desiredNumberScheduled: 2, updatedNumberScheduled: 1, numberAvailable: 2 }),
    ),
    { done: false, waiting: /1 of 2 updated pods scheduled/ },
  );
  t.match(
    rolloutState(
      'DaemonSet',
      ds(3, { observedGeneration: 3, desiredNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 1 }),
    ),
    { done: false, waiting: /1 of 2 updated pods available/ },
  );
  t.same(
    rolloutState(
      'DaemonSet',
      ds(3, { observedGeneration: 3, desiredNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 2 }),
    ),
    { done: true },
  );

  const sts = (status: object, partition?: number) => ({
    metadata: { generation: 2 },
    spec: {
      replicas: 3,
      ...(partition !== undefined ? { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition } } } : {}),
    },
    status,
  });
  t.match(rolloutState('StatefulSet', sts({ observedGeneration: 0 })), { done: false });
  t.match(rolloutState('StatefulSet', sts({ observedGeneration: 2, readyReplicas: 2 })), {
    done: false,
    waiting: /2 of 3 pods ready/,
  });
  t.match(
    rolloutState(
      'StatefulSet',
      sts({ observedGeneration: 2, readyReplicas: 3, currentRevision: 'a', updateRevision: 'b', updatedReplicas: 1 }),
    ),
    { done: false, waiting: /new revision/ },
  );
  t.same(
    rolloutState(
      'StatefulSet',
      sts({ observedGeneration: 2, readyReplicas: 3, currentRevision: 'b', updateRevision: 'b' }),
    ),
    { done: true },
  );
  t.same(
    rolloutState(
      'StatefulSet',
      sts(
        { observedGeneration: 2, readyReplicas: 3, currentRevision: 'a', updateRevision: 'b', updatedReplicas: 1 },
        2,
      ),
    ),
    { done: true },
    'a partition: only the pods above it',
  );
});

t.test('batches', async (t) => {
  t.same(batches([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  t.same(batches([1, 2], 0), [[1], [2]]);
  t.same(batches([], 3), []);
});
