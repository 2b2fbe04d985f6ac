/**
 * The rollback's workload phase (issue 14): only pods started since the rolled-back run's Kubernetes issue
 * step loaded the CA the rollback takes away; older pods loaded the one it returns to and are left alone.
 * The rollback run's own records make a resume restart nothing twice, and its hints name `rotate rollback`.
 */
import t from 'tap';
import type { Fingerprint } from '../../../src/domain/types.js';
import type { WorkloadApi } from '../../../src/cluster/kube/rollout.js';
import { runWorkloadPhase, type WorkloadPhaseDeps } from '../../../src/apply/workload-phase.js';
import type { WorkloadRecord } from '../../../src/state/types.js';
import type { WorkloadObject } from '../../../src/workloads/rollout.js';
import type { PodLike } from '../../../src/workloads/find.js';

const OLD = 'a'.repeat(64) as Fingerprint;
const ISSUE_STARTED = '2026-12-05T09:00:00.000Z';

/** apps/v1 objects whose rollout completes on the first read after a patch. */
function fakeCluster() {
  const objects: Record<string, WorkloadObject> = {};
  const patches: string[] = [];
  const api: WorkloadApi = {
    async read(kind, ns, name) {
      const o = (objects[`${kind}/${ns}/${name}`] ??= {
        metadata: { generation: 1 },
        spec: { replicas: 1 },
        status: { observedGeneration: 1 },
      });
      const gen = o.metadata!.generation!;
      o.status = {
        observedGeneration: gen,
        replicas: 1,
        updatedReplicas: 1,
        availableReplicas: 1,
        readyReplicas: 1,
        desiredNumberScheduled: 1,
        updatedNumberScheduled: 1,
        numberAvailable: 1,
      };
      return structuredClone(o);
    },
    async patch(kind, ns, name, body) {
      patches.push(`${kind}/${ns}/${name}`);
      const o = (objects[`${kind}/${ns}/${name}`] ??= { metadata: { generation: 1 }, spec: { replicas: 1 } });
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

function pod(ns: string, name: string, owner: { kind: string; name: string }, startTime: string | undefined): PodLike {
  return {
    metadata: { namespace: ns, name, ownerReferences: [{ apiVersion: 'apps/v1', controller: true, ...owner }] },
    spec: { volumes: [{ name: 'kube-api-access-1' }] },
    status: { phase: startTime ? 'Running' : 'Pending', ...(startTime ? { startTime } : {}) },
  };
}

const inventory = {
  pods: [
    // Restarted by the apply's workload phase: loaded only the CA the rollback takes away.
    pod('a', 'web-1-x', { kind: 'ReplicaSet', name: 'web-1' }, '2026-12-05T10:00:00Z'),
    // Running since before the apply: loaded the CA the rollback returns to.
    pod('a', 'agent-x', { kind: 'DaemonSet', name: 'agent' }, '2026-11-01T00:00:00Z'),
    // Not started yet: which CA it loads is not known, so it is treated as affected.
    pod('b', 'db-0', { kind: 'StatefulSet', name: 'db' }, undefined),
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
      const full = { ...r, updatedAt: '2026-12-05T12:00:00Z' };
      if (i >= 0) records[i] = full;
      else records.push(full);
    },
    policy: undefined,
    override: 'restart',
    newCa: OLD,
    batchSize: 2,
    now: () => new Date('2026-12-05T12:00:00Z'),
    timeoutMs: 60_000,
    pollMs: 1,
    nap: async () => {},
    operation: 'rollback',
    startedAfter: ISSUE_STARTED,
    ...extra,
  };
}

t.test(
  'restarts only the workloads with pods started since the rolled-back issue step; a resume restarts none twice',
  async (t) => {
    const { api, patches } = fakeCluster();
    const records: WorkloadRecord[] = [];
    const result = await runWorkloadPhase(deps(api, records));
    t.same(
      patches.sort(),
      ['Deployment/a/web', 'StatefulSet/b/db'],
      'not the DaemonSet whose pod predates the apply run',
    );
    t.same(result, { restarted: 2, left: 0 });
    t.notOk(
      records.some((r) => r.name === 'agent'),
      'the older workload is not even reported: it holds the CA the rollback returns to',
    );
    t.ok(records.every((r) => r.status === 'restarted'));

    // Resumed (the same rollback run's records): the pods restarted above started before the new now; none again.
    const again = await runWorkloadPhase(deps(api, records, { now: () => new Date('2026-12-05T13:00:00Z') }));
    t.same(patches.length, 2, 'no second patch');
    t.same(again, { restarted: 0, left: 0 });

    // Without the bound (as the apply's phase works), the DaemonSet would have been restarted too.
    const unbounded = fakeCluster();
    await runWorkloadPhase(deps(unbounded.api, [], { startedAfter: undefined }));
    t.ok(unbounded.patches.includes('DaemonSet/a/agent'));
  },
);

t.test("a rollback's interrupted phase names `rotate rollback`", async (t) => {
  const { api } = fakeCluster();
  const ac = new AbortController();
  ac.abort();
  await t.rejects(runWorkloadPhase(deps(api, [], { signal: ac.signal })), {
    code: 'WORKLOAD_INTERRUPTED',
    hint: /`rotate rollback` resumes/,
  });
});

t.test(
  'workloadPhaseOf: a run resumed twice still has its phase when only an earlier plan held the issue step',
  async (t) => {
    const { workloadPhaseOf } = await import('../../../src/apply/run-apply.js');
    type P = Parameters<typeof workloadPhaseOf>[0];
    const step = (index: number, cur: Fingerprint, tgt: Fingerprint) => ({
      index,
      id: `s${index}`,
      nodes: [
        {
          role: 'controlplane',
          current: { kubernetes: { issuing: cur, accepted: [] } },
          target: { kubernetes: { issuing: tgt, accepted: [] } },
        },
      ],
    });
    const NEW = 'b'.repeat(64) as Fingerprint;
    const first = { steps: [step(1, OLD, OLD), step(2, OLD, NEW)] } as unknown as P;
    const second = { steps: [step(1, NEW, NEW)] } as unknown as P;
    const third = { steps: [step(1, NEW, NEW)] } as unknown as P;
    const ctx = {
      sink: {} as never,
      store: {} as never,
      runId: 'r',
      policy: undefined,
      override: 'restart' as const,
      batchSize: 1,
      signal: new AbortController().signal,
    };
    t.equal(workloadPhaseOf(first, [], ctx)?.afterStep, 2, 'a new run: after its issue step');
    t.equal(workloadPhaseOf(third, [second, first], ctx)?.afterStep, null, 'resumed twice: after the last step');
    t.equal(workloadPhaseOf(third, [second], ctx), undefined, 'no plan of the run changed the issuing CA: no phase');
  },
);
