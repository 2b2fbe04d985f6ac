/**
 * `rotate rollback`: take the cluster from wherever an apply run left it (unfinished or complete) back to
 * the trust it had before that run, through the same proved-safe machinery — it is a plan to the old
 * state — then put back the talosconfig, kubeconfig and secrets bundle that run replaced.
 *
 * It works from the state file alone (the run recorded its cluster and escrowed its keys), so an edited or
 * no-longer-valid desired-state file cannot block it. It says when rollback is no longer possible, and why.
 */
import { refuseIfRefused } from '../plan/planner/index.js';
import { randomUUID } from 'node:crypto';
import { RotateError } from '../domain/errors.js';
import { resolveParallelism } from '../domain/parallelism.js';
import type { ApiKind, Fingerprint, NodeAddress } from '../domain/types.js';
import type { DesiredState } from '../desired/types.js';
import type { ApiState, Plan } from '../plan/model/index.js';
import { buildPlan, type PlanTarget } from '../cluster/session/build-plan.js';
import { openSessionFor, type Session } from '../cluster/session/open-session.js';
import {
  beforeFromObserved,
  resolveStatePath,
  runPlans,
  toErrorRecord,
  type LockedState,
  type NodeBefore,
  type Run,
  type RunCluster,
  type StateDocument,
} from '../state/index.js';
import { ApplyInterrupted, executePlan } from './engine.js';
import { makeEvent, makeQuestion, selectSink } from '../events/index.js';
import { storeJournal, sinkReporter } from './journal.js';
import { pruneBackups, restoreBackup } from './outputs.js';
import type { RunLease } from './run-lease-holder.js';
import {
  approve,
  removeIfEmpty,
  escrowLookup,
  escrowedCertificates,
  interruptOnSignals,
  lockRunState,
  runSummary,
  showPlan,
  startedNodes,
  stopSignal,
  takeRunLease,
  stripDiffs,
  targetFromPlan,
  type RunOptions,
} from './run-common.js';
import { carryExtensionAuth } from './extension-auth.js';
import { workloadPhaseOf } from './run-apply.js';
import { rolledBackIssueStart } from '../workloads/phase.js';

export type RollbackOptions = RunOptions;

function notPossible(why: string, hint: string): RotateError {
  return new RotateError('ROLLBACK_NOT_POSSIBLE', `rollback is not possible: ${why}`, { hint });
}

/** The apply run to undo, and an unfinished rollback of it if one exists. */
export function rollbackSubject(
  doc: StateDocument | null,
  statePath: string,
): { applyRun: Run; rollbackRun: Run | null } {
  const runs = doc?.runs ?? [];
  const lastRollback = [...runs].reverse().find((r) => r.operation === 'rollback');
  if (lastRollback && ['running', 'interrupted', 'failed'].includes(lastRollback.status)) {
    const applyRun = runs.find((r) => r.id === lastRollback.rollbackOf);
    if (!applyRun)
      throw notPossible(
        `the unfinished rollback ${lastRollback.id} names no apply run`,
        `inspect ${statePath} with \`rotate state show\``,
      );
    return { applyRun, rollbackRun: lastRollback };
  }
  const lastApply = [...runs].reverse().find((r) => r.operation === 'apply');
  if (!lastApply)
    throw notPossible(
      `${statePath} records no apply run`,
      'there is nothing to roll back; `rotate state show` lists the runs',
    );
  if (lastApply.status === 'rolled-back') {
    throw notPossible(
      `the last apply run (${lastApply.id}) was already rolled back`,
      'the cluster is back on the trust it had before that run',
    );
  }
  return { applyRun: lastApply, rollbackRun: null };
}

/**
 * The trust to return to, per API the run changed: the issuing CA and accepted CAs every control plane
 * had before the run. Rollback needs that to be one state; a run that started on a cluster already half
 * way through another change has no single "before".
 */
export function rollbackTarget(
  before: NodeBefore[],
  apis: readonly ApiKind[],
  names: Record<Fingerprint, string>,
): PlanTarget {
  const target: PlanTarget = {};
  for (const api of apis) {
    const cps = before.filter((n) => n.role === 'controlplane');
    const first = cps[0];
    if (!first) throw notPossible('the run recorded no control plane', 'inspect the state with `rotate state show`');
    const same = (a: ApiState, b: ApiState): boolean =>
      a.issuing === b.issuing &&
      a.accepted.length === b.accepted.length &&
      a.accepted.every((x) => b.accepted.includes(x));
    const odd = cps.find((n) => !same(n[api], first[api]));
    if (!first[api].issuing || odd) {
      throw notPossible(
        `before the run, the control planes did not share one ${api} CA ` +
          `state${odd ? ` (${first.address} and ${odd.address} differ)` : ''}, so there is no single state to ` +
          'return to',
        `write the state you want in the desired-state file and use \`rotate plan\` / \`rotate apply\` instead`,
      );
    }
    target[api] = {
      issuing: first[api].issuing!,
      accepted: first[api].accepted.filter((x) => x !== first[api].issuing),
      names,
    };
  }
  return target;
}

