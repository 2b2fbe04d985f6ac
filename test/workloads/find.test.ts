import t from 'tap';
import { decide } from '../../src/workloads/rollout.js';
import { generateKubernetesCa } from '../../src/pki/ca.js';
import type { Fingerprint } from '../../src/domain/types.js';
import type { Plan } from '../../src/plan/model/index.js';
import { workloadLines } from '../../src/plan/render/workloads.js';
import { listAllPages } from '../../src/cluster/kube/workloads.js';
import {
  certificateFingerprints,
  kubernetesServerChange,
  mountsServiceAccountCa,
  objectKeyFacts,
  owningWorkload,
  staleObjects,
  staleWorkloads,
  unavailableWorkloadsReport,
  workloadsReport,
  type PodLike,
  type ReplicaSetLike,
} from '../../src/workloads/find.js';

const oldCa = await generateKubernetesCa();
const newCa = await generateKubernetesCa();
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const kubeconfig = (caPem: string): string =>
  `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority-data: ${b64(caPem)}\nusers:\n- name: u\n  user:\n    token: abc\n`;

t.test(
  'certificateFingerprints: every PEM block, base64 of PEM, nested in a kubeconfig, escaped newlines',
  async (t) => {
    t.same(
      certificateFingerprints(oldCa.certPem + newCa.certPem).sort(),
      [oldCa.fingerprint, newCa.fingerprint].sort(),
      'both blocks of a bundle',
    );
    t.same(certificateFingerprints(`ca: ${b64(oldCa.certPem)}\n`), [oldCa.fingerprint], 'base64 of PEM');
    t.same(
      certificateFingerprints(kubeconfig(newCa.certPem + oldCa.certPem)).sort(),
      [oldCa.fingerprint, newCa.fingerprint].sort(),
      'kubeconfig certificate-authority-data with two CAs',
    );
    t.same(
      certificateFingerprints(b64(kubeconfig(oldCa.certPem))),
      [oldCa.fingerprint],
      'base64 of a kubeconfig holding base64 of PEM',
    );
    t.same(
      certificateFingerprints(JSON.stringify({ ca: oldCa.certPem })),
      [oldCa.fingerprint],
      'PEM inside a JSON string (escaped newlines)',
    );
    // Wrapped base64 (76 columns, as `base64` prints it).
    t.same(
      certificateFingerprints(b64(oldCa.certPem).replace(/(.{76})/g, '$1\n')),
      [oldCa.fingerprint],
      'line-wrapped base64 of PEM',
    );
    t.same(certificateFingerprints(oldCa.key.reveal()), [], 'a private key is no certificate');
    t.same(
      certificateFingerprints('-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n'),
      [],
      'a broken block is skipped',
    );
  },
);

t.test('objectKeyFacts: fingerprints only, never data; Kubernetes-managed keys skipped', async (t) => {
  const secret = {
    metadata: { namespace: 'ops', name: 'operator-kubeconfig' },
    type: 'Opaque',
    data: { kubeconfig: b64(kubeconfig(oldCa.certPem)), password: b64('hunter2'), 'tls.key': b64(oldCa.key.reveal()) },
  };
  const facts = objectKeyFacts('Secret', secret);
  t.same(facts, [
    {
      kind: 'Secret',
      namespace: 'ops',
      name: 'operator-kubeconfig',
      key: 'kubeconfig',
      fingerprints: [oldCa.fingerprint],
    },
  ]);
  const text = JSON.stringify(facts);
  t.notOk(
    text.includes(secret.data.kubeconfig.slice(0, 40)) || text.includes('hunter2') || text.includes('BEGIN'),
    'no data in the facts',
  );

  const token = {
    metadata: { namespace: 'ops', name: 'sa-token' },
    type: 'kubernetes.io/service-account-token',
    data: { 'ca.crt': b64(oldCa.certPem), extra: b64(oldCa.certPem) },
  };
  t.same(
    objectKeyFacts('Secret', token).map((f) => f.key),
    ['extra'],
    "a token Secret's ca.crt is the tokens controller's, other keys count",
  );
  t.same(
    objectKeyFacts('ConfigMap', {
      metadata: { namespace: 'ops', name: 'kube-root-ca.crt' },
      data: { 'ca.crt': oldCa.certPem },
    }),
    [],
    "kube-root-ca.crt is the publisher's",
  );
  const extAuth = { data: { 'client-ca-file': oldCa.certPem } };
  t.same(
    objectKeyFacts('ConfigMap', {
      metadata: { namespace: 'kube-system', name: 'extension-apiserver-authentication' },
      ...extAuth,
    }),
    [],
    "the apiservers' own ConfigMap has its own plan step",
  );
  t.equal(
    objectKeyFacts('ConfigMap', {
      metadata: { namespace: 'ops', name: 'extension-apiserver-authentication' },
      ...extAuth,
    }).length,
    1,
    'a copy elsewhere is a user object',
  );
  const cm = objectKeyFacts('ConfigMap', {
    metadata: { namespace: 'ops', name: 'bundle' },
    data: { 'ca.pem': oldCa.certPem, note: 'hello' },
    binaryData: { 'ca.b64': b64(newCa.certPem) },
  });
  t.same(
    cm.map((f) => [f.key, f.fingerprints]),
    [
      ['ca.pem', [oldCa.fingerprint]],
      ['ca.b64', [newCa.fingerprint]],
    ],
    'ConfigMap data is text, binaryData base64',
  );
});

