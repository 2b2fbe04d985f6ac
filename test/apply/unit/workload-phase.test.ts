import t from 'tap';
import type { Fingerprint } from '../../../src/domain/types.js';
import type { WorkloadApi } from '../../../src/cluster/kube/rollout.js';
import { runWorkloadPhase, type WorkloadPhaseDeps } from '../../../src/apply/workload-phase.js';
import type { WorkloadRecord } from '../../../src/state/types.js';
import type { WorkloadObject } from '../../../src/workloads/rollout.js';
import type { PodLike } from '../../../src/workloads/find.js';

const NEW = 'b'.repeat(64) as Fingerprint;

/** A fake apps/v1 API: a patch bumps the generation; each read after it moves the rollout one step on. */
function fakeCluster(objects: Record<string, WorkloadObject & { kind: string }>) {
  const patches: string[] = [];
  const reads: Record<string, number> = {};
  const api: WorkloadApi = {
    async read(kind, ns, name) {
      const o = objects[`${kind}/${ns}/${name}`]!;
      const n = (reads[`${kind}/${ns}/${name}`] = (reads[`${kind}/${ns}/${name}`] ?? 0) + 1);
      if (o.metadata!.generation !== o.status!.observedGeneration && n > 1) {
        o.status = {
          ...o.status,
          observedGeneration: o.metadata!.generation!,
          updatedReplicas: 1,
          replicas: 1,
          availableReplicas: 1,
          desiredNumberScheduled: 1,
          updatedNumberScheduled: 1,
          numberAvailable: 1,
        };
      }
      return structuredClone(o);
    },
    async patch(kind, ns, name, body) {
      patches.push(`${kind}/${ns}/${name}`);
      const o = objects[`${kind}/${ns}/${name}`]!;
      const ann = (body as { spec: { template: { metadata: { annotations: Record<string, string> } } } }).spec.template
        .metadata.annotations;
      o.spec = {
        ...o.spec,
        template: { metadata: { annotations: { ...o.spec?.template?.metadata?.annotations, ...ann } } },
      };
      o.metadata!.generation = (o.metadata!.generation ?? 1) + 1;
      return structuredClone(o);
    },
  };
  return { api, patches };
}

const done = {
  observedGeneration: 1,
  replicas: 1,
  updatedReplicas: 1,
  availableReplicas: 1,
  desiredNumberScheduled: 1,
  updatedNumberScheduled: 1,
  numberAvailable: 1,
};
const obj = (kind: string, extra: Partial<WorkloadObject> = {}): WorkloadObject & { kind: string } => ({
  kind,
  metadata: { generation: 1 },
  spec: { replicas: 1, ...extra.spec },
  status: { ...done },
});

function pod(ns: string, name: string, owner: { apiVersion: string; kind: string; name: string }): PodLike {
  return {
    metadata: { namespace: ns, name, ownerReferences: [{ controller: true, ...owner }] },
    spec: { volumes: [{ name: 'kube-api-access-1' }] },
    status: { phase: 'Running', startTime: '2026-01-01T00:00:00Z' },
  };
}

