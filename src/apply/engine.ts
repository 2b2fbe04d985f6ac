/**
 * Executes a plan, step by step, like Talos's rotator reads: for each step write what must be written
 * before, patch its waves (concurrently up to each wave's bound, in the order the plan proved safe), run
 * its gates, write its outputs. Every node result and every output is journaled before the next action, so
 * a crash at any instant leaves a state from which `rotate apply` resumes (it re-reads the cluster and
 * re-plans) or `rotate rollback` restores. Ctrl-C (the abort signal) starts nothing new, lets the node
 * operations in flight finish and be recorded, then stops.
 */
import { RotateError } from '../domain/errors.js';
import { resolveMaxUnavailable, type MaxUnavailable } from '../domain/max-unavailable.js';
import type { Secret } from '../domain/secret.js';
import type { ApiKind, Fingerprint } from '../domain/types.js';
import type { Plan, Step, StepNode, TalosClientKind, Wave } from '../plan/model/index.js';
import type { CaCatalog } from '../cluster/session/ca-catalog.js';
import type { IssuingKeyLookup } from '../cluster/session/config-chain.js';
import type { Session } from '../cluster/session/open-session.js';
import type { KubeconfigSource } from '../cluster/kube/nodes.js';
import type { TalosApi } from '../talos/talos-api.js';
import { RunClients } from './clients.js';
import { kubernetesGate, talosGate } from './gates.js';
import type { NodeFingerprints } from './node-state.js';
import {
  writeKubeconfigOutput,
  writeSecretsBundleOutput,
  writeTalosconfigOutput,
  type BackupPlace,
  type WrittenOutput,
} from './outputs.js';
import { patchNode, type PatchResult } from './patch-node.js';
import { sharedControlPlaneReads } from './worker-registration.js';
import { runExtensionAuth } from './extension-auth.js';
import type { ReplaceOutcome } from '../cluster/kube/extension-auth.js';

/** Where the engine records progress (the state file) — every call is durable when it returns. */
export interface RunJournal {
  stepStarted(stepId: string): Promise<void>;
  nodeStarted(stepId: string, address: string, before: NodeFingerprints): Promise<void>;
  nodeFinished(
    stepId: string,
    address: string,
    result:
      | { status: 'done' | 'skipped'; before: NodeFingerprints; after: NodeFingerprints }
      | { status: 'failed'; error: string },
  ): Promise<void>;
  gateFinished(
    stepId: string,
    kind: 'talos' | 'kubernetes',
    status: 'passed' | 'failed',
    attempts: number,
    error?: string,
  ): Promise<void>;
  stepFinished(stepId: string, status: 'done' | 'failed' | 'interrupted'): Promise<void>;
  outputWritten(stepId: string, output: WrittenOutput): Promise<void>;
}

/** What the engine reports as it goes (rendered live, as plain lines, or as JSON events). */
export interface ApplyReporter {
  stepStarted(step: Step, total: number): void;
  waveStarted(step: Step, wave: Wave): void;
  /** Right before the config is sent, once the state records the node `started`. */
  nodeStarted(step: Step, node: StepNode, before: NodeFingerprints): void;
  nodeFinished(step: Step, node: StepNode, outcome: 'patched' | 'already', ms: number, after: NodeFingerprints): void;
  nodeFailed(step: Step, node: StepNode, err: RotateError): void;
  kubelet(step: Step, node: StepNode, phase: 'waiting' | 'restarted'): void;
  staticPods(step: Step, node: StepNode, observed: 'waiting' | 'current', secretsVersion: string | null): void;
  retry(what: string, err: unknown): void;
  gateStarted(step: Step, kind: 'talos' | 'kubernetes', detail: string): void;
  /** The extension-apiserver-authentication write (apply/extension-auth.ts); `step` is the one it follows. */
  configMapWritten?(
    step: Step | null,
    written: { namespace: string; name: string; trusted: string[]; outcome: ReplaceOutcome },
  ): void;
  gateAttempt(step: Step, kind: 'talos' | 'kubernetes', attempt: number, problem: string): void;
  gatePassed(step: Step, kind: 'talos' | 'kubernetes', ms: number): void;
  gateFailed(step: Step, kind: 'talos' | 'kubernetes', attempts: number, err: unknown): void;
  outputWritten(step: Step, output: WrittenOutput): void;
  stepFinished(step: Step, ms: number): void;
  stepFailed(step: Step, total: number, err: unknown): void;
}