/**
 * A desired state carrying only what the run recorded about its cluster (no authorities: keys come from the escrow).
 */
function desiredFromRunCluster(cluster: RunCluster): DesiredState {
  return {
    file: cluster.desiredFile,
    dir: cluster.desiredFile.replace(/\/[^/]*$/, ''),
    digest: '',
    version: 1,
    cluster: {
      talosconfig: cluster.talosconfig,
      talosconfigSource: 'file',
      context: cluster.context,
      endpoints: cluster.endpoints,
      controlPlanes: cluster.controlPlanes as NodeAddress[],
      workers: cluster.workers as NodeAddress[],
      ...(cluster.kubeconfig ? { kubeconfig: cluster.kubeconfig } : {}),
      ...(cluster.kubernetesEndpoint ? { kubernetesEndpoint: cluster.kubernetesEndpoint } : {}),
      ...(cluster.secretsBundle ? { secretsBundle: cluster.secretsBundle } : {}),
    },
    authorities: {},
    ...(cluster.workloads ? { workloads: { ...cluster.workloads, evict: cluster.workloads.evict ?? [] } } : {}),
  };
}

function apisOf(run: Run): ApiKind[] {
  const plans: Plan[] = runPlans(run);
  return (['talos', 'kubernetes'] as const).filter((api) =>
    plans.some((p) => p.steps.some((s) => s.apis.includes(api))),
  );
}

