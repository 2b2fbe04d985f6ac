import { runApply } from '../apply/run-apply.js';
import { runRollback } from '../apply/run-rollback.js';
import { parseDuration } from '../state/index.js';
import type { ApplyArgs } from './commands/apply.js';
import type { RollbackArgs } from './commands/rollback.js';

export async function runApplyCommand(args: ApplyArgs): Promise<void> {
  await runApply({
    ...(args.planfile ? { planFile: args.planfile } : {}),
    file: args.file,
    autoApprove: args['auto-approve'],
    json: args.json,
    ...(args.state ? { state: args.state } : {}),
    lockTimeoutMs: parseDuration(args['lock-timeout']),
    parallelism: args.parallelism,
    maxUnavailable: args['max-unavailable'],
    allowDisruption: args['allow-disruption'],
    nodeDryRun: args['node-dry-run'],
  });
}

export async function runRollbackCommand(args: RollbackArgs): Promise<void> {
  await runRollback({
    file: args.file,
    autoApprove: args['auto-approve'],
    json: args.json,
    ...(args.state ? { state: args.state } : {}),
    lockTimeoutMs: parseDuration(args['lock-timeout']),
    parallelism: args.parallelism,
    maxUnavailable: args['max-unavailable'],
    allowDisruption: args['allow-disruption'],
    nodeDryRun: args['node-dry-run'],
  });
}