export interface EngineDeps {
  session: Session;
  plan: Plan;
  catalog: CaCatalog;
  /** Keys of CAs that become issuing on control planes (from the key escrow). */
  keyFor: IssuingKeyLookup;
  runId: string;
  /** The state folder: the files a run replaces are backed up under its `backups/`. */
  stateDir: string;
  journal: RunJournal;
  reporter: ApplyReporter;
  parallelism: number;
  /** This run's --max-unavailable (resolved against the plan's workers); absent: the plan's own bounds. */
  maxUnavailable?: MaxUnavailable;
  /** How long a node patch waits while another apply holds the node's apply lock. */
  applyLockWaitMs?: number;
  signal: AbortSignal;
  /** The run lease: told which Talos client fetches a working admin kubeconfig as the CAs swap. */
  runLease?: { useKubeconfig(source: () => Promise<KubeconfigSource>): void } | null;
  /**
   * The workload phase (src/apply/workload-phase.ts): run right after step `afterStep` (the Kubernetes
   * issue step) has finished, or, when `afterStep` is null (a resume whose plan no longer has that step),
   * after the last step. `run` gets a source of fresh admin kubeconfigs.
   */
  workloadPhase?:
    { afterStep: number | null; run(kubeconfig: () => Promise<KubeconfigSource>): Promise<void> } | undefined;
  /** Which command runs the plan, so that its errors name that command's own next steps (default apply). */
  operation?: 'apply' | 'rollback';
}

/** What to run after a stop: resume the same command; after an apply, a rollback is the other way out. */
function nextSteps(operation: 'apply' | 'rollback'): string {
  return operation === 'apply'
    ? '`rotate apply` again to resume from where it stopped (it re-reads the cluster first), or `rotate rollback`'
    : '`rotate rollback` again to resume it (it re-reads the cluster first); `rotate apply` is refused until the ' +
        'rollback is finished';
}

export class ApplyInterrupted extends RotateError {
  constructor(stepId: string, operation: 'apply' | 'rollback' = 'apply') {
    super(
      'APPLY_INTERRUPTED',
      `${operation} interrupted during step ${stepId}; the node operations in flight finished and were recorded`,
      {
        hint: `run ${nextSteps(operation)}`,
        exitCode: 130,
      },
    );
  }
}

export async function executePlan(deps: EngineDeps): Promise<void> {
  const { plan, session, signal } = deps;
  const clients = new RunClients(
    session.endpoints,
    session.context,
    plan,
    deps.catalog,
    (fp) => deps.keyFor('talos', fp),
    session.connect,
  );
  try {
    const phase = deps.workloadPhase;
    let phaseRan = false;
    for (const step of plan.steps) {
      if (signal.aborted) throw new ApplyInterrupted(step.id, deps.operation);
      await runStep(deps, clients, step);
      if (phase && phase.afterStep === step.index) {
        await phase.run(kubeconfigThrough(deps, clients, step.talosconfigAfter ?? step.talosClient));
        phaseRan = true;
      }
    }
    if (phase && !phaseRan) {
      const last = plan.steps[plan.steps.length - 1];
      await phase.run(kubeconfigThrough(deps, clients, last ? (last.talosconfigAfter ?? last.talosClient) : 'current'));
    }
    // A resumed run whose last node step was done before: the ConfigMap write alone (apply/extension-auth.ts).
    if (plan.extensionAuth && plan.extensionAuth.afterStep === null)
      await extensionAuthAfter(
        deps,
        clients,
        null,
        plan.basedOn.nodes.filter((n) => n.role === 'controlplane').map((n) => n.address),
      );
  } finally {
    clients.close();
  }
}