export async function runRollback(opts: RollbackOptions): Promise<void> {
  const sink = selectSink({ json: opts.json, autoApprove: opts.autoApprove });
  let session: Session | null = null;
  let locked: LockedState | null = null;
  let lease: RunLease | null = null;
  let stateDirExisted = true;
  const stopSignals = interruptOnSignals(sink);
  try {
    const statePath = resolveStatePath({ state: opts.state, file: opts.file });
    ({ locked, existedBefore: stateDirExisted } = await lockRunState(sink, {
      statePath,
      desiredFile: null,
      operation: 'rollback',
      lockTimeoutMs: opts.lockTimeoutMs,
    }));
    const { store, paths } = locked;
    const { applyRun, rollbackRun } = rollbackSubject(await store.read(), paths.state);
    if (!applyRun.cluster)
      throw notPossible(
        `apply run ${applyRun.id} did not record its cluster (it was made by an older talos-rotate)`,
        'restore the previous machine configs by hand',
      );

    const names: Record<Fingerprint, string> = {};
    for (const a of applyRun.plan.authorities) if (a.name) names[a.fingerprint] = a.name;
    const target = rollbackRun
      ? targetFromPlan(rollbackRun.plan)
      : rollbackTarget(applyRun.before, apisOf(applyRun), names);

    // Every key the rollback makes issuing again must be in the escrow; say so before anything happens.
    const escrowed = await store.escrowedKeys();
    for (const api of ['talos', 'kubernetes'] as const) {
      const fp = target[api]?.issuing;
      if (fp && !escrowed.some((k) => k.api === api && k.fingerprint === fp)) {
        throw notPossible(
          `the key of the ${api} CA ${names[fp] ?? ''} (${fp.slice(0, 16)}) that issued before the run is not in ` +
            `the key escrow of ${paths.dir}`,
          'restore the state folder (with its keys/) from a backup',
        );
      }
    }

    session = await openSessionFor(desiredFromRunCluster(applyRun.cluster), opts.connect, [], opts.cluster);
    // The cluster-wide run lease first; the apply run being undone (or this rollback, resumed) may have been
    // killed holding it, and is taken back.
    const runId = rollbackRun?.id ?? randomUUID();
    lease = await takeRunLease(
      sink,
      session,
      { runLease: opts.runLease ?? true, takeOverExpiredLease: opts.takeOverExpiredLease ?? false },
      {
        runId,
        operation: 'rollback',
        statePath: paths.state,
        desiredFile: applyRun.cluster.desiredFile,
        reclaimable: [applyRun.id, ...(rollbackRun ? [rollbackRun.id] : [])],
      },
    );
    const keyFor = escrowLookup(paths.dir);
    const unsettled = [applyRun, rollbackRun].flatMap((r) => (r ? startedNodes(r) : []));
    // Pods started since the rolled-back run's Kubernetes issue step loaded the CA this rollback takes away:
    // its own workload phase handles them once the apiservers serve the reverted CA (workloadPhaseOf).
    const podsStartedAfter = rolledBackIssueStart(applyRun);
    const built = await buildPlan(
      session,
      { ...opts, unsettled, workloadsStartedAfter: podsStartedAfter },
      target,
      keyFor,
      await escrowedCertificates(escrowed),
    );
    showPlan(sink, opts, built);
    refuseIfRefused(built.plan);
    // A resumed rollback whose drop step was done still owes the ConfigMap write of its first plan.
    const plan = rollbackRun ? carryExtensionAuth(built.plan, runPlans(rollbackRun)) : built.plan;

    if (
      !(await approve(sink, opts, makeQuestion('confirm-rollback', { runId: applyRun.id, steps: plan.steps.length })))
    )
      return;

    // The apply run stops here for good: a crashed one is closed before its rollback starts.
    if (applyRun.status === 'running')
      await store.finishRun(
        applyRun.id,
        'interrupted',
        new RotateError('APPLY_CRASHED', 'the apply process stopped; rolled back'),
      );

    let run: Run;
    if (rollbackRun) {
      run = await store.resumeRun(rollbackRun.id);
      run = await store.replanRun(run.id, stripDiffs(plan));
      sink.emit(
        makeEvent('run-resume', {
          runId: run.id,
          operation: 'rollback',
          previousStatus: rollbackRun.status,
          stepsDone: 0,
          steps: plan.steps.length,
          nodesInFlight: [],
        }),
      );
    } else {
      run = await store.startRun({
        id: runId,
        operation: 'rollback',
        plan: stripDiffs(plan),
        before: beforeFromObserved(built.observed),
        cluster: applyRun.cluster,
        rollbackOf: applyRun.id,
      });
      sink.emit(
        makeEvent('run-start', {
          runId: run.id,
          operation: 'rollback',
          steps: plan.steps.length,
          nodes: plan.summary.nodesChanged,
          statePath: paths.state,
        }),
      );
    }

    const started = Date.now();
    const parallelism = resolveParallelism(opts.parallelism, plan.basedOn.nodes.length);
    try {
      await executePlan({
        session,
        plan,
        catalog: built.catalog,
        keyFor,
        runId: run.id,
        stateDir: paths.dir,
        journal: storeJournal(store, run.id),
        reporter: sinkReporter(sink, run.id, plan.steps.length),
        parallelism,
        maxUnavailable: opts.maxUnavailable,
        ...(opts.applyLockWaitMs !== undefined ? { applyLockWaitMs: opts.applyLockWaitMs } : {}),
        signal: stopSignal(stopSignals, lease),
        runLease: lease,
        operation: 'rollback',
        workloadPhase: workloadPhaseOf(plan, rollbackRun ? runPlans(rollbackRun) : [], {
          sink,
          store,
          runId: run.id,
          policy: session.desired.workloads,
          override: opts.workloads,
          batchSize: parallelism,
          signal: stopSignals.signal,
          operation: 'rollback',
          startedAfter: podsStartedAfter,
        }),
      });
    } catch (caught) {
      const err =
        lease?.lostError && caught instanceof ApplyInterrupted && !stopSignals.signal.aborted
          ? lease.lostError
          : caught;
      const interrupted = err instanceof ApplyInterrupted;
      await store.finishRun(run.id, interrupted ? 'interrupted' : 'failed', err);
      sink.emit(
        interrupted
          ? makeEvent('run-interrupted', {
              runId: run.id,
              operation: 'rollback',
              stepId: null,
              nodesInFlight: [],
              reason: stopSignals.reason() ?? 'signal',
            })
          : makeEvent('run-failed', { runId: run.id, operation: 'rollback', stepId: null, error: toErrorRecord(err) }),
      );
      throw err;
    }

    // The cluster trusts what it did before the apply run: put back the files that run replaced (each
    // from the copy taken the first time the run replaced it), as they were before it. A file the apply
    // run never replaced (it stopped before that output) but this rollback's own steps did is put back
    // from the copy this run took first, which is the file as it was before the apply run.
    const ownOutputs = (await store.read())?.runs.find((r) => r.id === run.id)?.outputs ?? [];
    const firstBackup = new Map<
      string,
      { kind: 'talosconfig' | 'kubeconfig' | 'secretsBundle'; path: string; backupPath: string | null }
    >();
    for (const o of [...applyRun.outputs, ...ownOutputs]) if (!firstBackup.has(o.path)) firstBackup.set(o.path, o);
    for (const o of firstBackup.values()) {
      if (await restoreBackup(o)) {
        await store.recordOutput(run.id, { kind: o.kind, path: o.path, backupPath: null, step: null });
        sink.emit(makeEvent('output-written', { stepId: null, kind: o.kind, path: o.path, backupPath: null }));
      }
    }
    await store.finishRun(run.id, 'complete');
    await store.markRolledBack(applyRun.id);
    await pruneBackups(paths.dir, (await store.read())?.runs ?? []);
    const finished = (await store.read())?.runs.find((r) => r.id === run.id);
    sink.emit(
      makeEvent('run-complete', {
        runId: run.id,
        operation: 'rollback',
        steps: plan.steps.length,
        nodesChanged: plan.summary.nodesChanged,
        durationMs: Date.now() - started,
      }),
    );
    sink.emit(makeEvent('run-summary', { runId: run.id, operation: 'rollback', ...runSummary(finished, plan) }));
  } finally {
    stopSignals.dispose();
    await lease?.release();
    await locked?.release();
    // A run that stopped before recording anything leaves no trace: not even the folder its lock needed.
    if (locked && !stateDirExisted) await removeIfEmpty(locked.paths.dir);
    session?.close();
    sink.close?.();
  }
}
