import { PassThrough } from 'node:stream';
import t from 'tap';
import {
  JsonLinesSink,
  PlainSink,
  RecordingSink,
  TtySink,
  detectCi,
  makeEvent,
  makeQuestion,
  selectSink,
  teeSink,
  type RotateEvent,
} from '../../src/events/index.js';
import { TOOL_VERSION } from '../../src/version.js';
import { Collect, FakeTerminal } from './fixtures/terminal.js';
import { at, sampleEvents } from './fixtures/script.js';

const KEY_PEM =
  '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeoAoGCCqGSM49\n' +
  '-----END EC PRIVATE KEY-----\n';
const KEY_B64 = Buffer.from(KEY_PEM).toString('base64');

function leakyEvents(): RotateEvent[] {
  return [
    makeEvent('warning', { warningCode: 'OOPS', text: `here is a key ${KEY_PEM}`, hint: null }, at(1)),
    makeEvent(
      'node-failed',
      { stepId: 's', address: '127.0.0.10', error: { code: 'X', message: 'bad', hint: KEY_B64 } },
      at(2),
    ),
  ];
}

t.test('plain: one timestamped line per event on stderr, hints below, the result alone on stdout', async (t) => {
  const out = new Collect();
  const err = new Collect();
  const sink = new PlainSink({ out, err });
  for (const e of sampleEvents()) sink.emit(e);
  t.same(out.lines(), ['Apply complete: 3 steps, 2 nodes changed in 1m5s.']);
  const lines = err.lines();
  t.equal(lines[0], '2026-03-01T10:00:00.000Z INFO  apply started: 3 steps, 2 nodes (run run-1) [TR_APPLY_I1001]');
  t.ok(
    lines.includes(
      '2026-03-01T10:00:01.000Z INFO  step 1/3: Talos API: accept talos-2026 (bbbbbbbbbbbbbbbb) [TR_APPLY_I2001]',
    ),
  );
  t.ok(lines.includes('2026-03-01T10:00:03.000Z INFO  127.0.0.10: OK [TR_APPLY_I3900]'));
  t.ok(
    lines.includes(
      '2026-03-01T10:00:03.000Z WARN  127.0.0.11: attempt 1 failed (TALOS_UNAVAILABLE: node 127.0.0.11 did ' +
        'not answer); retrying in 1s [TR_APPLY_W3004]',
    ),
  );
  const warning = lines.findIndex((l) =>
    l.includes('WARN  the kubeconfig of other users stops working after step 3 [APPLY_NOTICE]'),
  );
  t.ok(warning >= 0, "a warning line carries the warning's own code, not the event's");
  t.match(lines[warning + 1], /^\s+hint: hand out new kubeconfigs$/);
  t.equal(lines.filter((l) => /^\d{4}-/.test(l)).length, sampleEvents().length - 1, 'every other event is one line');
  t.notMatch(err.text, /\x1b/, 'no escape sequences in logs');
});

t.test('plain: questions are not asked; the default is used and said, or yes with --auto-approve', async (t) => {
  const err = new Collect();
  const sink = new PlainSink({ out: new Collect(), err });
  t.equal(await sink.ask(makeQuestion('confirm-apply', { steps: 3, nodes: 5, verdict: 'safe' })), false);
  t.match(
    err.text,
    new RegExp(
      /confirm-apply: no \(the default, answered automatically: input is not interactive; pass /.source +
        /--auto-approve to answer yes\) \[TR_APPLY_I8001\]/.source,
    ),
  );
  const err2 = new Collect();
  const yes = new PlainSink({ out: new Collect(), err: err2, autoApprove: true });
  t.equal(await yes.ask(makeQuestion('confirm-apply', { steps: 3, nodes: 5, verdict: 'safe' })), true);
  t.match(err2.text, /confirm-apply: yes \(--auto-approve\)/);
  const err3 = new Collect();
  t.equal(
    await new PlainSink({ out: new Collect(), err: err3 }).ask(
      makeQuestion('confirm-resume', { runId: 'r', previousStatus: 'interrupted' }, { default: true }),
    ),
    true,
  );
  t.match(err3.text, /confirm-resume: yes \(the default, answered automatically: input is not interactive\)/);
});

