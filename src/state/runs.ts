/**
 * Pure edits of a state document: one function per progress fact (run started, node started, node done,
 * gate attempt, output written, …). Each checks that the fact follows from the recorded ones (a node is
 * `done` only after `started`, a step is `done` only when every node and its gate are), so a bug in the
 * engine surfaces as an error instead of a state that lies. No I/O, no clock: the store passes `now`.
 */
import { RotateError } from '../domain/errors.js';
import type { ObservedNode, Plan, Step } from '../plan/model/index.js';
import { containsKeyMaterial } from './key-material.js';
import {
  EVENTS_CAP,
  GATE_CHECKS,
  type GateCheck,
  type GateCheckRecord,
  type ErrorRecord,
  type EventRecord,
  type GateRecord,
  type KeyRecord,
  type WorkloadRecord,
  type NodeBefore,
  type NodeFingerprints,
  type NodeRecord,
  type OutputRecord,
  type Run,
  type RunCluster,
  type RunOperation,
  type RunStatus,
  type StateDocument,
  type StepRecord,
} from './types.js';

/** The `before` records of a run from the nodes the plan was made against (the plan input's ObservedNode). */
export function beforeFromObserved(nodes: readonly ObservedNode[]): NodeBefore[] {
  return nodes.map((n) => ({
    address: n.address,
    nodeId: n.nodeId,
    role: n.role,
    talos: { issuing: n.talos.issuing, accepted: [...n.talos.accepted] },
    kubernetes: { issuing: n.kubernetes.issuing, accepted: [...n.kubernetes.accepted], style: n.kubernetes.style },
    configDigest: n.configDigest,
  }));
}

export interface NewRun {
  id: string;
  operation: RunOperation;
  plan: Plan;
  before: NodeBefore[];
  who: string;
  pid: number;
  toolVersion: string;
  cluster?: RunCluster;
  rollbackOf?: string;
}

/** Anything thrown → what the state records: a RotateError's code, message and hint; never key material. */
export function toErrorRecord(err: unknown): ErrorRecord {
  const e = err as { code?: unknown; message?: unknown; hint?: unknown } | null;
  // A RotateError's code, or a system error's (ECONNRESET…); anything else is a bug, under the code
  // docs/errors.md gives bugs that are not RotateErrors (as `rotate plan --json` reports them).
  const code = typeof e?.code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(e.code) ? e.code : 'CLI_INTERNAL';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const record: ErrorRecord = {
    code,
    message: containsKeyMaterial(message) ? '(message withheld: it held key material)' : message,
  };
  if (typeof e?.hint === 'string' && !containsKeyMaterial(e.hint)) record.hint = e.hint;
  return record;
}

function bug(message: string): RotateError {
  return new RotateError('STATE_TRANSITION_INVALID', message, {
    hint: 'the state on disk was not changed',
    source: 'internal',
  });
}

const UNFINISHED: readonly RunStatus[] = ['running', 'interrupted', 'failed'];

export function isUnfinished(run: Run): boolean {
  return UNFINISHED.includes(run.status);
}

/** The most recent run that is running (its process crashed, if we hold the lock), interrupted or failed. */
export function unfinishedRunOf(doc: StateDocument | null): Run | null {
  if (!doc) return null;
  for (let i = doc.runs.length - 1; i >= 0; i--) {
    const run = doc.runs[i]!;
    if (isUnfinished(run)) return run;
  }
  return null;
}

function stepHasGate(step: Step): boolean {
  return Boolean(step.gate.talos || step.gate.kubernetes);
}

