/**
 * The state store, shaped like Terraform's statemgr: small interfaces (read/write a snapshot, lock, record
 * run progress) composed into StateStore, one implementation over a lowdb adapter, and two adapters (a
 * private JSON file, memory) that pass one conformance suite.
 *
 * Writes are serialised (nodes of a wave report concurrently), each is one atomic replace of the whole
 * document with the serial bumped, and a write refuses to replace a state that changed on disk since this
 * store read it (another writer without the lock).
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { Low } from 'lowdb';
import { RotateError } from '../domain/errors.js';
import type { OutputKind, Plan } from '../plan/model/plan.js';
import { TOOL_VERSION } from '../version.js';
import { MemoryStateAdapter, MemoryStateBacking, PrivateJsonFile, type StateBackend } from './backends.js';
import type { StateLocation } from './codec.js';
import {
  acquireLock,
  breakLock,
  readLock,
  releaseLock,
  type LockInfo,
  type LockRequest,
  type LockStatus,
  type LockWaitOptions,
} from './lock.js';
import { currentWho } from '../util/process-identity.js';
import * as runs from './runs.js';
import {
  EVENTS_CAP,
  STATE_VERSION,
  type ErrorRecord,
  type EventRecord,
  type GateCheck,
  type KeyRecord,
  type NodeBefore,
  type NodeFingerprints,
  type Run,
  type RunCluster,
  type RunOperation,
  type StateDocument,
  type WorkloadRecord,
} from './types.js';

/** Read and replace whole snapshots (Terraform's Transient + Persistent). */
export interface StateReadWrite {
  readonly location: StateLocation;
  /** The document as stored now, or null when nothing was written yet. A copy: edit it through write(). */
  read(): Promise<StateDocument | null>;
  /**
   * Apply `mutate` to a copy of the current document (a new one, with a fresh lineage, when there is
   * none) and store it atomically with the serial bumped. A mutation that changes nothing writes nothing.
   * If `mutate` throws, nothing is written. Returns the document as stored.
   */
  write(mutate: (doc: StateDocument) => void): Promise<StateDocument>;
}

/** One apply or rollback per state at a time (Terraform's Locker). */
export interface StateLocker {
  lock(request: LockRequest, options?: LockWaitOptions): Promise<LockInfo>;
  /** Release our lock or break a stale one: the exact id; a live holder on this host only with `force`. */
  unlock(id: string, options?: { force?: boolean }): Promise<LockStatus>;
  lockStatus(): Promise<LockStatus | null>;
  /** Release a lock this store took; false when it had been broken meanwhile. */
  release(id: string): Promise<boolean>;
}

export interface StartRunInput {
  /** The run id, when the caller needed it earlier (the run lease names it); a new UUID otherwise. */
  id?: string;
  operation: RunOperation;
  plan: Plan;
  before: NodeBefore[];
  cluster?: RunCluster;
  rollbackOf?: string;
}

export interface OutputInput {
  kind: OutputKind;
  path: string;
  backupPath: string | null;
  step: string | null;
}

export type KeyInput = Omit<KeyRecord, 'recordedAt'>;