/** Fresh admin kubeconfigs fetched through a Talos client of `kind` of its own (closed after each fetch). */
function kubeconfigThrough(
  deps: EngineDeps,
  clients: RunClients,
  kind: TalosClientKind,
): () => Promise<KubeconfigSource> {
  const controlPlanes = deps.plan.basedOn.nodes.filter((n) => n.role === 'controlplane').map((n) => n.address);
  const endpoint = deps.session.desired.cluster.kubernetesEndpoint;
  return async () => {
    const via = await clients.fresh(kind);
    try {
      return { ...(await fetchKubeconfig(via, controlPlanes)), ...(endpoint ? { serverOverride: endpoint } : {}) };
    } finally {
      via.close();
    }
  };
}

async function runStep(deps: EngineDeps, clients: RunClients, step: Step): Promise<void> {
  const { journal, reporter, plan, session, signal } = deps;
  const started = Date.now();
  reporter.stepStarted(step, plan.steps.length);
  await journal.stepStarted(step.id);

  if (step.outputsBefore.includes('talosconfig') && step.talosconfigBefore) {
    await output(
      deps,
      step,
      await writeTalosconfigOutput(
        session.desired.cluster.talosconfig,
        session.context.name,
        await clients.credentials(step.talosconfigBefore),
        backupPlace(deps),
      ),
    );
  }

  const client = await clients.client(step.talosClient);
  const controlPlanes = plan.basedOn.nodes.filter((n) => n.role === 'controlplane').map((n) => n.address);
  // For the run lease: a client of its own per fetch (it renews after this engine closed its clients, too).
  const kubeconfigVia = (kind: TalosClientKind) => async (): Promise<KubeconfigSource> => {
    const via = await clients.fresh(kind);
    try {
      return {
        ...(await fetchKubeconfig(via, controlPlanes)),
        ...(session.desired.cluster.kubernetesEndpoint
          ? { serverOverride: session.desired.cluster.kubernetesEndpoint }
          : {}),
      };
    } finally {
      via.close();
    }
  };
  deps.runLease?.useKubeconfig(kubeconfigVia(step.talosClient));
  const controlPlaneReads = sharedControlPlaneReads(client);
  for (const wave of step.waves) {
    const nodes = step.nodes.filter((n) => n.wave === wave.index);
    reporter.waveStarted(step, wave);
    const failures = await runWave(deps, step, nodes, waveLimit(wave, runBounds(deps.plan, deps)), async (node) =>
      patchNode(
        {
          client,
          catalog: deps.catalog,
          keyFor: deps.keyFor,
          controlPlanes,
          controlPlaneReads,
          ...(deps.applyLockWaitMs !== undefined ? { applyLockWaitMs: deps.applyLockWaitMs } : {}),
          // No abort signal: Ctrl-C stops scheduling new nodes, but an operation in flight finishes (it is
          // bounded) so that its result is known and recorded.
          onSend: async (before) => {
            await journal.nodeStarted(step.id, node.address, before);
            reporter.nodeStarted(step, node, before);
          },
          onRetry: (what, err) => reporter.retry(what, err),
          onKubeletRestart: (phase) => reporter.kubelet(step, node, phase),
          kubeconfig: async () => ({
            ...(await fetchKubeconfig(client, controlPlanes)),
            ...(session.desired.cluster.kubernetesEndpoint
              ? { serverOverride: session.desired.cluster.kubernetesEndpoint }
              : {}),
          }),
          onStaticPods: (observed, version) => reporter.staticPods(step, node, observed, version),
        },
        node,
      ),
    );
    if (failures.length > 0) {
      await journal.stepFinished(step.id, 'failed');
      const lines = failures.map((f) => `  - ${f.node}: ${f.error.message}`);
      const error = new RotateError(
        'APPLY_NODE_FAILED',
        `step ${step.index}/${plan.steps.length} (${step.id}) stopped: ${failures.length} node(s) ` +
          `failed:\n${lines.join('\n')}`,
        {
          hint:
            `nothing after this point ran; fix the node(s), then run ${nextSteps(deps.operation ?? 'apply')}` +
            (failures[0]?.error.hint ? ` (${failures[0].error.hint})` : ''),
          source: failures.some((f) => f.error.source === 'internal') ? 'internal' : 'cluster',
        },
      );
      reporter.stepFailed(step, plan.steps.length, error);
      throw error;
    }
    if (signal.aborted) {
      await journal.stepFinished(step.id, 'interrupted');
      throw new ApplyInterrupted(step.id, deps.operation);
    }
  }

  if (step.gate.talos) {
    const kind = step.gate.talos.client;
    await gate(deps, step, 'talos', `Version on every node with the ${kind} client`, (onAttempt) =>
      talosGate(
        () => clients.fresh(kind),
        plan.basedOn.nodes.map((n) => n.address),
        `the ${kind} talosconfig`,
        { parallelism: deps.parallelism, onAttempt },
      ),
    );
  }
  if (step.gate.kubernetes) {
    const fetchVia = await clients.client(step.talosconfigAfter ?? step.talosClient);
    await gate(deps, step, 'kubernetes', 'every Node Ready, its Lease renewed', (onAttempt) =>
      kubernetesGate(
        {
          fetchKubeconfig: () => fetchKubeconfig(fetchVia, controlPlanes),
          ...(session.desired.cluster.kubernetesEndpoint
            ? { serverOverride: session.desired.cluster.kubernetesEndpoint }
            : {}),
          nodes: plan.basedOn.nodes.map((n) => ({ address: n.address, hostname: n.hostname })),
        },
        { parallelism: deps.parallelism, onAttempt },
      ),
    );
  }

  deps.runLease?.useKubeconfig(kubeconfigVia(step.talosconfigAfter ?? step.talosClient));
  await writeOutputsAfter(deps, clients, step, controlPlanes);
  if (plan.extensionAuth && plan.extensionAuth.afterStep === step.id)
    await extensionAuthAfter(deps, clients, step, controlPlanes);
  await journal.stepFinished(step.id, 'done');
  reporter.stepFinished(step, Date.now() - started);
}

