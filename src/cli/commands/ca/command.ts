import type { Argv, CommandModule } from 'yargs';
import { fileOption, flagOption, jsonOption, lazyCommand } from '../builder.js';
import type { ApiKind } from '../../../domain/types.js';

/** What `ca new` and `ca import` share: the authority, and how it enters the desired state. */
interface CaAddArgs {
  api: ApiKind;
  name: string;
  makeIssuing: boolean;
  keepPrevious: boolean;
  json: boolean;
}

interface CaNewArgs extends CaAddArgs {
  dir?: string;
  file?: string;
}

interface CaImportArgs extends CaAddArgs {
  cert: string;
  key?: string;
  file: string;
}

interface CaShowArgs {
  file: string;
  json: boolean;
}

const caNew = lazyCommand<CaNewArgs>(
  'new',
  'Generate a new CA exactly as Talos does and write NAME.crt (0644) and NAME.key (0600); the key is never printed',
  (y) =>
    y
      .option('api', {
        choices: ['talos', 'kubernetes'] as const,
        demandOption: true,
        describe: 'which PKI the CA is for (talos: Ed25519, O=talos; kubernetes: ECDSA P-256, O=kubernetes)',
      })
      .option('name', { type: 'string', demandOption: true, describe: 'file stem: writes NAME.crt and NAME.key' })
      .option('dir', {
        type: 'string',
        describe: 'folder to write into (created 0700 if missing); default: pki, beside FILE with -f',
      })
      .option('file', {
        alias: 'f',
        type: 'string',
        describe:
          'desired-state file to add the authority to (certificate and key file referenced, never the key itself)',
      })
      .option(
        'make-issuing',
        flagOption('with -f: make it the issuing CA of --api and drop the previous one (a full rotation in one edit)'),
      )
      .option(
        'keep-previous',
        flagOption(
          'with --make-issuing: keep the previous issuing CA accepted (the first commit of a staged rotation)',
        ),
      )
      .option('json', jsonOption())
      .example('$0 ca new --api talos --name talos-2027', 'write pki/talos-2027.crt and pki/talos-2027.key')
      .example(
        '$0 ca new -f rotate.yaml --api talos --name talos-2027 --make-issuing',
        'and ask rotate.yaml for a full rotation to it',
      ),
  async () => (await import('./run.js')).runCaNew,
);

const caImport = lazyCommand<CaImportArgs>(
  'import',
  "Add an existing self-signed CA (e.g. from your organisation's PKI) to the desired state: " +
    'checked (a CA, valid now, an algorithm Talos uses, its key), referenced, never copied',
  (y) =>
    y
      .option('api', {
        choices: ['talos', 'kubernetes'] as const,
        demandOption: true,
        describe: 'which PKI the CA is for',
      })
      .option('name', { type: 'string', demandOption: true, describe: 'authority name in the desired state' })
      .option('cert', { type: 'string', demandOption: true, describe: 'the CA certificate (PEM file)' })
      .option('key', {
        type: 'string',
        describe: "the CA's private key (PEM file, mode 0600); needed to make it issuing",
      })
      .option('file', fileOption('desired-state file to add it to'))
      .option('make-issuing', flagOption('make it the issuing CA of --api and drop the previous one'))
      .option('keep-previous', flagOption('with --make-issuing: keep the previous issuing CA accepted'))
      .option('json', jsonOption())
      .example(
        '$0 ca import --api kubernetes --name corp-k8s-2027 --cert corp.crt --key corp.key --make-issuing',
        "rotate the Kubernetes API CA to the organisation's CA",
      ),
  async () => (await import('./run.js')).runCaImport,
);

const caShow = lazyCommand<CaShowArgs>(
  'show <file>',
  'Show a CA certificate (PEM file, or base64-of-PEM as Talos stores it): fingerprint, subject, algorithm, ' +
    'validity, checks',
  (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'certificate file' })
      .option('json', jsonOption()),
  async () => (await import('./run.js')).runCaShow,
);

export const caCommand: CommandModule<object, object> = {
  command: 'ca <command>',
  describe: 'Create and inspect certificate authorities',
  builder: (y: Argv) => y.command(caNew).command(caImport).command(caShow).demandCommand(1),
  handler: () => undefined,
};
