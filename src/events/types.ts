/**
 * What apply and rollback report, and how they ask (and what plan reports while it plans): coded, typed
 * events to one EventSink (as aws-cdk's IoHost), rendered live on a terminal, as plain lines in CI logs, or as
 * JSON lines. Event data carries fingerprints, addresses, ids, counts, paths and error records: types with no
 * room for a key.
 */
import type { ApiKind, Fingerprint, NodeRole } from '../domain/types.js';
import type { OutputKind } from '../plan/model/plan.js';

/** `result` goes to stdout (the outcome of the command); every other level goes to stderr. */
export type EventLevel = 'debug' | 'info' | 'warn' | 'error' | 'result';

/**
 * `TR_<AREA>_<I|W|E><4 digits>`, AREA `APPLY` (apply and rollback) or `PLAN` (`rotate plan`): first digit the
 * subject (1 run, 2 step, 3 node, 4 gate, 5 output, 6 lock and keys, 8 questions, 9 general), X900–X999 outcomes.
 */
export type EventCode = `TR_${'APPLY' | 'PLAN'}_${'I' | 'W' | 'E'}${number}`;

export type RunOperation = 'apply' | 'rollback';

/** An error as events carry it: a RotateError's code, message and hint. */
export interface EventError {
  code: string;
  message: string;
  hint?: string;
}

export interface ApiTrust {
  issuing: Fingerprint | null;
  accepted: Fingerprint[];
}

export interface NodeTrust {
  talos?: ApiTrust;
  kubernetes?: ApiTrust;
}

export interface LockHolder {
  id: string;
  who: string;
  operation: string;
  created: string;
  pid: number;
}

/** The holder of the cluster's run lease (kube-system/talos-rotate), as its annotations say. */
export interface RunLeaseHolder {
  runId: string;
  who: string;
  operation: string;
  statePath: string;
  desiredFile: string | null;
  renewTime: string | null;
  leaseDurationSeconds: number | null;
}

export type NodeSkipReason = 'already-at-target' | 'done-in-earlier-attempt' | 'not-in-step';
export type NodeProgressPhase = 'sending' | 'verifying' | 'waiting-for-kubelet' | 'retrying';
export type GateCheck = 'talos' | 'kubernetes';
export type AnswerSource = 'user' | 'default' | 'auto-approve';
/** The phases of `rotate plan` that go node by node. */
export type PlanProgressPhase = 'reading nodes' | 'node dry runs';

