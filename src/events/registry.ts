/**
 * The one registry of event and question codes: code, level, description, documented fields and the
 * message each renders. Events are made only through makeEvent/makeQuestion, so a message is always text
 * built from typed data. `docs/events.md` is generated from this file (see docs.ts; a test keeps it in step).
 */
import { shortFingerprint } from '../domain/types.js';
import type {
  EventCode,
  EventDataMap,
  EventLevel,
  EventOf,
  EventType,
  GateCheck,
  QuestionMap,
  QuestionOf,
  QuestionType,
} from './types.js';

export interface EventSpec<K extends EventType> {
  code: EventCode;
  level: EventLevel;
  description: string;
  /** One line per data field, for the docs (the type makes the list complete). */
  fields: { [F in keyof EventDataMap[K]]-?: string };
  message(data: EventDataMap[K]): string;
}

export interface QuestionSpec<K extends QuestionType> {
  code: EventCode;
  description: string;
  default: boolean;
  fields: { [F in keyof QuestionMap[K]]-?: string };
  message(data: QuestionMap[K]): string;
}

const plural = (n: number, word: string, many = `${word}s`) => `${n} ${n === 1 ? word : many}`;

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  return s % 60 === 0 ? `${s / 60}m` : `${Math.floor(s / 60)}m${s % 60}s`;
}

const ROLE_PLURAL = { controlplane: 'control planes', worker: 'workers' } as const;

const PHASE_TEXT = {
  sending: 'applying config',
  verifying: 'verifying the new config',
  'waiting-for-kubelet': 'waiting for the kubelet to restart',
  retrying: 'retrying',
} as const;

const SKIP_TEXT = {
  'already-at-target': 'already at the target',
  'done-in-earlier-attempt': 'done in an earlier attempt',
  'not-in-step': 'not changed by this step',
} as const;

const GATE_TEXT = { talos: 'the Talos API on every node', kubernetes: 'every Kubernetes Node Ready' } as const;

const ERROR_FIELD = '`{code, message, hint?}` of the error';
const CHECK_FIELD = '`talos` or `kubernetes` (a step may have both), or null for the whole gate';
const gateName = (d: { stepId: string; check: GateCheck | null }) =>
  `step ${d.stepId}: ${d.check ? `${d.check} gate` : 'gate'}`;

