import type { Argv } from 'yargs';
import { lazyCommand } from '../builder.js';
import { runOptions, type RunArgs } from '../apply/command.js';
import { planningOptions, type PlanningArgs } from '../../options/planning.js';

export type RollbackArgs = PlanningArgs & RunArgs & { workloads?: 'restart' | 'report' };

export const rollbackCommand = lazyCommand<RollbackArgs>(
  'rollback',
  'Return the cluster to the trust it had before the last apply run (finished or not), proved safe like any plan, ' +
    'and restore the files that run replaced',
  (y) =>
    runOptions(planningOptions(y))
      .option('workloads', {
        choices: ['restart', 'report'] as const,
        describe:
          'what to do, in every namespace, with the workloads whose pods loaded the CA the rollback takes away ' +
          "(started since the rolled-back run's Kubernetes issue step), once the apiservers serve the reverted " +
          'CA (overrides the workloads section that run recorded; default: that section, else report)',
      })
      .example(
        '$0 rollback -f rotate.yaml',
        'undo the last apply run of this state, finished or not',
      ) as unknown as Argv<RollbackArgs>,
  async () => (await import('../apply/run.js')).runRollbackCommand,
);
