/**
 * Answers `--help`, `rotate completion` and the shell's completion callback (`--get-yargs-completions`)
 * without loading yargs and the command tree, which cost about twice a bare `node` start. The answers are
 * what yargs itself printed for the same command line, recorded at build time into
 * dist/cli/fast-path-table.json (scripts/build-cli-table.mjs, see fast-path-table.ts); test/cli/fast-path.test.ts
 * checks them against yargs for every entry.
 *
 * Only command lines whose yargs output provably does not depend on anything but what the table is keyed
 * by are answered; anything else (another terminal width, a locale yargs translates, words already typed
 * before the one being completed, a table built from other sources) returns null and goes through yargs.
 * This module must stay small and import nothing heavy: bin/rotate loads it on every run.
 */
import { readdirSync, readFileSync } from 'node:fs';

export const TABLE_VERSION = 1;

/** What the table holds: every answer is a stdout text printed with exit code 0 and nothing on stderr. */
export interface FastPathTable {
  version: number;
  /** The yargs package.json the answers were recorded with, relative to dist/cli/. */
  yargsPackage: string;
  /** sources() when the answers were recorded. */
  sources: string;
  texts: string[];
  /** Help: width → "path words joined by spaces\tflag" → index in texts. */
  help: Record<string, Record<string, number>>;
  /** `rotate completion`: shell kind → index in texts. */
  script: Record<string, number>;
  /** Completion callback: shell kind → "path\tclass" → index in texts. */
  complete: Record<string, Record<string, number>>;
  /** Every command path (words joined by spaces; "" is the top level) → its subcommand names. */
  commands: Record<string, string[]>;
  /** Every option key and alias any command knows, with its `no-` form: such a word changes completions. */
  optionWords: string[];
}

export interface FastAnswer {
  stdout: string;
  code: number;
}

/** The widths the table holds help for: 100 is yargs' width without a terminal, 110 the widest main.ts uses. */
export const HELP_WIDTHS = [80, 100, 110] as const;

/** The help width main.ts gives yargs. */
export function helpWidth(columns: number | undefined): number {
  return Math.min(110, columns || 100);
}

/**
 * Shell kind as yargs' Completion reads it from the environment (yargs/build/lib/completion.js): zsh when
 * SHELL or ZSH_NAME names zsh, fish when SHELL names fish; both can hold.
 */
export function shellKind(env: NodeJS.ProcessEnv): string {
  const zsh = !!(env.SHELL?.includes('zsh') || env.ZSH_NAME?.includes('zsh'));
  const fish = !!env.SHELL?.includes('fish');
  return `${zsh ? 'zsh' : ''}${fish ? 'fish' : ''}` || 'sh';
}
/** The kinds the table holds (zsh and fish at once is left to yargs). */
export const SHELL_KINDS = ['sh', 'zsh', 'fish'] as const;

/**
 * Whether yargs would print its built-in English strings under this environment: its locale is the first
 * of LC_ALL, LC_MESSAGES, LANG, LANGUAGE that is set (else en_US), cut at "." or ":" (yargs-factory.js
 * guessLocale); y18n has no file for C or POSIX and falls back from en_XX to en.json.
 */
export function englishLocale(env: NodeJS.ProcessEnv): boolean {
  const locale = (env.LC_ALL || env.LC_MESSAGES || env.LANG || env.LANGUAGE || 'en_US').replace(/[.:].*/, '');
  return /^(en(_[A-Za-z]+)?|C|POSIX)$/.test(locale);
}

const here = new URL('.', import.meta.url);

/**
 * Everything the recorded answers depend on, verbatim: the CLI's entry and command declarations, the
 * package.json (version), and the yargs release whose package.json the table names (relative to this
 * folder, as resolved at build time). Kept whole rather than hashed: node:crypto or resolving a package
 * would cost more start-up than all the rest of this module, and comparing strings is cheap.
 */
export function sources(yargsPackage: string): string {
  const parts: string[] = [];
  const add = (url: URL): void => {
    parts.push(url.pathname.slice(url.pathname.lastIndexOf('/') + 1), readFileSync(url, 'utf8'));
  };
  add(new URL('main.js', here));
  // What shapes help and completion: the command list, each command's declaration and the shared options
  // (not the handlers, `commands/<name>/run.js`, which yargs never reads for help).
  const commands = new URL('commands/', here);
  for (const entry of readdirSync(commands, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.isFile() && entry.name.endsWith('.js')) add(new URL(entry.name, commands));
    else if (entry.isDirectory()) add(new URL(`${entry.name}/command.js`, commands));
  }
  const options = new URL('options/', here);
  for (const f of readdirSync(options)
    .filter((n) => n.endsWith('.js'))
    .sort())
    add(new URL(f, options));
  add(new URL('../../package.json', here));
  add(new URL(yargsPackage, here));
  return parts.join('\0');
}