export const EVENTS: { [K in EventType]: EventSpec<K> } = {
  'run-start': {
    code: 'TR_APPLY_I1001',
    level: 'info',
    description: 'A new apply or rollback run started (the state and its lock are held).',
    fields: {
      runId: 'run id in the state file',
      operation: '`apply` or `rollback`',
      steps: 'steps in the plan',
      nodes: 'nodes the plan changes',
      statePath: 'the state file',
    },
    message: (d) => `${d.operation} started: ${plural(d.steps, 'step')}, ${plural(d.nodes, 'node')} (run ${d.runId})`,
  },
  'run-resume': {
    code: 'TR_APPLY_I1002',
    level: 'info',
    description:
      'An unfinished run recorded in the state is being continued; nodes that were in flight are verified first.',
    fields: {
      runId: 'run id',
      operation: '`apply` or `rollback`',
      previousStatus: 'the status it had: `running` (its process stopped), `interrupted` or `failed`',
      stepsDone: 'steps already done',
      steps: 'steps in the plan',
      nodesInFlight: 'addresses recorded `started` but not `done`',
    },
    message: (d) =>
      `resuming ${d.operation} run ${d.runId} (${d.previousStatus === 'running' ? 'its process stopped' : d.previousStatus}): ${d.stepsDone}/${d.steps} steps done` +
      (d.nodesInFlight.length ? `; verifying ${d.nodesInFlight.join(', ')} first` : ''),
  },
  'run-complete': {
    code: 'TR_APPLY_I1900',
    level: 'result',
    description: 'The run finished: every step done and verified. Printed on stdout.',
    fields: {
      runId: 'run id',
      operation: '`apply` or `rollback`',
      steps: 'steps run',
      nodesChanged: 'nodes changed',
      durationMs: 'wall time',
    },
    message: (d) =>
      `${d.operation === 'apply' ? 'Apply' : 'Rollback'} complete: ${plural(d.steps, 'step')}, ${plural(d.nodesChanged, 'node')} changed in ${formatMs(d.durationMs)}.`,
  },
  'run-summary': {
    code: 'TR_APPLY_I1903',
    level: 'result',
    description:
      'After a complete run: the files it wrote (each once, with the backup of what it replaced) and what is left to the operator. Printed on stdout.',
    fields: {
      runId: 'run id',
      operation: '`apply` or `rollback`',
      outputs: '`{kind, path, backupPath}` per file written (talosconfig, kubeconfig, secretsBundle)',
      notes:
        'reminders: the in-cluster client disruption the plan announced (the same sentence as its notice), talosconfigs to hand out again',
    },
    message: (d) =>
      [
        ...d.outputs.map((o) => `  ${o.kind.padEnd(13)} ${o.path}${o.backupPath ? `  (before: ${o.backupPath})` : ''}`),
        ...d.notes.map((n) => `  note: ${n}`),
      ].join('\n') || '  no files written',
  },
  'run-interrupted': {
    code: 'TR_APPLY_W1901',
    level: 'warn',
    description: 'The run stopped on a signal; the state records where. Running the command again resumes it.',
    fields: {
      runId: 'run id',
      operation: '`apply` or `rollback`',
      stepId: 'the step in progress, or null',
      nodesInFlight: 'addresses whose change may or may not have been applied',
      reason: 'e.g. `SIGINT`',
    },
    message: (d) =>
      `${d.operation} interrupted (${d.reason})${d.stepId ? ` during step ${d.stepId}` : ''}` +
      (d.nodesInFlight.length ? `; in flight: ${d.nodesInFlight.join(', ')}` : '') +
      '; run it again to resume',
  },
  'run-failed': {
    code: 'TR_APPLY_E1902',
    level: 'error',
    description: 'The run stopped on an error; the state records where.',
    fields: {
      runId: 'run id',
      operation: '`apply` or `rollback`',
      stepId: 'the failing step, or null',
      error: ERROR_FIELD,
    },
    message: (d) => `${d.operation} failed${d.stepId ? ` at step ${d.stepId}` : ''}: ${d.error.message}`,
  },
  'step-start': {
    code: 'TR_APPLY_I2001',
    level: 'info',
    description: 'A plan step starts (`> step 2/3: …`).',
    fields: {
      runId: 'run id',
      stepId: 'plan step id',
      index: '1-based',
      total: 'steps in the plan',
      title: "the plan step's title",
      nodes: 'nodes in the step',
    },
    message: (d) => `step ${d.index}/${d.total}: ${d.title}`,
  },
  'wave-start': {
    code: 'TR_APPLY_I2002',
    level: 'info',
    description: 'A wave of a step starts: nodes patched concurrently.',
    fields: {
      stepId: 'plan step id',
      wave: '1-based',
      waves: 'waves in the step',
      role: '`controlplane` or `worker`',
      nodes: 'addresses',
    },
    message: (d) => `step ${d.stepId}: wave ${d.wave}/${d.waves}: ${ROLE_PLURAL[d.role]} ${d.nodes.join(', ')}`,
  },
  'step-skipped': {
    code: 'TR_APPLY_I2003',
    level: 'info',
    description: 'A step is not run (done by an earlier attempt of this run, or nothing to change).',
    fields: {
      stepId: 'plan step id',
      index: '1-based',
      total: 'steps in the plan',
      title: "the plan step's title",
      reason: 'why, in words',
    },
    message: (d) => `step ${d.index}/${d.total} skipped (${d.reason}): ${d.title}`,
  },
  'step-complete': {
    code: 'TR_APPLY_I2900',
    level: 'info',
    description: 'Every node of the step is done and its gate passed.',
    fields: {
      stepId: 'plan step id',
      index: '1-based',
      total: 'steps in the plan',
      durationMs: 'wall time of the step',
    },
    message: (d) => `step ${d.index}/${d.total} done in ${formatMs(d.durationMs)}`,
  },
  'step-failed': {
    code: 'TR_APPLY_E2901',
    level: 'error',
    description: 'The step stopped: a node failed or its gate did not pass.',
    fields: { stepId: 'plan step id', index: '1-based', total: 'steps in the plan', error: ERROR_FIELD },
    message: (d) => `step ${d.index}/${d.total} failed: ${d.error.message}`,
  },
  'node-started': {
    code: 'TR_APPLY_I3001',
    level: 'info',
    description: 'A node is about to be patched (recorded `started` in the state first).',
    fields: {
      stepId: 'plan step id',
      address: 'node address',
      hostname: 'node hostname',
      role: '`controlplane` or `worker`',
      before: 'fingerprints observed on the node: `{talos?, kubernetes?}` each `{issuing, accepted}`',
    },
    message: (d) => `${d.address}: applying config (step ${d.stepId})`,
  },
  'node-progress': {
    code: 'TR_APPLY_I3002',
    level: 'info',
    description: 'What a node in flight is waiting for (updates the live line on a terminal).',
    fields: {
      stepId: 'plan step id',
      address: 'node address',
      phase: '`sending`, `verifying`, `waiting-for-kubelet` or `retrying`',
    },
    message: (d) => `${d.address}: ${PHASE_TEXT[d.phase]}`,
  },
  'node-skipped': {
    code: 'TR_APPLY_I3003',
    level: 'info',
    description: 'A node is not patched: it already has the target trust, or an earlier attempt did it.',
    fields: {
      stepId: 'plan step id',
      address: 'node address',
      reason: '`already-at-target`, `done-in-earlier-attempt` or `not-in-step`',
    },
    message: (d) => `${d.address}: skipped (${SKIP_TEXT[d.reason]})`,
  },
  'node-retry': {
    code: 'TR_APPLY_W3004',
    level: 'warn',
    description: 'A transient failure on a node; the same change is tried again.',
    fields: {
      stepId: 'plan step id',
      address: 'node address',
      attempt: 'the attempt that failed (1-based)',
      retryInMs: 'delay before the next attempt',
      error: ERROR_FIELD,
    },
    message: (d) =>
      `${d.address}: attempt ${d.attempt} failed (${d.error.code}: ${d.error.message}); retrying in ${formatMs(d.retryInMs)}`,
  },
  'kubelet-restart': {
    code: 'TR_APPLY_I3005',
    level: 'info',
    description: "A node's kubelet was seen restarting, then Ready again (its Kubernetes CA changed).",
    fields: { stepId: 'plan step id', address: 'node address', observed: '`restarting` or `ready`' },
    message: (d) =>
      `${d.address}: ${d.observed === 'restarting' ? 'kubelet restarting' : 'kubelet restarted and Ready'}`,
  },
  'static-pods': {
    code: 'TR_APPLY_I3006',
    level: 'info',
    description:
      "A control plane's kube-apiserver and kube-controller-manager after its Kubernetes CA changed: `waiting` until their mirror pods carry the `talos.dev/secrets-version` of the node's `SecretStatuses` (namespace `controlplane`, id `static-pods`) and are Ready, and the node's apiserver serves a certificate of the expected CA; then `current`. The next control plane is touched only after that.",
    fields: {
      stepId: 'plan step id',
      address: 'node address',
      observed: '`waiting` or `current`',
      renderVersion: 'the SecretStatuses (static-pods) version waited for (null while not yet known)',
    },
    message: (d) =>
      d.observed === 'waiting'
        ? `${d.address}: waiting for kube-apiserver and kube-controller-manager to run from the new config${d.renderVersion ? ` (secrets version ${d.renderVersion})` : ''}`
        : `${d.address}: kube-apiserver and kube-controller-manager run from the new config (secrets version ${d.renderVersion ?? '?'})`,
  },
  'node-done': {
    code: 'TR_APPLY_I3900',
    level: 'info',
    description: 'A node has the new config and it was verified (recorded `done` in the state).',
    fields: {
      stepId: 'plan step id',
      address: 'node address',
      after: 'fingerprints observed after the change',
      durationMs: 'time from start to verified',
    },
    message: (d) => `${d.address}: OK`,
  },
  'node-failed': {
    code: 'TR_APPLY_E3901',
    level: 'error',
    description: 'A node could not be changed or verified.',
    fields: { stepId: 'plan step id', address: 'node address', error: ERROR_FIELD },
    message: (d) => `${d.address}: FAILED: ${d.error.message}`,
  },
  'gate-start': {
    code: 'TR_APPLY_I4001',
    level: 'info',
    description: "The step's verification gate starts.",
    fields: {
      stepId: 'plan step id',
      checks:
        '`talos` (Version on every node through the endpoints), `kubernetes` (kubelet restarts seen, every Node Ready and its Lease renewed)',
    },
    message: (d) => `step ${d.stepId}: checking ${d.checks.map((c) => GATE_TEXT[c]).join(' and ')}`,
  },
  'gate-attempt': {
    code: 'TR_APPLY_I4002',
    level: 'info',
    description: 'One check of the gate, passed or not yet.',
    fields: {
      stepId: 'plan step id',
      check: CHECK_FIELD,
      attempt: '1-based',
      ok: 'this attempt found nothing wrong',
      retryInMs: 'delay before the next attempt, or null',
      problem: 'what was wrong, or null',
    },
    message: (d) =>
      d.ok || !d.problem
        ? `${gateName(d)} check ${d.attempt} passed`
        : `${gateName(d)} check ${d.attempt}: ${d.problem.message}${d.retryInMs !== null ? `; checking again in ${formatMs(d.retryInMs)}` : ''}`,
  },
  'gate-passed': {
    code: 'TR_APPLY_I4900',
    level: 'info',
    description: 'The gate (or one of its checks) passed; the step is verified once every check passed.',
    fields: { stepId: 'plan step id', check: CHECK_FIELD, attempts: 'checks made', durationMs: 'time the gate took' },
    message: (d) => `${gateName(d)} passed (${plural(d.attempts, 'check')}, ${formatMs(d.durationMs)})`,
  },
  'gate-failed': {
    code: 'TR_APPLY_E4901',
    level: 'error',
    description: 'The gate (or one of its checks) did not pass within its budget; the run stops.',
    fields: { stepId: 'plan step id', check: CHECK_FIELD, attempts: 'checks made', error: ERROR_FIELD },
    message: (d) => `${gateName(d)} failed after ${plural(d.attempts, 'check')}: ${d.error.message}`,
  },
  'configmap-written': {
    code: 'TR_APPLY_I4010',
    level: 'info',
    description:
      "The `extension-apiserver-authentication` ConfigMap's `client-ca-file` was replaced with the Kubernetes CAs every kube-apiserver trusts (plan `extensionAuth`); its gate follows as a `kubernetes` check.",
    fields: {
      stepId: 'the step it follows, or null',
      namespace: '`kube-system`',
      name: '`extension-apiserver-authentication`',
      field: 'the data field replaced: `client-ca-file`',
      written: 'false when it already held exactly these CAs',
      absent: 'the ConfigMap did not exist (nothing written; the apiservers create it)',
      removed: 'fingerprints of the certificates the write removed',
      trusted: 'fingerprints it holds now',
      conflicts: 'writes refused with 409 Conflict and retried',
      resourceVersion: 'its resourceVersion after the write, or null',
    },
    message: (d) =>
      d.absent
        ? `ConfigMap ${d.namespace}/${d.name} does not exist: nothing to replace`
        : `${d.written ? 'replaced' : 'already exact:'} ${d.field} of ConfigMap ${d.namespace}/${d.name}${d.removed.length > 0 ? ` (removed ${d.removed.map((f) => f.slice(0, 16)).join(', ')})` : ''}`,
  },
  'output-written': {
    code: 'TR_APPLY_I5001',
    level: 'info',
    description: 'A talosconfig, kubeconfig or secrets bundle was written (the file it replaced kept aside).',
    fields: {
      stepId: 'the step it belongs to, or null',
      kind: '`talosconfig`, `kubeconfig` or `secretsBundle`',
      path: 'file written',
      backupPath: 'where the replaced file was kept, or null',
    },
    message: (d) => `wrote ${d.kind} ${d.path}${d.backupPath ? ` (previous kept as ${d.backupPath})` : ''}`,
  },
  'workload-phase': {
    code: 'TR_APPLY_I5100',
    level: 'info',
    description:
      "The workload phase starts: apply's after its Kubernetes issue step, rollback's after the step that makes the apiservers serve the reverted CA again (each waits until kube-root-ca.crt holds that CA). `workload` events follow, one per workload.",
    fields: {
      runId: 'the run',
      operation: '`apply` or `rollback`',
      afterStep: 'the step it follows, or null (a resumed run whose plan no longer has that step: after the last step)',
      mode: '`restart`, `report` or `mixed` (the workloads section restarts some workloads and not others)',
      modeSource:
        '`flag` (`--workloads`), `desired-state` (its workloads section; for a rollback, as the rolled-back run recorded it) or `default`',
      podsStartedAfter:
        "rollback: pods started before this time (the rolled-back run's Kubernetes issue step) loaded the CA it returns to and are left alone; null for apply",
    },
    message: (d) =>
      `${d.operation} workload phase${d.afterStep !== null ? ` after step ${d.afterStep}` : ''}: mode ${d.mode} (${d.modeSource})${d.podsStartedAfter ? `, pods started since ${d.podsStartedAfter}` : ''}`,
  },
  workload: {
    code: 'TR_APPLY_I5101',
    level: 'info',
    description:
      "The workload phase (after the Kubernetes issue step, or rollback's revert step) decided or finished one workload whose pods hold the CA the control planes no longer issue from.",
    fields: {
      namespace: 'its namespace',
      kind: '`Deployment`, `DaemonSet`, `StatefulSet`, `Job`, `Other` or `Pod`',
      name: 'its name',
      status:
        '`started` (restart annotation sent, or evictions begun), `restarted` (rollout complete), `evicted` (every pod it had before the new CA was published evicted), `blocked` (a rollout restart does nothing: OnDelete, partition, paused; or a PodDisruptionBudget kept refusing an eviction), `reported`, `ignored` or `failed`',
      detail: 'the `restartedAt` value, or why it is not restarted; null when nothing to add',
    },
    message: (d) => `workload ${d.kind} ${d.namespace}/${d.name}: ${d.status}${d.detail ? ` (${d.detail})` : ''}`,
  },
  'lock-wait': {
    code: 'TR_APPLY_I6001',
    level: 'info',
    description: 'The state is locked by another run; waiting (`--lock-timeout`) with backoff.',
    fields: {
      statePath: 'the state file',
      holder: '`{id, who, operation, created, pid}` of the lock',
      retryInMs: 'delay before the next attempt',
      waitedMs: 'waited so far',
    },
    message: (d) =>
      `state ${d.statePath} is locked by ${d.holder.who} (${d.holder.operation} since ${d.holder.created}, lock id ${d.holder.id}); trying again in ${formatMs(d.retryInMs)}`,
  },
  'lock-broken': {
    code: 'TR_APPLY_W6003',
    level: 'warn',
    description:
      'The state was locked by a run whose process is proven gone on this host (it no longer exists, its pid belongs to a process started at another time, or the host rebooted since); its lock was broken and this run resumes what it left.',
    fields: {
      statePath: 'the state file',
      holder: '`{id, who, operation, created, pid}` of the broken lock',
      reason: 'why the holder is known to be gone',
    },
    message: (d) =>
      `broke the stale lock on state ${d.statePath} held by ${d.holder.who} (${d.holder.operation} since ${d.holder.created}, pid ${d.holder.pid}, lock id ${d.holder.id}): ${d.reason}`,
  },
  'run-lease-taken': {
    code: 'TR_APPLY_I6101',
    level: 'info',
    description:
      'The run holds the cluster-wide run lease (Lease `kube-system/talos-rotate`: holder = run id; who, operation, state and desired-state file in annotations) before any node is touched; it renews it until the run ends. A second run from anywhere refuses to start while it is held.',
    fields: {
      runId: 'run id (the Lease holder)',
      namespace: '`kube-system`',
      name: '`talos-rotate`',
      server: 'the Kubernetes API it was taken at',
      how: '`created`, `free` (a released Lease), `same-run` (held by the run this process resumes or rolls back: its process was killed) or `taken-over` (an expired Lease, with --take-over-expired-lease)',
      previousHolder:
        '`{runId, who, operation, statePath, desiredFile, renewTime, leaseDurationSeconds}` of the holder it replaced, or null',
      leaseDurationSeconds: 'how long the Lease stays valid without renewal',
      renewIntervalMs: 'how often the run renews it',
    },
    message: (d) =>
      `run lease ${d.namespace}/${d.name} ${d.how === 'created' || d.how === 'free' ? 'taken' : d.how === 'same-run' ? 'taken back from the earlier process of this run' : `taken over from ${d.previousHolder?.who ?? 'an expired holder'} (run ${d.previousHolder?.runId ?? '?'})`} at ${d.server}; renewed every ${formatMs(d.renewIntervalMs)}, valid ${d.leaseDurationSeconds}s without renewal`,
  },
  'run-lease-renew-failed': {
    code: 'TR_APPLY_W6102',
    level: 'warn',
    description:
      'A renewal of the run lease (each with an admin kubeconfig fetched afresh through the Talos API) failed. The run goes on; when the lease stays unrenewed for the renew deadline, the run starts nothing new and stops with RUN_LEASE_LOST (resumable).',
    fields: {
      runId: 'run id',
      error: ERROR_FIELD,
      sinceRenewMs: 'time since the last successful renewal',
      renewDeadlineMs: 'the run stops when this much time passed without a renewal',
    },
    message: (d) =>
      `could not renew the run lease (${formatMs(d.sinceRenewMs)} since the last renewal; the run stops at ${formatMs(d.renewDeadlineMs)}): ${d.error.message}`,
  },
  'node-dropped': {
    code: 'TR_APPLY_I6104',
    level: 'info',
    description:
      'A resumed run plans without a node its earlier plan had: the desired state no longer lists it, and the cluster shows it gone (not a Talos cluster member, not a Kubernetes Node). A node still in the cluster stops the resume (APPLY_DROPPED_NODE_IN_CLUSTER).',
    fields: {
      runId: 'run id',
      address: 'the node',
      hostname: 'its hostname when the run planned it',
      role: '`controlplane` or `worker`',
      talosMember: '`absent` (discovery no longer lists it) or `unknown` (the cluster gave no member list)',
      kubernetesNode: '`absent` (no Kubernetes Node names it) or `unknown` (Nodes could not be listed)',
    },
    message: (d) =>
      `${d.role} ${d.address}${d.hostname ? ` (${d.hostname})` : ''} is no longer in the desired state; checked: ${d.talosMember === 'absent' ? 'not a Talos cluster member' : 'Talos membership unknown'}, ${d.kubernetesNode === 'absent' ? 'not a Kubernetes Node' : 'Kubernetes Nodes not listed'}; the run goes on without it`,
  },
  'run-lease-released': {
    code: 'TR_APPLY_I6103',
    level: 'info',
    description:
      'The run ended and cleared the run lease, so the next run may start at once; `released: false` when that failed (the lease then expires after its duration).',
    fields: { runId: 'run id', released: 'whether the holder was cleared', problem: 'why not, or null' },
    message: (d) =>
      d.released ? 'run lease released' : `run lease not released (${d.problem ?? 'unknown'}); it expires on its own`,
  },
  'key-escrowed': {
    code: 'TR_APPLY_I6002',
    level: 'info',
    description:
      'A private key a rollback may need is in the state folder (0600) before any node is touched. The event names the file, never the key.',
    fields: {
      api: '`talos` or `kubernetes`',
      fingerprint: "the certificate's fingerprint",
      role: '`new-issuing`, `previous-issuing` or `client`',
      file: 'the key file',
      kept: 'it was escrowed by an earlier run',
    },
    message: (d) =>
      `${d.kept ? 'already escrowed' : 'escrowed'}: ${d.api} ${d.role} key ${shortFingerprint(d.fingerprint)} in ${d.file}`,
  },
  'question-answered': {
    code: 'TR_APPLY_I8001',
    level: 'info',
    description:
      'A confirmation was answered: by the user, by `--auto-approve`, or with its default because nobody can answer.',
    fields: {
      question: 'question type, e.g. `confirm-apply`',
      answer: 'yes (true) or no',
      source: '`user`, `auto-approve` or `default`',
    },
    message: (d) =>
      d.source === 'auto-approve'
        ? `${d.question}: yes (--auto-approve)`
        : d.source === 'default'
          ? `${d.question}: ${d.answer ? 'yes' : 'no'} (the default, answered automatically: input is not interactive${d.answer ? '' : '; pass --auto-approve to answer yes'})`
          : `${d.question}: ${d.answer ? 'yes' : 'no'}`,
  },
  warning: {
    code: 'TR_APPLY_W9001',
    level: 'warn',
    description:
      'Something the operator should know that does not stop the run (plan notices, uncheckable lock holder, …).',
    fields: {
      warningCode: 'stable code of the warning (e.g. `APPLY_RETRY`); `code` is the event code',
      text: 'the warning',
      hint: 'what to do, or null',
    },
    message: (d) => d.text,
  },
  error: {
    code: 'TR_APPLY_E9002',
    level: 'error',
    description: 'An error outside any step (before the run started, or while finishing it).',
    fields: { error: ERROR_FIELD },
    message: (d) => d.error.message,
  },
  'event-withheld': {
    code: 'TR_APPLY_E9003',
    level: 'error',
    description:
      'An event was not shown because its text held key material (a bug; the event is dropped, never printed).',
    fields: { withheldCode: 'the code of the withheld event' },
    message: (d) =>
      `an event (${d.withheldCode}) was withheld because it held key material; this is a bug in talos-rotate, please report it`,
  },
  // rotate plan: it reports through the same sink (on stderr; its stdout is the plan document).
  'plan-progress': {
    code: 'TR_PLAN_I1001',
    level: 'info',
    description:
      'How far `rotate plan` is in a phase that goes node by node: one event as it starts and one per node ' +
      'done. A terminal shows it as a live line; a log gets a line only every 10 s of a phase, and one when ' +
      'that phase ends.',
    fields: {
      phase: '`reading nodes` or `node dry runs`',
      done: 'nodes done',
      total: 'nodes in the phase',
      elapsedMs: 'time since the phase started',
    },
    message: (d) =>
      d.done >= d.total
        ? `plan: ${d.phase} ${d.done}/${d.total}, done in ${formatMs(d.elapsedMs)}`
        : `plan: ${d.phase} ${d.done}/${d.total} (${formatMs(d.elapsedMs)})`,
  },
  'plan-warning': {
    code: 'TR_PLAN_W9001',
    level: 'warn',
    description:
      'Something the operator should know about the plan or the desired state that does not stop ' +
      '`rotate plan` (as `warning` for apply).',
    fields: {
      warningCode:
        'stable code of the warning (e.g. `DESIRED_KEY_IN_GIT`, `PLAN_NO_SECRETS_BUNDLE`); `code` is the event code',
      text: 'the warning',
      hint: 'what to do, or null',
    },
    message: (d) => d.text,
  },
  'plan-saved': {
    code: 'TR_PLAN_I5001',
    level: 'info',
    description: '`rotate plan --out FILE` saved the plan (0600, no keys).',
    fields: { path: 'the file written', applyCommand: 'the command that applies it' },
    message: (d) => `Saved the plan to ${d.path} (0600). Apply it with: ${d.applyCommand}`,
  },
};