function newStepRecord(step: Step): StepRecord {
  const checks: GateRecord['checks'] = {};
  for (const check of GATE_CHECKS)
    if (step.gate[check]) checks[check] = { status: 'pending', attempts: 0, lastError: null };
  const gate: GateRecord = {
    status: stepHasGate(step) ? 'pending' : 'not-required',
    attempts: 0,
    lastError: null,
    startedAt: null,
    finishedAt: null,
    checks,
  };
  return {
    id: step.id,
    index: step.index,
    status: 'pending',
    startedAt: null,
    finishedAt: null,
    gate,
    nodes: step.nodes.map((n): NodeRecord => ({
      address: n.address,
      status: 'pending',
      attempts: 0,
      startedAt: null,
      finishedAt: null,
      before: null,
      after: null,
    })),
  };
}

export function addRun(doc: StateDocument, input: NewRun, now: string): Run {
  if (doc.runs.some((r) => r.id === input.id)) throw bug(`run ${input.id} exists already`);
  const run: Run = {
    id: input.id,
    operation: input.operation,
    status: 'running',
    startedAt: now,
    finishedAt: null,
    who: input.who,
    pid: input.pid,
    toolVersion: input.toolVersion,
    resumes: [],
    plan: structuredClone(input.plan),
    before: structuredClone(input.before),
    steps: input.plan.steps.map(newStepRecord),
    outputs: [],
    keys: [],
    ...(input.cluster ? { cluster: structuredClone(input.cluster) } : {}),
    ...(input.rollbackOf ? { rollbackOf: input.rollbackOf } : {}),
  };
  doc.runs.push(run);
  return run;
}

/** A run of the document, to read (edits go through editRun). */
export function findRun(doc: StateDocument, runId: string): Run {
  const run = doc.runs.find((r) => r.id === runId);
  if (!run) throw bug(`no run ${runId} in the state`);
  return run;
}

/**
 * A run of the document, to edit. A finished run is frozen once written and shared by the copies of the
 * document made for later edits (codec.ts, store.ts cloneForEdit): it is replaced in `doc` by a copy first.
 */
function editRun(doc: StateDocument, runId: string): Run {
  const i = doc.runs.findIndex((r) => r.id === runId);
  if (i < 0) throw bug(`no run ${runId} in the state`);
  let run = doc.runs[i]!;
  if (Object.isFrozen(run)) doc.runs[i] = run = copyRunForEdit(run);
  return run;
}

/**
 * A copy of a run to edit, sharing its plans: a plan is recorded once and never edited in place (a replan
 * replaces it), and copying it on every node event was most of a write's cost at 200 nodes.
 */
export function copyRunForEdit(run: Run): Run {
  const r = {} as Record<string, unknown>;
  for (const [key, value] of Object.entries(run)) {
    if (key === 'plan') r[key] = value;
    else if (key === 'resumes') r[key] = (value as Run['resumes']).map(copyResume);
    else if (key === 'steps') r[key] = (value as StepRecord[]).map(shareFrozen);
    else if (key === 'before') r[key] = shareFrozen(value);
    else r[key] = structuredClone(value);
  }
  return r as unknown as Run;
}

/**
 * `value` itself when frozen, else a copy. The codec freezes a run's step records, their node records and its
 * `before` list once they are written in full (codec.ts frozenParts): shared by the copies, they are copied
 * only to be edited (editStep, editNode; `before` is never edited), so a node event copies one node record and
 * the shell of its step, not the whole run.
 */
function shareFrozen<T>(value: T): T {
  return Object.isFrozen(value) ? value : structuredClone(value);
}

function copyResume(resume: Run['resumes'][number]): Run['resumes'][number] {
  const { replanned, ...rest } = resume;
  const copy = structuredClone(rest) as Run['resumes'][number];
  if (replanned) copy.replanned = { plan: replanned.plan, steps: structuredClone(replanned.steps) };
  return copy;
}

function runningRun(doc: StateDocument, runId: string): Run {
  const run = editRun(doc, runId);
  if (run.status !== 'running') throw bug(`run ${runId} is ${run.status}, not running`);
  return run;
}

function findStep(run: Run, stepId: string): StepRecord {
  const step = run.steps.find((s) => s.id === stepId);
  if (!step) throw bug(`run ${run.id} has no step ${stepId}`);
  return step;
}

