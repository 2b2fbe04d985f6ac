/**
 * The one registry of event and question codes: code, level, description, documented fields and the
 * message each renders. Events are made only through makeEvent/makeQuestion, so a message is always text
 * built from typed data. `docs/events.md` is generated from it (see docs.ts; a test keeps it in step).
 * The events are written in one file per family (run-, node-, output-, lock-, plan-events.ts); this file joins
 * them, and holds the general events and the questions.
 */
import type { EventOf, EventType, QuestionOf, QuestionType, QuestionMap, EventDataMap } from './types.js';
import { LOCK_EVENTS } from './lock-events.js';
import { NODE_EVENTS } from './node-events.js';
import { OUTPUT_EVENTS } from './output-events.js';
import { PLAN_EVENTS } from './plan-events.js';
import { RUN_EVENTS } from './run-events.js';
import { ERROR_FIELD, plural, type EventSpec, type EventSpecs, type QuestionSpec } from './spec.js';

export { formatMs, type EventSpec, type QuestionSpec } from './spec.js';

export const EVENTS: EventSpecs = {
  ...RUN_EVENTS,
  ...NODE_EVENTS,
  ...OUTPUT_EVENTS,
  ...LOCK_EVENTS,
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
          ? `${d.question}: ${d.answer ? 'yes' : 'no'} (the default, answered automatically: ` +
            `input is not interactive${d.answer ? '' : '; pass --auto-approve to answer yes'})`
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
      `an event (${d.withheldCode}) was withheld because it held key material; this is a bug in talos-rotate, ` +
      'please report it',
  },
  ...PLAN_EVENTS,
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