export const QUESTIONS: { [K in QuestionType]: QuestionSpec<K> } = {
  'confirm-apply': {
    code: 'TR_APPLY_I8101',
    description: 'Apply this plan? (not asked for a saved plan file, which is the approval)',
    default: false,
    fields: { steps: 'steps in the plan', nodes: 'nodes changed', verdict: "the plan's verdict" },
    message: (d) => `Apply ${plural(d.steps, 'step')} changing ${plural(d.nodes, 'node')} (verdict: ${d.verdict})?`,
  },
  'confirm-disruption': {
    code: 'TR_APPLY_I8102',
    description: 'Run a step whose proof announces a disruption?',
    default: false,
    fields: { stepId: 'plan step id', disruptions: 'announced disruptions in the step' },
    message: (d) => `Step ${d.stepId} announces ${plural(d.disruptions, 'disruption')}. Continue?`,
  },
  'confirm-resume': {
    code: 'TR_APPLY_I8103',
    description: 'Resume the unfinished run found in the state?',
    default: false,
    fields: { runId: 'run id', previousStatus: 'its status' },
    message: (d) => `An unfinished run (${d.runId}, ${d.previousStatus}) is recorded in the state. Resume it?`,
  },
  'confirm-rollback': {
    code: 'TR_APPLY_I8104',
    description: 'Roll back the changes of a run?',
    default: false,
    fields: { runId: 'run id', steps: 'steps to undo' },
    message: (d) => `Roll back run ${d.runId} (${plural(d.steps, 'step')})?`,
  },
};

/** Make an event: code, level and message come from the registry. */
export function makeEvent<K extends EventType>(type: K, data: EventDataMap[K], time: Date = new Date()): EventOf<K> {
  const spec = EVENTS[type] as EventSpec<K>;
  return { type, code: spec.code, level: spec.level, time: time.toISOString(), message: spec.message(data), data };
}

export function makeQuestion<K extends QuestionType>(
  type: K,
  data: QuestionMap[K],
  options: { default?: boolean } = {},
): QuestionOf<K> {
  const spec = QUESTIONS[type] as QuestionSpec<K>;
  return { type, code: spec.code, message: spec.message(data), default: options.default ?? spec.default, data };
}