t.test(
  'json: a version line first, then one object per event with @level/@message/@timestamp/type/code and the data',
  async (t) => {
    const out = new Collect();
    const sink = new JsonLinesSink({ out, now: () => at(0) });
    for (const e of sampleEvents()) sink.emit(e);
    const lines = out.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    t.same(lines[0], {
      '@level': 'info',
      '@message': `talos-rotate ${TOOL_VERSION}`,
      '@module': 'talos-rotate',
      '@timestamp': '2026-03-01T10:00:00.000Z',
      type: 'version',
      talos_rotate: TOOL_VERSION,
      ui: '1.0',
    });
    t.equal(lines.length, sampleEvents().length + 1);
    for (const line of lines.slice(1)) {
      for (const key of ['@level', '@message', '@module', '@timestamp', 'type', 'code'])
        t.ok(key in line, `${String(line.type)} has ${key}`);
      t.ok(['debug', 'info', 'warn', 'error'].includes(line['@level'] as string));
    }
    t.same(
      lines.find((l) => l.type === 'node-done'),
      {
        stepId: 'talos-accept',
        address: '127.0.0.10',
        after: { talos: { issuing: 'a'.repeat(64), accepted: ['b'.repeat(64)] } },
        durationMs: 2000,
        '@level': 'info',
        '@message': '127.0.0.10: OK',
        '@module': 'talos-rotate',
        '@timestamp': '2026-03-01T10:00:03.000Z',
        type: 'node-done',
        code: 'TR_APPLY_I3900',
      },
    );
    t.match(lines.at(-1), { type: 'run-complete', '@level': 'info', code: 'TR_APPLY_I1900', nodesChanged: 2 });
    const answer = await sink.ask(makeQuestion('confirm-apply', { steps: 3, nodes: 5, verdict: 'safe' }));
    t.equal(answer, false);
    const tail = out
      .lines()
      .slice(-2)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    t.match(tail[0], { type: 'question', code: 'TR_APPLY_I8101', question: 'confirm-apply', default: false, steps: 3 });
    t.match(tail[1], { type: 'question-answered', answer: false, source: 'default' });
  },
);

