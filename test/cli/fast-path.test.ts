/**
 * The start-up fast path (src/cli/fast-path.ts): `--help`, `rotate completion` and the completion callback
 * answered from the table recorded at build time must be exactly what yargs prints for the same command
 * line, for every entry of the table and for other words of each completion class; anything it cannot
 * vouch for goes to yargs. The yargs side runs the real CLI (`main`) in a child process per environment,
 * and a sample is compared byte for byte between `bin/rotate` and a process that never takes the fast path.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';

import type { FastPathTable } from '../../src/cli/fast-path.js';
import { childEnv, REPO, requireBuild, run, type Run } from '../lab/e2e/fixtures/cli.js';

requireBuild(t);

const DIST = path.join(REPO, 'dist', 'cli');
const TABLE = path.join(DIST, 'fast-path-table.json');
if (!existsSync(TABLE)) {
  t.fail(`${TABLE} is missing: build with \`npm run build\` (it records the table after tsc)`);
  process.exit(1);
}
const fastPath = (await import(path.join(DIST, 'fast-path.js'))) as typeof import('../../src/cli/fast-path.js');
const table = JSON.parse(readFileSync(TABLE, 'utf8')) as FastPathTable;

interface Case {
  argv: string[];
  env: Record<string, string | undefined>;
  columns?: number;
}

/** What yargs prints for each case: the real CLI run in one child process (runCaptured, one case at a time). */
function viaYargs(cases: Case[]): Promise<Run[]> {
  const script = `
    import { runCaptured } from ${JSON.stringify(path.join(DIST, 'fast-path-table.js'))};
    let input = '';
    for await (const chunk of process.stdin) input += chunk;
    const out = [];
    for (const c of JSON.parse(input)) out.push(await runCaptured(c.argv, c.env, c.columns));
    process.stdout.write(JSON.stringify(out));`;
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { env: childEnv({ NODE_OPTIONS: '' }), maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as Run[]);
      },
    );
    child.stdin!.end(JSON.stringify(cases));
  });
}

const SHELLS: Record<string, Record<string, string>> = {
  sh: { SHELL: '/bin/bash' },
  zsh: { SHELL: '/usr/bin/zsh' },
  fish: { SHELL: '/usr/local/bin/fish' },
};

/** Every table entry, and more words per completion class than the one recorded, under several English locales. */
function fastCases(): Case[] {
  const cases: Case[] = [];
  const paths = Object.keys(table.commands).map((p) => (p === '' ? [] : p.split(' ')));
  for (const width of fastPath.HELP_WIDTHS) {
    for (const p of paths)
      for (const flag of ['--help', '-h'])
        cases.push({ argv: [...p, flag], env: {}, columns: width === 100 ? undefined : width });
  }
  // A terminal wider than 110 columns gets the 110 answer.
  cases.push({ argv: ['plan', '--help'], env: {}, columns: 200 }, { argv: ['--help'], env: {}, columns: 100 });
  for (const [kind, env] of Object.entries(SHELLS)) {
    cases.push({ argv: ['completion'], env });
    for (const p of paths) {
      const words = [
        '',
        '-',
        '--',
        '--zz',
        '--pa',
        '--x1-y',
        'zz',
        'x.yaml',
        '/tmp/a',
        ...table.commands[p.join(' ')]!,
      ];
      for (const w of words) cases.push({ argv: ['--get-yargs-completions', 'rotate', ...p, w], env });
      if (kind === 'sh')
        cases.push(
          { argv: ['--get-yargs-completions', './bin/rotate', ...p, ''], env },
          { argv: ['--get-yargs-completions', '/usr/local/bin/rotate', ...p, '--'], env },
        );
    }
    if (kind === 'sh')
      cases.push({ argv: ['--get-yargs-completions', 'rotate', ''], env: { ...env, ZSH_NAME: 'zsh5' } });
  }
  for (const locale of [
    { LANG: 'C' },
    { LANG: 'C.UTF-8' },
    { LC_ALL: 'en_GB.UTF-8', LANG: 'de_DE.UTF-8' },
    { LANG: 'POSIX' },
    { LANGUAGE: 'en' },
    { LC_MESSAGES: 'en_US.UTF-8' },
  ]) {
    cases.push(
      { argv: ['--help'], env: locale },
      { argv: ['lab', 'up', '--help'], env: locale },
      { argv: ['--get-yargs-completions', 'rotate', 'plan', '--'], env: { ...locale, SHELL: '/bin/zsh' } },
    );
  }
  return cases;
}

t.test('every answer of the fast path is what yargs prints for the same command line', async (t) => {
  const cases = fastCases();
  const yargs = await viaYargs(cases);
  let answered = 0;
  const differ: string[] = [];
  cases.forEach((c, i) => {
    const fast = fastPath.fastAnswer(c.argv, c.env, c.columns, table);
    const label =
      `rotate ${c.argv.map((a) => JSON.stringify(a)).join(' ')} (${JSON.stringify(c.env)}, ` +
      `columns ${c.columns ?? 'none'})`;
    if (!fast) {
      differ.push(`${label}: not answered by the fast path`);
      return;
    }
    answered++;
    const y = yargs[i]!;
    if (y.code !== fast.code || y.stdout !== fast.stdout || y.stderr !== '')
      differ.push(`${label}: yargs printed ${JSON.stringify(y)}, the fast path ${JSON.stringify(fast)}`);
  });
  t.same(differ, [], `${answered} of ${cases.length} command lines answered by the fast path, as yargs would`);
  t.ok(answered > 500, `${answered} answers checked`);
});