t.test('mountsServiceAccountCa', async (t) => {
  const pod = (spec: PodLike['spec']): PodLike => ({ metadata: { namespace: 'a', name: 'p' }, spec });
  t.ok(
    mountsServiceAccountCa(
      pod({ volumes: [{ name: 'kube-api-access-x7k2p', projected: { sources: [{ serviceAccountToken: {} }] } }] }),
    ),
    'the default volume by name',
  );
  t.ok(
    mountsServiceAccountCa(
      pod({ volumes: [{ name: 'token', projected: { sources: [{ configMap: { name: 'kube-root-ca.crt' } }] } }] }),
    ),
    'a projected volume with the ConfigMap',
  );
  t.ok(
    mountsServiceAccountCa(pod({ volumes: [{ name: 'ca', configMap: { name: 'kube-root-ca.crt' } }] })),
    'the ConfigMap as a volume',
  );
  t.ok(
    mountsServiceAccountCa(
      pod({ containers: [{ env: [{ valueFrom: { configMapKeyRef: { name: 'kube-root-ca.crt' } } }] }] }),
    ),
    'an env var from it',
  );
  t.ok(
    mountsServiceAccountCa(
      pod({ volumes: [{ name: 'legacy', secret: { secretName: 'sa-token' } }] }),
      new Set(['a/sa-token']),
    ),
    'a legacy token Secret',
  );
  t.notOk(
    mountsServiceAccountCa(
      pod({ volumes: [{ name: 'legacy', secret: { secretName: 'sa-token' } }] }),
      new Set(['b/sa-token']),
    ),
    'a token Secret of another namespace',
  );
  t.notOk(
    mountsServiceAccountCa(pod({ volumes: [{ name: 'data', configMap: { name: 'settings' } }] })),
    'automount off, nothing else',
  );
  t.notOk(mountsServiceAccountCa(pod(undefined)), 'no spec');
});

const rs = (ns: string, name: string, owner?: { kind: string; name: string; apiVersion?: string }): ReplicaSetLike => ({
  metadata: {
    namespace: ns,
    name,
    ...(owner
      ? {
          ownerReferences: [
            { apiVersion: owner.apiVersion ?? 'apps/v1', kind: owner.kind, name: owner.name, controller: true },
          ],
        }
      : {}),
  },
});
const mkPod = (
  ns: string,
  name: string,
  owner?: { apiVersion: string; kind: string; name: string; controller?: boolean },
  extra: Partial<PodLike> = {},
): PodLike => ({
  metadata: {
    namespace: ns,
    name,
    ...(owner ? { ownerReferences: [{ controller: true, ...owner }] } : {}),
    ...extra.metadata,
  },
  spec: { nodeName: 'w1', volumes: [{ name: 'kube-api-access-abcde' }], ...extra.spec },
  status: { phase: 'Running', startTime: new Date('2026-01-01T10:00:00Z'), ...extra.status },
});

