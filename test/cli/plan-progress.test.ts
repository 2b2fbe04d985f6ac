/**
 * `rotate plan` shows progress while it reads many nodes (issue 10 item 7): a live line on a terminal, erased
 * at the end; in a log, nothing for a quick phase and a plain line now and then for a slow one.
 */
import t from 'tap';
import { planProgress } from '../../src/cli/commands/plan/progress.js';
import type { PlanProgress } from '../../src/cluster/session/build-plan.js';

class Stream {
  text = '';
  constructor(readonly isTTY: boolean) {}
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

/** 200 nodes read, one every `stepMs`, then 200 dry runs. */
function drive(stream: Stream, stepMs: number, env: NodeJS.ProcessEnv = {}): void {
  let clock = 0;
  const r = planProgress(stream, { now: () => clock, env });
  for (const phase of ['reading nodes', 'node dry runs'] as PlanProgress['phase'][]) {
    r.update({ phase, done: 0, total: 200 });
    for (let done = 1; done <= 200; done++) {
      clock += stepMs;
      r.update({ phase, done, total: 200 });
    }
  }
  r.end();
}

t.test('terminal: one live line, redrawn in place (not 400 times), erased at the end', async (t) => {
  const s = new Stream(true);
  drive(s, 20);
  t.match(s.text, /\r\x1b\[2Kreading nodes 0\/200/, 'shown from the start');
  t.match(s.text, /\r\x1b\[2Kreading nodes 200\/200/);
  t.match(s.text, /\r\x1b\[2Knode dry runs 200\/200/);
  t.notMatch(s.text, /\n/, 'never a new line: the screen ends with the plan alone');
  t.ok(s.text.endsWith('\r\x1b[2K'), 'erased at the end');
  const draws = s.text.split('\r\x1b[2K').length - 1;
  t.ok(draws < 120 && draws > 10, `redrawn at most every 100 ms (${draws} draws for 400 updates over 16 s)`);
});

t.test(
  'log: a quick plan adds no line; a slow one a plain line about every 10 s, and one when the phase ends',
  async (t) => {
    const quick = new Stream(false);
    drive(quick, 20); // 4 s per phase
    t.equal(quick.text, '', 'nothing for phases under 10 s');

    const slow = new Stream(false);
    drive(slow, 150); // 30 s per phase
    const lines = slow.text.split('\n').filter(Boolean);
    t.notMatch(slow.text, /\x1b|\r/, 'no escape sequences in a log');
    t.same(lines.filter((l) => l.startsWith('plan: reading nodes')).length, 3, 'two progress lines and the end');
    t.match(lines[0], /^plan: reading nodes 67\/200 \(10s\)$/);
    t.match(lines[1], /^plan: reading nodes 134\/200 \(20s\)$/);
    t.match(lines[2], /^plan: reading nodes 200\/200, done in 30s$/);
    t.equal(lines.filter((l) => l.startsWith('plan: node dry runs')).length, 3, 'the dry runs likewise');
  },
);

t.test('TERM=dumb: a terminal that cannot erase a line gets the log form', async (t) => {
  const s = new Stream(true);
  drive(s, 150, { TERM: 'dumb' });
  t.notMatch(s.text, /\x1b/);
  t.match(s.text, /^plan: reading nodes \d+\/200 \(10s\)\n/);
});