/** Progress of runs, steps and nodes; each call is one durable write. Errors: anything thrown (see toErrorRecord). */
export interface RunRecorder {
  startRun(input: StartRunInput): Promise<Run>;
  /** Continue an interrupted, failed or crashed run; its steps and nodes keep their statuses. */
  resumeRun(runId: string): Promise<Run>;
  /**
   * Replace a resumed run's plan with one made from the live cluster; the old plan and steps are kept in the resume
   * entry.
   */
  replanRun(runId: string, plan: Plan): Promise<Run>;
  /** A resumed run's cluster, as the desired state says now (a node removed for good is no longer in it). */
  setRunCluster(runId: string, cluster: RunCluster): Promise<void>;
  markStepStarted(runId: string, stepId: string): Promise<void>;
  /** Before the config is sent, with the fingerprints observed on the node. */
  markNodeStarted(runId: string, stepId: string, address: string, before: NodeFingerprints): Promise<void>;
  /** After the change was verified on the node. */
  markNodeDone(runId: string, stepId: string, address: string, after: NodeFingerprints): Promise<void>;
  /** Not patched (e.g. already at the target); `observed`, when given, is recorded as its `after`. */
  markNodeSkipped(
    runId: string,
    stepId: string,
    address: string,
    reason: string,
    observed?: NodeFingerprints,
  ): Promise<void>;
  markNodeFailed(runId: string, stepId: string, address: string, error: unknown): Promise<void>;
  /**
   * One gate check; `error` null when this attempt found nothing wrong. `check` names the gate's Talos or
   * Kubernetes check (a step may have both); without it, the call covers every check of the gate.
   */
  markGateAttempt(runId: string, stepId: string, error: unknown | null, check?: GateCheck): Promise<void>;
  /** The gate (or one check) passed; `attempts`, when given, is the number of checks the caller made. */
  markGatePassed(runId: string, stepId: string, options?: { check?: GateCheck; attempts?: number }): Promise<void>;
  markGateFailed(
    runId: string,
    stepId: string,
    error: unknown,
    options?: { check?: GateCheck; attempts?: number },
  ): Promise<void>;
  /** Only when every node is done or skipped and the gate passed (or is not required). */
  markStepDone(runId: string, stepId: string): Promise<void>;
  markStepFailed(runId: string, stepId: string, error: unknown): Promise<void>;
  markStepSkipped(runId: string, stepId: string, reason: string): Promise<void>;
  recordOutput(runId: string, output: OutputInput): Promise<void>;
  recordWorkload(runId: string, record: Omit<WorkloadRecord, 'updatedAt'>): Promise<void>;
  recordKey(runId: string, key: KeyInput): Promise<void>;
  finishRun(runId: string, status: runs.FinalStatus, error?: unknown): Promise<void>;
  /** Mark an apply run rolled back (after the rollback run that undid it completed). */
  markRolledBack(runId: string): Promise<void>;
  /** The most recent run that is `running` (crashed, when we hold the lock), `interrupted` or `failed`. */
  unfinishedRun(): Promise<Run | null>;
  /** Every key escrowed by any run, latest record per (api, fingerprint). */
  escrowedKeys(): Promise<KeyRecord[]>;
  /** Keep a progress event with the run; stored with the next write (no write of its own), capped. */
  noteEvent(
    runId: string,
    event: { time: string; code: string; type: string; level: string; message: string; data?: unknown },
  ): void;
}

export interface StateStore extends StateReadWrite, StateLocker, RunRecorder {}

export interface StateStoreOptions {
  /** Absolute path of the desired-state file, recorded when the state is created. */
  desiredFile?: string | null;
  /** Injected clock and id source (tests). */
  now?: () => Date;
  newId?: () => string;
}

class DocumentStateStore implements StateStore {
  readonly #backend: StateBackend;
  readonly #db: Low<StateDocument | null>;
  readonly #now: () => Date;
  readonly #newId: () => string;
  readonly #desiredFile: string | null;
  #loaded = false;
  #queue: Promise<unknown> = Promise.resolve();
  #pendingEvents = new Map<string, EventRecord[]>();
  #edits: PendingEdit[] = [];

