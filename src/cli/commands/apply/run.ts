import { runApply } from '../../../apply/run-apply.js';
import { runRollback, type RollbackOptions } from '../../../apply/run-rollback.js';
import { parseDuration } from '../../../state/index.js';
import { connectTalos } from '../../../talos/talos-api.js';
import type { ApplyArgs } from './command.js';
import type { RollbackArgs } from '../rollback/command.js';
import { clusterOverridesOf } from '../../options/cluster.js';
import { keepHeapTight } from '../../heap.js';

/** The flags `apply` and `rollback` share, as the run options. */
function runOptionsOf(args: RollbackArgs): RollbackOptions {
  return {
    file: args.file,
    autoApprove: args['auto-approve'],
    json: args.json,
    ...(args.state ? { state: args.state } : {}),
    lockTimeoutMs: parseDuration(args['lock-timeout']),
    runLease: args['run-lease'],
    takeOverExpiredLease: args['take-over-expired-lease'],
    parallelism: args.parallelism,
    maxUnavailable: args['max-unavailable'],
    allowDisruption: args['allow-disruption'],
    nodeDryRun: args['node-dry-run'],
    applyLockWaitMs: parseDuration(args['apply-lock-wait'], '--apply-lock-wait'),
    cluster: clusterOverridesOf(args),
    connect: connectTalos,
  };
}

export async function runApplyCommand(args: ApplyArgs): Promise<void> {
  keepHeapTight();
  await runApply({
    ...runOptionsOf(args),
    ...(args.planfile ? { planFile: args.planfile } : {}),
    ...(args.workloads ? { workloads: args.workloads } : {}),
  });
}

export async function runRollbackCommand(args: RollbackArgs): Promise<void> {
  keepHeapTight();
  await runRollback({ ...runOptionsOf(args), ...(args.workloads ? { workloads: args.workloads } : {}) });
}
