/**
 * `rotate lab up|down|fault|inspect`: thin CLI over src/lab/process (argument checks, the detached
 * launch, the control API client, output).
 */
import * as path from 'node:path';
import { RotateError } from '../../../domain/errors.js';
import { type LabFile, validateInspectReport } from '../../../lab/process/contracts.js';
import { labFault, labInspect } from '../../../lab/process/control-client.js';
import { launchDetachedLab, stopLab } from '../../../lab/process/daemon-launch.js';
import { renderInspectReport } from '../../../lab/process/inspect-render.js';
import { assertNoLabRunning, labDirStatus, logFilePath } from '../../../lab/process/lab-dir.js';
import {
  checkInteger,
  defaultReadyTimeoutMs,
  resolveFaultChange,
  resolveLabConfig,
} from '../../../lab/process/options.js';
import { ensurePrivateDir } from '../../../util/atomic-file.js';
import type { LabDirArgs, LabFaultArgs, LabInspectArgs, LabUpArgs } from './command.js';
import { printDiagnostic, printJson, printResult } from '../../output.js';

function labDir(dir: string): string {
  return path.resolve(dir);
}

function describeLab(dir: string, lab: LabFile, detached: boolean): string {
  const cps = lab.nodes.filter((n) => n.role === 'controlplane').length;
  const workers = lab.nodes.length - cps;
  const file = (kind: string) => (lab.files[kind] ? path.join(dir, lab.files[kind]) : '(not written)');
  const lines = [
    `lab up in ${dir}: ${lab.nodes.length} nodes (${cps} control plane${cps === 1 ? '' : 's'}, ${workers} ` +
      `worker${workers === 1 ? '' : 's'}), Kubernetes CA style ${lab.kubernetesCaStyle}, all Ready, pid ${lab.pid}`,
    `  addresses    ${lab.block}`,
    `  endpoint     ${lab.clusterEndpoint}${lab.vip ? `  (vip ${lab.vip})` : ''}`,
    ...nodeLines(lab),
    `  talosconfig  ${file('talosconfig')}`,
    `  kubeconfig   ${file('kubeconfig')}`,
    `  secrets      ${file('secrets')}`,
    `  desired      ${file('desired')}`,
    ...(detached ? [`  log          ${logFilePath(dir)}`] : []),
    detached ? `stop it with: rotate lab down --dir ${dir}` : 'press Ctrl-C to stop it',
  ];
  return lines.join('\n');
}

/** Every node of a small lab; control planes and a few workers of a big one (lab.json has them all). */
function nodeLines(lab: LabFile): string[] {
  const line = (n: LabFile['nodes'][number]) =>
    `  node         ${n.address.padEnd(15)} ${n.role.padEnd(12)} ${n.hostname}`;
  if (lab.nodes.length <= 12) return lab.nodes.map(line);
  const cps = lab.nodes.filter((n) => n.role === 'controlplane');
  const workers = lab.nodes.filter((n) => n.role === 'worker');
  return [
    ...cps.map(line),
    ...workers.slice(0, 3).map(line),
    `  node         … and ${workers.length - 3} more workers (see lab.json)`,
  ];
}

