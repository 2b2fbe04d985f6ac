import { RotateError } from '../../domain/errors.js';
import type { Argv } from 'yargs';
import { clusterOverrideOptions, type ClusterOverrideArgs } from './cluster-options.js';

/** Flags shared by `plan`, `apply` and `rollback`: what to plan and how. */
export interface PlanningArgs extends ClusterOverrideArgs {
  file: string;
  parallelism: number;
  'max-unavailable': number;
  'allow-disruption': boolean;
  'node-dry-run': boolean;
  'apply-lock-wait': string;
}

export function planningOptions<T>(y: Argv<T>): Argv<T & PlanningArgs> {
  return clusterOverrideOptions(y)
    .option('file', { alias: 'f', type: 'string', default: 'rotate.yaml', describe: 'desired-state file' })
    .option('parallelism', { type: 'number', default: 10, describe: 'nodes read, checked or patched at once' })
    .option('max-unavailable', { type: 'number', default: 1, describe: 'nodes whose Kubernetes components (kubelet, kube-apiserver) may restart at once' })
    .option('allow-disruption', {
      type: 'boolean',
      default: false,
      describe: 'DANGER: plan through steps the safety proof says break trust (NotReady nodes, refused Talos connections)',
    })
    .option('node-dry-run', {
      type: 'boolean',
      default: true,
      describe: 'have every node validate each planned config (ApplyConfiguration dry_run); --no-node-dry-run skips it',
    })
    .option('apply-lock-wait', {
      type: 'string',
      default: '60s',
      describe: "how long an ApplyConfiguration (dry runs included) waits while another apply holds the node's apply lock (another operator or controller), e.g. 30s, 2m",
    })
    .check((a) => {
      for (const k of ['parallelism', 'max-unavailable'] as const) {
        const v = (a as unknown as Record<string, unknown>)[k];
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
          const shown = (a as unknown as Record<string, unknown>)[k];
          throw new RotateError('CLI_USAGE', `--${k} ${Number.isNaN(shown) ? '(not a number)' : String(shown)} is not valid: it must be a whole number of at least 1`, { hint: `e.g. --${k} ${k === 'parallelism' ? 10 : 1} (see --help)` });
        }
      }
      return true;
    }) as unknown as Argv<T & PlanningArgs>;
}
