/**
 * Entry of a detached lab: `node dist/bundle/daemon.js '<json>'` (tsc's `dist/lab/process/daemon.js` without the
 * bundle) with `{dir, config, readyTimeoutMs}`
 * (daemon-launch.ts builds it). stdout/stderr go to DIR/lab.log. Exits 0 after a clean stop, 1 when the
 * lab could not start or crashed (its locks are released first).
 */
import { RotateError, formatError } from '../../domain/errors.js';
import { dropYamlDebugSwitches } from '../../domain/yaml-debug-switches.js';
import { runEmergencyCleanup, runLabProcess } from './lab-process.js';
import { parseDaemonArgument } from './daemon-launch.js';

function log(message: string): void {
  process.stdout.write(`${new Date().toISOString()} [pid ${process.pid}] ${message}\n`);
}

function describe(err: unknown): string {
  if (RotateError.is(err)) return formatError(err);
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

process.on('uncaughtException', (err) => {
  log(`crashed: ${describe(err)}`);
  runEmergencyCleanup();
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  log(`crashed (unhandled rejection): ${describe(err)}`);
  runEmergencyCleanup();
  process.exit(1);
});

dropYamlDebugSwitches();
try {
  const args = parseDaemonArgument(process.argv[2]);
  await runLabProcess({ ...args, log });
  process.exit(0);
} catch (err) {
  log(`failed: ${describe(err)}`);
  runEmergencyCleanup();
  process.exit(1);
}
