import { lazyCommand } from './builder.js';
import { runOptions, type RunArgs } from './apply.js';
import { planningOptions, type PlanningArgs } from './plan-options.js';

export type RollbackArgs = PlanningArgs & RunArgs;

export const rollbackCommand = lazyCommand<RollbackArgs>(
  'rollback',
  'Return the cluster to the trust it had before the last apply run (finished or not), proved safe like any plan, and restore the files that run replaced',
  (y) =>
    runOptions(planningOptions(y)).example('$0 rollback -f rotate.yaml', 'undo the last apply run of this state, finished or not'),
  async () => (await import('../apply-command.js')).runRollbackCommand,
);
