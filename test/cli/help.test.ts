/**
 * The CLI's own surface, through the built `bin/rotate`: `--version` (answered without loading yargs),
 * examples in `--help`, and shell completion.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { requireBuild, rotate, ROTATE } from '../lab/e2e/fixtures/cli.js';

requireBuild(t);

t.test('rotate --version prints the package version (the fast path in bin/rotate), as yargs would', async (t) => {
  const pkg = JSON.parse(await fs.readFile(path.join(path.dirname(ROTATE), '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  const fast = await rotate('--version');
  t.same([fast.code, fast.stdout, fast.stderr], [0, `${pkg.version}\n`, '']);
  const viaYargs = await rotate('--version', '--help');
  t.equal(viaYargs.code, 0);
  t.match(viaYargs.stdout, /rotate <command>/, 'other combinations still go through yargs');
});

t.test('--help shows examples, for the tool and for the commands pipelines use', async (t) => {
  for (const args of [[], ['plan'], ['apply'], ['rollback'], ['validate'], ['ca', 'new'], ['ca', 'import']]) {
    const r = await rotate(...args, '--help');
    t.equal(r.code, 0, `rotate ${args.join(' ')} --help`);
    t.match(r.stdout, /\nExamples:\n {2}rotate /, `rotate ${args.join(' ')} --help has examples`);
  }
});

t.test('rotate completion: a completion script, and completions for commands and flags', async (t) => {
  const script = await rotate('completion');
  t.equal(script.code, 0);
  t.match(script.stdout, /rotate --get-yargs-completions/, 'the script asks rotate for completions');
  const commands = await rotate('--get-yargs-completions', 'rotate', '');
  for (const c of ['plan', 'apply', 'rollback', 'validate', 'state', 'ca', 'lab'])
    t.match(commands.stdout, new RegExp(`^${c}$`, 'm'), `completes ${c}`);
  const ca = await rotate('--get-yargs-completions', 'rotate', 'ca', '');
  t.same(ca.stdout.trim().split('\n').sort(), ['import', 'new', 'show']);
  const flags = await rotate('--get-yargs-completions', 'rotate', 'plan', '--');
  for (const f of ['--file', '--detailed-exitcode', '--out', '--parallelism'])
    t.match(flags.stdout, new RegExp(`^${f}$`, 'm'), `completes ${f}`);
});
