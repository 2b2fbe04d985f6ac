/**
 * Entry point of the `rotate` CLI. Only yargs and the command *declarations* load here; every command's
 * implementation is imported lazily by its handler so that `rotate --help` stays fast.
 */
import yargs from 'yargs';
import { RotateError, formatError, isBug } from '../domain/errors.js';
import { dropYamlDebugSwitches } from '../domain/yaml-debug-switches.js';
import { commands } from './commands/index.js';
import { TOOL_VERSION } from '../version.js';
import { tuneCompilerForCli } from './v8-flags.js';

export async function main(argv: string[]): Promise<number> {
  // Before the command's code is loaded and run (v8-flags.ts).
  tuneCompilerForCli();
  dropYamlDebugSwitches();
  let exitCode: number;
  const parser = yargs(argv)
    .scriptName('rotate')
    .usage(
      '$0 <command> [options]\n\nDeclarative rotation of the Talos API and Kubernetes API root CAs of Talos Linux ' +
        'clusters.',
    )
    .version(TOOL_VERSION)
    .strict()
    .demandCommand(1, 'Name a command; `rotate --help` lists them.')
    .recommendCommands()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err, y) => {
      // Usage errors from yargs itself: message + usage on stderr, exit 1, no stack.
      if (err) throw err;
      void y;
      throw new RotateError('CLI_USAGE', msg ?? 'invalid command line', {
        hint: 'run `rotate --help` for the commands and flags',
      });
    })
    .completion(
      'completion',
      'Print a bash/zsh completion script: add `source <(rotate completion)` to your shell profile',
    )
    .example('$0 lab up --dir lab --detach', 'start an emulated cluster to try it on')
    .example(
      '$0 ca new -f lab/rotate.yaml --api talos --name talos-next --make-issuing',
      'ask for a Talos API CA rotation',
    )
    .example('$0 plan -f lab/rotate.yaml', 'see the proved-safe steps')
    .help()
    .alias('h', 'help');
  for (const command of commands) parser.command(command);
  try {
    await parser.parseAsync();
    exitCode = process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    exitCode = reportError(err);
  }
  return exitCode;
}

export const BUG_HINT = 'this is a bug in talos-rotate; rerun with ROTATE_DEBUG=1 for details and report it';

/** Prints an error: a RotateError as `error[CODE]`, with the bug hint only when it is a bug (isBug). */
export function reportError(
  err: unknown,
  write: (text: string) => void = (text) => void process.stderr.write(text),
): number {
  const bug = isBug(err);
  if (RotateError.is(err)) {
    write(`${formatError(err)}\n`);
    if (bug) write(`  ${BUG_HINT}\n`);
  } else {
    // Not a RotateError: a bug. Say so plainly; the stack only on request, so that secrets or noise never
    // reach CI logs by default.
    write(`internal error: ${err instanceof Error ? err.message : String(err)}\n  hint: ${BUG_HINT}\n`);
  }
  if (bug && process.env.ROTATE_DEBUG === '1' && err instanceof Error && err.stack) write(`${err.stack}\n`);
  return RotateError.is(err) ? err.exitCode : 1;
}
