import { RotateError } from '../../../domain/errors.js';
import { jsonOption, lazyCommand } from '../builder.js';
import { planningOptions, type PlanningArgs } from '../../options/planning.js';

export interface PlanArgs extends PlanningArgs {
  json: boolean;
  summary: boolean;
  out?: string;
  'detailed-exitcode': boolean;
}

export const planCommand = lazyCommand<PlanArgs>(
  'plan',
  'Read every node over the Talos API and show the proved-safe steps from the live CA state to the desired one',
  (y) =>
    planningOptions(y)
      .option('json', jsonOption('print the plan document as JSON (docs/plan-format.md)'))
      .option('summary', {
        type: 'boolean',
        default: false,
        describe:
          'print only a Markdown summary (verdict, one row per step, authorities), e.g. for a pull-request comment',
      })
      .option('out', { type: 'string', describe: 'save the plan (0600, no keys) for `rotate apply FILE`' })
      .option('detailed-exitcode', {
        type: 'boolean',
        default: false,
        describe: 'exit 0 when there are no changes, 2 when there are, 1 on error (as terraform plan)',
      })
      .example('$0 plan -f rotate.yaml', 'show the steps, their safety proofs and per-node diffs')
      .check((a) => {
        if (a.json && a.summary)
          throw new RotateError('CLI_USAGE', '--json and --summary are two output formats: pass one', {
            hint: 'see rotate plan --help',
          });
        return true;
      })
      .example('$0 plan --summary --out plan.json > plan.md', 'a pull-request comment, and the plan to apply')
      .example(
        '$0 plan --detailed-exitcode --out plan.json',
        'in a pipeline: exit 2 when there is something to apply, and keep the plan for `rotate apply plan.json`',
      ),
  async () => (await import('./run.js')).runPlan,
);
