/**
 * `rotate plan` reports through the event sink that apply and rollback use (issue 11 item 4): its progress,
 * its warnings (desired state, planning, no secrets bundle) and the saved-plan note are coded events, and
 * stdout holds the plan document alone. Run with a recording sink, a fake session and a fake `buildPlan`
 * that reports progress as the real one does; then with the terminal and log sinks, as a user sees it.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { runPlan, type PlanIo } from '../../src/cli/commands/plan/run.js';
import type { PlanArgs } from '../../src/cli/commands/plan/command.js';
import type { BuildPlanOptions, BuiltPlan } from '../../src/cluster/session/build-plan.js';
import type { Session } from '../../src/cluster/session/open-session.js';
import type { Diagnostic } from '../../src/desired/types.js';
import { PlainSink, RecordingSink, TtySink } from '../../src/events/index.js';
import { planRotation } from '../../src/plan/planner/index.js';
import { cluster, input } from '../plan/fixtures/cluster.js';
import { Collect, FakeTerminal } from '../events/fixtures/terminal.js';

const inGit: Diagnostic = {
  severity: 'warning',
  code: 'DESIRED_KEY_IN_GIT',
  file: 'rotate.yaml',
  line: 0,
  column: 0,
  path: '',
  pointer: '',
  message: 'git would add files that hold keys: secrets.yaml (cluster.secretsBundle)',
  hint: 'add them to .gitignore',
} as Diagnostic;

function fakeSession(closed: { count: number }): Session {
  return {
    desired: {
      file: 'rotate.yaml',
      digest: 'sha256:0',
      cluster: { talosconfig: 'talosconfig', controlPlanes: [], workers: [] },
      authorities: {},
    },
    warnings: [inGit],
    context: { name: 'lab' },
    endpoints: ['127.0.0.10'],
    close: () => void closed.count++,
  } as unknown as Session;
}

/** Two nodes read, then one node's dry run, as buildPlan reports them; `fail` stops after the first read. */
function fakeBuild(fail = false): PlanIo['buildPlan'] {
  return async (_session: Session, options: BuildPlanOptions): Promise<BuiltPlan> => {
    for (let done = 0; done <= 2; done++) {
      options.progress?.({ phase: 'reading nodes', done, total: 2 });
      if (fail && done === 1) throw new Error('node 127.0.0.11 did not answer');
    }
    options.progress?.({ phase: 'node dry runs', done: 0, total: 1 });
    options.progress?.({ phase: 'node dry runs', done: 1, total: 1 });
    const plan = planRotation(input(cluster(), { outputs: { kubeconfig: true, secretsBundle: false } }));
    return {
      plan,
      nodes: [],
      warnings: [{ code: 'PLAN_TALOSCONFIG_CA_UNKNOWN', text: 'its client certificate is unknown', hint: null }],
    } as unknown as BuiltPlan;
  };
}

function args(over: Partial<PlanArgs> = {}): PlanArgs {
  return {
    file: 'rotate.yaml',
    json: false,
    summary: false,
    'detailed-exitcode': false,
    parallelism: 4,
    'max-unavailable': 1,
    'allow-disruption': false,
    'node-dry-run': true,
    'apply-lock-wait': '30s',
    ...over,
  } as PlanArgs;
}

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

async function outFile(t: TapTest): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'plan-events-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return path.join(dir, 'plan.json');
}

