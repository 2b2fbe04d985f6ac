/**
 * Events of a run and its steps: start, resume, completion, failure; steps and waves.
 * One part of the event registry (registry.ts joins them; a code is unique across all parts).
 */
import { plural, formatMs, ROLE_PLURAL, ERROR_FIELD, type EventSpecs } from './spec.js';

export const RUN_EVENTS = {
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
      `resuming ${d.operation} run ${d.runId} ` +
      `(${d.previousStatus === 'running' ? 'its process stopped' : d.previousStatus}): ` +
      `${d.stepsDone}/${d.steps} steps done` +
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
      `${d.operation === 'apply' ? 'Apply' : 'Rollback'} ` +
      `complete: ${plural(d.steps, 'step')}, ${plural(d.nodesChanged, 'node')} changed ` +
      `in ${formatMs(d.durationMs)}.`,
  },
  'run-summary': {
    code: 'TR_APPLY_I1903',
    level: 'result',
    description:
      'After a complete run: the files it wrote (each once, with the backup of what it replaced) ' +
      'and what is left to the operator. Printed on stdout.',
    fields: {
      runId: 'run id',
      operation: '`apply` or `rollback`',
      outputs: '`{kind, path, backupPath}` per file written (talosconfig, kubeconfig, secretsBundle)',
      notes:
        'reminders: the in-cluster client disruption the plan announced (the same sentence as its notice), ' +
        'talosconfigs to hand out again',
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
} satisfies Partial<EventSpecs>;
