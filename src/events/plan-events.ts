/**
 * Events of `rotate plan`: it reports through the same sinks as apply (on stderr; its stdout is the plan
 * document), with `TR_PLAN_` codes.
 * One part of the event registry (registry.ts joins them; a code is unique across all parts).
 */
import { formatMs, type EventSpecs } from './spec.js';

export const PLAN_EVENTS = {
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
} satisfies Partial<EventSpecs>;
