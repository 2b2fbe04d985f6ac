import type { Argv, CommandModule } from 'yargs';
import { fileOption, jsonOption, lazyCommand } from '../builder.js';

export interface StateLocationArgs {
  file: string;
  state?: string;
}

export interface StateShowArgs extends StateLocationArgs {
  json: boolean;
}

export interface StateUnlockArgs extends StateLocationArgs {
  'lock-id': string;
  force: boolean;
}

function locationOptions<T>(y: Argv<T>): Argv<T & StateLocationArgs> {
  return y
    .option('file', fileOption('desired-state file; its state is <dir of FILE>/state/<name of FILE>.state.json'))
    .option('state', { type: 'string', describe: 'state file (overrides the default from -f)' }) as unknown as Argv<
    T & StateLocationArgs
  >;
}

const stateShow = lazyCommand<StateShowArgs>(
  'show',
  'Show the runs recorded in the state (steps, nodes, gates, outputs, escrowed key files) and its lock; ' +
    'never key material',
  (y) => locationOptions(y).option('json', jsonOption('print { path, lock, state } as JSON')),
  async () => (await import('./run.js')).runStateShow,
);

const stateUnlock = lazyCommand<StateUnlockArgs>(
  'unlock <lock-id>',
  'Break the lock of a run that stopped without releasing it; needs the exact lock id (shown by the error, ' +
    'or by `rotate state show`)',
  (y) =>
    locationOptions(y)
      .positional('lock-id', { type: 'string', demandOption: true, describe: 'the id of the lock to break' })
      .option('force', {
        type: 'boolean',
        default: false,
        describe: 'break it even though its process is still running on this host',
      }),
  async () => (await import('./run.js')).runStateUnlock,
);

export interface StateSealArgs extends StateLocationArgs {
  'lock-timeout': string;
}

function stateSeal(direction: 'encrypt' | 'decrypt'): CommandModule<object, StateSealArgs> {
  return {
    command: direction,
    describe:
      direction === 'encrypt'
        ? 'Encrypt the state at rest (state file, escrowed keys, backups of replaced files) ' +
          'with the key in $ROTATE_STATE_KEY or $ROTATE_STATE_KEY_FILE'
        : 'Turn an encrypted state back into plain files (needs its key in $ROTATE_STATE_KEY or ' +
          '$ROTATE_STATE_KEY_FILE)',
    builder: (y: Argv) =>
      locationOptions(y)
        .option('lock-timeout', {
          type: 'string',
          default: '30s',
          describe: 'how long to wait for a run holding the state lock',
        })
        .example(
          direction === 'encrypt'
            ? 'ROTATE_STATE_KEY_FILE=~/.config/talos-rotate/state.key $0 state encrypt'
            : 'ROTATE_STATE_KEY_FILE=~/.config/talos-rotate/state.key $0 state decrypt',
          direction === 'encrypt' ? 'encrypt the state of rotate.yaml' : 'decrypt it again',
        ) as unknown as Argv<StateSealArgs>,
    handler: async (args) => {
      const { runStateSeal } = await import('./run.js');
      await runStateSeal(args, direction);
    },
  };
}

export const stateCommand: CommandModule<object, object> = {
  command: 'state <command>',
  describe: 'Inspect the apply state, break a stale lock, or encrypt / decrypt it at rest',
  builder: (y: Argv) =>
    y
      .command(stateShow)
      .command(stateUnlock)
      .command(stateSeal('encrypt'))
      .command(stateSeal('decrypt'))
      .demandCommand(1),
  handler: () => undefined,
};
