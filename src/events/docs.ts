/**
 * docs/events.md, generated from the registry (a test fails when the file is out of date; regenerate with
 * `ROTATE_UPDATE_DOCS=1 npx tap test/events/docs.test.ts`).
 */
import { EVENTS, QUESTIONS } from './registry.js';
import { JSON_UI_VERSION } from './sinks/json-lines.js';
import type { EventType, QuestionType } from './types.js';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function renderEventsDoc(): string {
  const out: string[] = [];
  out.push(
    '# Progress events of `rotate apply`, `rotate rollback` and `rotate plan`',
    '',
    '<!-- Generated from src/events/registry.ts by renderEventsDoc(); do not edit by hand.',
    '     Regenerate: ROTATE_UPDATE_DOCS=1 npx tap test/events/docs.test.ts -->',
    '',
    'Apply and rollback report through one event sink. Every event has a stable **code**, a **type**, a',
    '**level**, a timestamp, a user-safe **message** and typed **data**. Events carry fingerprints, addresses,',
    'ids, counts, paths and error records: never a key.',
    '',
    'Codes read `TR_APPLY_<I|W|E><nnnn>` (info, warning, error). The first digit is the subject: 1 run, 2 step,',
    '3 node, 4 gate, 5 outputs, 6 lock and keys, 8 questions, 9 general. `x900`–`x999` are outcomes. A code',
    'never changes meaning; new codes may be added.',
    '',
    '`rotate plan` reports through the same sinks with `TR_PLAN_…` codes (the same digits): its progress and',
    'warnings, on stderr as a terminal or a log shows them. It has no JSON event stream: its `--json` is the plan',
    'document on stdout (docs/plan-format.md).',
    '',
    '## Renderings',
    '',
    '- **Terminal** (stderr is a TTY, not CI): `> step 2/3: …` headers, `  - 127.0.0.10: OK` lines, and a',
    '  redrawn status line per node or gate in flight. Questions are asked on the terminal.',
    '- **Plain** (CI logs, pipes): one line per event on stderr, `TIME LEVEL message [CODE]`, a hint on the',
    '  next line; for a `warning` event CODE is its `warningCode` (one code per line; the terminal shows it too).',
    '  Questions are not asked: they get their default, and a `question-answered` event says so.',
    `- **JSON** (\`--json\`): one object per line on stdout. ` +
      `The first is \`{"type":"version","talos_rotate":…,"ui":"${JSON_UI_VERSION}"}\`.`,
    '  Every line has `@level` (`debug`, `info`, `warn`, `error`), `@message`, `@module` (`talos-rotate`),',
    '  `@timestamp`, `type` and `code`, then the fields of the event\'s data. Questions appear as `type: "question"`',
    '  lines (with `question` and `default`) followed by their `question-answered` event. Ignore unknown types',
    '  and fields: the `ui` minor version grows when some are added, the major version on incompatible changes.',
    '',
    'Results (level `result`) go to stdout; everything else to stderr, except with `--json` (all on stdout).',
    '`--auto-approve` answers every question yes.',
    '',
    '## Events',
    '',
    '| Code | Type | Level | Description |',
    '|---|---|---|---|',
  );
  const types = Object.keys(EVENTS) as EventType[];
  // By area (APPLY, then PLAN), then number.
  const key = (type: EventType) => EVENTS[type].code.replace(/_[IWE](\d{4})$/, '$1');
  const sorted = [...types].sort((a, b) => key(a).localeCompare(key(b)));
  for (const type of sorted) {
    const spec = EVENTS[type];
    out.push(`| \`${spec.code}\` | \`${type}\` | ${spec.level} | ${cell(spec.description)} |`);
  }
  out.push('', '### Data fields', '');
  for (const type of sorted) {
    const spec = EVENTS[type];
    out.push(`#### \`${type}\` (\`${spec.code}\`)`, '');
    for (const [field, doc] of Object.entries(spec.fields)) out.push(`- \`${field}\`: ${doc as string}`);
    out.push('');
  }
  out.push('## Questions', '', '| Code | Type | Default | Asks |', '|---|---|---|---|');
  for (const type of Object.keys(QUESTIONS) as QuestionType[]) {
    const spec = QUESTIONS[type];
    out.push(`| \`${spec.code}\` | \`${type}\` | ${spec.default ? 'yes' : 'no'} | ${cell(spec.description)} |`);
  }
  out.push('');
  for (const type of Object.keys(QUESTIONS) as QuestionType[]) {
    const spec = QUESTIONS[type];
    out.push(
      `- \`${type}\`: ${Object.entries(spec.fields)
        .map(([f, d]) => `\`${f}\` (${d as string})`)
        .join(', ')}`,
    );
  }
  out.push('');
  return out.join('\n');
}