/**
 * Makes every run, step record, node record and `before` list of `doc` (a copy made for an edit) editable in
 * place: the frozen ones, shared with the stored document, are replaced by copies. For edits made outside
 * this module (StateReadWrite.write); the recorder's own edits copy only what they change.
 */
export function thawDocument(doc: StateDocument): void {
  doc.runs = doc.runs.map((run) => {
    const r = Object.isFrozen(run) ? copyRunForEdit(run) : run;
    r.steps = r.steps.map((step) => {
      if (Object.isFrozen(step)) return structuredClone(step);
      // A step an earlier edit of the same batch copied still shares its node records.
      step.nodes = step.nodes.map((n) => (Object.isFrozen(n) ? structuredClone(n) : n));
      return step;
    });
    if (Object.isFrozen(r.before)) r.before = structuredClone(r.before);
    return r;
  });
}

/**
 * A step of a run being edited, to edit: a frozen step (see shareFrozen) is replaced in the run by a copy
 * first, which still shares its node records (editNode copies the one it changes).
 */
function editStep(run: Run, stepId: string): StepRecord {
  const i = run.steps.findIndex((s) => s.id === stepId);
  if (i < 0) throw bug(`run ${run.id} has no step ${stepId}`);
  let step = run.steps[i]!;
  if (Object.isFrozen(step)) {
    const copy = structuredClone({ ...step, nodes: [] as NodeRecord[] });
    copy.nodes = [...step.nodes];
    run.steps[i] = step = copy;
  }
  return step;
}

function startedStep(doc: StateDocument, runId: string, stepId: string): StepRecord {
  const step = editStep(runningRun(doc, runId), stepId);
  if (step.status !== 'started') throw bug(`step ${stepId} of run ${runId} is ${step.status}, not started`);
  return step;
}

/** A node record of a step being edited, to edit: a frozen one is replaced in the step by a copy first. */
function editNode(step: StepRecord, address: string): NodeRecord {
  const i = step.nodes.findIndex((n) => n.address === address);
  if (i < 0) throw bug(`step ${step.id} has no node ${address}`);
  let node = step.nodes[i]!;
  if (Object.isFrozen(node)) step.nodes[i] = node = structuredClone(node);
  return node;
}

/** Moves a node of a started step to `status`, from one of `allowed` (anything else is a bug). */
function markNode(
  doc: StateDocument,
  runId: string,
  stepId: string,
  address: string,
  allowed: NodeRecord['status'][],
  status: NodeRecord['status'],
): NodeRecord {
  const step = startedStep(doc, runId, stepId);
  const node = editNode(step, address);
  if (!allowed.includes(node.status))
    throw bug(`cannot mark node ${node.address} of step ${step.id} ${status}: it is ${node.status}`);
  node.status = status;
  return node;
}

export function resumeRun(doc: StateDocument, runId: string, now: string, toolVersion: string): Run {
  const run = editRun(doc, runId);
  if (!isUnfinished(run)) throw bug(`run ${runId} is ${run.status} and cannot be resumed`);
  run.resumes.push({ at: now, from: run.status, toolVersion });
  run.status = 'running';
  run.finishedAt = null;
  delete run.error;
  return run;
}

/**
 * Replace a resumed run's plan with one made from the live cluster (nodes may be ahead of the records: a
 * patch can land without its reply). The replaced plan and step records move into the last resume entry.
 */
export function replanRun(doc: StateDocument, runId: string, plan: Plan): Run {
  const run = runningRun(doc, runId);
  const last = run.resumes[run.resumes.length - 1];
  if (!last) throw bug(`run ${runId} was not resumed; only a resumed run is re-planned`);
  last.replanned = { plan: run.plan, steps: run.steps };
  run.plan = structuredClone(plan);
  run.steps = plan.steps.map(newStepRecord);
  return run;
}

