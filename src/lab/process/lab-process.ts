/**
 * The lab process: claims DIR, starts the lab, writes the files, serves the control API, writes lab.json
 * once every node is Ready, and runs until asked to stop (SIGTERM/SIGINT, control API `shutdown`, or DIR
 * removed), then stops the lab, removes lab.json and lab.pid and releases the address block. The same
 * code runs detached (daemon.ts, output to DIR/lab.log) and in the foreground (`rotate lab up` without
 * --detach).
 */
import { summarizeWorkloads } from '../kube/workload-summary.js';
import { randomBytes } from 'node:crypto';
import { promises as fs, unlinkSync } from 'node:fs';
import { RotateError } from '../../domain/errors.js';
import { EDGE_KINDS } from '../core/ledger.js';
import { startLab, type RunningLab } from '../index.js';
import { blockName, controlAddress } from './address-block.js';
import { LAB_FILE_VERSION, type LabFile } from './contracts.js';
import { startControlApi, type ControlApiServer } from './control-api.js';
import { writeLabDirFiles } from './dir-files.js';
import { buildInspectReport } from './inspect.js';
import { pemFingerprints } from '../kube/pods.js';
import { claimLabDir, labFilePath, readLabFile, writeLabFile } from './lab-dir.js';
import type { LabConfig } from './options.js';
import { currentProcessIdentity } from '../../util/process-identity.js';

export interface LabProcessOptions {
  /** Absolute path of DIR. */
  dir: string;
  config: LabConfig;
  readyTimeoutMs: number;
  log: (message: string) => void;
  /** Called once lab.json is written. */
  onReady?: (lab: LabFile) => void;
  /** How often DIR is checked for removal (ms). */
  dirCheckMs?: number;
  /** Handle SIGINT/SIGTERM (default true). */
  handleSignals?: boolean;
}

/** A lab process's synchronous last-resort cleanup (uncaught exception): release the locks it holds. */
const emergencyCleanups = new Set<() => void>();
export function runEmergencyCleanup(): void {
  for (const fn of emergencyCleanups) {
    try {
      fn();
    } catch {
      // best effort
    }
  }
}

/** Runs the lab until it is told to stop; resolves after a clean stop; rejects when it cannot start. */
export async function runLabProcess(opts: LabProcessOptions): Promise<void> {
  const { dir, config, log } = opts;
  const dirLock = await claimLabDir(dir);
  let lab: RunningLab | undefined;
  let control: ControlApiServer | undefined;
  let stopReason: string | undefined;
  let wake: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    wake = resolve;
  });
  const requestStop = (reason: string) => {
    if (stopReason !== undefined) return;
    stopReason = reason;
    log(`stopping: ${reason}`);
    wake();
  };
  const onSignal = (signal: NodeJS.Signals) => requestStop(`received ${signal}`);
  const emergency = () => {
    // lab.json names this process, which owns DIR: a crashed lab must not look up.
    try {
      unlinkSync(labFilePath(dir));
    } catch {
      // not written yet
    }
    dirLock.releaseSync();
  };
  emergencyCleanups.add(emergency);
  if (opts.handleSignals !== false) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  let dirWatch: { stop(): void } | undefined;
  let ledgerWatch: NodeJS.Timeout | undefined;

  try {
    dirWatch = await watchDir(dir, opts.dirCheckMs ?? 1000, () => requestStop(`${dir} was removed`));
    // A lab.json left by a lab that died is not ours: it must not signal readiness.
    await fs.unlink(labFilePath(dir)).catch(() => undefined);
    const startedAt = new Date();
    const nodes = config.controlPlanes + config.workers;
    log(
      `starting a lab of ${nodes} nodes (${config.controlPlanes} control planes, ${config.workers} workers, ` +
        `Kubernetes CA style ${config.kubernetesCaStyle}${config.vip ? ', VIP' : ''}) in ${dir}`,
    );
    lab = await startLab({ ...config, labDir: dir, log });
    const running = lab;
    log(`address block ${blockName(running.block)}, cluster endpoint ${running.clusterEndpoint}`);
    const files = await writeLabDirFiles(dir, running, 'start');
    if (stopReason === undefined) {
      await Promise.race([
        running.whenAllReady(opts.readyTimeoutMs).catch((err: unknown) => {
          throw new RotateError(
            'LAB_NOT_READY',
            `not every node turned Ready within ${Math.round(opts.readyTimeoutMs / 1000)} s ` +
              `(${running.cluster.nodes.filter((n) => !running.nodeReady(n.address)).length} of ${nodes} not Ready)`,
            {
              hint: 'see the lab log for the failing edges; a loaded machine may need a smaller lab',
              cause: err,
              source: 'internal',
            },
          );
        }),
        stopped,
      ]);
    }
    if (stopReason === undefined) {
      log(`all ${nodes} nodes Ready after ${Date.now() - startedAt.getTime()} ms`);
      Object.assign(files, await writeLabDirFiles(dir, running, 'ready'));
      const token = randomBytes(32).toString('hex');
      control = await startControlApi(controlAddress(running.block), token, {
        cluster: running.cluster,
        ready: () => {
          const readyNodes = running.cluster.nodes.filter((n) => running.nodeReady(n.address)).length;
          return { ready: running.allReady(), readyNodes, nodes: running.cluster.nodes.length };
        },
        inspect: () => ({
          ...buildInspectReport(running.cluster, (a) => running.nodeReady(a), {
            rootCaConfigMap: pemFingerprints(running.rootCaConfigMap()),
            clients: running.pods(),
            workloads: summarizeWorkloads((resource) => running.objects(resource)),
          }),
          extensionApiserverAuthentication: running.extensionAuth(),
        }),
        shutdown: () => requestStop('shutdown requested through the control API'),
      });
      const identity = currentProcessIdentity();
      const labFile: LabFile = {
        version: LAB_FILE_VERSION,
        nodes: running.cluster.nodes.map((n) => ({ address: n.address, role: n.role, hostname: n.hostname })),
        ...(running.cluster.vipAddress ? { vip: running.cluster.vipAddress } : {}),
        pid: identity.pid,
        processStartTime: identity.startTime,
        control: { address: control.address, port: control.port, token },
        clusterName: running.cluster.clusterName,
        clusterEndpoint: running.clusterEndpoint,
        kubernetesCaStyle: running.cluster.kubernetesCaStyle,
        block: blockName(running.block),
        timings: running.cluster.timings,
        startedAt: startedAt.toISOString(),
        readyAt: new Date().toISOString(),
        files,
      };
      await writeLabFile(dir, labFile);
      log(`ready: control API on ${control.address}:${control.port}; lab.json written`);
      ledgerWatch = watchLedger(running, log);
      opts.onReady?.(labFile);
      await stopped;
    }
  } finally {
    if (ledgerWatch) clearInterval(ledgerWatch);
    dirWatch?.stop();
    if (opts.handleSignals !== false) {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
    await control?.close().catch(() => undefined);
    await lab
      ?.stop()
      .catch((err: unknown) =>
        log(`error while stopping the lab: ${err instanceof Error ? err.message : String(err)}`),
      );
    await removeOwnLabFile(dir);
    await dirLock.release();
    emergencyCleanups.delete(emergency);
    log('stopped');
  }
}

