/**
 * Issue 10 item 7: each warning carries one code, not two. A warning event holds its own code
 * (`warningCode`: DESIRED_…, PLAN_…, APPLY_…); the log line (plain sink) and the terminal line (tty sink) show
 * that code once, never the generic event code beside it nor a second copy inside the text. `rotate plan`'s
 * `plan-warning` events (the same warnings, through the same sinks) likewise.
 */
import t from 'tap';
import { PlainSink, TtySink, makeEvent } from '../../src/events/index.js';
import type { Diagnostic } from '../../src/desired/types.js';
import { planRotation } from '../../src/plan/planner/index.js';
import { diagnosticWarning, noSecretsBundleWarning, type PlanWarning } from '../../src/cluster/session/build-plan.js';
import { cluster, input } from '../plan/fixtures/cluster.js';
import { Collect, FakeTerminal } from './fixtures/terminal.js';
import { at } from './fixtures/script.js';

const CODE = /\[([A-Z][A-Z0-9_]+)\]/g;

const unused: Diagnostic = {
  severity: 'warning',
  code: 'DESIRED_UNUSED_AUTHORITY',
  file: 'rotate.yaml',
  line: 39,
  column: 3,
  path: 'authorities.talos-lab',
  pointer: '/authorities/talos-lab',
  message: 'is defined but neither issuing nor accepted for any API',
  hint: 'keep it only to switch back to it later; otherwise delete it',
} as Diagnostic;

function warnings(): PlanWarning[] {
  const bundle = noSecretsBundleWarning(
    planRotation(input(cluster(), { outputs: { kubeconfig: true, secretsBundle: false } })),
    undefined,
  );
  if (!bundle) throw new Error('expected the no-bundle warning');
  return [diagnosticWarning(unused), bundle];
}

t.test('a desired-state warning keeps its code and hint apart from its text', async (t) => {
  const w = diagnosticWarning(unused);
  t.same(w, {
    code: 'DESIRED_UNUSED_AUTHORITY',
    text: 'rotate.yaml:39:3: authorities.talos-lab: is defined but neither issuing nor accepted for any API',
    hint: unused.hint,
  });
});

t.test('plain and terminal lines: exactly one code per warning, its own', async (t) => {
  for (const [w, type] of warnings().flatMap((w) =>
    [w, w].map((x, i) => [x, i ? 'plan-warning' : 'warning'] as const),
  )) {
    const event = makeEvent(type, { warningCode: w.code, text: w.text, hint: w.hint }, at(1));
    const err = new Collect();
    new PlainSink({ out: new Collect(), err }).emit(event);
    const line = err.lines()[0]!;
    t.same(
      [...line.matchAll(CODE)].map((m) => m[1]),
      [w.code],
      `plain: ${line}`,
    );
    t.match(err.lines()[1], /^\s+hint: /, 'the hint on the next line');

    const term = new FakeTerminal();
    const tty = new TtySink({ out: new Collect(), err: term });
    tty.emit(event);
    tty.close();
    const shown = term.screen().join('\n');
    t.same(
      [...shown.matchAll(CODE)].map((m) => m[1]),
      [w.code],
      `terminal: ${shown}`,
    );
    t.match(shown, /^warning: .* \[[A-Z_]+\]\n {6}hint: /, `${type}: warning: TEXT [CODE], then the hint`);
  }
});