/** A resumed run's cluster as the desired state says now (a node removed for good is no longer in it). */
export function setRunCluster(doc: StateDocument, runId: string, cluster: RunCluster): void {
  runningRun(doc, runId).cluster = structuredClone(cluster);
}

export function setStepStarted(doc: StateDocument, runId: string, stepId: string, now: string): void {
  const step = editStep(runningRun(doc, runId), stepId);
  if (step.status === 'started') return;
  if (step.status !== 'pending' && step.status !== 'failed')
    throw bug(`cannot start step ${stepId}: it is ${step.status}`);
  step.status = 'started';
  step.startedAt = now;
  step.finishedAt = null;
  delete step.error;
  if (step.gate.status === 'failed') {
    // A failed gate is checked again when the step is restarted.
    for (const c of Object.values(step.gate.checks)) if (c.status === 'failed') c.status = 'pending';
    settleGate(step, now);
    step.gate.finishedAt = null;
  }
}

export function setNodeStarted(
  doc: StateDocument,
  runId: string,
  stepId: string,
  address: string,
  before: NodeFingerprints,
  now: string,
): void {
  const node = markNode(doc, runId, stepId, address, ['pending', 'started', 'failed'], 'started');
  node.attempts += 1;
  node.startedAt = now;
  node.finishedAt = null;
  node.before = structuredClone(before);
  node.after = null;
}

export function setNodeDone(
  doc: StateDocument,
  runId: string,
  stepId: string,
  address: string,
  after: NodeFingerprints,
  now: string,
): void {
  const node = markNode(doc, runId, stepId, address, ['started'], 'done');
  node.finishedAt = now;
  node.after = structuredClone(after);
}

export function setNodeSkipped(
  doc: StateDocument,
  runId: string,
  stepId: string,
  address: string,
  reason: string,
  now: string,
  observed?: NodeFingerprints,
): void {
  const node = markNode(doc, runId, stepId, address, ['pending', 'started', 'failed'], 'skipped');
  node.skipReason = reason;
  node.finishedAt = now;
  if (observed) node.after = structuredClone(observed);
}

export function setNodeFailed(
  doc: StateDocument,
  runId: string,
  stepId: string,
  address: string,
  error: ErrorRecord,
  now: string,
): void {
  const node = markNode(doc, runId, stepId, address, ['pending', 'started', 'failed'], 'failed');
  node.error = error;
  node.finishedAt = now;
}

function gateOf(
  doc: StateDocument,
  runId: string,
  stepId: string,
  check: GateCheck | undefined,
): { step: StepRecord; targets: GateCheckRecord[] } {
  const step = startedStep(doc, runId, stepId);
  if (step.gate.status === 'not-required') throw bug(`step ${stepId} has no gate`);
  if (check === undefined) return { step, targets: Object.values(step.gate.checks) };
  const record = step.gate.checks[check];
  if (!record) throw bug(`the gate of step ${stepId} has no ${check} check`);
  return { step, targets: [record] };
}

/** The whole gate from its checks: passed when all passed, failed when one failed, else checking/pending. */
function settleGate(step: StepRecord, now: string): void {
  const checks = Object.values(step.gate.checks);
  const g = step.gate;
  if (checks.length === 0) return;
  if (checks.every((c) => c.status === 'passed')) g.status = 'passed';
  else if (checks.some((c) => c.status === 'failed')) g.status = 'failed';
  else if (checks.some((c) => c.status === 'checking' || c.status === 'passed')) g.status = 'checking';
  else g.status = 'pending';
  g.finishedAt = g.status === 'passed' || g.status === 'failed' ? now : null;
  if (g.status === 'passed') g.lastError = null;
}

