import { RotateError } from '../../../domain/errors.js';
import { fileOption, jsonOption, lazyCommand, parallelismOption } from '../builder.js';
import { assertParallelism } from '../../options/planning.js';
import { clusterOverrideOptions, type ClusterOverrideArgs } from '../../options/cluster.js';

interface StatusArgs extends ClusterOverrideArgs {
  file: string;
  state?: string;
  json: boolean;
  prometheus: boolean;
  warnDays: number;
  parallelism?: number | undefined;
}

export const statusCommand = lazyCommand<StatusArgs>(
  'status',
  'What the cluster trusts now (per API and node), the client certificates in use, drift from the desired state, ' +
    'unfinished runs, and expiry warnings; exit codes for cron jobs',
  (y) =>
    clusterOverrideOptions(y)
      .option('file', fileOption())
      .option('state', { type: 'string', describe: 'state file (default: state/<name>.state.json beside FILE)' })
      .option('json', jsonOption('print the report as JSON'))
      .option('prometheus', {
        type: 'boolean',
        default: false,
        describe: "print Prometheus metrics (for the node exporter's textfile collector)",
      })
      .option('warn-days', {
        type: 'number',
        default: 90,
        describe: 'warn about certificates that expire within this many days',
      })
      .option('parallelism', parallelismOption())
      .check((a) => {
        if (a.json && a.prometheus)
          throw new RotateError('CLI_USAGE', '--json and --prometheus are two output formats: pass one', {
            hint: 'see rotate status --help',
          });
        if (!Number.isInteger(a['warn-days']) || (a['warn-days'] as number) < 0)
          throw new RotateError(
            'CLI_USAGE',
            `--warn-days ${String(a['warn-days'])} is not valid: it must be a whole number of days, 0 or more`,
            { hint: 'see rotate status --help' },
          );
        assertParallelism(a.parallelism);
        return true;
      })
      .example('$0 status', 'CAs per API and node, client certificates, drift, unfinished runs')
      .example(
        '$0 status --prometheus > /var/lib/node_exporter/talos_rotate.prom',
        'for a cron job: exit 0 all well, 2 drift, 3 unfinished run, 4 expiring',
      ),
  async () => (await import('./run.js')).runStatus,
);
