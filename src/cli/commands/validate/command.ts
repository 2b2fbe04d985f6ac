import type { Argv, CommandModule } from 'yargs';

interface ValidateArgs {
  file: string;
  json: boolean;
}

export const validateCommand: CommandModule<object, ValidateArgs> = {
  command: 'validate',
  describe: 'Check a desired-state file offline (schema, references, CA certificates and keys, cluster files); exit 0 if valid, 1 if not',
  builder: (y: Argv) =>
    y
      .option('file', { alias: 'f', type: 'string', default: 'rotate.yaml', describe: 'desired-state file' })
      .option('json', { type: 'boolean', default: false, describe: 'print { valid, file, errors, warnings } as JSON' })
      .example('$0 validate -f rotate.yaml', 'check the file before committing it (no cluster needed)') as unknown as Argv<ValidateArgs>,
  handler: async (args) => {
    const { runValidate } = await import('./run.js');
    await runValidate(args);
  },
};