/** One check of the gate (or of one of its checks); `error` null when it found nothing wrong. */
export function setGateAttempt(
  doc: StateDocument,
  runId: string,
  stepId: string,
  error: ErrorRecord | null,
  now: string,
  check?: GateCheck,
): void {
  const { step, targets } = gateOf(doc, runId, stepId, check);
  if (targets.every((c) => c.status === 'passed'))
    throw bug(`the ${check ? `${check} check of the ` : ''}gate of step ${stepId} passed already`);
  for (const c of targets) {
    if (c.status === 'passed') continue;
    c.status = 'checking';
    c.attempts += 1;
    c.lastError = error;
  }
  step.gate.attempts += 1;
  step.gate.lastError = error ?? step.gate.lastError;
  step.gate.startedAt ??= now;
  settleGate(step, now);
}

/** The gate (or one check) passed; `attempts`, when given, is the total the caller counted. */
export function setGatePassed(
  doc: StateDocument,
  runId: string,
  stepId: string,
  now: string,
  check?: GateCheck,
  attempts?: number,
): void {
  finishChecks(doc, runId, stepId, now, null, check, attempts);
}

export function setGateFailed(
  doc: StateDocument,
  runId: string,
  stepId: string,
  error: ErrorRecord,
  now: string,
  check?: GateCheck,
  attempts?: number,
): void {
  finishChecks(doc, runId, stepId, now, error, check, attempts);
}

/** Passed (no error) or failed: the checks' outcome, the gate's attempt total, then the gate's status. */
function finishChecks(
  doc: StateDocument,
  runId: string,
  stepId: string,
  now: string,
  error: ErrorRecord | null,
  check?: GateCheck,
  attempts?: number,
): void {
  const { step, targets } = gateOf(doc, runId, stepId, check);
  for (const c of targets) {
    c.status = error ? 'failed' : 'passed';
    c.lastError = error;
    if (attempts !== undefined) c.attempts = Math.max(c.attempts, attempts);
  }
  step.gate.attempts = Math.max(
    step.gate.attempts,
    Object.values(step.gate.checks).reduce((n, c) => n + c.attempts, 0),
  );
  if (error) step.gate.lastError = error;
  step.gate.startedAt ??= now;
  settleGate(step, now);
}

export function setStepDone(doc: StateDocument, runId: string, stepId: string, now: string): void {
  const step = startedStep(doc, runId, stepId);
  const open = step.nodes.filter((n) => n.status !== 'done' && n.status !== 'skipped');
  if (open.length > 0)
    throw bug(
      `step ${stepId} cannot be done: node(s) ${open.map((n) => `${n.address} (${n.status})`).join(', ')} are not`,
    );
  if (step.gate.status !== 'passed' && step.gate.status !== 'not-required')
    throw bug(`step ${stepId} cannot be done: its gate is ${step.gate.status}`);
  step.status = 'done';
  step.finishedAt = now;
}

export function setStepFailed(
  doc: StateDocument,
  runId: string,
  stepId: string,
  error: ErrorRecord,
  now: string,
): void {
  const step = editStep(runningRun(doc, runId), stepId);
  if (step.status !== 'started' && step.status !== 'pending')
    throw bug(`cannot mark step ${stepId} failed: it is ${step.status}`);
  step.status = 'failed';
  step.error = error;
  step.finishedAt = now;
}

export function setStepSkipped(doc: StateDocument, runId: string, stepId: string, reason: string, now: string): void {
  const step = editStep(runningRun(doc, runId), stepId);
  if (step.status !== 'pending') throw bug(`cannot skip step ${stepId}: it is ${step.status}`);
  step.status = 'skipped';
  step.skipReason = reason;
  step.finishedAt = now;
}

export function addOutput(
  doc: StateDocument,
  runId: string,
  output: Omit<OutputRecord, 'writtenAt'>,
  now: string,
): void {
  const run = runningRun(doc, runId);
  if (output.step !== null) findStep(run, output.step);
  run.outputs.push({
    kind: output.kind,
    path: output.path,
    backupPath: output.backupPath,
    writtenAt: now,
    step: output.step,
  });
}