/** The data of each event type. Every field is a fingerprint, an address, an id, a count, a path or an error record. */
export interface EventDataMap {
  'run-start': { runId: string; operation: RunOperation; steps: number; nodes: number; statePath: string };
  'run-resume': {
    runId: string;
    operation: RunOperation;
    previousStatus: string;
    stepsDone: number;
    steps: number;
    nodesInFlight: string[];
  };
  'run-complete': { runId: string; operation: RunOperation; steps: number; nodesChanged: number; durationMs: number };
  'run-summary': {
    runId: string;
    operation: RunOperation;
    outputs: { kind: OutputKind; path: string; backupPath: string | null }[];
    notes: string[];
  };
  'run-interrupted': {
    runId: string;
    operation: RunOperation;
    stepId: string | null;
    nodesInFlight: string[];
    reason: string;
  };
  'run-failed': { runId: string; operation: RunOperation; stepId: string | null; error: EventError };
  'step-start': { runId: string; stepId: string; index: number; total: number; title: string; nodes: number };
  'wave-start': { stepId: string; wave: number; waves: number; role: NodeRole; nodes: string[] };
  'step-skipped': { stepId: string; index: number; total: number; title: string; reason: string };
  'step-complete': { stepId: string; index: number; total: number; durationMs: number };
  'step-failed': { stepId: string; index: number; total: number; error: EventError };
  'node-started': { stepId: string; address: string; hostname: string; role: NodeRole; before: NodeTrust };
  'node-progress': { stepId: string; address: string; phase: NodeProgressPhase };
  'node-skipped': { stepId: string; address: string; reason: NodeSkipReason };
  'node-retry': { stepId: string; address: string; attempt: number; retryInMs: number; error: EventError };
  'kubelet-restart': { stepId: string; address: string; observed: 'restarting' | 'ready' };
  'static-pods': { stepId: string; address: string; observed: 'waiting' | 'current'; renderVersion: string | null };
  'node-done': { stepId: string; address: string; after: NodeTrust; durationMs: number };
  'node-failed': { stepId: string; address: string; error: EventError };
  'gate-start': { stepId: string; checks: GateCheck[] };
  'gate-attempt': {
    stepId: string;
    check: GateCheck | null;
    attempt: number;
    ok: boolean;
    retryInMs: number | null;
    problem: EventError | null;
  };
  'gate-passed': { stepId: string; check: GateCheck | null; attempts: number; durationMs: number };
  'gate-failed': { stepId: string; check: GateCheck | null; attempts: number; error: EventError };
  'output-written': { stepId: string | null; kind: OutputKind; path: string; backupPath: string | null };
  'configmap-written': {
    stepId: string | null;
    namespace: string;
    name: string;
    field: string;
    written: boolean;
    absent: boolean;
    removed: string[];
    trusted: string[];
    conflicts: number;
    resourceVersion: string | null;
  };
  'workload-phase': {
    runId: string;
    operation: 'apply' | 'rollback';
    afterStep: number | null;
    mode: 'restart' | 'report' | 'mixed';
    modeSource: 'flag' | 'desired-state' | 'default';
    podsStartedAfter: string | null;
  };
  workload: {
    namespace: string;
    kind: string;
    name: string;
    status: 'started' | 'restarted' | 'evicted' | 'blocked' | 'reported' | 'ignored' | 'failed';
    detail: string | null;
  };
  'lock-wait': { statePath: string; holder: LockHolder; retryInMs: number; waitedMs: number };
  'lock-broken': { statePath: string; holder: LockHolder; reason: string };
  'run-lease-taken': {
    runId: string;
    namespace: string;
    name: string;
    server: string;
    how: 'created' | 'free' | 'same-run' | 'taken-over';
    previousHolder: RunLeaseHolder | null;
    leaseDurationSeconds: number;
    renewIntervalMs: number;
  };
  'run-lease-renew-failed': { runId: string; error: EventError; sinceRenewMs: number; renewDeadlineMs: number };
  'node-dropped': {
    runId: string;
    address: string;
    hostname: string;
    role: NodeRole;
    talosMember: 'absent' | 'unknown';
    kubernetesNode: 'absent' | 'unknown';
  };
  'run-lease-released': { runId: string; released: boolean; problem: string | null };
  'key-escrowed': {
    api: ApiKind;
    fingerprint: Fingerprint;
    role: 'new-issuing' | 'previous-issuing' | 'client';
    file: string;
    kept: boolean;
  };
  'question-answered': { question: string; answer: boolean; source: AnswerSource };
  warning: { warningCode: string; text: string; hint: string | null };
  error: { error: EventError };
  'event-withheld': { withheldCode: string };
  // rotate plan
  'plan-progress': { phase: PlanProgressPhase; done: number; total: number; elapsedMs: number };
  'plan-warning': { warningCode: string; text: string; hint: string | null };
  'plan-saved': { path: string; applyCommand: string };
}

export type EventType = keyof EventDataMap;

/** What events and questions both carry: their type and code, their text and their data. */
interface CodedMessage<K, D> {
  type: K;
  code: EventCode;
  message: string;
  data: D;
}

export interface EventOf<K extends EventType> extends CodedMessage<K, EventDataMap[K]> {
  level: EventLevel;
  /** ISO 8601 UTC. */
  time: string;
  /** User-safe text, rendered from the data. */
  message: string;
}

/** The discriminated union (on `type`) of every event. */
export type RotateEvent = { [K in EventType]: EventOf<K> }[EventType];

/** What apply may ask (confirmation prompts), each with a stable code. */
export interface QuestionMap {
  'confirm-apply': { steps: number; nodes: number; verdict: string };
  'confirm-disruption': { stepId: string; disruptions: number };
  'confirm-resume': { runId: string; previousStatus: string };
  'confirm-rollback': { runId: string; steps: number };
}

export type QuestionType = keyof QuestionMap;

export interface QuestionOf<K extends QuestionType> extends CodedMessage<K, QuestionMap[K]> {
  /** The prompt, without the `[y/N]` suffix. */
  message: string;
  /** What a non-interactive sink answers. `no` for anything destructive. */
  default: boolean;
}

export type Question = { [K in QuestionType]: QuestionOf<K> }[QuestionType];

/**
 * Where apply reports (as aws-cdk's IIoHost: notify + requestResponse). `emit` never throws and never
 * blocks; `ask` resolves with the answer (the default when nobody can answer, saying so).
 */
export interface EventSink {
  emit(event: RotateEvent): void;
  ask(question: Question): Promise<boolean>;
  /** Stop live rendering (TTY), flush; idempotent. */
  close?(): void;
}