  constructor(backend: StateBackend, options: StateStoreOptions) {
    this.#backend = backend;
    // lowdb keeps the snapshot in `data`; the backend does the durable part.
    this.#db = new Low<StateDocument | null>(
      { read: () => backend.read(), write: async (doc) => (doc ? backend.write(doc) : undefined) },
      null,
    );
    this.#now = options.now ?? (() => new Date());
    this.#newId = options.newId ?? randomUUID;
    this.#desiredFile = options.desiredFile ?? null;
  }

  get location(): StateLocation {
    return this.#backend.location;
  }

  #serialised<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #stamp(): string {
    return this.#now().toISOString();
  }

  read(): Promise<StateDocument | null> {
    return this.#serialised(async () => {
      this.#db.data = await this.#backend.read();
      this.#loaded = true;
      return this.#db.data ? structuredClone(this.#db.data) : null;
    });
  }

  write(mutate: (doc: StateDocument) => void): Promise<StateDocument> {
    // The copy handed to `mutate` is editable throughout (the recorder's edits copy only what they change).
    return this.#commit((doc) => {
      runs.thawDocument(doc);
      mutate(doc);
    }).then((doc) => structuredClone(doc));
  }

  /**
   * Group commit: edits that arrive while a write is on its way are applied together by the next write,
   * and each caller's promise settles when the write holding its edit is durable (or refused). Nodes of a
   * wave report concurrently; one write of the whole document per edit made the journaling cost grow with
   * the square of the cluster size. Resolves with the stored document itself: callers copy what they hand out.
   */
  #commit(mutate: (doc: StateDocument) => void): Promise<StateDocument> {
    return new Promise<StateDocument>((resolve, reject) => {
      this.#edits.push({ mutate, resolve, reject });
      if (this.#edits.length === 1) void this.#serialised(() => this.#flush());
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#edits.splice(0);
    if (batch.length === 0) return;
    try {
      await this.#writeBatch(batch);
    } catch (err) {
      // The write as a whole was refused (e.g. an edit put key material in): commit each edit on its own,
      // so that only the edit at fault fails.
      if (batch.length === 1) return batch[0]!.reject(err);
      for (const edit of batch) await this.#writeBatch([edit]).catch((e: unknown) => edit.reject(e));
    }
  }

  /** The document as stored, refusing one another process changed since this store read or wrote it. */
  async #current(): Promise<StateDocument | null> {
    const cached = this.#db.data;
    if (this.#loaded && (await this.#backend.unchanged?.())) return cached;
    const onDisk = await this.#backend.read();
    if (this.#loaded && !sameSnapshot(cached, onDisk)) {
      throw new RotateError(
        'STATE_CHANGED_ELSEWHERE',
        `state ${this.location.file} was changed by another process (${describeSnapshot(cached)} was ` +
          `read, ${describeSnapshot(onDisk)} is stored now)`,
        {
          hint:
            'another run wrote this state without holding its lock; make sure only one apply or rollback runs, ' +
            'then run again',
        },
      );
    }
    this.#db.data = onDisk;
    this.#loaded = true;
    return onDisk;
  }

  async #writeBatch(batch: PendingEdit[]): Promise<void> {
    const current = await this.#current();
    const now = this.#stamp();
    // Apply every edit to one copy; an edit that throws is refused alone and the others are applied again
    // to a clean copy (a mutation that throws writes nothing).
    let next: StateDocument;
    let pending = batch;
    for (;;) {
      next = current ? cloneForEdit(current) : this.#fresh(now);
      const failed = pending.findIndex((edit) => {
        try {
          edit.mutate(next);
          return false;
        } catch (err) {
          edit.reject(err);
          return true;
        }
      });
      if (failed === -1) break;
      pending = pending.filter((_, i) => i !== failed);
    }
    if (pending.length === 0) return;
    for (const [runId, events] of this.#pendingEvents) runs.appendEvents(next, runId, events);
    if (current && isDeepStrictEqual(next, current)) {
      for (const edit of pending) edit.resolve(current);
      return;
    }
    next.serial = (current?.serial ?? 0) + 1;
    next.toolVersion = TOOL_VERSION;
    next.updatedAt = now;
    this.#db.data = next;
    try {
      await this.#db.write();
    } catch (err) {
      this.#db.data = current;
      throw err;
    }
    this.#loaded = true;
    this.#pendingEvents.clear();
    for (const edit of pending) edit.resolve(next);
  }

  #fresh(now: string): StateDocument {
    return {
      stateVersion: STATE_VERSION,
      lineage: this.#newId(),
      serial: 0,
      toolVersion: TOOL_VERSION,
      desiredFile: this.#desiredFile,
      createdAt: now,
      updatedAt: now,
      runs: [],
    };
  }

  // Locker -------------------------------------------------------------------------------------------

  lock(request: LockRequest, options: LockWaitOptions = {}): Promise<LockInfo> {
    return acquireLock(this.#backend.lockSlot, this.location.file, request, options);
  }

  unlock(id: string, options: { force?: boolean } = {}): Promise<LockStatus> {
    return breakLock(this.#backend.lockSlot, this.location.file, id, options);
  }

  lockStatus(): Promise<LockStatus | null> {
    return readLock(this.#backend.lockSlot, this.location.file);
  }

  release(id: string): Promise<boolean> {
    return releaseLock(this.#backend.lockSlot, id);
  }

  // Run recorder -------------------------------------------------------------------------------------

  /** Resolves with the stored document itself (not a copy): take copies of what leaves the store. */
  async #edit(fn: (doc: StateDocument, now: string) => void): Promise<StateDocument> {
    return this.#commit((doc) => fn(doc, this.#stamp()));
  }

  async startRun(input: StartRunInput): Promise<Run> {
    const id = input.id ?? this.#newId();
    const doc = await this.#edit((d, now) => {
      runs.addRun(
        d,
        {
          id,
          operation: input.operation,
          plan: input.plan,
          before: input.before,
          who: currentWho(),
          pid: process.pid,
          toolVersion: TOOL_VERSION,
          ...(input.cluster ? { cluster: input.cluster } : {}),
          ...(input.rollbackOf ? { rollbackOf: input.rollbackOf } : {}),
        },
        now,
      );
    });
    return structuredClone(runs.findRun(doc, id));
  }

  async resumeRun(runId: string): Promise<Run> {
    const doc = await this.#edit((d, now) => runs.resumeRun(d, runId, now, TOOL_VERSION));
    return structuredClone(runs.findRun(doc, runId));
  }

  async replanRun(runId: string, plan: Plan): Promise<Run> {
    const doc = await this.#edit((d) => runs.replanRun(d, runId, plan));
    return structuredClone(runs.findRun(doc, runId));
  }

  async setRunCluster(runId: string, cluster: RunCluster): Promise<void> {
    await this.#edit((d) => runs.setRunCluster(d, runId, cluster));
  }

  async markStepStarted(runId: string, stepId: string): Promise<void> {
    await this.#edit((d, now) => runs.setStepStarted(d, runId, stepId, now));
  }

  async markNodeStarted(runId: string, stepId: string, address: string, before: NodeFingerprints): Promise<void> {
    await this.#edit((d, now) => runs.setNodeStarted(d, runId, stepId, address, before, now));
  }

  async markNodeDone(runId: string, stepId: string, address: string, after: NodeFingerprints): Promise<void> {
    await this.#edit((d, now) => runs.setNodeDone(d, runId, stepId, address, after, now));
  }

  async markNodeSkipped(
    runId: string,
    stepId: string,
    address: string,
    reason: string,
    observed?: NodeFingerprints,
  ): Promise<void> {
    await this.#edit((d, now) => runs.setNodeSkipped(d, runId, stepId, address, reason, now, observed));
  }

  async markNodeFailed(runId: string, stepId: string, address: string, error: unknown): Promise<void> {
    await this.#edit((d, now) => runs.setNodeFailed(d, runId, stepId, address, runs.toErrorRecord(error), now));
  }

  async markGateAttempt(runId: string, stepId: string, error: unknown | null, check?: GateCheck): Promise<void> {
    const record: ErrorRecord | null = error === null || error === undefined ? null : runs.toErrorRecord(error);
    await this.#edit((d, now) => runs.setGateAttempt(d, runId, stepId, record, now, check));
  }

  async markGatePassed(
    runId: string,
    stepId: string,
    options: { check?: GateCheck; attempts?: number } = {},
  ): Promise<void> {
    await this.#edit((d, now) => runs.setGatePassed(d, runId, stepId, now, options.check, options.attempts));
  }

  async markGateFailed(
    runId: string,
    stepId: string,
    error: unknown,
    options: { check?: GateCheck; attempts?: number } = {},
  ): Promise<void> {
    await this.#edit((d, now) =>
      runs.setGateFailed(d, runId, stepId, runs.toErrorRecord(error), now, options.check, options.attempts),
    );
  }

  async markStepDone(runId: string, stepId: string): Promise<void> {
    await this.#edit((d, now) => runs.setStepDone(d, runId, stepId, now));
  }

  async markStepFailed(runId: string, stepId: string, error: unknown): Promise<void> {
    await this.#edit((d, now) => runs.setStepFailed(d, runId, stepId, runs.toErrorRecord(error), now));
  }

  async markStepSkipped(runId: string, stepId: string, reason: string): Promise<void> {
    await this.#edit((d, now) => runs.setStepSkipped(d, runId, stepId, reason, now));
  }

  async recordOutput(runId: string, output: OutputInput): Promise<void> {
    await this.#edit((d, now) => runs.addOutput(d, runId, output, now));
  }

  async recordWorkload(runId: string, record: Omit<WorkloadRecord, 'updatedAt'>): Promise<void> {
    await this.#edit((d, now) => runs.putWorkload(d, runId, record, now));
  }

  async recordKey(runId: string, key: KeyInput): Promise<void> {
    await this.#edit((d, now) => runs.addKey(d, runId, key, now));
  }

  async finishRun(runId: string, status: runs.FinalStatus, error?: unknown): Promise<void> {
    const record = error === undefined || error === null ? null : runs.toErrorRecord(error);
    await this.#edit((d, now) => runs.finishRunIn(d, runId, status, record, now));
  }

  async markRolledBack(runId: string): Promise<void> {
    await this.#edit((d, now) => runs.setRolledBack(d, runId, now));
  }

  async unfinishedRun(): Promise<Run | null> {
    return runs.unfinishedRunOf(await this.read());
  }

  async escrowedKeys(): Promise<KeyRecord[]> {
    const doc = await this.read();
    const byKey = new Map<string, KeyRecord>();
    for (const run of doc?.runs ?? []) for (const key of run.keys) byKey.set(`${key.api}/${key.fingerprint}`, key);
    return [...byKey.values()];
  }

  noteEvent(
    runId: string,
    event: { time: string; code: string; type: string; level: string; message: string; data?: unknown },
  ): void {
    const list = this.#pendingEvents.get(runId) ?? [];
    list.push(runs.toEventRecord(event));
    if (list.length > EVENTS_CAP) list.splice(0, list.length - EVENTS_CAP);
    this.#pendingEvents.set(runId, list);
  }
}