t.test(
  'tty: step headers, "  - ADDRESS: OK" lines, live lines redrawn while in flight and gone at the end',
  async (t) => {
    const term = new FakeTerminal();
    const out = new Collect();
    let now = at(1).getTime();
    const sink = new TtySink({ out, err: term, refreshMs: 0, now: () => now });
    t.ok(sink.live);
    const events = sampleEvents();
    const byType = (type: string, n = 0) => events.filter((e) => e.type === type)[n]!;
    for (const e of events.slice(0, 6)) sink.emit(e); // up to both node-started
    now += 1500;
    sink.emit(byType('node-progress'));
    const mid = term.screen();
    t.same(mid.slice(0, 3), [
      'apply started: 3 steps, 2 nodes (run run-1)',
      '  escrowed: talos new-issuing key bbbbbbbbbbbbbbbb in /x/state/keys/talos-bbbbbbbbbbbbbbbb.key',
      '> step 1/3: Talos API: accept talos-2026 (bbbbbbbbbbbbbbbb)',
    ]);
    t.match(
      mid.slice(3),
      [/^ {2}⠋ 127\.0\.0\.10: verifying the new config \(2s\)$/, /^ {2}⠋ 127\.0\.0\.11: applying config \(2s\)$/],
      'one live line per node in flight',
    );
    t.ok(
      mid.slice(3).every((l) => [...l].length < term.columns),
      'live lines never wrap',
    );
    for (const e of events.slice(7)) sink.emit(e);
    sink.close();
    const screen = term.screen();
    t.same(screen, [
      'apply started: 3 steps, 2 nodes (run run-1)',
      '  escrowed: talos new-issuing key bbbbbbbbbbbbbbbb in /x/state/keys/talos-bbbbbbbbbbbbbbbb.key',
      '> step 1/3: Talos API: accept talos-2026 (bbbbbbbbbbbbbbbb)',
      '  - 127.0.0.10: OK',
      '  ! 127.0.0.11: attempt 1 failed (TALOS_UNAVAILABLE: node 127.0.0.11 did not answer); retrying in 1s',
      '  - 127.0.0.11: OK',
      '  - gate: OK (2 checks, 3s)',
      '  wrote talosconfig /x/talosconfig (previous kept as /x/talosconfig.bak)',
      'warning: the kubeconfig of other users stops working after step 3 [APPLY_NOTICE]',
      '      hint: hand out new kubeconfigs',
    ]);
    t.same(out.lines(), ['Apply complete: 3 steps, 2 nodes changed in 1m5s.'], 'the result on stdout');
    t.match(term.text, /\x1b\[\d+A\x1b\[J/, 'live lines were erased in place');
    t.match(term.text, /gate: check 1: 127\.0\.0\.11 refused the connection/, 'the gate line showed its attempts');
  },
);

t.test('tty: a long live line is cut to the terminal width; the timer redraws and stops', async (t) => {
  const term = new FakeTerminal();
  term.columns = 30;
  const sink = new TtySink({ out: new Collect(), err: term, refreshMs: 5 });
  sink.emit(
    makeEvent(
      'node-started',
      { stepId: 's', address: '127.0.0.100', hostname: 'h', role: 'worker', before: {} },
      at(0),
    ),
  );
  await new Promise((r) => setTimeout(r, 60));
  const frames = term.chunks.filter((c) => c.includes('127.0.0.100')).length;
  t.ok(frames > 1, `redrawn by the timer (${frames} frames)`);
  t.ok(
    term.screen().every((l) => [...l].length <= 29),
    'cut to the width',
  );
  sink.emit(makeEvent('node-done', { stepId: 's', address: '127.0.0.100', after: {}, durationMs: 1 }, at(1)));
  const after = term.chunks.length;
  await new Promise((r) => setTimeout(r, 30));
  t.equal(term.chunks.length, after, 'no redraws once nothing is in flight');
  sink.close();
});

t.test('tty: a terminal of 0 columns (size unknown) is taken as 80 wide, not cut to nothing', async (t) => {
  const term = new FakeTerminal();
  term.columns = 0;
  const sink = new TtySink({ out: new Collect(), err: term, refreshMs: 0, now: () => 0 });
  sink.emit(makeEvent('plan-progress', { phase: 'reading nodes', done: 1, total: 5, elapsedMs: 0 }, at(0)));
  t.same(term.screen(), ['  ⠋ reading nodes 1/5 (0ms)']);
  sink.close();
});

t.test('tty: asks on the terminal and reads the answer; without a terminal input it answers the default', async (t) => {
  const term = new FakeTerminal();
  const input = Object.assign(new PassThrough(), { isTTY: true });
  const sink = new TtySink({ out: new Collect(), err: term, input, refreshMs: 0 });
  const pending = sink.ask(makeQuestion('confirm-apply', { steps: 3, nodes: 5, verdict: 'safe' }));
  setImmediate(() => input.write('y\n'));
  t.equal(await pending, true);
  t.match(term.text, 'Apply 3 steps changing 5 nodes (verdict: safe)? [y/N] ');
  t.match(term.text, 'confirm-apply: yes');
  const pending2 = sink.ask(makeQuestion('confirm-apply', { steps: 1, nodes: 1, verdict: 'safe' }));
  setImmediate(() => input.write('\n'));
  t.equal(await pending2, false, 'an empty answer is the default');

  const term2 = new FakeTerminal();
  const noInput = new TtySink({
    out: new Collect(),
    err: term2,
    input: Object.assign(new PassThrough(), { isTTY: false }),
    refreshMs: 0,
  });
  t.equal(await noInput.ask(makeQuestion('confirm-apply', { steps: 1, nodes: 1, verdict: 'safe' })), false);
  t.match(term2.text, /answered automatically/);
  const approve = new TtySink({ out: new Collect(), err: new FakeTerminal(), input, autoApprove: true, refreshMs: 0 });
  t.equal(await approve.ask(makeQuestion('confirm-apply', { steps: 1, nodes: 1, verdict: 'safe' })), true);
});

t.test('tty: falls back to plain lines when the stream is not a terminal', async (t) => {
  const err = new Collect();
  const sink = new TtySink({ out: new Collect(), err, refreshMs: 0 });
  t.notOk(sink.live);
  for (const e of sampleEvents()) sink.emit(e);
  t.notMatch(err.text, /\x1b/);
  t.match(err.lines()[0], /^2026-03-01T10:00:00\.000Z INFO {2}apply started/);
});

t.test('selectSink: JSON with --json, live on a terminal outside CI, plain otherwise', async (t) => {
  const stdout = new Collect();
  const stderr = new FakeTerminal();
  t.ok(selectSink({ json: true, stdout, stderr }) instanceof JsonLinesSink);
  t.ok(selectSink({ json: false, isTTY: true, ci: false, dumb: false, stdout, stderr }) instanceof TtySink);
  t.ok(selectSink({ json: false, isTTY: true, ci: true, stdout, stderr }) instanceof PlainSink);
  t.ok(
    selectSink({ json: false, isTTY: true, ci: false, dumb: true, stdout, stderr }) instanceof PlainSink,
    'a terminal that cannot move the cursor (TERM=dumb) gets plain lines',
  );
  t.ok(selectSink({ json: false, isTTY: false, ci: false, stdout, stderr }) instanceof PlainSink);
  t.ok(
    selectSink({ json: false, ci: false, stdout, stderr: new Collect() }) instanceof PlainSink,
    'isTTY defaults to the stream',
  );
  t.equal(detectCi({ CI: 'true' }), true);
  t.equal(detectCi({ CI: '1' }), true);
  t.equal(detectCi({ CI: 'false' }), false);
  t.equal(detectCi({}), false);
  const json = new Collect();
  selectSink({ json: true, stdout: json, stderr }).emit(sampleEvents()[0]!);
  t.equal(json.lines().length, 2, 'JSON mode writes everything to stdout');
  t.equal(stderr.text, '');
});

t.test('no key material reaches any output: such an event is withheld, naming only its code', async (t) => {
  const outputs: string[] = [];
  const plainErr = new Collect();
  const plain = new PlainSink({ out: new Collect(), err: plainErr });
  const json = new Collect();
  const jsonSink = new JsonLinesSink({ out: json });
  const term = new FakeTerminal();
  const tty = new TtySink({ out: new Collect(), err: term, refreshMs: 0 });
  const rec = new RecordingSink();
  const observed: RotateEvent[] = [];
  const tee = teeSink(rec, (e) => observed.push(e));
  for (const e of leakyEvents()) for (const sink of [plain, jsonSink, tty, tee]) sink.emit(e);
  outputs.push(plainErr.text, json.text, term.text, JSON.stringify(rec.events), JSON.stringify(observed));
  for (const text of outputs) {
    t.notMatch(text, /PRIVATE KEY|MHcCAQEEI|LS0tLS1CRUdJTi/);
    t.match(text, /withheld/);
  }
  t.same(rec.codes(), ['TR_APPLY_E9003', 'TR_APPLY_E9003']);
  t.match(rec.ofType('event-withheld')[0]!.data, { withheldCode: 'TR_APPLY_W9001' });
  const q = makeQuestion('confirm-rollback', { runId: KEY_PEM, steps: 1 });
  await jsonSink.ask(q);
  t.notMatch(json.text, /PRIVATE KEY/);
});

t.test('recording sink keeps events and answers from a script, then the default', async (t) => {
  const rec = new RecordingSink([true]);
  for (const e of sampleEvents()) rec.emit(e);
  t.equal(rec.events.length, sampleEvents().length);
  t.same(
    rec.ofType('node-done').map((e) => e.data.address),
    ['127.0.0.10', '127.0.0.11'],
  );
  t.equal(await rec.ask(makeQuestion('confirm-apply', { steps: 1, nodes: 1, verdict: 'safe' })), true);
  t.equal(await rec.ask(makeQuestion('confirm-apply', { steps: 1, nodes: 1, verdict: 'safe' })), false);
  t.equal(rec.questions.length, 2);
});

t.test('tty: a gate with a Talos and a Kubernetes check shows each; no live line is left', async (t) => {
  const term = new FakeTerminal();
  term.columns = 120;
  const sink = new TtySink({ out: new Collect(), err: term, refreshMs: 0, now: () => 0 });
  const stepId = 'talos-kubernetes-accept';
  sink.emit(makeEvent('gate-start', { stepId, checks: ['talos', 'kubernetes'] }, at(0)));
  t.same(term.screen(), ['  ⠋ gate: checking the Talos API on every node and every Kubernetes Node Ready (0ms)']);
  sink.emit(makeEvent('gate-passed', { stepId, check: 'talos', attempts: 1, durationMs: 500 }, at(1)));
  sink.emit(
    makeEvent(
      'gate-attempt',
      {
        stepId,
        check: 'kubernetes',
        attempt: 1,
        ok: false,
        retryInMs: 2000,
        problem: { code: 'GATE_NOT_READY', message: 'Node w-1 is not Ready' },
      },
      at(2),
    ),
  );
  t.same(term.screen(), [
    '  - talos gate: OK (1 check, 500ms)',
    '  ⠋ kubernetes gate: check 1: Node w-1 is not Ready (0ms)',
  ]);
  sink.emit(makeEvent('gate-passed', { stepId, check: 'kubernetes', attempts: 2, durationMs: 4000 }, at(4)));
  sink.emit(makeEvent('step-complete', { stepId, index: 1, total: 3, durationMs: 9000 }, at(4)));
  sink.close();
  t.same(term.screen(), ['  - talos gate: OK (1 check, 500ms)', '  - kubernetes gate: OK (2 checks, 4s)']);
});
