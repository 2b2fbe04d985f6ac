#!/usr/bin/env node
// Lab start-up and idle cost, through the built CLI (`rotate lab up --detach`): a 3 + 2 lab, then a 200-node
// lab (3 control planes + 197 workers). For each: wall time of `lab up` until every node is Ready, the
// lab's own ready time (lab.json readyAt - startedAt), the lab process's CPU use in steady state (after
// BENCH_SETTLE_S seconds, over BENCH_WINDOW_S seconds), its resident memory, and the time `lab down` takes.
// Linux only (reads /proc). Not a test: it prints figures.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const rotateBin = join(repo, 'bin', 'rotate');
const settleS = Number(process.env.BENCH_SETTLE_S ?? 15);
const windowS = Number(process.env.BENCH_WINDOW_S ?? 30);
const sizes = (process.env.BENCH_SIZES ?? '3+2,3+197').split(',').map((s) => s.split('+').map(Number));
const ticksPerS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

function rotate(...args) {
  return new Promise((resolve, reject) => {
    execFile(rotateBin, args, { maxBuffer: 64 * 1024 * 1024, timeout: 600_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`rotate ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
}

function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (n, d = 1) => n.toFixed(d);

for (const [cps, workers] of sizes) {
  const nodes = cps + workers;
  const root = mkdtempSync(join(tmpdir(), `bench-lab-${nodes}-`));
  const dir = join(root, 'lab');
  let pid;
  try {
    const t0 = performance.now();
    await rotate('lab', 'up', '--dir', dir, '--control-planes', String(cps), '--workers', String(workers), '--detach');
    const upS = (performance.now() - t0) / 1000;
    const lab = JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8'));
    pid = lab.pid;
    const readyS = (Date.parse(lab.readyAt) - Date.parse(lab.startedAt)) / 1000;
    const startupCpuS = cpuTicks(pid) / ticksPerS;
    console.log(
      `${nodes} nodes (${cps}+${workers}): lab up ${fmt(upS, 2)} s (lab ready ${fmt(readyS, 2)} s after ` +
        `start, ${fmt(startupCpuS, 2)} CPU-s), block ${lab.block}`,
    );
    console.log(
      `  timings: heartbeat ${lab.timings.heartbeatIntervalMs} ms, probes ${lab.timings.probeIntervalMs} ms, ` +
        `grace ${lab.timings.nodeGraceMs} ms`,
    );
    await sleep(settleS * 1000);
    const c0 = cpuTicks(pid);
    const w0 = performance.now();
    await sleep(windowS * 1000);
    const cpuPct = ((cpuTicks(pid) - c0) / ticksPerS / ((performance.now() - w0) / 1000)) * 100;
    const rss = rssMiB(pid);
    const inspect = JSON.parse(await rotate('lab', 'inspect', '--dir', dir, '--json'));
    const ready = inspect.nodes.filter((n) => n.ready).length;
    const trust = Object.values(inspect.trustFailures).reduce((a, b) => a + b, 0);
    console.log(
      `  steady state over ${windowS} s (after ${settleS} s): CPU ${fmt(cpuPct)} % of one core, ` +
        `RSS ${fmt(rss, 0)} MiB; ${ready}/${nodes} Ready, ${trust} trust failures, ${inspect.notReadyEvents} ` +
        'NotReady events',
    );
    const d0 = performance.now();
    await rotate('lab', 'down', '--dir', dir);
    const downS = (performance.now() - d0) / 1000;
    pid = undefined;
    console.log(`  lab down ${fmt(downS, 2)} s`);
    console.log(
      `figure: ${nodes} nodes: up ${fmt(upS, 2)} s (ready ${fmt(readyS, 2)} s), steady CPU ${fmt(cpuPct)} %, ` +
        `RSS ${fmt(rss, 0)} MiB, down ${fmt(downS, 2)} s, ${ready}/${nodes} Ready, ${trust} trust failures`,
    );
  } finally {
    if (pid) await rotate('lab', 'down', '--dir', dir).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
}
