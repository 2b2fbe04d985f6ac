/**
 * Events of one node within a step (its progress, retries, kubelet and static pods), and of the gates
 * after each wave.
 * One part of the event registry (registry.ts joins them; a code is unique across all parts).
 */
import {
  plural,
  formatMs,
  PHASE_TEXT,
  SKIP_TEXT,
  GATE_TEXT,
  ERROR_FIELD,
  CHECK_FIELD,
  gateName,
  type EventSpecs,
} from './spec.js';

export const NODE_EVENTS = {
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
      `${d.address}: attempt ${d.attempt} failed (${d.error.code}: ${d.error.message}); ` +
      `retrying in ${formatMs(d.retryInMs)}`,
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
      "A control plane's kube-apiserver and kube-controller-manager after its Kubernetes CA changed: " +
      "`waiting` until their mirror pods carry the `talos.dev/secrets-version` of the node's `SecretStatuses` " +
      "(namespace `controlplane`, id `static-pods`) and are Ready, and the node's apiserver serves a " +
      'certificate of the expected CA; then `current`. The next control plane is touched only after that.',
    fields: {
      stepId: 'plan step id',
      address: 'node address',
      observed: '`waiting` or `current`',
      renderVersion: 'the SecretStatuses (static-pods) version waited for (null while not yet known)',
    },
    message: (d) =>
      d.observed === 'waiting'
        ? `${d.address}: waiting for kube-apiserver and kube-controller-manager to run from the new ` +
          `config${d.renderVersion ? ` (secrets version ${d.renderVersion})` : ''}`
        : `${d.address}: kube-apiserver and kube-controller-manager run from the new config (secrets ` +
          `version ${d.renderVersion ?? '?'})`,
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
        '`talos` (Version on every node through the endpoints), `kubernetes` (kubelet restarts seen, ' +
        'every Node Ready and its Lease renewed)',
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
        : `${gateName(d)} check ${d.attempt}: ${d.problem.message}` +
          (d.retryInMs !== null ? `; checking again in ${formatMs(d.retryInMs)}` : ''),
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
} satisfies Partial<EventSpecs>;