/** This run's own options, as batch sizes for the plan's nodes. */
function runBounds(
  plan: Plan,
  run: { parallelism: number; maxUnavailable?: MaxUnavailable | undefined },
): { parallelism: number; maxUnavailable?: number } {
  if (run.maxUnavailable === undefined) return { parallelism: run.parallelism };
  const workers = plan.basedOn.nodes.filter((n) => n.role === 'worker').length;
  return { parallelism: run.parallelism, maxUnavailable: resolveMaxUnavailable(run.maxUnavailable, workers) };
}

/**
 * How many nodes of a wave run at once: the batch size the plan recorded and proved (`maxConcurrent`),
 * never more; this run's own option of the same kind may only lower it (`--parallelism` for waves that
 * restart nothing, as it always did; `--max-unavailable` for workers whose kubelet restarts). A control-plane
 * restart wave stays at its size (one). A plan without `bound` (made before bounds were recorded) is
 * treated as before: `--parallelism` caps it.
 */
export function waveLimit(wave: Wave, run: { parallelism: number; maxUnavailable?: number }): number {
  const by = wave.bound?.by ?? 'parallelism';
  const own =
    by === 'parallelism'
      ? run.parallelism
      : by === 'max-unavailable'
        ? (run.maxUnavailable ?? wave.maxConcurrent)
        : wave.maxConcurrent;
  return Math.max(1, Math.min(wave.maxConcurrent, own));
}

/**
 * A saved plan applied with smaller --parallelism or --max-unavailable than it was made with runs smaller
 * batches (as a smaller --parallelism always did): one sentence naming the waves, or null when none is lowered.
 */
