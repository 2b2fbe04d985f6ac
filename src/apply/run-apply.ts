/**
 * `rotate apply`: the run around the engine. Takes the state lock, finds an unfinished run to resume (re-
 * reading the cluster and re-planning from where each node really is) or plans a new one (or takes a saved
 * plan, refusing a stale one), asks for approval, escrows every key the run introduces or a rollback would
 * need before the first node is touched, then executes and records every node result.
 */
import { refuseIfRefused } from '../plan/planner/index.js';
import { randomUUID } from 'node:crypto';
import { RotateError } from '../domain/errors.js';
import { resolveParallelism } from '../domain/parallelism.js';
import type { Diagnostic } from '../desired/types.js';
import type { Plan } from '../plan/model/index.js';
import {
  buildPlan,
  diagnosticWarning,
  listedNodes,
  noSecretsBundleWarning,
  relevantDesiredWarnings,
  splitDesiredWarnings,
  type BuiltPlan,
} from '../cluster/session/build-plan.js';
import { openSession, type Session } from '../cluster/session/open-session.js';
import { readSavedPlan, staleError, staleReasons } from '../cluster/session/saved-plan.js';
import {
  beforeFromObserved,
  resolveStatePath,
  runPlans,
  toErrorRecord,
  type LockedState,
  type Run,
} from '../state/index.js';
import { makeEvent, makeQuestion, selectSink } from '../events/index.js';
import { ApplyInterrupted, executePlan, loweredBatches, type EngineDeps } from './engine.js';
import { carryExtensionAuth } from './extension-auth.js';
import type { EventSink } from '../events/types.js';
import type { StateStore } from '../state/store.js';
import type { WorkloadPolicy } from '../desired/types.js';
import type { KubeconfigSource } from '../cluster/kube/nodes.js';
import { readWorkloadInventory, rootCaLagging } from '../cluster/kube/workloads.js';
import { workloadApi, type WorkloadApi } from '../cluster/kube/rollout.js';
import { evictionApi, type EvictionApi } from '../cluster/kube/eviction.js';
import { kubernetesServerChange } from '../workloads/find.js';
import { workloadPhaseMode } from '../workloads/phase.js';
import { runWorkloadPhase } from './workload-phase.js';
import { storeJournal, sinkReporter } from './journal.js';
import { reconcileOutputs } from './reconcile-outputs.js';
import { pruneBackups } from './outputs.js';
import { droppedNodes, refuseDroppedInCluster } from './dropped-nodes.js';
import type { RunLease } from './run-lease-holder.js';
import { authorityKeyItem, escrowKeys, machineConfigKeyItem, type EscrowItem } from './keys/index.js';
import {
  approve,
  removeIfEmpty,
  changedApis,
  escrowLookup,
  escrowedCertificates,
  interruptOnSignals,
  lockRunState,
  runClusterOf,
  runSummary,
  showPlan,
  stopSignal,
  takeRunLease,
  startedNodes,
  stripDiffs,
  targetFromPlan,
  type RunOptions,
} from './run-common.js';

export interface ApplyOptions extends RunOptions {
  /** A plan saved with `rotate plan --out`: applied exactly, refused if the cluster changed since. */
  planFile?: string;
}

/** Everything a run needs once approved. */
interface Prepared {
  session: Session;
  built: BuiltPlan;
  plan: Plan;
}

