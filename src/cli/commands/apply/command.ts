import type { Argv } from 'yargs';
import { jsonOption, lazyCommand } from '../builder.js';
import { planningOptions, type PlanningArgs } from '../../options/planning.js';

export interface ApplyArgs extends PlanningArgs, RunArgs {
  planfile?: string;
  workloads?: 'restart' | 'report';
}

/** The options of a run (`apply`, `rollback`): confirmation, output, state and locks. */
export interface RunArgs {
  json: boolean;
  state?: string;
  'lock-timeout': string;
  'auto-approve': boolean;
  'run-lease': boolean;
  'take-over-expired-lease': boolean;
}

export function runOptions<T>(y: Argv<T>): Argv<T & RunArgs> {
  return y
    .option('auto-approve', {
      type: 'boolean',
      default: false,
      describe: 'do not ask for confirmation (pipelines); without it and without a terminal, apply refuses',
    })
    .option('json', jsonOption('progress as a JSON event stream on stdout (docs/events.md)'))
    .option('state', {
      type: 'string',
      describe: 'state file (default: state/<name>.state.json next to the desired-state file)',
    })
    .option('lock-timeout', {
      type: 'string',
      default: '0s',
      describe: 'how long to wait for the state lock held by another run (e.g. 30s, 2m)',
    })
    .option('run-lease', {
      type: 'boolean',
      default: true,
      describe:
        'take the cluster-wide run lease (Lease kube-system/talos-rotate) so that no other rotation runs at the ' +
        'same time; --no-run-lease only while the Kubernetes API is down',
    })
    .option('take-over-expired-lease', {
      type: 'boolean',
      default: false,
      describe:
        'take over a run lease another run holds but no longer renews (after watching it stay unrenewed for its ' +
        'whole duration)',
    }) as unknown as Argv<T & RunArgs>;
}

export const applyCommand = lazyCommand<ApplyArgs>(
  'apply [planfile]',
  'Apply a saved plan (no prompt), or plan the desired-state file and apply after confirmation; ' +
    'resumes an unfinished run',
  (y) =>
    runOptions(planningOptions(y))
      .positional('planfile', { type: 'string', describe: 'a plan saved with `rotate plan --out FILE`' })
      .option('workloads', {
        choices: ['restart', 'report'] as const,
        describe:
          'what to do, in every namespace, with the workloads whose pods hold the old Kubernetes API CA after the ' +
          "issue step (overrides the desired state's workloads section; default: that section, else report)",
      })
      .example('$0 apply -f rotate.yaml', 'plan, ask, then apply (and resume an unfinished run)')
      .example(
        '$0 apply plan.json',
        'apply exactly the plan saved by `rotate plan --out plan.json` (refused if the cluster changed since)',
      ),
  async () => (await import('./run.js')).runApplyCommand,
);