t.test('progress, warnings and the saved-plan note are events of the sink; stdout is the plan alone', async (t) => {
  const sink = new RecordingSink();
  const stdout = new Collect();
  const closed = { count: 0 };
  const out = await outFile(t);
  await runPlan(args({ json: true, out }), {
    sink,
    stdout,
    openSession: async () => fakeSession(closed),
    buildPlan: fakeBuild(),
  });
  t.same(
    sink.ofType('plan-progress').map((e) => `${e.data.phase} ${e.data.done}/${e.data.total}`),
    ['reading nodes 0/2', 'reading nodes 1/2', 'reading nodes 2/2', 'node dry runs 0/1', 'node dry runs 1/1'],
  );
  t.same(
    sink.ofType('plan-warning').map((e) => e.data.warningCode),
    ['DESIRED_KEY_IN_GIT', 'PLAN_TALOSCONFIG_CA_UNKNOWN', 'PLAN_NO_SECRETS_BUNDLE'],
    'desired-state, planning and no-bundle warnings, each with its own code',
  );
  const desiredWarning = sink.ofType('plan-warning')[0]!;
  t.equal(desiredWarning.data.text, `rotate.yaml: ${inGit.message}`, 'the code and hint apart from the text');
  t.equal(desiredWarning.data.hint, inGit.hint);
  t.same(sink.ofType('plan-saved')[0]?.data, { path: out, applyCommand: `rotate apply ${path.relative('.', out)}` });
  t.same(
    sink.codes(),
    [...Array<string>(5).fill('TR_PLAN_I1001'), ...Array<string>(3).fill('TR_PLAN_W9001'), 'TR_PLAN_I5001'],
    'every event is a plan event, in this order',
  );
  const doc = JSON.parse(stdout.text) as { kind: string };
  t.equal(doc.kind, 'talos-rotate/plan', 'stdout is one JSON document');
  t.equal((await fs.stat(out)).mode & 0o777, 0o600, 'the plan saved 0600');
  t.equal(closed.count, 1, 'the session is closed');
});

t.test('on a terminal: warnings as `warning: TEXT [CODE]`, the live line gone, the saved note', async (t) => {
  const term = new FakeTerminal();
  const stdout = new Collect();
  const out = await outFile(t);
  await runPlan(args({ out }), {
    sink: new TtySink({ out: stdout, err: term, refreshMs: 0 }),
    stdout,
    openSession: async () => fakeSession({ count: 0 }),
    buildPlan: fakeBuild(),
  });
  t.match(term.text, 'reading nodes 1/2', 'a live line while the nodes are read');
  const screen = term.screen();
  t.same(screen.slice(0, 2), [
    `warning: rotate.yaml: ${inGit.message} [DESIRED_KEY_IN_GIT]`,
    `      hint: ${inGit.hint}`,
  ]);
  t.ok(
    screen.includes('warning: its client certificate is unknown [PLAN_TALOSCONFIG_CA_UNKNOWN]'),
    'a planning warning',
  );
  t.match(screen.at(-1), /^Saved the plan to .*plan\.json \(0600\)\. Apply it with: rotate apply /);
  t.notMatch(screen.join('\n'), /reading nodes|node dry runs/, 'no progress left on the screen');
  t.match(stdout.text, /^Plan: /m, 'the plan text on stdout');
  t.notMatch(stdout.text, /warning|reading nodes/, 'and nothing else');
});

t.test('in a log: a quick plan adds no progress line; warnings carry their own code', async (t) => {
  const err = new Collect();
  await runPlan(args(), {
    sink: new PlainSink({ out: new Collect(), err }),
    stdout: new Collect(),
    openSession: async () => fakeSession({ count: 0 }),
    buildPlan: fakeBuild(),
  });
  t.notMatch(err.text, /reading nodes|node dry runs|\x1b/);
  t.match(err.lines()[0], /^\S+ WARN {2}rotate\.yaml: git would add .* \[DESIRED_KEY_IN_GIT\]$/);
  t.equal(err.lines().filter((l) => / WARN {2}/.test(l)).length, 3);
});

t.test('a failed plan: the live line is erased before the error is printed; the session closed', async (t) => {
  const term = new FakeTerminal();
  const closed = { count: 0 };
  await t.rejects(
    runPlan(args(), {
      sink: new TtySink({ out: new Collect(), err: term, refreshMs: 0 }),
      stdout: new Collect(),
      openSession: async () => fakeSession(closed),
      buildPlan: fakeBuild(true),
    }),
    /did not answer/,
  );
  t.match(term.text, 'reading nodes 1/2', 'it was drawn');
  t.same(term.screen(), [], 'and erased');
  t.equal(closed.count, 1);
});