export const TABLE_URL = new URL('fast-path-table.json', here);

/** The table if it was recorded from the sources in place now (else yargs must answer), or null. */
export function currentTable(table: FastPathTable): FastPathTable | null {
  try {
    return table.version === TABLE_VERSION && table.sources === sources(table.yargsPackage) ? table : null;
  } catch {
    return null; // yargs moved
  }
}

function loadTable(): FastPathTable | null {
  try {
    return currentTable(JSON.parse(readFileSync(TABLE_URL, 'utf8')) as FastPathTable);
  } catch {
    return null; // no table (built with plain tsc), or an unreadable one: yargs answers
  }
}

/**
 * The class of the word being completed, for the words whose completions do not depend on its text (the
 * table holds one answer per class), or null. A word that names a command or an option changes what
 * yargs lists, so those are keyed by the word itself (commands) or not answered (options).
 */
export function completionClass(
  word: string,
  children: readonly string[],
  table: Pick<FastPathTable, 'commands' | 'optionWords'>,
): string | null {
  if (word === '' || word === '-' || word === '--') return word;
  if (word.startsWith('--')) {
    const key = word.slice(2);
    if (!/^[a-z][a-z0-9-]*$/.test(key) || table.optionWords.includes(key)) return null;
    return '--*';
  }
  if (word.startsWith('-')) return null;
  if (children.includes(word)) return `=${word}`;
  if (!/^[A-Za-z0-9_./][A-Za-z0-9_./@+,-]*$/.test(word) || allCommandNames(table).has(word)) return null;
  return '*';
}

function allCommandNames(table: Pick<FastPathTable, 'commands'>): Set<string> {
  return new Set(Object.values(table.commands).flat());
}

/**
 * Whether the command line is of a kind the table holds answers for (help, the completion script or the
 * completion callback). Every other command skips reading the table, which cost each run about 40 ms of CPU
 * (the table and every source it is checked against).
 */
export function answerable(argv: readonly string[]): boolean {
  if (argv.length === 1 && argv[0] === 'completion') return true;
  if (argv[0] === '--get-yargs-completions') return true;
  const flag = argv[argv.length - 1];
  return flag === '--help' || flag === '-h';
}

/**
 * The answer yargs would give for this command line, or null when yargs has to be asked. `table` must be
 * current; it is read (loadTable) only for a command line the table may answer.
 */
export function fastAnswer(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  columns: number | undefined,
  given?: FastPathTable | null,
): FastAnswer | null {
  if (!answerable(argv) || !englishLocale(env)) return null;
  const table = given === undefined ? loadTable() : given;
  if (!table) return null;
  const text = lookup(argv, env, columns, table);
  return text === undefined ? null : { stdout: table.texts[text]!, code: 0 };
}

function lookup(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  columns: number | undefined,
  table: FastPathTable,
): number | undefined {
  if (argv.length === 1 && argv[0] === 'completion') return table.script[shellKind(env)];
  if (argv[0] === '--get-yargs-completions') {
    // The shell passes every word of the line: the program name, then the words before the cursor's.
    const words = argv.slice(1);
    if (words.length < 2) return undefined;
    const program = words[0]!;
    if (program.startsWith('-') || allCommandNames(table).has(program)) return undefined;
    const path = words.slice(1, -1);
    const children = table.commands[path.join(' ')];
    if (!children || !isPath(path, table)) return undefined;
    const cls = completionClass(words[words.length - 1]!, children, table);
    if (cls === null) return undefined;
    return table.complete[shellKind(env)]?.[`${path.join(' ')}\t${cls}`];
  }
  const flag = argv[argv.length - 1];
  if (flag !== '--help' && flag !== '-h') return undefined;
  const path = argv.slice(0, -1);
  if (!isPath(path, table)) return undefined;
  return table.help[String(helpWidth(columns))]?.[`${path.join(' ')}\t${flag}`];
}

/** Whether `path` is a chain of command names, each a subcommand of the one before (completion included). */
function isPath(path: readonly string[], table: Pick<FastPathTable, 'commands'>): boolean {
  for (let i = 0; i < path.length; i++) {
    if (!table.commands[path.slice(0, i).join(' ')]?.includes(path[i]!)) return false;
  }
  return table.commands[path.join(' ')] !== undefined;
}
