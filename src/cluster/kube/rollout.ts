/**
 * `kubectl rollout restart` and `kubectl rollout status` for one Deployment / DaemonSet / StatefulSet,
 * through @kubernetes/client-node (TLS verified as the kubeconfig says): read, strategic-merge patch of the
 * pod-template annotation, then poll the object until the rollout is complete. The decisions are pure
 * (`src/workloads/rollout.ts`); this module only talks to the API.
 */
import { RotateError } from '../../domain/errors.js';
import {
  restartBlocker,
  restartedAtOf,
  restartPatch,
  rolloutState,
  type RestartableKind,
  type WorkloadObject,
} from '../../workloads/rollout.js';
import type { KubeconfigSource } from './nodes.js';
import { kubeCall, loadKubeconfig } from './nodes.js';

export interface WorkloadApi {
  read(kind: RestartableKind, namespace: string, name: string): Promise<WorkloadObject>;
  patch(kind: RestartableKind, namespace: string, name: string, body: object): Promise<WorkloadObject>;
}

/** The apps/v1 API for the three kinds, with strategic-merge patches as kubectl sends them. */
export async function workloadApi(source: KubeconfigSource, opts: { timeoutMs?: number } = {}): Promise<WorkloadApi> {
  const { k8s, kc, server } = await loadKubeconfig(source);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const smp = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
  const call = <T>(what: string, p: () => Promise<T>): Promise<T> => kubeCall(source, server, timeoutMs, what, p);
  return {
    read: (kind, namespace, name) =>
      call(`reading ${kind} ${namespace}/${name}`, async () => {
        const args = { namespace, name };
        if (kind === 'Deployment') return (await apps.readNamespacedDeployment(args)) as WorkloadObject;
        if (kind === 'DaemonSet') return (await apps.readNamespacedDaemonSet(args)) as WorkloadObject;
        return (await apps.readNamespacedStatefulSet(args)) as WorkloadObject;
      }),
    patch: (kind, namespace, name, body) =>
      call(`patching ${kind} ${namespace}/${name}`, async () => {
        const args = { namespace, name, body };
        if (kind === 'Deployment') return (await apps.patchNamespacedDeployment(args, smp)) as WorkloadObject;
        if (kind === 'DaemonSet') return (await apps.patchNamespacedDaemonSet(args, smp)) as WorkloadObject;
        return (await apps.patchNamespacedStatefulSet(args, smp)) as WorkloadObject;
      }),
  };
}

export type RestartOutcome = { status: 'restarted'; restartedAt: string } | { status: 'blocked'; reason: string };

/**
 * Restart one workload unless a rollout restart would do nothing for it (then the reason). `restartedAt`
 * is the annotation value, recorded by the caller in `beforePatch`: a workload whose template already
 * carries it (a run killed after its patch) is not patched again, only waited for. `onPatched` runs right
 * after the patch returns.
 */
export async function restartWorkload(
  api: WorkloadApi,
  w: { kind: RestartableKind; namespace: string; name: string },
  restartedAt: string,
  opts: {
    beforePatch?: () => Promise<void> | void;
    onPatched?: () => Promise<void> | void;
    pollMs?: number;
    timeoutMs: number;
    signal?: AbortSignal;
    nap?: (ms: number) => Promise<void>;
  },
): Promise<RestartOutcome> {
  let obj = await api.read(w.kind, w.namespace, w.name);
  if (restartedAtOf(obj) !== restartedAt) {
    const blocker = restartBlocker(w.kind, obj);
    if (blocker) return { status: 'blocked', reason: blocker };
    await opts.beforePatch?.();
    obj = await api.patch(w.kind, w.namespace, w.name, restartPatch(restartedAt));
    await opts.onPatched?.();
  }
  const nap = opts.nap ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const state = rolloutState(w.kind, obj);
    if (state.done) return { status: 'restarted', restartedAt };
    if ('failed' in state) {
      throw new RotateError(
        'WORKLOAD_ROLLOUT_FAILED',
        `the rollout of ${w.kind} ${w.namespace}/${w.name} failed: ${state.failed}`,
        {
          hint:
            `check it with \`kubectl -n ${w.namespace} rollout status ${w.kind.toLowerCase()}/${w.name}\`, ` +
            `then run \`rotate apply\` again`,
        },
      );
    }
    if (opts.signal?.aborted) {
      throw new RotateError(
        'WORKLOAD_INTERRUPTED',
        `interrupted while waiting for the rollout of ${w.kind} ${w.namespace}/${w.name}`,
        { hint: '`rotate apply` resumes without restarting it again', exitCode: 130 },
      );
    }
    if (Date.now() > deadline) {
      throw new RotateError(
        'WORKLOAD_ROLLOUT_TIMEOUT',
        `the rollout of ${w.kind} ${w.namespace}/${w.name} did not complete (${state.waiting})`,
        {
          hint:
            `check it with \`kubectl -n ${w.namespace} rollout status ${w.kind.toLowerCase()}/${w.name}\`; ` +
            `\`rotate apply\` resumes without restarting it again`,
        },
      );
    }
    await nap(opts.pollMs ?? 1000);
    obj = await api.read(w.kind, w.namespace, w.name);
  }
}
