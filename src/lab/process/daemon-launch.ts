/**
 * Starting and stopping a detached lab from the CLI. `launchDetachedLab` spawns ONE node process
 * (daemon.js) for the whole cluster, detached, with its output in DIR/lab.log, and waits for the
 * readiness signal: lab.json naming that process. `stopLab` asks the control API to shut down, then
 * SIGTERM, then SIGKILL, and cleans up what a killed lab leaves behind (lab.json, lab.pid, address lock).
 */
import { spawn } from 'node:child_process';
import { promises as fs, openSync, closeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RotateError } from '../../domain/errors.js';
import { releaseBlocksOf } from './address-allocation.js';
import type { LabFile } from './contracts.js';
import { labShutdown } from './control-client.js';
import { labDirStatus, logFilePath, readLabFile, removeLabRuntimeFiles } from './lab-dir.js';
import { DAEMON_OPENSSL_CONFIG, daemonOpenssl } from './daemon-openssl.js';
import { writeFileAtomic } from '../../util/atomic-file.js';
import type { LabConfig } from './options.js';
import { isAlive, type ProcessIdentity } from '../../util/process-identity.js';

export interface DaemonArgument {
  dir: string;
  config: LabConfig;
  readyTimeoutMs: number;
}

/** daemon.js beside this module: in tsc's output, and in the bundle (scripts/build-bundle.mjs names its entry so). */
export function daemonEntry(): string {
  return fileURLToPath(new URL('./daemon.js', import.meta.url));
}

