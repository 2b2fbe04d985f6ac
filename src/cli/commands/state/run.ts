/**
 * `rotate state show` and `rotate state unlock`. The state path is `--state`, else derived from `-f FILE`
 * (`<dir of FILE>/state/<name>.state.json`). Reading takes no lock: show works while a run holds it.
 */
import { describeHolder, openFileStateStore, renderStateSummary, resolveStatePath } from '../../../state/index.js';
import { printDiagnostic, printJson, printResult } from '../../output.js';
import type { StateSealArgs, StateShowArgs, StateUnlockArgs } from './command.js';
import { openFileStateStore as openStore, parseDuration } from '../../../state/index.js';
import { sealStateFolder } from '../../../state/seal-folder.js';

export async function runStateShow(args: StateShowArgs): Promise<void> {
  const statePath = resolveStatePath({ state: args.state, file: args.file });
  const store = openFileStateStore(statePath);
  const lock = await store.lockStatus();
  const doc = await store.read();
  if (args.json) {
    printJson({
      path: statePath,
      lock: lock ? { ...lock.info, holder: lock.liveness.state, holderDetail: lock.liveness.reason } : null,
      state: doc,
    });
    return;
  }
  printResult(renderStateSummary(doc, statePath, lock));
}

export async function runStateUnlock(args: StateUnlockArgs): Promise<void> {
  const statePath = resolveStatePath({ state: args.state, file: args.file });
  const store = openFileStateStore(statePath);
  const removed = await store.unlock(args['lock-id'], { force: args.force });
  if (removed.liveness.state === 'unknown')
    printDiagnostic(
      `warning: ${removed.liveness.reason}; make sure that run is not still going [STATE_UNLOCK_HOLDER_UNKNOWN]`,
    );
  if (removed.liveness.state === 'alive')
    printDiagnostic(
      `warning: broke the lock of a running process (--force): ${removed.liveness.reason} [STATE_UNLOCK_HOLDER_ALIVE]`,
    );
  printResult(`Unlocked state ${statePath}: removed lock ${removed.info.id} of ${describeHolder(removed.info)}.`);
}

/** `rotate state encrypt|decrypt`, under the state's lock (a run in progress is waited for, then refused). */
export async function runStateSeal(args: StateSealArgs, direction: 'encrypt' | 'decrypt'): Promise<void> {
  const statePath = resolveStatePath({ state: args.state, file: args.file });
  const store = openStore(statePath);
  const lock = await store.lock(
    { operation: `state ${direction}` },
    { timeoutMs: parseDuration(args['lock-timeout']), breakGone: true },
  );
  try {
    const report = await sealStateFolder(statePath, direction);
    const verb = direction === 'encrypt' ? 'Encrypted' : 'Decrypted';
    printResult(
      report.changed.length === 0
        ? `Nothing to do: every secret file of ${statePath} is ` +
            `already ${direction === 'encrypt' ? 'encrypted' : 'plain'} (${report.unchanged} file(s)).`
        : [`${verb} ${report.changed.length} file(s) of ${statePath}:`, ...report.changed.map((f) => `  ${f}`)].join(
            '\n',
          ),
    );
  } finally {
    await store.release(lock.id);
  }
}