t.test('command lines the table cannot vouch for go to yargs', async (t) => {
  const cases: [string, Case][] = [
    ['a locale yargs translates', { argv: ['--help'], env: { LANG: 'de_DE.UTF-8' } }],
    ['LC_ALL before LANG', { argv: ['--help'], env: { LC_ALL: 'fr_FR.UTF-8', LANG: 'en_US.UTF-8' } }],
    ['a terminal width the table does not hold', { argv: ['--help'], env: {}, columns: 90 }],
    ['zsh and fish at once', { argv: ['completion'], env: { SHELL: '/usr/bin/fish', ZSH_NAME: 'zsh' } }],
    ['an option already typed', { argv: ['--get-yargs-completions', 'rotate', 'plan', '--json', '--'], env: {} }],
    [
      'the word being completed names an option',
      { argv: ['--get-yargs-completions', 'rotate', 'ca', 'new', '--api'], env: {} },
    ],
    ['a single-dash word', { argv: ['--get-yargs-completions', 'rotate', 'plan', '-f'], env: {} }],
    ['a command name out of place', { argv: ['--get-yargs-completions', 'rotate', 'plan', 'lab'], env: {} }],
    ['not a command path', { argv: ['--get-yargs-completions', 'rotate', 'ca', 'up', ''], env: {} }],
    ['only the program name', { argv: ['--get-yargs-completions', 'rotate'], env: {} }],
    ['help with a flag', { argv: ['plan', '--json', '--help'], env: {} }],
    ['help of an unknown command', { argv: ['plna', '--help'], env: {} }],
    ['a command', { argv: ['plan'], env: {} }],
    ['--version (bin/rotate answers it itself)', { argv: ['--version'], env: {} }],
  ];
  for (const [what, c] of cases) t.equal(fastPath.fastAnswer(c.argv, c.env, c.columns, table), null, what);
  // Commands that do work never read the table (a cost every run paid): only help and completion lines can be
  // answered, and the lines that are neither get null even from a table that has every answer.
  for (const argv of [['plan'], ['lab', 'inspect', '--dir', 'x'], ['--version'], ['help'], ['--help', 'plan'], []])
    t.notOk(fastPath.answerable(argv), `not answerable: ${JSON.stringify(argv)}`);
  for (const argv of [['--help'], ['plan', '-h'], ['completion'], ['--get-yargs-completions', 'rotate', '']])
    t.ok(fastPath.answerable(argv), `answerable: ${JSON.stringify(argv)}`);
  // A table recorded from other command declarations is never used.
  const stale = {
    ...table,
    sources: table.sources.replace('Read every node over the Talos API', 'Read every node over the API'),
  };
  t.not(stale.sources, table.sources, 'the recorded sources hold the command descriptions');
  t.equal(fastPath.currentTable(stale), null, 'stale sources: yargs answers');
  t.equal(fastPath.currentTable({ ...table, version: table.version + 1 }), null, 'another table format: yargs answers');
  t.equal(fastPath.currentTable(table), table, 'current sources: the fast path answers');
});

t.test('bin/rotate prints byte for byte what a run without the fast path prints', async (t) => {
  const slow = (args: string[], env: NodeJS.ProcessEnv) =>
    new Promise<Run>((resolve) => {
      const script =
        `const { main } = await import(${JSON.stringify(path.join(DIST, 'main.js'))}); process.exitCode = await ` +
        `main(process.argv.slice(1));`;
      execFile(
        process.execPath,
        ['--input-type=module', '-e', script, '--', ...args],
        { env: { ...env, NODE_OPTIONS: '' } },
        (err, stdout, stderr) => {
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        },
      );
    });
  const samples: [string[], NodeJS.ProcessEnv][] = [
    [['--help'], {}],
    [['plan', '--help'], {}],
    [['completion'], { SHELL: '/bin/zsh' }],
    [['--get-yargs-completions', 'rotate', ''], { SHELL: '/bin/bash' }],
    [['--get-yargs-completions', 'rotate', 'apply', '--'], { SHELL: '/bin/zsh' }],
  ];
  for (const [args, extra] of samples) {
    const env = childEnv({
      LC_ALL: undefined,
      LC_MESSAGES: undefined,
      LANG: undefined,
      LANGUAGE: undefined,
      ZSH_NAME: undefined,
      ...extra,
    });
    t.ok(fastPath.fastAnswer(args, env, undefined, table), `rotate ${args.join(' ')}: the fast path answers`);
    const [fast, viaMain] = await Promise.all([run(path.join(REPO, 'bin', 'rotate'), args, { env }), slow(args, env)]);
    t.same(fast, viaMain, `rotate ${args.join(' ')} (${JSON.stringify(extra)})`);
  }
});
