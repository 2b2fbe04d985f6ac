import { fileOption, jsonOption, lazyCommand, parallelismOption } from '../builder.js';
import { assertParallelism } from '../../options/planning.js';

interface InitArgs {
  file: string;
  secrets?: string;
  key?: string[];
  extractKeys: boolean;
  talosconfig?: string;
  context?: string;
  endpoints?: string[];
  controlPlanes?: string[];
  workers?: string[];
  kubeconfig: string;
  parallelism?: number | undefined;
  force: boolean;
  json: boolean;
}

export const initCommand = lazyCommand<InitArgs>(
  'init',
  'Read a live cluster and write the desired-state file that matches it (CA certificates under pki/), ' +
    'so that `rotate plan` starts from "no changes"',
  (y) =>
    y
      .option('file', fileOption('desired-state file to write (never overwritten without --force)'))
      .option('secrets', {
        type: 'string',
        describe:
          'the `talosctl gen secrets` bundle of this cluster: key source of the CAs it holds, ' +
          'and the bundle apply keeps up to date',
      })
      .option('key', {
        type: 'string',
        array: true,
        describe: 'a CA private key file (PEM, 0600), matched to its CA by public key; repeatable',
      })
      .option('extract-keys', {
        type: 'boolean',
        default: false,
        describe:
          "copy the issuing CA keys from a control plane's machine config into pki/NAME.key (0600), " +
          'as `talosctl gen secrets --from-controlplane-config` does',
      })
      .option('talosconfig', {
        type: 'string',
        describe: 'talosconfig to read the cluster with (default: $TALOSCONFIG, then ~/.talos/config)',
      })
      .option('context', { type: 'string', describe: 'talosconfig context (default: its current one)' })
      .option('endpoints', {
        alias: 'e',
        type: 'string',
        array: true,
        describe: "control-plane endpoints (default: the context's)",
      })
      .option('control-planes', {
        type: 'string',
        array: true,
        describe: 'control-plane addresses, comma-separated or repeated (default: discovered from the cluster members)',
      })
      .option('workers', {
        type: 'string',
        array: true,
        describe: 'worker addresses, comma-separated or repeated (with --control-planes)',
      })
      .option('kubeconfig', {
        type: 'string',
        default: './kubeconfig',
        describe: 'where apply will write the admin kubeconfig of a new Kubernetes CA (relative to the file)',
      })
      .option('parallelism', parallelismOption())
      .option('force', {
        type: 'boolean',
        default: false,
        describe: 'replace an existing desired-state file and certificates (key files are never replaced)',
      })
      .option('json', jsonOption())
      .check((a) => {
        assertParallelism(a.parallelism);
        return true;
      })
      .example(
        '$0 init --talosconfig ./talosconfig --secrets secrets.yaml',
        'discover the nodes and write rotate.yaml and pki/',
      )
      .example(
        '$0 init --control-planes 10.0.0.11,10.0.0.12,10.0.0.13 --workers 10.0.0.21 --extract-keys',
        'list the nodes; copy the issuing keys out of a control plane',
      ),
  async () => (await import('./run.js')).runInit,
);
