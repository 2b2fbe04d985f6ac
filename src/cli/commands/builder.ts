/**
 * The pieces every command module repeats: a command whose handler imports its implementation only when it
 * runs (so `rotate --help` loads no command code), and the common options (`-f FILE`, `--json`,
 * `--parallelism`).
 */
import { DEFAULT_PARALLELISM_TEXT } from '../../domain/parallelism.js';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';

export function lazyCommand<A>(
  command: string,
  describe: string,
  builder: (y: Argv) => unknown,
  load: () => Promise<(args: ArgumentsCamelCase<A>) => Promise<void>>,
): CommandModule<object, A> {
  return {
    command,
    describe,
    builder: (y: Argv) => builder(y) as Argv<A>,
    handler: async (args) => {
      const run = await load();
      await run(args);
    },
  };
}

/** A boolean option, off unless given. */
export function flagOption(describe: string) {
  return { type: 'boolean', default: false, describe } as const;
}

/** `--json`: what it prints. */
export function jsonOption(describe = 'print the result as JSON') {
  return flagOption(describe);
}

/** `-f FILE`: the desired-state file. */
export function fileOption(describe = 'desired-state file') {
  return { alias: 'f', type: 'string', default: 'rotate.yaml', describe } as const;
}

/** `--parallelism` (checked with assertParallelism); unset, each command sizes it by the cluster (parallelism.ts). */
export function parallelismOption(describe = 'nodes read at once') {
  return { type: 'number', defaultDescription: DEFAULT_PARALLELISM_TEXT, describe } as const;
}
