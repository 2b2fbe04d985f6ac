import type { Argv, CommandModule } from 'yargs';
import type { ApiKind } from '../../domain/types.js';

interface CaNewArgs {
  api: ApiKind;
  name: string;
  dir: string;
  json: boolean;
}

interface CaShowArgs {
  file: string;
  json: boolean;
}

const caNew: CommandModule<object, CaNewArgs> = {
  command: 'new',
  describe: 'Generate a new CA exactly as Talos does and write NAME.crt (0644) and NAME.key (0600); the key is never printed',
  builder: (y: Argv) =>
    y
      .option('api', { choices: ['talos', 'kubernetes'] as const, demandOption: true, describe: 'which PKI the CA is for (talos: Ed25519, O=talos; kubernetes: ECDSA P-256, O=kubernetes)' })
      .option('name', { type: 'string', demandOption: true, describe: 'file stem: writes NAME.crt and NAME.key' })
      .option('dir', { type: 'string', default: 'pki', describe: 'folder to write into (created 0700 if missing)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' }) as unknown as Argv<CaNewArgs>,
  handler: async (args) => {
    const { runCaNew } = await import('../ca-commands.js');
    await runCaNew(args);
  },
};

const caShow: CommandModule<object, CaShowArgs> = {
  command: 'show <file>',
  describe: 'Show a CA certificate (PEM file, or base64-of-PEM as Talos stores it): fingerprint, subject, algorithm, validity, checks',
  builder: (y: Argv) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'certificate file' })
      .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' }) as unknown as Argv<CaShowArgs>,
  handler: async (args) => {
    const { runCaShow } = await import('../ca-commands.js');
    await runCaShow(args);
  },
};

export const caCommand: CommandModule<object, object> = {
  command: 'ca <command>',
  describe: 'Create and inspect certificate authorities',
  builder: (y: Argv) => y.command(caNew).command(caShow).demandCommand(1),
  handler: () => undefined,
};