export function parseDaemonArgument(text: string | undefined): DaemonArgument {
  const bad = (why: string) =>
    new RotateError(
      'LAB_DAEMON_USAGE',
      `the lab daemon needs one JSON argument {dir, config, readyTimeoutMs}: ${why}`,
      { hint: 'start labs with `rotate lab up --detach`', source: 'internal' },
    );
  if (!text) throw bad('none given');
  let value: Partial<DaemonArgument>;
  try {
    value = JSON.parse(text) as Partial<DaemonArgument>;
  } catch {
    throw bad('not JSON');
  }
  if (
    typeof value.dir !== 'string' ||
    typeof value.config !== 'object' ||
    value.config === null ||
    typeof value.readyTimeoutMs !== 'number'
  )
    throw bad('fields missing');
  return value as DaemonArgument;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Last lines of lab.log, for error messages. */
export async function logTail(dir: string, lines = 15): Promise<string> {
  try {
    const text = await fs.readFile(logFilePath(dir), 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface LaunchOptions extends DaemonArgument {
  /** How long `up` waits for lab.json beyond the daemon's own ready timeout (startup work). */
  graceMs?: number;
  pollMs?: number;
}

export async function launchDetachedLab(opts: LaunchOptions): Promise<LabFile> {
  const logPath = logFilePath(opts.dir);
  const openssl = daemonOpenssl(opts.dir, process.env);
  if (openssl) await writeFileAtomic(openssl.file, DAEMON_OPENSSL_CONFIG, { mode: 0o644 });
  const fd = openSync(logPath, 'w', 0o600);
  let child;
  try {
    child = spawn(
      process.execPath,
      [
        ...(openssl ? [openssl.flag] : []),
        daemonEntry(),
        JSON.stringify({ dir: opts.dir, config: opts.config, readyTimeoutMs: opts.readyTimeoutMs }),
      ],
      {
        detached: true,
        stdio: ['ignore', fd, fd],
        cwd: opts.dir,
        env: process.env,
      },
    );
  } finally {
    closeSync(fd);
  }
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  let failure: Error | undefined;
  void spawnError.then((e) => {
    failure = e;
  });
  const pid = child.pid;
  const deadline = Date.now() + opts.readyTimeoutMs + (opts.graceMs ?? 30_000);
  try {
    for (;;) {
      if (failure) {
        throw new RotateError('LAB_START_FAILED', `cannot start the lab process (${failure.message})`, {
          hint: `see ${logPath}`,
        });
      }
      const lab = await readLabFile(opts.dir).catch(() => null);
      if (lab && lab.pid === pid) return lab;
      if (exited) {
        const how = exited.signal ? `was killed by ${exited.signal}` : `exited with code ${exited.code}`;
        throw new RotateError(
          'LAB_START_FAILED',
          `the lab process ${how} before the cluster was Ready; last lines ` +
            `of ${logPath}:\n${indent(await logTail(opts.dir))}`,
          {
            hint: `read ${logPath} for the whole story`,
          },
        );
      }
      if (Date.now() > deadline) {
        if (pid) await terminate({ pid, startTime: null }, 5_000, 2_000);
        throw new RotateError(
          'LAB_START_TIMEOUT',
          `the lab was not Ready ` +
            `within ${Math.round((opts.readyTimeoutMs + (opts.graceMs ?? 30_000)) / 1000)} s and was stopped; ` +
            `last lines of ${logPath}:\n${indent(await logTail(opts.dir))}`,
          {
            hint: `read ${logPath}; a big lab on a loaded machine may need a smaller size`,
          },
        );
      }
      await sleep(opts.pollMs ?? 100);
    }
  } finally {
    child.unref();
  }
}

function indent(text: string): string {
  return text.replace(/^/gm, '    ');
}

/** Waits until the process is gone; true if it went within `ms`. */
export async function waitForExit(identity: ProcessIdentity, ms: number, pollMs = 50): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isAlive(identity)) {
    if (Date.now() > deadline) return false;
    await sleep(pollMs);
  }
  return true;
}

/** SIGTERM, wait, SIGKILL, wait. Only the recorded process (pid + start time) is signalled. */
export async function terminate(
  identity: ProcessIdentity,
  termWaitMs: number,
  killWaitMs: number,
): Promise<'exited' | 'terminated' | 'killed' | 'survived'> {
  if (!isAlive(identity)) return 'exited';
  try {
    process.kill(identity.pid, 'SIGTERM');
  } catch {
    return 'exited';
  }
  if (await waitForExit(identity, termWaitMs)) return 'terminated';
  try {
    process.kill(identity.pid, 'SIGKILL');
  } catch {
    return 'exited';
  }
  return (await waitForExit(identity, killWaitMs)) ? 'killed' : 'survived';
}

export interface StopResult {
  /** null when no lab was running. */
  pid: number | null;
  how: 'not-running' | 'shutdown' | 'terminated' | 'killed';
  /** Leftovers removed (lab.json / lab.pid / address lock of a dead lab). */
  cleaned: boolean;
}

export interface StopOptions {
  shutdownWaitMs?: number;
  termWaitMs?: number;
  killWaitMs?: number;
}

export async function stopLab(dir: string, opts: StopOptions = {}): Promise<StopResult> {
  const status = await labDirStatus(dir);
  const identity: ProcessIdentity | null = status.pidRecord
    ? { pid: status.pidRecord.pid, startTime: status.pidRecord.startTime }
    : status.labFile
      ? { pid: status.labFile.pid, startTime: status.labFile.processStartTime }
      : null;
  const cleanup = async (): Promise<boolean> => {
    let cleaned = false;
    if (status.labFile || status.pidRecord) {
      await removeLabRuntimeFiles(dir);
      cleaned = true;
    }
    // Address locks of a dead lab (normally released by the lab itself; left when it was killed).
    if (identity && !isAlive(identity) && (await releaseBlocksOf(identity.pid, dir)) > 0) cleaned = true;
    return cleaned;
  };
  if (!status.running || !identity) {
    return { pid: null, how: 'not-running', cleaned: await cleanup() };
  }
  let how: StopResult['how'] | undefined;
  if (status.labFile) {
    try {
      await labShutdown(status.labFile);
      if (await waitForExit(identity, opts.shutdownWaitMs ?? 20_000)) how = 'shutdown';
    } catch {
      // control API unreachable: fall through to signals
    }
  }
  if (!how) {
    const result = await terminate(identity, opts.termWaitMs ?? 15_000, opts.killWaitMs ?? 5_000);
    if (result === 'survived') {
      throw new RotateError('LAB_STOP_FAILED', `the lab process ${identity.pid} survived SIGKILL`, {
        hint: 'check the process (ps) and the permissions',
      });
    }
    how = result === 'killed' ? 'killed' : 'terminated';
  }
  await cleanup();
  return { pid: identity.pid, how, cleaned: true };
}