/** Idempotent per (api, fingerprint): a key escrowed again is recorded once, with its latest role and file. */
export function addKey(doc: StateDocument, runId: string, key: Omit<KeyRecord, 'recordedAt'>, now: string): void {
  const run = editRun(doc, runId);
  const record: KeyRecord = {
    api: key.api,
    fingerprint: key.fingerprint,
    role: key.role,
    file: key.file,
    recordedAt: now,
  };
  if (key.certificateFile) record.certificateFile = key.certificateFile;
  const i = run.keys.findIndex((k) => k.api === key.api && k.fingerprint === key.fingerprint);
  if (i >= 0) run.keys[i] = { ...record, recordedAt: run.keys[i]!.recordedAt };
  else run.keys.push(record);
}

export type FinalStatus = 'interrupted' | 'failed' | 'complete';

export function finishRunIn(
  doc: StateDocument,
  runId: string,
  status: FinalStatus,
  error: ErrorRecord | null,
  now: string,
): void {
  const run = runningRun(doc, runId);
  if (status === 'complete') {
    const open = run.steps.filter((s) => s.status !== 'done' && s.status !== 'skipped');
    if (open.length > 0)
      throw bug(
        `run ${runId} cannot be complete: step(s) ${open.map((s) => `${s.id} (${s.status})`).join(', ')} are not done`,
      );
  }
  run.status = status;
  run.finishedAt = now;
  if (error) run.error = error;
}

/** An apply run whose changes a rollback run undid. */
export function setRolledBack(doc: StateDocument, runId: string, now: string): void {
  const run = editRun(doc, runId);
  if (run.operation !== 'apply') throw bug(`run ${runId} is a ${run.operation}, which cannot be rolled back`);
  if (run.status === 'running' || run.status === 'rolled-back')
    throw bug(`run ${runId} is ${run.status} and cannot be marked rolled back`);
  run.status = 'rolled-back';
  run.finishedAt ??= now;
}

export function appendEvents(doc: StateDocument, runId: string, events: EventRecord[]): void {
  if (events.length === 0 || !doc.runs.some((r) => r.id === runId)) return;
  const run = editRun(doc, runId);
  const all = [...(run.events ?? []), ...events];
  run.events = all.slice(Math.max(0, all.length - EVENTS_CAP));
}

/** An event as the state keeps it; one that holds key material is kept without its message and data. */
export function toEventRecord(event: EventRecord): EventRecord {
  const record: EventRecord = {
    time: event.time,
    code: event.code,
    type: event.type,
    level: event.level,
    message: event.message,
  };
  if (containsKeyMaterial(JSON.stringify(record)))
    return { ...record, message: '(event withheld: it held key material)' };
  if (event.data !== undefined) {
    const text = JSON.stringify(event.data);
    if (containsKeyMaterial(text)) return { ...record, message: '(event withheld: it held key material)' };
    if (text !== undefined) record.data = JSON.parse(text) as unknown;
  }
  return record;
}

/** Upsert per (namespace, kind, name): the workload phase's latest word on that workload. */
export function putWorkload(
  doc: StateDocument,
  runId: string,
  record: Omit<WorkloadRecord, 'updatedAt'>,
  now: string,
): void {
  const run = editRun(doc, runId);
  const list = (run.workloads ??= []);
  const full: WorkloadRecord = { ...record, updatedAt: now };
  const i = list.findIndex((w) => w.namespace === record.namespace && w.kind === record.kind && w.name === record.name);
  if (i >= 0) list[i] = full;
  else list.push(full);
}

/** Every plan a run has followed: its first, then each resume's re-plan, in order. */
export function runPlans(run: Pick<Run, 'plan' | 'resumes'>): Plan[] {
  return [run.plan, ...run.resumes.flatMap((r) => (r.replanned ? [r.replanned.plan] : []))];
}