export async function runLabUp(args: LabUpArgs): Promise<void> {
  const config = resolveLabConfig({
    controlPlanes: args['control-planes'],
    workers: args.workers,
    kubernetesCaStyle: args['kubernetes-ca-style'],
    applyLatencyMs: args['apply-latency-ms'],
    kubeletRestartMs: args['kubelet-restart-ms'],
    staticPodDelayMs: args['static-pod-delay-ms'],
    heartbeatMs: args['heartbeat-ms'],
    nodeGraceS: args['node-grace-s'],
    podsPerNode: args['pods-per-node'],
    podCaReloadS: args['pod-ca-reload-s'],
    workloads: args.workloads,
    serviceAccountKey: args['service-account-key'],
    vip: args.vip,
  });
  const readyTimeoutS = checkInteger('--ready-timeout-s', args['ready-timeout-s'], 1);
  const readyTimeoutMs =
    readyTimeoutS !== undefined ? readyTimeoutS * 1000 : defaultReadyTimeoutMs(config.controlPlanes + config.workers);
  const dir = labDir(args.dir);
  try {
    await ensurePrivateDir(dir);
  } catch (err) {
    throw new RotateError(
      'LAB_DIR',
      `cannot use ${dir} as the lab folder (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      {
        hint: 'pass a folder path (it is created if missing) that is not a file',
        cause: err,
      },
    );
  }
  await assertNoLabRunning(dir);
  if (args.detach) {
    const lab = await launchDetachedLab({ dir, config, readyTimeoutMs });
    printResult(describeLab(dir, lab, true));
    return;
  }
  // The lab itself (gRPC, TLS servers) loads only when it runs in this process.
  const { runLabProcess } = await import('../../../lab/process/lab-process.js');
  await runLabProcess({
    dir,
    config,
    readyTimeoutMs,
    log: (m) => printDiagnostic(`${new Date().toISOString()} ${m}`),
    onReady: (lab) => printResult(describeLab(dir, lab, false)),
  });
}

export async function runLabDown(args: LabDirArgs): Promise<void> {
  const dir = labDir(args.dir);
  const result = await stopLab(dir);
  if (result.how === 'not-running') {
    printResult(`no lab is running in ${dir}${result.cleaned ? ' (removed what a stopped lab left behind)' : ''}`);
    return;
  }
  const how = { shutdown: 'shut down', terminated: 'stopped with SIGTERM', killed: 'killed with SIGKILL' }[result.how];
  printResult(`lab in ${dir} stopped (pid ${result.pid}, ${how}); its addresses are released`);
}

async function runningLab(dir: string): Promise<LabFile> {
  const status = await labDirStatus(dir);
  if (status.running && status.labFile) return status.labFile;
  if (status.running) {
    throw new RotateError('LAB_NOT_READY', `the lab in ${dir} (pid ${status.pid}) is still starting`, {
      hint: `wait for it, or see ${logFilePath(dir)}`,
    });
  }
  throw new RotateError('LAB_NOT_RUNNING', `no lab is running in ${dir}`, {
    hint: `start one with \`rotate lab up --dir ${dir} --detach\``,
  });
}

export async function runLabFault(args: LabFaultArgs): Promise<void> {
  const change = resolveFaultChange({
    node: args.node,
    down: args.down,
    up: args.up,
    delayMs: args['delay-ms'],
    failApply: args['fail-apply'],
    dropApplyReply: args['drop-apply-reply'],
    kubeletRestartMs: args['kubelet-restart-ms'],
    holdApplyLockMs: args['hold-apply-lock-ms'],
    remove: args.remove,
  });
  const dir = labDir(args.dir);
  const lab = await runningLab(dir);
  if (!lab.nodes.some((n) => n.address === change.node)) {
    throw new RotateError(
      'LAB_UNKNOWN_NODE',
      `the lab in ${dir} has no node ${change.node} ` +
        `(nodes: ${lab.nodes.map((n) => `${n.address} ${n.hostname}`).join(', ')})`,
      {
        hint: 'pass one of the listed addresses with --node',
      },
    );
  }
  const result = await labFault(lab, change);
  const f = result.faults;
  printResult(
    `node ${result.node}: ${f.down ? 'down' : 'up'}, delay ${f.delayMs} ms, fail next ${f.failApply} apply(s), ` +
      `drop next ${f.dropApplyReply} apply reply(s), ` +
      `kubelet restart ${f.kubeletRestartMs === null ? 'lab default' : `${f.kubeletRestartMs} ms`}${
        result.applyLockHeldUntil !== undefined
          ? `, apply lock ${result.applyLockHeldUntil ? `held until ${result.applyLockHeldUntil}` : 'free'}`
          : ''
      }`,
  );
}

export async function runLabInspect(args: LabInspectArgs): Promise<void> {
  const dir = labDir(args.dir);
  const lab = await runningLab(dir);
  const report = validateInspectReport(await labInspect(lab));
  if (args.json) printJson(report);
  else printResult(renderInspectReport(report));
}
