/**
 * `rotate plan` shows progress while it reads many nodes (issue 10 item 7), as `plan-progress` events of its
 * sink: a live line on a terminal, erased at the end; in a log, nothing for a quick phase and a plain line
 * now and then for a slow one.
 */
import t from 'tap';
import { planProgressEvents } from '../../src/cli/commands/plan/progress.js';
import type { PlanProgress } from '../../src/cluster/session/build-plan.js';
import { PlainSink, TtySink, selectSink, type EventSink } from '../../src/events/index.js';
import { Collect, FakeTerminal } from '../events/fixtures/terminal.js';

/** 200 nodes read, one every `stepMs`, then 200 dry runs. */
function drive(sink: EventSink, stepMs: number): void {
  let clock = 0;
  const progress = planProgressEvents(sink, () => clock);
  for (const phase of ['reading nodes', 'node dry runs'] as PlanProgress['phase'][]) {
    progress({ phase, done: 0, total: 200 });
    for (let done = 1; done <= 200; done++) {
      clock += stepMs;
      progress({ phase, done, total: 200 });
    }
  }
  sink.close?.();
}

t.test('terminal: one live line per phase, redrawn by the timer (not 400 times), erased at the end', async (t) => {
  const term = new FakeTerminal();
  drive(new TtySink({ out: new Collect(), err: term }), 20);
  t.match(term.text, /reading nodes 0\/200 \(/, 'shown from the start, with the time spent');
  t.match(term.text, /node dry runs 0\/200 \(/);
  const draws = term.chunks.filter((c) => /reading nodes|node dry runs/.test(c)).length;
  t.ok(draws >= 2 && draws < 10, `an update waits for the timer's redraw (${draws} draws for 402 events)`);
  t.same(term.screen(), [], 'erased: the screen ends with the plan alone');

  const each = new FakeTerminal();
  drive(new TtySink({ out: new Collect(), err: each, refreshMs: 0 }), 20);
  t.match(each.text, /reading nodes 199\/200/, 'without a timer, each update is drawn');
  t.same(each.screen(), []);
});

t.test(
  'log: a quick plan adds no line; a slow one a plain line about every 10 s, and one when the phase ends',
  async (t) => {
    const quick = new Collect();
    drive(new PlainSink({ out: new Collect(), err: quick }), 20); // 4 s per phase
    t.equal(quick.text, '', 'nothing for phases under 10 s');

    const slow = new Collect();
    drive(new PlainSink({ out: new Collect(), err: slow }), 150); // 30 s per phase
    const lines = slow.lines().map((l) => l.replace(/^\S+ INFO {2}/, ''));
    t.notMatch(slow.text, /\x1b|\r/, 'no escape sequences in a log');
    t.same(lines.filter((l) => l.startsWith('plan: reading nodes')).length, 3, 'two progress lines and the end');
    t.equal(lines[0], 'plan: reading nodes 67/200 (10s) [TR_PLAN_I1001]');
    t.equal(lines[1], 'plan: reading nodes 134/200 (20s) [TR_PLAN_I1001]');
    t.equal(lines[2], 'plan: reading nodes 200/200, done in 30s [TR_PLAN_I1001]');
    t.equal(lines.filter((l) => l.startsWith('plan: node dry runs')).length, 3, 'the dry runs likewise');
  },
);

t.test('TERM=dumb: a terminal that cannot erase a line gets the log form', async (t) => {
  const term = new FakeTerminal();
  const sink = selectSink({ json: false, isTTY: true, ci: false, dumb: true, stderr: term, stdout: new Collect() });
  t.ok(sink instanceof PlainSink);
  drive(sink, 150);
  t.notMatch(term.text, /\x1b/);
  t.match(term.text, /^\S+ INFO {2}plan: reading nodes \d+\/200 \(10s\) \[TR_PLAN_I1001\]\n/);
});
