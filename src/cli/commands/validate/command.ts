import { fileOption, jsonOption, lazyCommand } from '../builder.js';

interface ValidateArgs {
  file: string;
  json: boolean;
}

export const validateCommand = lazyCommand<ValidateArgs>(
  'validate',
  'Check a desired-state file offline (schema, references, CA certificates and keys, cluster files); ' +
    'exit 0 if valid, 1 if not',
  (y) =>
    y
      .option('file', fileOption())
      .option('json', jsonOption('print { valid, file, errors, warnings } as JSON'))
      .example('$0 validate -f rotate.yaml', 'check the file before committing it (no cluster needed)'),
  async () => (await import('./run.js')).runValidate,
);
