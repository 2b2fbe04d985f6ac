import { RotateError } from '../../domain/errors.js';
import {
  DEFAULT_MAX_UNAVAILABLE,
  maxUnavailableProblem,
  parseMaxUnavailable,
  type MaxUnavailable,
} from '../../domain/max-unavailable.js';
import type { Argv } from 'yargs';
import { clusterOverrideOptions, type ClusterOverrideArgs } from './cluster.js';
import { fileOption, parallelismOption } from '../commands/builder.js';

/**
 * `--parallelism` is a whole number of at least 1, or unset (the default for the cluster's size); anything else is
 * a usage error. Every command that has it checks it here.
 */
export function assertParallelism(v: unknown): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new RotateError(
      'CLI_USAGE',
      `--parallelism ${Number.isNaN(v) ? '(not a number)' : String(v)} is not valid: ` +
        'it must be a whole number of at least 1',
      { hint: 'e.g. --parallelism 10 (see --help)' },
    );
  }
}

/** Flags shared by `plan`, `apply` and `rollback`: what to plan and how. */
export interface PlanningArgs extends ClusterOverrideArgs {
  file: string;
  /** Unset: 10, or 10% of the nodes when that is more (`resolveParallelism`). */
  parallelism?: number | undefined;
  /** A number of nodes, or a percentage of the workers (`"10%"`). */
  'max-unavailable': MaxUnavailable;
  'allow-disruption': boolean;
  'node-dry-run': boolean;
  'apply-lock-wait': string;
}

export function planningOptions<T>(y: Argv<T>): Argv<T & PlanningArgs> {
  return clusterOverrideOptions(y)
    .option('file', fileOption())
    .option(
      'parallelism',
      parallelismOption(
        'nodes read, checked or patched at once (waves that restart no Kubernetes component, node reads, dry runs, ' +
          'gates)',
      ),
    )
    .option('max-unavailable', {
      type: 'string',
      default: DEFAULT_MAX_UNAVAILABLE,
      describe:
        'workers whose kubelet may restart at once: a number, or a percentage of the workers (rounded down, ' +
        'at least 1); not capped by --parallelism. Control planes restarting kube-apiserver go one at a time',
      // Commands get a number or "N%"; a bad value is kept as given for the check below (a usage error).
      coerce: (v: unknown): MaxUnavailable => parseMaxUnavailable(v) ?? (v as MaxUnavailable),
    })
    .option('allow-disruption', {
      type: 'boolean',
      default: false,
      describe:
        'DANGER: plan through steps the safety proof says break trust (NotReady nodes, refused Talos connections)',
    })
    .option('node-dry-run', {
      type: 'boolean',
      default: true,
      describe: 'have every node validate each planned config (ApplyConfiguration dry_run); --no-node-dry-run skips it',
    })
    .option('apply-lock-wait', {
      type: 'string',
      default: '60s',
      describe:
        "how long an ApplyConfiguration (dry runs included) waits while another apply holds the node's apply lock " +
        '(another operator or controller), e.g. 30s, 2m',
    })
    .check((a) => {
      assertParallelism((a as unknown as Record<string, unknown>).parallelism);
      const mu = (a as unknown as Record<string, unknown>)['max-unavailable'];
      const problem = maxUnavailableProblem(mu);
      if (problem) {
        const shown = Array.isArray(mu) ? `${mu.join(' ')} (given ${mu.length} times)` : String(mu);
        throw new RotateError('CLI_USAGE', `--max-unavailable ${shown} is not valid: ${problem}`, {
          hint: 'e.g. --max-unavailable 10% (the default) or --max-unavailable 3 (see --help)',
        });
      }
      return true;
    }) as unknown as Argv<T & PlanningArgs>;
}
