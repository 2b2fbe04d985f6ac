/**
 * Build time only: records what yargs prints for every command line fast-path.ts answers, by running the
 * real CLI (`main`) in this process with its output captured, into dist/cli/fast-path-table.json
 * (scripts/build-cli-table.mjs runs it after tsc). Never loaded by `rotate` itself.
 */
import { writeFileSync } from 'node:fs';
import { main } from './main.js';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sources, HELP_WIDTHS, SHELL_KINDS, TABLE_URL, TABLE_VERSION, type FastPathTable } from './fast-path.js';

export interface Captured {
  stdout: string;
  stderr: string;
  code: number;
}

class Exited extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

const ENV_KEYS = ['LC_ALL', 'LC_MESSAGES', 'LANG', 'LANGUAGE', 'SHELL', 'ZSH_NAME'] as const;

/** The environment of a shell of this kind (see shellKind), in yargs' default locale. */
export function shellEnv(kind: string): Record<string, string | undefined> {
  return { SHELL: { sh: '/bin/bash', zsh: '/bin/zsh', fish: '/usr/bin/fish' }[kind] };
}

/**
 * Runs `rotate ARGV` through yargs in this process, as bin/rotate would with stdout `columns` wide (undefined:
 * not a terminal) and these locale/shell variables (others unset), and returns what it printed up to the
 * point it exited. One at a time: it swaps process-wide hooks.
 */
export async function runCaptured(
  argv: string[],
  env: Record<string, string | undefined>,
  columns: number | undefined,
): Promise<Captured> {
  const out = { stdout: '', stderr: '' };
  let exited: number | undefined;
  const saved = {
    stdout: process.stdout.write,
    stderr: process.stderr.write,
    exit: process.exit,
    exitCode: process.exitCode,
    columns: Object.getOwnPropertyDescriptor(process.stdout, 'columns'),
    env: Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]])),
  };
  const capture = (stream: 'stdout' | 'stderr') =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      if (exited === undefined) out[stream] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    }) as typeof process.stdout.write;
  for (const k of ENV_KEYS) {
    if (env[k] === undefined) delete process.env[k];
    else process.env[k] = env[k];
  }
  Object.defineProperty(process.stdout, 'columns', { value: columns, configurable: true, writable: true });
  process.stdout.write = capture('stdout');
  process.stderr.write = capture('stderr');
  process.exit = ((code?: number) => {
    exited ??= Number(code ?? 0);
    throw new Exited(exited);
  }) as typeof process.exit;
  process.exitCode = undefined;
  let code: number;
  try {
    code = await main(argv);
  } catch (err) {
    if (!(err instanceof Exited)) throw err;
    code = err.code;
  } finally {
    process.stdout.write = saved.stdout;
    process.stderr.write = saved.stderr;
    process.exit = saved.exit;
    process.exitCode = saved.exitCode;
    if (saved.columns) Object.defineProperty(process.stdout, 'columns', saved.columns);
    else delete (process.stdout as { columns?: number }).columns;
    for (const k of ENV_KEYS) {
      if (saved.env[k] === undefined) delete process.env[k];
      else process.env[k] = saved.env[k];
    }
  }
  return { stdout: out.stdout, stderr: out.stderr, code: exited ?? code };
}

/** The command main.ts registers with yargs' .completion(). */
const COMPLETION_COMMAND = 'completion';

/** The completion-word classes of fast-path.ts completionClass, each with a word standing for it. */
export const CLASS_WORDS: Record<string, string> = { '': '', '-': '-', '--': '--', '--*': '--zz', '*': 'zz' };

/** Records every answer fast-path.ts gives. */
export async function buildFastPathTable(): Promise<FastPathTable> {
  const texts: string[] = [];
  const index = new Map<string, number>();
  const keep = (r: Captured, what: string): number => {
    if (r.code !== 0 || r.stderr !== '')
      throw new Error(`rotate ${what}: exit ${r.code}, stderr ${JSON.stringify(r.stderr)}`);
    let i = index.get(r.stdout);
    if (i === undefined) {
      i = texts.push(r.stdout) - 1;
      index.set(r.stdout, i);
    }
    return i;
  };
  const sh = shellEnv('sh');
  const complete = async (words: string[], env = sh) =>
    runCaptured(['--get-yargs-completions', 'rotate', ...words], env, undefined);

  // The command tree and the option words, as completion lists them.
  const commands: Record<string, string[]> = {};
  const optionWords = new Set(['help', 'h', 'version', 'get-yargs-completions']);
  const pending: string[][] = [[]];
  while (pending.length > 0) {
    const path = pending.shift()!;
    const listed = (await complete([...path, ''])).stdout.split('\n').filter(Boolean);
    // After `completion`, yargs lists the top-level commands again: they are not its subcommands.
    const children =
      path.length === 1 && path[0] === COMPLETION_COMMAND ? [] : listed.filter((w) => !w.startsWith('-'));
    commands[path.join(' ')] = children;
    for (const c of children) pending.push([...path, c]);
    for (const prefix of ['-', '--']) {
      for (const w of (await complete([...path, prefix])).stdout.split('\n'))
        if (w.startsWith('-')) optionWords.add(w.replace(/^-+/, ''));
    }
  }
  for (const w of [...optionWords]) optionWords.add(`no-${w}`);

  const paths = Object.keys(commands).map((p) => (p === '' ? [] : p.split(' ')));
  const help: FastPathTable['help'] = {};
  for (const width of HELP_WIDTHS) {
    const byKey: Record<string, number> = (help[String(width)] = {});
    for (const path of paths) {
      for (const flag of ['--help', '-h'])
        byKey[`${path.join(' ')}\t${flag}`] = keep(
          await runCaptured([...path, flag], {}, width === 100 ? undefined : width),
          `${path.join(' ')} ${flag}`,
        );
    }
  }
  const script: FastPathTable['script'] = {};
  const completeTable: FastPathTable['complete'] = {};
  for (const kind of SHELL_KINDS) {
    const env = shellEnv(kind);
    script[kind] = keep(await runCaptured(['completion'], env, undefined), `completion (${kind})`);
    const byKey: Record<string, number> = (completeTable[kind] = {});
    for (const path of paths) {
      const key = path.join(' ');
      const words = { ...CLASS_WORDS, ...Object.fromEntries(commands[key]!.map((c) => [`=${c}`, c])) };
      for (const [cls, word] of Object.entries(words))
        byKey[`${key}\t${cls}`] = keep(
          await complete([...path, word], env),
          `completion of ${[...path, word].join(' ')} (${kind})`,
        );
    }
  }
  const yargsPackage = relative(
    fileURLToPath(new URL('.', import.meta.url)),
    fileURLToPath(import.meta.resolve('yargs/package.json')),
  );
  return {
    version: TABLE_VERSION,
    yargsPackage,
    sources: sources(yargsPackage),
    texts,
    help,
    script,
    complete: completeTable,
    commands,
    optionWords: [...optionWords].sort(),
  };
}

export async function writeFastPathTable(): Promise<void> {
  const table = await buildFastPathTable();
  writeFileSync(TABLE_URL, `${JSON.stringify(table)}\n`);
}