export async function runApply(opts: ApplyOptions): Promise<void> {
  const sink = selectSink({ json: opts.json, autoApprove: opts.autoApprove });
  let session: Session | null = null;
  let locked: LockedState | null = null;
  let lease: RunLease | null = null;
  let stateDirExisted = true;
  const stopSignals = interruptOnSignals(sink);
  try {
    const saved = opts.planFile ? await readSavedPlan(opts.planFile) : null;
    const desiredFile = saved ? saved.desired.file : opts.file;
    session = await openSession(desiredFile, opts.connect, opts.cluster);
    // An unused authority is news only while a node still trusts it: said once the cluster has been read.
    const desiredWarnings = splitDesiredWarnings(session.warnings);
    const emitDesiredWarnings = (ws: readonly Diagnostic[]): void => {
      for (const d of ws) {
        const w = diagnosticWarning(d);
        sink.emit(makeEvent('warning', { warningCode: w.code, text: w.text, hint: w.hint }));
      }
    };
    emitDesiredWarnings(desiredWarnings.now);

    const statePath = resolveStatePath({ state: opts.state, file: desiredFile });
    ({ locked, existedBefore: stateDirExisted } = await lockRunState(sink, {
      statePath,
      desiredFile: session.desired.file,
      operation: 'apply',
      lockTimeoutMs: opts.lockTimeoutMs,
    }));
    const { store, paths } = locked;

    const unfinished = await store.unfinishedRun();
    if (unfinished?.operation === 'rollback') {
      throw new RotateError(
        'APPLY_ROLLBACK_UNFINISHED',
        `an unfinished rollback (run ${unfinished.id}, ${unfinished.status}) is recorded in ${paths.state}`,
        {
          hint: 'finish it first with `rotate rollback`',
        },
      );
    }
    if (unfinished && saved) {
      throw new RotateError(
        'APPLY_RUN_UNFINISHED',
        `an unfinished run (${unfinished.id}, ${unfinished.status}) is recorded in ${paths.state}; ` +
          'a saved plan cannot be applied on top of it',
        {
          hint:
            `resume it with \`rotate apply -f ${desiredFile}\` (it re-reads the cluster first), ` +
            `or undo it with \`rotate rollback -f ${desiredFile}\``,
        },
      );
    }

    // The cluster-wide run lease, before anything is planned or touched: one rotation per cluster, whatever
    // checkout or state file it runs from. A resume takes back the lease its killed process left.
    const runId = unfinished?.id ?? randomUUID();
    lease = await takeRunLease(
      sink,
      session,
      { runLease: opts.runLease ?? true, takeOverExpiredLease: opts.takeOverExpiredLease ?? false },
      {
        runId,
        operation: 'apply',
        statePath: paths.state,
        desiredFile: session.desired.file,
        reclaimable: unfinished ? [unfinished.id] : [],
      },
    );

    const escrowKeyFor = escrowLookup(paths.dir);

    let run: Run;
    let prepared: Prepared;
    if (unfinished) {
      // Resume: the state can lag reality, so plan again from the live cluster towards the run's target.
      const target = targetFromPlan(unfinished.plan);
      const escrowed = await store.escrowedKeys();
      const built = await buildPlan(
        session,
        { ...opts, unsettled: startedNodes(unfinished) },
        target,
        escrowKeyFor,
        await escrowedCertificates(escrowed),
      );
      emitDesiredWarnings(relevantDesiredWarnings(desiredWarnings.afterObserve, session.desired, built.nodes));
      // A node removed from the cluster for good and from the desired state: go on without it once the
      // cluster shows it gone, and say what was checked.
      const dropped = droppedNodes(
        runPlans(unfinished),
        listedNodes(session.desired).map((n) => n.address),
        built.members,
        built.kubeNodes,
      );
      refuseDroppedInCluster(dropped, session.desired.file);
      const carried = carryExtensionAuth(built.plan, runPlans(unfinished));
      prepared = { session, built, plan: carried };
      showPlan(sink, opts, built);
      refuseIfRefused(built.plan);
      const stepsDone = unfinished.steps.filter((s) => s.status === 'done').length;
      const inFlight = startedNodes(unfinished);
      if (
        !(await approve(
          sink,
          opts,
          makeQuestion('confirm-resume', { runId: unfinished.id, previousStatus: unfinished.status }),
        ))
      )
        return;
      run = await store.resumeRun(unfinished.id);
      run = await store.replanRun(run.id, stripDiffs(carried));
      if (dropped.length > 0) {
        // A later rollback works on the cluster as it is now, not on the node that is gone.
        await store.setRunCluster(run.id, runClusterOf(session));
        for (const d of dropped) {
          sink.emit(
            makeEvent('node-dropped', {
              runId: run.id,
              address: d.address,
              hostname: d.hostname,
              role: d.role,
              talosMember: d.talosMember as 'absent' | 'unknown',
              kubernetesNode: d.kubernetesNode as 'absent' | 'unknown',
            }),
          );
        }
      }
      sink.emit(
        makeEvent('run-resume', {
          runId: run.id,
          operation: 'apply',
          previousStatus: unfinished.status,
          stepsDone,
          steps: unfinished.steps.length,
          nodesInFlight: inFlight,
        }),
      );
    } else {
      const built = await buildPlan(session, saved ? { ...opts, nodeDryRun: false, chainConfigs: false } : opts);
      emitDesiredWarnings(relevantDesiredWarnings(desiredWarnings.afterObserve, session.desired, built.nodes));
      let plan = built.plan;
      if (saved) {
        const reasons = staleReasons(saved, session, built.nodes);
        if (reasons.length > 0) throw staleError(opts.planFile ?? 'plan', reasons);
        plan = saved.plan; // the saved plan is the approval
        // Its batch sizes are an upper bound; this run's own flags may only lower them (as --parallelism always did).
        const lowered = loweredBatches(plan, {
          parallelism: resolveParallelism(opts.parallelism, plan.basedOn.nodes.length),
          maxUnavailable: opts.maxUnavailable,
        });
        if (lowered)
          sink.emit(
            makeEvent('warning', {
              warningCode: 'APPLY_BATCHES_LOWERED',
              text: lowered,
              hint:
                "pass the plan's own --parallelism and --max-unavailable to apply it with the batches it was " +
                'made with',
            }),
          );
      } else {
        showPlan(sink, opts, built);
        const bundleNote = noSecretsBundleWarning(plan, session.desired.cluster.secretsBundle);
        if (bundleNote)
          sink.emit(
            makeEvent('warning', { warningCode: bundleNote.code, text: bundleNote.text, hint: bundleNote.hint }),
          );
      }
      refuseIfRefused(plan);
      if (!plan.changes) {
        sink.emit(
          makeEvent('warning', {
            warningCode: 'APPLY_NO_CHANGES',
            text: 'No changes: the cluster already matches the desired CA state.',
            hint: null,
          }),
        );
        return;
      }
      if (
        !saved &&
        !(await approve(
          sink,
          opts,
          makeQuestion('confirm-apply', {
            steps: plan.steps.length,
            nodes: plan.summary.nodesChanged,
            verdict: plan.verdict,
          }),
        ))
      )
        return;
      prepared = { session, built, plan };
      // Keys first: nothing is touched until every key this run introduces or a rollback needs is on disk.
      const escrowed = await escrowKeys(paths.dir, escrowItems(session, built, plan));
      run = await store.startRun({
        id: runId,
        operation: 'apply',
        plan: stripDiffs(plan),
        before: beforeFromObserved(built.observed),
        cluster: runClusterOf(session),
      });
      for (const k of escrowed) {
        await store.recordKey(run.id, {
          api: k.api,
          fingerprint: k.fingerprint,
          role: k.role,
          file: k.file,
          ...(k.certificateFile ? { certificateFile: k.certificateFile } : {}),
        });
        sink.emit(
          makeEvent('key-escrowed', {
            api: k.api,
            fingerprint: k.fingerprint,
            role: k.role,
            file: k.file,
            kept: k.kept,
          }),
        );
      }
      sink.emit(
        makeEvent('run-start', {
          runId: run.id,
          operation: 'apply',
          steps: plan.steps.length,
          nodes: plan.summary.nodesChanged,
          statePath: paths.state,
        }),
      );
    }

    const started = Date.now();
    const parallelism = resolveParallelism(opts.parallelism, prepared.plan.basedOn.nodes.length);
    try {
      await executePlan({
        session,
        plan: prepared.plan,
        catalog: prepared.built.catalog,
        keyFor: escrowKeyFor,
        runId: run.id,
        stateDir: paths.dir,
        journal: storeJournal(store, run.id),
        reporter: sinkReporter(sink, run.id, prepared.plan.steps.length),
        parallelism,
        maxUnavailable: opts.maxUnavailable,
        ...(opts.applyLockWaitMs !== undefined ? { applyLockWaitMs: opts.applyLockWaitMs } : {}),
        signal: stopSignal(stopSignals, lease),
        runLease: lease,
        workloadPhase: workloadPhaseOf(prepared.plan, unfinished ? runPlans(unfinished) : [], {
          sink,
          store,
          runId: run.id,
          policy: session.desired.workloads,
          override: opts.workloads,
          batchSize: parallelism,
          signal: stopSignals.signal,
        }),
      });
    } catch (caught) {
      // A lost run lease stops the engine like Ctrl-C does; the run then failed for that reason.
      const err =
        lease?.lostError && caught instanceof ApplyInterrupted && !stopSignals.signal.aborted
          ? lease.lostError
          : caught;
      const interrupted = err instanceof ApplyInterrupted;
      await store.finishRun(run.id, interrupted ? 'interrupted' : 'failed', err);
      const current = (await store.read())?.runs.find((r) => r.id === run.id);
      const stepId = current?.steps.find((s) => s.status === 'started' || s.status === 'failed')?.id ?? null;
      if (interrupted) {
        const inFlight =
          current?.steps.flatMap((s) => s.nodes.filter((n) => n.status === 'started').map((n) => n.address)) ?? [];
        sink.emit(
          makeEvent('run-interrupted', {
            runId: run.id,
            operation: 'apply',
            stepId,
            nodesInFlight: inFlight,
            reason: stopSignals.reason() ?? 'signal',
          }),
        );
      } else {
        sink.emit(makeEvent('run-failed', { runId: run.id, operation: 'apply', stepId, error: toErrorRecord(err) }));
      }
      throw err;
    }
    // Files converge to the target even if a crash fell between a gate and its output write.
    for (const o of await reconcileOutputs({
      session,
      target: targetFromPlan(prepared.plan),
      changed: changedApis([prepared.plan, ...(unfinished ? runPlans(unfinished) : [])]),
      catalog: prepared.built.catalog,
      keyFor: escrowKeyFor,
      runId: run.id,
      stateDir: paths.dir,
      controlPlanes: prepared.plan.basedOn.nodes.filter((n) => n.role === 'controlplane').map((n) => n.address),
    })) {
      await store.recordOutput(run.id, { kind: o.kind, path: o.path, backupPath: o.backupPath, step: null });
      sink.emit(makeEvent('output-written', { stepId: null, kind: o.kind, path: o.path, backupPath: o.backupPath }));
    }
    await store.finishRun(run.id, 'complete');
    await pruneBackups(paths.dir, (await store.read())?.runs ?? []);
    const finished = (await store.read())?.runs.find((r) => r.id === run.id);
    sink.emit(
      makeEvent('run-complete', {
        runId: run.id,
        operation: 'apply',
        steps: prepared.plan.steps.length,
        nodesChanged: prepared.plan.summary.nodesChanged,
        durationMs: Date.now() - started,
      }),
    );
    sink.emit(makeEvent('run-summary', { runId: run.id, operation: 'apply', ...runSummary(finished, prepared.plan) }));
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

/**
 * What the escrow must hold before the first patch: the key of every CA the plan makes issuing (from the
 * desired state) and the current issuing key of each API it changes (from a control plane's config), which
 * a rollback needs.
 */
function escrowItems(session: Session, built: BuiltPlan, plan: Plan): EscrowItem[] {
  const items: EscrowItem[] = [];
  const cp = built.nodes.find((n) => n.ca.role === 'controlplane');
  for (const api of ['talos', 'kubernetes'] as const) {
    if (!plan.steps.some((s) => s.apis.includes(api))) continue;
    const issuing = plan.authorities.find((a) => a.api === api && a.disposition === 'issuing');
    const authority =
      issuing &&
      Object.values(session.desired.authorities).find((a) => a.certificate.fingerprint === issuing.fingerprint);
    const current = cp?.ca[api].issuing;
    if (authority && authority.certificate.fingerprint !== current?.fingerprint)
      items.push(authorityKeyItem(authority, api, 'new-issuing'));
    if (cp && current) {
      items.push(
        machineConfigKeyItem({
          api,
          role: 'previous-issuing',
          certPem: current.certPem,
          fingerprint: current.fingerprint,
          name: plan.authorities.find((a) => a.fingerprint === current.fingerprint)?.name ?? null,
          node: cp.address,
          config: cp.config,
        }),
      );
    }
  }
  return items;
}

/**
 * The workload phase of this run: after the step that makes the control planes serve the Kubernetes API
 * from the new CA (or, on a resume whose plan no longer has that step, after the last step). Absent when
 * the run changes no issuing Kubernetes CA. Report only (the default) lists and records what is left and
 * never fails the run; a restart that cannot finish stops it (a resume continues without restarting twice).
 */
export function workloadPhaseOf(
  plan: Plan,
  /** The run's earlier plans, when resumed: the current one and those earlier re-plans replaced, any order. */
  earlier: readonly Plan[],
  ctx: {
    sink: EventSink;
    store: StateStore;
    runId: string;
    policy: WorkloadPolicy | undefined;
    override: 'restart' | 'report' | undefined;
    batchSize: number;
    signal: AbortSignal;
    /** Rollback: its own phase after the revert step, for the pods started since the rolled-back run's issue step. */
    operation?: 'apply' | 'rollback';
    startedAfter?: string;
  },
): EngineDeps['workloadPhase'] {
  const here = kubernetesServerChange(plan);
  // A run resumed twice: its latest re-plan may lack the issue step as well; any earlier plan had it.
  const change = here ?? earlier.map((p) => kubernetesServerChange(p)).find((c) => c !== null) ?? null;
  if (!change) return undefined;
  const operation = ctx.operation ?? 'apply';
  const { mode, modeSource } = workloadPhaseMode(ctx.policy, ctx.override);
  const mayRestart = mode !== 'report';
  return {
    afterStep: here ? here.issueStep : null,
    run: async (kubeconfig) => {
      const source = async () => kubeconfig();
      ctx.sink.emit(
        makeEvent('workload-phase', {
          runId: ctx.runId,
          operation,
          afterStep: here ? here.issueStep : null,
          mode,
          modeSource,
          podsStartedAfter: ctx.startedAfter ?? null,
        }),
      );
      try {
        await runWorkloadPhase({
          inventory: async () => readWorkloadInventory(await source()),
          rootCaLagging: async (namespaces, newCa) => rootCaLagging(await source(), namespaces, newCa),
          api: lazyWorkloadApi(source),
          evictions: lazyEvictionApi(source),
          records: async () => (await ctx.store.read())?.runs.find((r) => r.id === ctx.runId)?.workloads ?? [],
          record: (r) => ctx.store.recordWorkload(ctx.runId, r),
          policy: ctx.policy,
          override: ctx.override,
          newCa: change.newCa,
          batchSize: ctx.batchSize,
          now: () => new Date(),
          timeoutMs: WORKLOAD_ROLLOUT_TIMEOUT_MS,
          signal: ctx.signal,
          onWorkload: (w, status, detail) =>
            ctx.sink.emit(
              makeEvent('workload', { namespace: w.namespace, kind: w.kind, name: w.name, status, detail }),
            ),
          operation,
          ...(ctx.startedAfter !== undefined ? { startedAfter: ctx.startedAfter } : {}),
        });
      } catch (err) {
        if (mayRestart) throw err;
        // Report only: what could not be listed is said, and the rotation itself is done.
        ctx.sink.emit(
          makeEvent('warning', {
            warningCode: 'APPLY_WORKLOADS_UNLISTED',
            text:
              'the workloads that hold the old Kubernetes API CA could not be ' +
              `listed: ${RotateError.is(err) ? err.message : String(err)}`,
            hint:
              'list them with `rotate plan` (before a rotation) or check pods started before the Kubernetes ' +
              'issue step by hand',
          }),
        );
      }
    },
  };
}

/** How long one workload's rollout may take (a Deployment's default progress deadline is 600 s). */
export const WORKLOAD_ROLLOUT_TIMEOUT_MS = 15 * 60_000;

function lazyEvictionApi(source: () => Promise<KubeconfigSource>): EvictionApi {
  let api: Promise<EvictionApi> | null = null;
  return {
    evict: async (namespace, pod) => (await (api ??= source().then((s) => evictionApi(s)))).evict(namespace, pod),
  };
}

function lazyWorkloadApi(source: () => Promise<KubeconfigSource>): WorkloadApi {
  let api: Promise<WorkloadApi> | null = null;
  const get = () => (api ??= source().then((s) => workloadApi(s)));
  return {
    read: async (kind, ns, name) => (await get()).read(kind, ns, name),
    patch: async (kind, ns, name, body) => (await get()).patch(kind, ns, name, body),
  };
}