/** Remove lab.json only if it names this process (a new lab may already own DIR). */
async function removeOwnLabFile(dir: string): Promise<void> {
  try {
    const current = await readLabFile(dir);
    if (current && current.pid !== process.pid) return;
  } catch {
    // unreadable: ours to remove (we just wrote it, or DIR is gone)
  }
  await fs.unlink(labFilePath(dir)).catch(() => undefined);
}

/** Calls `gone` once when DIR disappears or is replaced by another folder of the same name. */
async function watchDir(dir: string, everyMs: number, gone: () => void): Promise<{ stop(): void }> {
  const first = await fs.stat(dir);
  const timer = setInterval(() => {
    fs.stat(dir).then(
      (st) => {
        if (st.ino !== first.ino || st.dev !== first.dev) gone();
      },
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ENOTDIR') gone();
      },
    );
  }, everyMs);
  return { stop: () => clearInterval(timer) };
}

/** Logs ledger changes (counts only) every few seconds, so lab.log tells what went wrong and when. */
function watchLedger(lab: RunningLab, log: (m: string) => void): NodeJS.Timeout {
  let last = lab.cluster.ledger.snapshot();
  const timer = setInterval(() => {
    const now = lab.cluster.ledger.snapshot();
    const changes: string[] = [];
    for (const edge of EDGE_KINDS) {
      const t = now.trustFailures[edge] - last.trustFailures[edge];
      const u = now.unavailable[edge] - last.unavailable[edge];
      if (t) changes.push(`${edge} trust failures +${t}`);
      if (u) changes.push(`${edge} unavailable +${u}`);
    }
    const nr = now.notReadyEvents - last.notReadyEvents;
    if (nr) changes.push(`NotReady events +${nr}`);
    if (changes.length) {
      log(`ledger: ${changes.join(', ')}`);
      const newTrust = EDGE_KINDS.reduce((sum, edge) => sum + now.trustFailures[edge] - last.trustFailures[edge], 0);
      for (const e of newTrust > 0 ? now.trustFailureLog.slice(-Math.min(5, newTrust)) : []) {
        log(`  trust failure ${e.edge} ${e.from} -> ${e.to}: ${e.reason} (refused by ${e.refusedBy})`);
      }
    }
    last = now;
  }, 5_000);
  timer.unref();
  return timer;
}
