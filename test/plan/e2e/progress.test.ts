/**
 * `rotate plan` shows its progress on stderr (issue 10 item 7) through its event sink, via the real CLI against
 * a lab: on a terminal (a pseudo-terminal from `script`) a live line per node-by-node phase, erased before the
 * plan is printed; in a pipe (a CI log) nothing for a quick plan, and `--json` stdout stays one JSON document.
 */
import { execFile, execFileSync } from 'node:child_process';
import t from 'tap';
import { ROTATE } from '../../lab/e2e/fixtures/cli.js';
import { fullRotation, nextCas, requireBuild, rotate, startLab, writeDesired } from './fixtures/plan-lab.js';

requireBuild(t);

/** `rotate ARGS` with stdout and stderr on a pseudo-terminal (util-linux `script`); what the terminal got. */
function onTerminal(args: string[]): Promise<{ code: number; screen: string }> {
  const cmd = ['env', '-u', 'NODE_OPTIONS', ROTATE, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve) => {
    execFile(
      'script',
      ['-qec', cmd, '/dev/null'],
      // Not CI: there the sink writes plain lines even on a terminal.
      { env: { ...process.env, TERM: 'xterm', NO_COLOR: '1', CI: '' }, timeout: 180_000, maxBuffer: 16 << 20 },
      (err, stdout) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, screen: stdout }),
    );
  });
}

t.test('plan progress: live on a terminal, erased; silent in a quick log; --json stdout clean', async (t) => {
  const lab = await startLab(t, { style: 'document' });
  const file = await writeDesired(lab, 'full', fullRotation(await nextCas(lab)));

  const tty = await onTerminal(['plan', '-f', file]);
  t.equal(tty.code, 0, `plan on a terminal: exit 0\n${tty.screen}`);
  // The event sink's live area (src/events/sinks/tty.ts): `  ⠋ reading nodes 0/5 (0ms)`, erased by moving
  // the cursor up and clearing to the end of the screen.
  const n = lab.nodes.length;
  t.match(tty.screen, new RegExp(`reading nodes \\d+/${n} \\(`), 'a live line while the nodes are read');
  t.match(tty.screen, new RegExp(`node dry runs \\d+/${n} \\(`), 'and while the nodes check the planned configs');
  const lastErase = tty.screen.lastIndexOf('\x1b[J');
  t.ok(lastErase >= 0 && lastErase < tty.screen.indexOf('Plan: '), 'erased before the plan is printed');
  t.notMatch(tty.screen.slice(lastErase), /reading nodes|node dry runs/, 'nothing of it is left on the screen');

  const piped = await rotate('plan', '-f', file, '--json');
  t.equal(piped.code, 0, `plan --json in a pipe: exit 0\n${piped.stderr}`);
  t.doesNotThrow(() => JSON.parse(piped.stdout), 'stdout is one JSON document');
  t.notMatch(piped.stderr, /reading nodes|node dry runs|\x1b/, 'a quick plan adds no progress line to a log');

  execFileSync('git', ['init', '-q'], { cwd: lab.dir });
  const summary = await rotate('plan', '-f', file, '--summary', '--no-node-dry-run');
  t.equal(summary.code, 0, `plan --summary: exit 0\n${summary.stderr}`);
  t.match(
    summary.stdout,
    /^\*\*talos-rotate plan: 4 step\(s\), safe-with-announced-disruption\.\*\*/,
    'the Markdown summary',
  );
  t.match(summary.stdout, /\n\| Step \| What \| Nodes \|/, 'with its step table');
  t.notMatch(summary.stdout, /^> step |^ {6}[-+]|proof:/m, 'and nothing of the full plan');
  const exposed = summary.stderr.split('\n').filter((l) => l.includes('[DESIRED_KEY_IN_GIT]'));
  t.equal(exposed.length, 1, `plan warns once that git would add key files\n${summary.stderr}`);
  for (const f of ['secrets.yaml', 'talosconfig']) t.match(summary.stderr, `${f} (`, `naming ${f}`);
});
