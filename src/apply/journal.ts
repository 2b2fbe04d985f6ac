/**
 * The engine's journal and reporter, wired to the state store (durable before the next action) and the
 * event sink (live, plain or JSON). Kept apart from the engine so the engine stays testable with fakes.
 */
import type { RotateError } from '../domain/errors.js';
import type { Step, StepNode, Wave } from '../plan/model/index.js';
import type { StateStore } from '../state/index.js';
import { toErrorRecord } from '../state/index.js';
import { makeEvent, type EventSink } from '../events/index.js';
import type { ApplyReporter, RunJournal } from './engine.js';
import type { NodeFingerprints } from './node-state.js';
import type { WrittenOutput } from './outputs.js';

export function storeJournal(store: StateStore, runId: string): RunJournal {
  return {
    stepStarted: (stepId) => store.markStepStarted(runId, stepId),
    nodeStarted: (stepId, address, before) => store.markNodeStarted(runId, stepId, address, before),
    nodeFinished: async (stepId, address, r) => {
      if (r.status === 'failed')
        await store.markNodeFailed(runId, stepId, address, { code: 'APPLY_NODE_FAILED', message: r.error });
      else if (r.status === 'done') await store.markNodeDone(runId, stepId, address, r.after);
      else await store.markNodeSkipped(runId, stepId, address, 'already at the target', r.after);
    },
    gateFinished: async (stepId, check, status, attempts, error) => {
      if (status === 'passed') await store.markGatePassed(runId, stepId, { check, attempts });
      else
        await store.markGateFailed(
          runId,
          stepId,
          { code: 'GATE_FAILED', message: error ?? 'gate failed' },
          { check, attempts },
        );
    },
    stepFinished: async (stepId, status) => {
      if (status === 'done') await store.markStepDone(runId, stepId);
      else if (status === 'failed')
        await store.markStepFailed(runId, stepId, { code: 'STEP_FAILED', message: `step ${stepId} failed` });
      // interrupted: the step stays `started`; the run is marked interrupted by the caller.
    },
    outputWritten: (stepId, o: WrittenOutput) =>
      store.recordOutput(runId, { kind: o.kind, path: o.path, backupPath: o.backupPath, step: stepId }),
  };
}

function trust(f: NodeFingerprints | undefined): {
  talos?: NodeFingerprints['talos'];
  kubernetes?: NodeFingerprints['kubernetes'];
} {
  return f ? { talos: f.talos, kubernetes: f.kubernetes } : {};
}

export function sinkReporter(sink: EventSink, runId: string, totalSteps: number): ApplyReporter {
  const emit = sink.emit.bind(sink);
  return {
    stepStarted: (step: Step, total: number) =>
      emit(
        makeEvent('step-start', {
          runId,
          stepId: step.id,
          index: step.index,
          total,
          title: step.title,
          nodes: step.nodes.length,
        }),
      ),
    waveStarted: (step: Step, wave: Wave) =>
      emit(
        makeEvent('wave-start', {
          stepId: step.id,
          wave: wave.index,
          waves: step.waves.length,
          role: wave.role,
          nodes: wave.nodes,
        }),
      ),
    nodeStarted: (step: Step, node: StepNode, before) =>
      emit(
        makeEvent('node-started', {
          stepId: step.id,
          address: node.address,
          hostname: node.hostname,
          role: node.role,
          before: trust(before),
        }),
      ),
    nodeFinished: (step: Step, node: StepNode, outcome, ms, after) =>
      outcome === 'already'
        ? emit(makeEvent('node-skipped', { stepId: step.id, address: node.address, reason: 'already-at-target' }))
        : emit(makeEvent('node-done', { stepId: step.id, address: node.address, after: trust(after), durationMs: ms })),
    nodeFailed: (step: Step, node: StepNode, err: RotateError) =>
      emit(makeEvent('node-failed', { stepId: step.id, address: node.address, error: toErrorRecord(err) })),
    kubelet: (step: Step, node: StepNode, phase) =>
      emit(
        makeEvent('kubelet-restart', {
          stepId: step.id,
          address: node.address,
          observed: phase === 'waiting' ? 'restarting' : 'ready',
        }),
      ),
    staticPods: (step: Step, node: StepNode, observed, secretsVersion) =>
      emit(
        makeEvent('static-pods', { stepId: step.id, address: node.address, observed, renderVersion: secretsVersion }),
      ),
    retry: (what, err) =>
      emit(
        makeEvent('warning', {
          warningCode: 'APPLY_RETRY',
          text: `retrying ${what}: ${toErrorRecord(err).message}`,
          hint: null,
        }),
      ),
    gateStarted: (step: Step, kind) => emit(makeEvent('gate-start', { stepId: step.id, checks: [kind] })),
    configMapWritten: (step: Step | null, w) =>
      emit(
        makeEvent('configmap-written', {
          stepId: step?.id ?? null,
          namespace: w.namespace,
          name: w.name,
          field: 'client-ca-file',
          written: w.outcome.written,
          absent: w.outcome.absent,
          removed: w.outcome.removed,
          trusted: w.trusted,
          conflicts: w.outcome.conflicts,
          resourceVersion: w.outcome.resourceVersion,
        }),
      ),
    gateAttempt: (step: Step, kind, attempt, problem) =>
      emit(
        makeEvent('gate-attempt', {
          stepId: step.id,
          check: kind,
          attempt,
          ok: false,
          retryInMs: null,
          problem: { code: 'GATE_NOT_YET', message: problem },
        }),
      ),
    gatePassed: (step: Step, kind, ms) =>
      emit(makeEvent('gate-passed', { stepId: step.id, check: kind, attempts: 1, durationMs: ms })),
    gateFailed: (step: Step, kind, attempts, err) =>
      emit(makeEvent('gate-failed', { stepId: step.id, check: kind, attempts, error: toErrorRecord(err) })),
    outputWritten: (step: Step, o) =>
      emit(makeEvent('output-written', { stepId: step.id, kind: o.kind, path: o.path, backupPath: o.backupPath })),
    stepFinished: (step: Step, ms) =>
      emit(makeEvent('step-complete', { stepId: step.id, index: step.index, total: totalSteps, durationMs: ms })),
    stepFailed: (step: Step, total, err) =>
      emit(makeEvent('step-failed', { stepId: step.id, index: step.index, total, error: toErrorRecord(err) })),
  };
}
