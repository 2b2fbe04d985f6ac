/**
 * The V8 flags the CLI sets on itself at run time (`v8.setFlagsFromString`), each only where the V8 running
 * it is one the build checked. V8 prints "Error: unrecognized flag" on stderr, on every run, for a name it
 * does not know, and its flags come and go between Node lines; so the build (scripts/build-cli-table.mjs)
 * records which of these names `node --v8-options` lists, with that V8's version, in dist/cli/v8-flags.json,
 * and a flag is set only when the running V8 is that very version and knows the name. Elsewhere (another
 * Node than the one that built, a `tsc`-only build) nothing is set: the CLI is slower there, never noisy.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { packageUrl } from '../package-root.js';

/** Every V8 flag the CLI may set, by name without the leading `--`. */
export const V8_FLAG_NAMES = ['interrupt-budget', 'heap-growing-percent'] as const;
export type V8FlagName = (typeof V8_FLAG_NAMES)[number];

export const V8_FLAGS_URL: URL = packageUrl('dist/cli/v8-flags.json');

/** What the build found: the V8 version it ran on and which of V8_FLAG_NAMES that V8 lists. */
export interface V8FlagRecord {
  v8: string;
  known: V8FlagName[];
}

/** The record for `node --v8-options` output `options` of V8 `version`. */
export function v8FlagRecord(options: string, version: string): V8FlagRecord {
  const listed = new Set([...options.matchAll(/^\s+--([a-z0-9-]+)\s/gm)].map((m) => m[1]!.replace(/_/g, '-')));
  return { v8: version, known: V8_FLAG_NAMES.filter((n) => listed.has(n)) };
}

/** The names a record allows on V8 `version`: none unless it was made on that version. */
export function allowedFlags(record: unknown, version: string): Set<V8FlagName> {
  if (typeof record !== 'object' || record === null) return new Set();
  const { v8, known } = record as Partial<V8FlagRecord>;
  if (v8 !== version || !Array.isArray(known)) return new Set();
  return new Set(V8_FLAG_NAMES.filter((n) => known.includes(n)));
}

let allowed: Set<V8FlagName> | undefined;

function allowedHere(): Set<V8FlagName> {
  if (!allowed) {
    let record: unknown;
    try {
      record = JSON.parse(readFileSync(V8_FLAGS_URL, 'utf8'));
    } catch {
      record = undefined;
    }
    allowed = allowedFlags(record, process.versions.v8);
  }
  return allowed;
}

/** Sets `--name=value` when the build checked that this V8 knows it; true if it was set. */
export function setV8Flag(name: V8FlagName, value: number): boolean {
  if (!allowedHere().has(name)) return false;
  setFlagsFromString(`--${name}=${value}`);
  return true;
}

/**
 * V8's budget before its optimising compiler (TurboFan) takes a function, for a CLI run: about 4.4× Node 20's
 * default (67,584). A run lasts seconds, and TurboFan compiled some 300 functions of a 200-node `rotate plan`
 * on V8's background threads, 1.2–1.6 s of the run's 3.4 s of CPU, most of them run only a little longer. With
 * this budget the hottest still get compiled (about 110), the background threads spend 0.5–0.8 s and the
 * main thread a little more; wall time is unchanged (README "Performance", #plan-v8-budget). A long run
 * (apply) loses only the first seconds of optimisation.
 */
export const CLI_INTERRUPT_BUDGET = 300_000;

/** Sets the CLI's compiler budget (main(), before the command's code is loaded). */
export function tuneCompilerForCli(): boolean {
  return setV8Flag('interrupt-budget', CLI_INTERRUPT_BUDGET);
}

/** Build time: writes the record of the V8 running this, from `node --v8-options` (`options`). */
export function writeV8FlagRecord(options: string): V8FlagRecord {
  const record = v8FlagRecord(options, process.versions.v8);
  writeFileSync(V8_FLAGS_URL, `${JSON.stringify(record, null, 2)}\n`);
  return record;
}