t.test('owningWorkload: the controller chain folded to what a user manages', async (t) => {
  const sets = new Map([
    ['a/web-5d9', rs('a', 'web-5d9', { kind: 'Deployment', name: 'web' })],
    ['a/lonely-1', rs('a', 'lonely-1')],
  ]);
  t.same(
    owningWorkload(mkPod('a', 'web-5d9-x', { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d9' }), sets),
    { kind: 'Deployment', name: 'web' },
  );
  t.same(
    owningWorkload(mkPod('b', 'web-5d9-x', { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d9' }), sets),
    { kind: 'Other', name: 'web-5d9', controller: 'apps/v1 ReplicaSet' },
    "the ReplicaSet is looked up in the pod's namespace",
  );
  t.same(owningWorkload(mkPod('a', 'l', { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'lonely-1' }), sets), {
    kind: 'Other',
    name: 'lonely-1',
    controller: 'apps/v1 ReplicaSet',
  });
  t.same(owningWorkload(mkPod('a', 'd', { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'proxy' }), sets), {
    kind: 'DaemonSet',
    name: 'proxy',
  });
  t.same(owningWorkload(mkPod('a', 's', { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' }), sets), {
    kind: 'StatefulSet',
    name: 'db',
  });
  t.same(owningWorkload(mkPod('a', 'j', { apiVersion: 'batch/v1', kind: 'Job', name: 'backup-123' }), sets), {
    kind: 'Job',
    name: 'backup-123',
  });
  t.same(owningWorkload(mkPod('a', 'c', { apiVersion: 'example.com/v1', kind: 'Cluster', name: 'pg' }), sets), {
    kind: 'Other',
    name: 'pg',
    controller: 'example.com/v1 Cluster',
  });
  t.same(
    owningWorkload(mkPod('a', 'n', { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'x', controller: false }), sets),
    { kind: 'Pod', name: 'n' },
    'an owner that is not the controller',
  );
  t.same(owningWorkload(mkPod('a', 'bare'), sets), { kind: 'Pod', name: 'bare' });
});

t.test('staleWorkloads: grouped by namespace and workload; mirror, finished and CA-less pods left out', async (t) => {
  const inventory = {
    replicaSets: [rs('a', 'web-5d9', { kind: 'Deployment', name: 'web' })],
    tokenSecrets: [],
    pods: [
      mkPod('a', 'web-5d9-1', { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d9' }),
      mkPod('a', 'web-5d9-0', { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d9' }),
      mkPod('kube-system', 'kube-proxy-1', { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'kube-proxy' }),
      mkPod(
        'kube-system',
        'kube-apiserver-cp1',
        { apiVersion: 'v1', kind: 'Node', name: 'cp1' },
        { metadata: { annotations: { 'kubernetes.io/config.mirror': 'abc' } } },
      ),
      mkPod('a', 'done', { apiVersion: 'batch/v1', kind: 'Job', name: 'once' }, { status: { phase: 'Succeeded' } }),
      mkPod('a', 'no-sa', undefined, { spec: { volumes: [] } }),
      mkPod('a', 'late', undefined, { status: { phase: 'Running', startTime: '2026-01-01T12:00:00Z' } }),
    ],
  };
  const all = staleWorkloads(inventory);
  t.same(
    all.map((w) => [w.namespace, w.kind, w.name, w.pods.map((p) => p.name)]),
    [
      ['a', 'Deployment', 'web', ['web-5d9-0', 'web-5d9-1']],
      ['a', 'Pod', 'late', ['late']],
      ['kube-system', 'DaemonSet', 'kube-proxy', ['kube-proxy-1']],
    ],
  );
  t.equal(all[0]!.pods[0]!.startTime, '2026-01-01T10:00:00.000Z', 'start time as ISO text');
  t.notOk(
    staleWorkloads(inventory, '2026-01-01T11:00:00Z').some((w) => w.name === 'late'),
    'a pod started after the step is not stale',
  );
});

t.test('staleObjects: keys embedding an old CA, one entry per object', async (t) => {
  const facts = [
    { kind: 'Secret' as const, namespace: 'ops', name: 'kc', key: 'b', fingerprints: [oldCa.fingerprint] },
    {
      kind: 'Secret' as const,
      namespace: 'ops',
      name: 'kc',
      key: 'a',
      fingerprints: [oldCa.fingerprint, newCa.fingerprint],
    },
    { kind: 'ConfigMap' as const, namespace: 'ops', name: 'other', key: 'x', fingerprints: [newCa.fingerprint] },
  ];
  t.same(staleObjects(facts, [oldCa.fingerprint], newCa.fingerprint), [
    { kind: 'Secret', namespace: 'ops', name: 'kc', keys: ['a', 'b'], holdsNewCa: true },
  ]);
  t.same(staleObjects(facts, [], newCa.fingerprint), []);
});

function planWith(
  steps: {
    index: number;
    nodes: { role: 'controlplane' | 'worker'; cur: Fingerprint | null; tgt: Fingerprint | null }[];
  }[],
): Pick<Plan, 'steps'> {
  return {
    steps: steps.map((s) => ({
      index: s.index,
      nodes: s.nodes.map((n) => ({
        role: n.role,
        current: { kubernetes: { issuing: n.cur, accepted: [] } },
        target: { kubernetes: { issuing: n.tgt, accepted: [] } },
      })),
    })) as unknown as Plan['steps'],
  };
}

t.test('kubernetesServerChange: the first step where a control plane issues from another CA', async (t) => {
  const o = oldCa.fingerprint;
  const n = newCa.fingerprint;
  t.equal(
    kubernetesServerChange(planWith([{ index: 1, nodes: [{ role: 'controlplane', cur: o, tgt: o }] }])),
    null,
    'accept only',
  );
  t.equal(
    kubernetesServerChange(planWith([{ index: 1, nodes: [{ role: 'worker', cur: o, tgt: n }] }])),
    null,
    'a worker issues nothing the apiservers serve',
  );
  t.same(
    kubernetesServerChange(
      planWith([
        { index: 1, nodes: [{ role: 'controlplane', cur: o, tgt: o }] },
        { index: 2, nodes: [{ role: 'controlplane', cur: o, tgt: n }] },
        { index: 3, nodes: [{ role: 'controlplane', cur: n, tgt: n }] },
      ]),
    ),
    { issueStep: 2, oldCas: [o], newCa: n },
  );
});

t.test('the report and its human lines', async (t) => {
  const change = { issueStep: 2, oldCas: [oldCa.fingerprint], newCa: newCa.fingerprint };
  const report = workloadsReport(change, {
    replicaSets: [rs('a', 'web-5d9', { kind: 'Deployment', name: 'web' })],
    tokenSecrets: [],
    pods: [
      mkPod('a', 'web-5d9-1', { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d9' }),
      mkPod('b', 'ds-1', { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent' }),
      mkPod('b', 'ds-2', { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent' }),
    ],
    objects: objectKeyFacts('Secret', {
      metadata: { namespace: 'c', name: 'remote' },
      data: { kubeconfig: b64(kubeconfig(oldCa.certPem)) },
    }),
  });
  t.equal(report.status, 'listed');
  const lines = workloadLines(report);
  t.match(lines[0], /from step 2 on/);
  t.match(lines[1], /^ {2}a +1 Deployment \(1 pod\) possibly stale$/);
  t.match(lines[2], /^ {2}b +1 DaemonSet \(2 pods\) possibly stale$/);
  t.match(lines[3], /^ {2}c +1 Secret embedding it \(remote\)$/);
  t.match(lines[4], /2 workloads \(3 pods\) and 1 Secret\/ConfigMap in 3 namespaces/);
  report.workloads[1]!.action = 'restart';
  t.match(
    workloadLines(report)[2],
    /^ {2}b +1 DaemonSet \(2 pods; apply restarts 1\) possibly stale$/,
    'what apply will restart, per namespace',
  );
  const down = workloadLines(
    unavailableWorkloadsReport(change, 'cannot reach the Kubernetes API at https://127.0.0.1:6443: ECONNREFUSED'),
  );
  t.match(down[1], /not listed: cannot reach the Kubernetes API/);
});

t.test(
  'blocked workloads: the inventory blocker reaches the workload, the plan counts it as reported, not restarted',
  async (t) => {
    const change = { issueStep: 2, oldCas: [oldCa.fingerprint], newCa: newCa.fingerprint };
    const report = workloadsReport(change, {
      replicaSets: [
        rs('a', 'web-5d9', { kind: 'Deployment', name: 'web' }),
        rs('a', 'job-1', { kind: 'Deployment', name: 'batch' }),
      ],
      tokenSecrets: [],
      blockers: [{ kind: 'Deployment', namespace: 'a', name: 'batch', reason: 'the Deployment is paused' }],
      pods: [
        mkPod('a', 'web-5d9-1', { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d9' }),
        mkPod('a', 'job-1-x', { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'job-1' }),
      ],
      objects: [],
    });
    t.same(
      report.workloads.map((w) => [w.name, w.blocker ?? null]),
      [
        ['batch', 'the Deployment is paused'],
        ['web', null],
      ],
    );
    for (const d of decide(report.workloads, undefined, 'restart')) {
      d.workload.action = d.action;
      if (d.reportReason) d.workload.reason = d.reportReason;
    }
    t.same(
      report.workloads.map((w) => w.action),
      ['report', 'restart'],
    );
    const lines = workloadLines(report);
    t.match(lines[1], /^ {2}a +2 Deployments \(2 pods; apply restarts 1; 1 blocked, reported\) possibly stale$/);
    t.match(
      lines.join('\n'),
      /reported instead of restarted \(1\):\n {4}Deployment a\/batch: the Deployment is paused/,
    );
  },
);

t.test('listAllPages follows continue tokens and restarts once on 410', async (t) => {
  const calls: (string | undefined)[] = [];
  const pages: Record<string, { items: number[]; metadata: { _continue?: string } }> = {
    '': { items: [1, 2], metadata: { _continue: 't1' } },
    t1: { items: [3], metadata: { _continue: '' } },
  };
  const got: number[] = [];
  const n = await listAllPages(
    async (a) => {
      calls.push(a._continue);
      t.equal(a.limit, 2);
      return pages[a._continue ?? '']!;
    },
    (items) => got.push(...items),
    { pageSize: 2 },
  );
  t.same(got, [1, 2, 3]);
  t.equal(n, 2);
  t.same(calls, [undefined, 't1']);

  let expired = true;
  let restarted = 0;
  const got2: number[] = [];
  await listAllPages(
    async (a) => {
      if (a._continue === 't1' && expired) {
        expired = false;
        throw Object.assign(new Error('Gone'), { code: 410 });
      }
      return pages[a._continue ?? '']!;
    },
    (items) => got2.push(...items),
    {
      onRestart: () => {
        restarted++;
        got2.length = 0;
      },
    },
  );
  t.equal(restarted, 1);
  t.same(got2, [1, 2, 3]);
  await t.rejects(
    listAllPages(
      async () => Promise.reject(Object.assign(new Error('Forbidden'), { code: 403 })),
      () => {},
    ),
    /Forbidden/,
  );
});

t.test(
  'an unreachable Kubernetes API is a warning naming it and an unavailable section, not a failed plan',
  async (t) => {
    const { workloadsOrWarning } = await import('../../src/cluster/session/build-plan.js');
    const { readWorkloadInventory } = await import('../../src/cluster/kube/workloads.js');
    const net = await import('node:net');
    // A port nothing listens on (bound, then closed).
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const text = `apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:${port}\n    certificate-authority-data: ${b64(oldCa.certPem)}\nusers:\n- name: u\n  user: {token: abc}\n`;
    const warnings: import('../../src/cluster/session/build-plan.js').PlanWarning[] = [];
    const change = { issueStep: 3, oldCas: [oldCa.fingerprint], newCa: newCa.fingerprint };
    const report = await workloadsOrWarning(change, warnings, () =>
      readWorkloadInventory({ text, origin: 'test kubeconfig' }, { timeoutMs: 5000 }),
    );
    t.equal(report.status, 'unavailable');
    t.same(report.workloads, []);
    t.match(report.reason, new RegExp(`127\\.0\\.0\\.1:${port}`));
    t.equal(warnings.length, 1);
    t.equal(warnings[0]!.code, 'PLAN_WORKLOADS_UNLISTED', 'one code, its own');
    t.match(
      warnings[0]!.text,
      /could not be listed \(cannot reach the Kubernetes API at https:\/\/127\.0\.0\.1:\d+: ECONNREFUSED\)/,
    );
  },
);