const inventory = {
  pods: [
    pod('a', 'web-1-x', { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-1' }),
    pod('a', 'agent-x', { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent' }),
    pod('a', 'legacy-x', { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'legacy' }),
    pod('a', 'bare', { apiVersion: 'v1', kind: 'Nothing', name: '' }),
    pod('b', 'db-0', { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' }),
  ],
  replicaSets: [
    {
      metadata: {
        namespace: 'a',
        name: 'web-1',
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', controller: true }],
      },
    },
  ],
  tokenSecrets: [],
  objects: [],
};

function deps(api: WorkloadApi, records: WorkloadRecord[], extra: Partial<WorkloadPhaseDeps> = {}): WorkloadPhaseDeps {
  return {
    inventory: async () => structuredClone(inventory),
    rootCaLagging: async () => [],
    api,
    records: async () => structuredClone(records),
    record: async (r) => {
      const i = records.findIndex((x) => x.namespace === r.namespace && x.kind === r.kind && x.name === r.name);
      const full = { ...r, updatedAt: '2026-12-05T00:00:00Z' };
      if (i >= 0) records[i] = full;
      else records.push(full);
    },
    policy: { default: 'report', namespaces: { a: 'restart' }, selectors: [], evict: [] },
    override: undefined,
    newCa: NEW,
    batchSize: 2,
    now: () => new Date('2026-12-05T12:00:00Z'),
    timeoutMs: 60_000,
    pollMs: 1,
    nap: async () => {},
    ...extra,
  };
}

t.test('restarts what the section asks, reports the rest with why, records every workload', async (t) => {
  const objects = {
    'Deployment/a/web': obj('Deployment'),
    'DaemonSet/a/agent': obj('DaemonSet'),
    'DaemonSet/a/legacy': obj('DaemonSet', { spec: { updateStrategy: { type: 'OnDelete' } } }),
    'StatefulSet/b/db': obj('StatefulSet'),
  };
  const { api, patches } = fakeCluster(objects);
  const records: WorkloadRecord[] = [];
  const seen: string[] = [];
  const result = await runWorkloadPhase(
    deps(api, records, { onWorkload: (w, status) => seen.push(`${w.name}:${status}`) }),
  );
  t.same(patches.sort(), ['DaemonSet/a/agent', 'Deployment/a/web']);
  t.notOk(seen.includes('legacy:started'), 'a blocked workload is never announced as started');
  t.ok(seen.includes('legacy:blocked') && seen.includes('web:started') && seen.includes('web:restarted'));
  t.same(result, { restarted: 2, left: 3 });
  const by = Object.fromEntries(records.map((r) => [`${r.kind}/${r.namespace}/${r.name}`, r]));
  t.equal(by['Deployment/a/web']!.status, 'restarted');
  t.equal(by['Deployment/a/web']!.restartedAt, '2026-12-05T12:00:00.000Z');
  t.equal(
    objects['Deployment/a/web'].spec?.template?.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'],
    '2026-12-05T12:00:00.000Z',
    'the annotation kubectl rollout restart sets',
  );
  t.equal(by['DaemonSet/a/legacy']!.status, 'blocked');
  t.match(by['DaemonSet/a/legacy']!.reason, /OnDelete/);
  t.equal(by['Other/a/']?.status ?? by['Pod/a/bare']?.status, 'reported');
  t.equal(by['StatefulSet/b/db']!.status, 'reported', 'namespace b: the default, report');

  const reportAll: WorkloadRecord[] = [];
  const fresh = fakeCluster({
    'Deployment/a/web': obj('Deployment'),
    'DaemonSet/a/agent': obj('DaemonSet'),
    'DaemonSet/a/legacy': obj('DaemonSet'),
    'StatefulSet/b/db': obj('StatefulSet'),
  });
  await runWorkloadPhase(deps(fresh.api, reportAll, { override: 'report' }));
  t.same(fresh.patches, [], '--workloads report touches nothing');
  t.ok(reportAll.every((r) => r.status === 'reported'));
});

t.test('a resume never restarts a workload twice', async (t) => {
  const objects = {
    'Deployment/a/web': obj('Deployment'),
    'DaemonSet/a/agent': obj('DaemonSet'),
    'DaemonSet/a/legacy': obj('DaemonSet'),
    'StatefulSet/b/db': obj('StatefulSet'),
  };
  // The killed attempt: web restarted; agent recorded started and its patch went out (annotation set, rollout under
  // way).
  objects['DaemonSet/a/agent'].spec = {
    template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-12-05T11:00:00.000Z' } } },
  };
  objects['DaemonSet/a/agent'].metadata!.generation = 2;
  const records: WorkloadRecord[] = [
    {
      namespace: 'a',
      kind: 'Deployment',
      name: 'web',
      status: 'restarted',
      restartedAt: '2026-12-05T11:00:00.000Z',
      updatedAt: 'x',
    },
    {
      namespace: 'a',
      kind: 'DaemonSet',
      name: 'agent',
      status: 'started',
      restartedAt: '2026-12-05T11:00:00.000Z',
      updatedAt: 'x',
    },
  ];
  const { api, patches } = fakeCluster(objects);
  const result = await runWorkloadPhase(deps(api, records));
  t.same(patches, ['DaemonSet/a/legacy'], 'only the one never started is patched');
  t.equal(records.find((r) => r.name === 'agent')!.status, 'restarted', 'the in-flight rollout was waited for');
  t.equal(records.find((r) => r.name === 'agent')!.restartedAt, '2026-12-05T11:00:00.000Z');
  t.equal(result.restarted, 2);
});

t.test('waits until kube-root-ca.crt holds the new CA, and refuses to restart while it does not', async (t) => {
  const { api, patches } = fakeCluster({
    'Deployment/a/web': obj('Deployment'),
    'DaemonSet/a/agent': obj('DaemonSet'),
    'DaemonSet/a/legacy': obj('DaemonSet'),
  });
  let asks = 0;
  await runWorkloadPhase(
    deps(api, [], {
      policy: { default: 'report', namespaces: { a: 'restart' }, selectors: [], evict: [] },
      rootCaLagging: async (ns) => (++asks < 3 ? ns.filter((n) => n === 'a') : []),
    }),
  );
  t.equal(asks, 3);
  t.equal(patches.length, 3);

  const never = fakeCluster({ 'Deployment/a/web': obj('Deployment') });
  await t.rejects(runWorkloadPhase(deps(never.api, [], { timeoutMs: -1, rootCaLagging: async () => ['a'] })), {
    code: 'WORKLOAD_ROOT_CA_STALE',
    message: /does not hold the new Kubernetes API CA yet in namespace\(s\) a; .* would load the old CA again/,
    hint: /runs with the new CA, then run `rotate apply` again/,
  });
  t.same(never.patches, []);
  // A rollback waits for the CA it restores; the one it takes away is the rolled-back run's (not "new"/"old").
  const back = deps(never.api, [], { timeoutMs: -1, rootCaLagging: async () => ['a'], operation: 'rollback' });
  await t.rejects(runWorkloadPhase(back), {
    code: 'WORKLOAD_ROOT_CA_STALE',
    message: /does not hold the restored Kubernetes API CA yet in namespace\(s\) a; .* would load the rolled-back CA/,
    hint: /runs with the restored CA, then run `rotate rollback` again/,
  });
});

t.test(
  'a workload the inventory shows blocked is recorded blocked with its reason, never read, patched or waited for',
  async (t) => {
    const { api, patches } = fakeCluster({
      'Deployment/a/web': obj('Deployment'),
      'DaemonSet/a/agent': obj('DaemonSet'),
      'DaemonSet/a/legacy': obj('DaemonSet'),
      'StatefulSet/b/db': obj('StatefulSet'),
    });
    const reads: string[] = [];
    const spy: WorkloadApi = {
      read: async (k, ns, n) => (reads.push(`${k}/${ns}/${n}`), api.read(k, ns, n)),
      patch: api.patch,
    };
    const records: WorkloadRecord[] = [];
    const lagging: string[][] = [];
    const blocked = {
      ...structuredClone(inventory),
      blockers: [
        {
          kind: 'StatefulSet' as const,
          namespace: 'b',
          name: 'db',
          reason: 'the StatefulSet has a rolling-update partition of 1',
        },
      ],
    };
    const result = await runWorkloadPhase(
      deps(spy, records, {
        override: 'restart',
        inventory: async () => structuredClone(blocked),
        rootCaLagging: async (ns) => (lagging.push([...ns]), []),
      }),
    );
    t.match(
      records.find((r) => r.name === 'db'),
      { status: 'blocked', reason: /partition of 1/ },
    );
    t.notOk(reads.includes('StatefulSet/b/db') || patches.includes('StatefulSet/b/db'), 'never read nor patched');
    t.notOk(lagging.flat().includes('b'), "its namespace's kube-root-ca.crt is not waited for");
    t.equal(result.restarted, 3);
  },
);

t.test(
  'evict: Job and bare pods are evicted only when the section names their kind; each pod once, a resume never ' +
    'evicts a replacement',
  async (t) => {
    const { api } = fakeCluster({
      'Deployment/a/web': obj('Deployment'),
      'DaemonSet/a/agent': obj('DaemonSet'),
      'DaemonSet/a/legacy': obj('DaemonSet'),
      'StatefulSet/b/db': obj('StatefulSet'),
    });
    const job = (name: string, start: string): PodLike => ({
      ...pod('j', name, { apiVersion: 'batch/v1', kind: 'Job', name: 'migrate' }),
      status: { phase: 'Running', startTime: start },
    });
    const inv = {
      ...structuredClone(inventory),
      pods: [...inventory.pods, job('migrate-1', '2026-01-01T00:00:00Z'), job('migrate-2', '2026-01-01T00:00:00Z')],
    };
    const policy = {
      default: 'report' as const,
      namespaces: { j: 'restart' as const },
      selectors: [],
      evict: [] as ('Job' | 'Other' | 'Pod')[],
    };

    // Without `evict`: reported, nothing evicted.
    const asked: string[] = [];
    const evictions = {
      evict: async (ns: string, p: string) => (asked.push(`${ns}/${p}`), { outcome: 'evicted' as const }),
    };
    const r0: WorkloadRecord[] = [];
    await runWorkloadPhase(deps(api, r0, { policy, evictions, inventory: async () => structuredClone(inv) }));
    t.same(asked, [], 'no eviction unless the section asks');
    t.match(
      r0.find((r) => r.name === 'migrate'),
      { status: 'reported', reason: /evict/ },
    );

    // With `evict: [Job]`: both pods evicted, recorded.
    const records: WorkloadRecord[] = [];
    let killAfter = 1;
    const flaky = {
      evict: async (ns: string, p: string) => {
        if (killAfter-- <= 0) throw new Error('killed');
        asked.push(`${ns}/${p}`);
        return { outcome: 'evicted' as const };
      },
    };
    await t.rejects(
      runWorkloadPhase(
        deps(api, records, {
          policy: { ...policy, evict: ['Job'] },
          evictions: flaky,
          inventory: async () => structuredClone(inv),
        }),
      ),
    );
    t.same(asked, ['j/migrate-1'], 'the first run evicted one pod, then died');
    t.match(
      records.find((r) => r.name === 'migrate'),
      { status: 'started', evicted: ['migrate-1'], evictBefore: '2026-12-05T12:00:00.000Z' },
    );
    // The resume sees the replacement of migrate-1 (started after the first run's cutoff) and the second old pod.
    const later = {
      ...inv,
      pods: [...inv.pods.filter((p) => p.metadata?.name !== 'migrate-1'), job('migrate-3', '2026-12-05T12:00:30Z')],
    };
    await runWorkloadPhase(
      deps(api, records, {
        policy: { ...policy, evict: ['Job'] },
        evictions,
        inventory: async () => structuredClone(later),
        now: () => new Date('2026-12-05T12:01:00Z'),
      }),
    );
    t.same(asked, ['j/migrate-1', 'j/migrate-2'], 'the resume evicted only the old pod left, not the replacement');
    t.match(
      records.find((r) => r.name === 'migrate'),
      { status: 'evicted', evicted: ['migrate-1', 'migrate-2'] },
    );
  },
);

t.test(
  'evict: a resume that finds no pod left of a started eviction (the Job finished) finishes its record, ' +
    'evicting nothing',
  async (t) => {
    const { api } = fakeCluster({
      'Deployment/a/web': obj('Deployment'),
      'DaemonSet/a/agent': obj('DaemonSet'),
      'DaemonSet/a/legacy': obj('DaemonSet'),
      'StatefulSet/b/db': obj('StatefulSet'),
    });
    const policy = {
      default: 'report' as const,
      namespaces: { j: 'restart' as const },
      selectors: [],
      evict: ['Job' as const],
    };
    const records: WorkloadRecord[] = [
      {
        namespace: 'j',
        kind: 'Job',
        name: 'migrate',
        status: 'started',
        evictBefore: '2026-12-05T12:00:00.000Z',
        evicted: ['migrate-1'],
        updatedAt: '2026-12-05T12:00:01.000Z',
      },
    ];
    // The Job finished meanwhile: no pod of it is left, so it is no longer listed at all.
    const inv = structuredClone(inventory);
    const asked: string[] = [];
    const evictions = {
      evict: async (ns: string, p: string) => (asked.push(`${ns}/${p}`), { outcome: 'evicted' as const }),
    };
    await runWorkloadPhase(
      deps(api, records, {
        policy,
        evictions,
        inventory: async () => structuredClone(inv),
        now: () => new Date('2026-12-05T12:01:00Z'),
      }),
    );
    t.same(asked, [], 'nothing evicted');
    t.match(
      records.find((r) => r.name === 'migrate'),
      { status: 'evicted', evicted: ['migrate-1'] },
      'the record is finished, not left started',
    );
  },
);

t.test(
  'evict: a PodDisruptionBudget that keeps refusing is retried with backoff for a bounded time, then reported ' +
    'blocked, never forced',
  async (t) => {
    const { api } = fakeCluster({
      'Deployment/a/web': obj('Deployment'),
      'DaemonSet/a/agent': obj('DaemonSet'),
      'DaemonSet/a/legacy': obj('DaemonSet'),
      'StatefulSet/b/db': obj('StatefulSet'),
    });
    const bare: PodLike = {
      metadata: { namespace: 'p', name: 'debug' },
      spec: { volumes: [{ name: 'kube-api-access-1' }] },
      status: { phase: 'Running', startTime: '2026-01-01T00:00:00Z' },
    };
    const inv = { ...structuredClone(inventory), pods: [...inventory.pods, bare] };
    let calls = 0;
    const naps: number[] = [];
    const refusing = {
      evict: async () => (
        calls++,
        { outcome: 'refused' as const, reason: "Cannot evict pod as it would violate the pod's disruption budget." }
      ),
    };
    const records: WorkloadRecord[] = [];
    const result = await runWorkloadPhase(
      deps(api, records, {
        policy: { default: 'report', namespaces: { p: 'restart' }, selectors: [], evict: ['Pod'] },
        evictions: refusing,
        evictTimeoutMs: 20_000,
        nap: async (ms) => void naps.push(ms),
        inventory: async () => structuredClone(inv),
      }),
    );
    t.same(
      naps.filter((n) => n >= 1000),
      [1000, 2000, 4000, 8000],
      'backoff doubles, within the bound',
    );
    t.equal(calls, 5, 'asked again after each wait, then given up');
    t.match(
      records.find((r) => r.name === 'debug'),
      { status: 'blocked', reason: /refused for 15 s \(Cannot evict pod.*\); not forced/ },
    );
    t.equal(result.restarted, 0, 'nothing counted as done');
  },
);