export function loweredBatches(
  plan: Plan,
  run: { parallelism: number; maxUnavailable?: MaxUnavailable },
): string | null {
  const bounds = runBounds(plan, run);
  const lowered: string[] = [];
  for (const step of plan.steps) {
    for (const wave of step.waves) {
      const limit = waveLimit(wave, bounds);
      if (limit < Math.min(wave.maxConcurrent, wave.nodes.length))
        lowered.push(`step ${step.index} wave ${wave.index}: ${limit} at a time, not ${wave.maxConcurrent}`);
    }
  }
  if (lowered.length === 0) return null;
  const o = plan.options;
  return (
    `this run's --parallelism ${run.parallelism} / ` +
    `--max-unavailable ${run.maxUnavailable ?? o.maxUnavailableRequested ?? o.maxUnavailable} lower the batches ` +
    `the saved plan was made with (--parallelism ${o.parallelism} / ` +
    `--max-unavailable ${o.maxUnavailableRequested ?? o.maxUnavailable}): ${lowered.join('; ')}`
  );
}

interface NodeFailure {
  node: string;
  error: RotateError;
}

async function runWave(
  deps: EngineDeps,
  step: Step,
  nodes: StepNode[],
  limit: number,
  patch: (node: StepNode) => Promise<PatchResult>,
): Promise<NodeFailure[]> {
  const failures: NodeFailure[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      // Ctrl-C: start nothing new; what is in flight finishes and is recorded.
      if (deps.signal.aborted || failures.length > 0) return;
      const node = nodes[next++];
      if (!node) return;
      const t0 = Date.now();
      try {
        const r = await patch(node);
        await deps.journal.nodeFinished(step.id, node.address, {
          status: r.outcome === 'already' ? 'skipped' : 'done',
          before: r.before,
          after: r.after,
        });
        deps.reporter.nodeFinished(step, node, r.outcome, Date.now() - t0, r.after);
      } catch (err) {
        const error = RotateError.is(err)
          ? err
          : new RotateError(
              'APPLY_INTERNAL',
              `unexpected failure on node ${node.address}: ${(err as Error)?.message ?? String(err)}`,
              { source: 'internal' },
            );
        failures.push({ node: node.address, error });
        await deps.journal.nodeFinished(step.id, node.address, { status: 'failed', error: error.message });
        deps.reporter.nodeFailed(step, node, error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, nodes.length) }, () => worker()));
  return failures;
}

async function gate(
  deps: EngineDeps,
  step: Step,
  kind: 'talos' | 'kubernetes',
  detail: string,
  run: (onAttempt: (attempt: number, problem: string) => void) => Promise<unknown>,
): Promise<void> {
  const t0 = Date.now();
  let attempts = 1;
  deps.reporter.gateStarted(step, kind, detail);
  try {
    await run((attempt, problem) => {
      attempts = attempt + 1;
      deps.reporter.gateAttempt(step, kind, attempt, problem);
    });
  } catch (err) {
    await deps.journal.gateFinished(step.id, kind, 'failed', attempts, RotateError.is(err) ? err.message : String(err));
    deps.reporter.gateFailed(step, kind, attempts, err);
    await deps.journal.stepFinished(step.id, 'failed');
    deps.reporter.stepFailed(step, deps.plan.steps.length, err);
    throw err;
  }
  await deps.journal.gateFinished(step.id, kind, 'passed', attempts);
  deps.reporter.gatePassed(step, kind, Date.now() - t0);
}

function backupPlace(deps: EngineDeps): BackupPlace {
  return { stateDir: deps.stateDir, runId: deps.runId };
}

async function output(deps: EngineDeps, step: Step, written: WrittenOutput): Promise<void> {
  await deps.journal.outputWritten(step.id, written);
  deps.reporter.outputWritten(step, written);
}

