import type { Argv, CommandModule } from 'yargs';
import { runOptions } from '../apply/command.js';
import { planningOptions, type PlanningArgs } from '../../options/planning.js';

export interface RollbackArgs extends PlanningArgs {
  'auto-approve': boolean;
  json: boolean;
  state?: string;
  'lock-timeout': string;
  'run-lease': boolean;
  'take-over-expired-lease': boolean;
  workloads?: 'restart' | 'report';
}

export const rollbackCommand: CommandModule<object, RollbackArgs> = {
  command: 'rollback',
  describe: 'Return the cluster to the trust it had before the last apply run (finished or not), proved safe like any plan, and restore the files that run replaced',
  builder: (y: Argv) =>
    runOptions(planningOptions(y))
      .option('workloads', {
        choices: ['restart', 'report'] as const,
        describe:
          "what to do, in every namespace, with the workloads whose pods loaded the CA the rollback takes away (started since the rolled-back run's Kubernetes issue step), once the apiservers serve the reverted CA (overrides the workloads section that run recorded; default: that section, else report)",
      })
      .example('$0 rollback -f rotate.yaml', 'undo the last apply run of this state, finished or not') as unknown as Argv<RollbackArgs>,
  handler: async (args) => {
    const { runRollbackCommand } = await import('../apply/run.js');
    await runRollbackCommand(args);
  },
};