interface PendingEdit {
  mutate: (doc: StateDocument) => void;
  resolve: (doc: StateDocument) => void;
  reject: (err: unknown) => void;
}

/**
 * A copy to edit, sharing with `doc` the runs' plans (recorded once, never edited in place) and the
 * finished runs a write froze (runs.ts editRun copies one before it is edited).
 */
export function cloneForEdit(doc: StateDocument): StateDocument {
  return { ...doc, runs: doc.runs.map((run) => (Object.isFrozen(run) ? run : runs.copyRunForEdit(run))) };
}

function sameSnapshot(a: StateDocument | null, b: StateDocument | null): boolean {
  if (a === null || b === null) return a === b;
  return a.lineage === b.lineage && a.serial === b.serial;
}

function describeSnapshot(doc: StateDocument | null): string {
  return doc ? `lineage ${doc.lineage} serial ${doc.serial}` : 'no state';
}

/** A store over `<state path>` (created on first write, folder 0700, file 0600), locked by `<state>.lock`. */
export function openFileStateStore(statePath: string, options: StateStoreOptions = {}): StateStore {
  return new DocumentStateStore(new PrivateJsonFile(statePath), options);
}

/** A store in memory (tests, dry runs). Pass the same backing to several stores to share one state and lock. */
export function createMemoryStateStore(options: StateStoreOptions & { backing?: MemoryStateBacking } = {}): StateStore {
  return new DocumentStateStore(new MemoryStateAdapter(options.backing), options);
}

/** A store over any backend (the conformance suite uses it). */
export function stateStoreOn(backend: StateBackend, options: StateStoreOptions = {}): StateStore {
  return new DocumentStateStore(backend, options);
}

export { MemoryStateBacking };