async function writeOutputsAfter(
  deps: EngineDeps,
  clients: RunClients,
  step: Step,
  controlPlanes: string[],
): Promise<void> {
  const { session, plan } = deps;
  const cluster = session.desired.cluster;
  for (const kind of step.outputsAfter) {
    if (kind === 'talosconfig' && step.talosconfigAfter) {
      await output(
        deps,
        step,
        await writeTalosconfigOutput(
          cluster.talosconfig,
          session.context.name,
          await clients.credentials(step.talosconfigAfter),
          backupPlace(deps),
        ),
      );
    } else if (kind === 'kubeconfig' && cluster.kubeconfig) {
      const via = await clients.client(step.talosconfigAfter ?? step.talosClient);
      const { text } = await fetchKubeconfig(via, controlPlanes);
      // Merged into the file, and only when it changes (Talos mints a new client certificate each time).
      const written = await writeKubeconfigOutput(cluster.kubeconfig, text, backupPlace(deps));
      if (written) await output(deps, step, written);
    } else if (kind === 'secretsBundle' && cluster.secretsBundle) {
      const entries: { entry: 'os' | 'k8s'; certPem: string; key: Secret }[] = [];
      for (const api of ['talos', 'kubernetes'] as const) {
        if (step.phase[api] !== 'issue') continue;
        const issuing = issuingOf(plan, api);
        if (!issuing) continue;
        entries.push({
          entry: api === 'talos' ? 'os' : 'k8s',
          certPem: deps.catalog.requirePem(issuing, `${api} CA`),
          key: await deps.keyFor(api, issuing),
        });
      }
      if (entries.length > 0)
        await output(deps, step, await writeSecretsBundleOutput(cluster.secretsBundle, entries, backupPlace(deps)));
    }
  }
}

/** An admin kubeconfig from the first control plane that answers (`Kubeconfig` exists only on control planes). */
export async function fetchKubeconfig(
  client: TalosApi,
  controlPlanes: readonly string[],
): Promise<{ text: string; origin: string }> {
  let last: unknown;
  for (const cp of controlPlanes) {
    try {
      return { text: await client.kubeconfig(cp, { timeoutMs: 15_000 }), origin: `the admin kubeconfig from ${cp}` };
    } catch (err) {
      last = err;
    }
  }
  throw (
    last ??
    new RotateError('APPLY_NO_CONTROLPLANE', 'no control plane to fetch a kubeconfig from', { source: 'internal' })
  );
}

function issuingOf(plan: Plan, api: ApiKind): Fingerprint | null {
  return plan.authorities.find((a) => a.api === api && a.disposition === 'issuing')?.fingerprint ?? null;
}

/** The plan's extension-apiserver-authentication step, reported as a Kubernetes gate of the step it follows. */
async function extensionAuthAfter(
  deps: EngineDeps,
  clients: RunClients,
  step: Step | null,
  controlPlanes: string[],
): Promise<void> {
  const ext = deps.plan.extensionAuth!;
  const via = await clients.client(step ? (step.talosconfigAfter ?? step.talosClient) : 'current');
  const endpoint = deps.session.desired.cluster.kubernetesEndpoint;
  const run = (onAttempt?: (attempt: number, problem: string) => void) =>
    runExtensionAuth({
      step: ext,
      catalog: deps.catalog,
      kubeconfig: async () => ({
        ...(await fetchKubeconfig(via, controlPlanes)),
        ...(endpoint ? { serverOverride: endpoint } : {}),
      }),
      ...(onAttempt ? { onAttempt } : {}),
      onWritten: (outcome) =>
        deps.reporter.configMapWritten?.(step, {
          namespace: ext.namespace,
          name: ext.name,
          trusted: ext.clientCa,
          outcome,
        }),
    });
  if (!step) {
    await run();
    return;
  }
  await gate(
    deps,
    step,
    'kubernetes',
    `${ext.namespace}/${ext.name}: ` +
      (ext.mode === 'replace'
        ? 'client-ca-file replaced with the trusted Kubernetes CAs, no apiserver writes a dropped one back'
        : 'reported only'),
    (onAttempt) => run(onAttempt),
  );
}
