#!/usr/bin/env node
// `rotate plan` at scale, through the built CLI: a 200-node lab (3 control planes + 197 workers, detached),
// new Talos and Kubernetes CAs from `rotate ca new`, then `rotate plan` with nothing to change and of a full
// rotation (both APIs: accept → issue → drop, every node in every step) with `--parallelism 1` and the
// default (10, or 10% of the nodes when that is more), each with and without `--no-node-dry-run`; BENCH_RUNS
// runs each (default 3), median reported.
// For each: wall time, the CLI's own CPU (user + system of the rotate process), the CPU the lab process spent
// meanwhile (reads, and the node-side dry runs of every config) and the CLI's peak RSS. The lab is brought
// down at the end, also on failure. Linux only (reads /proc). Not a test: it prints figures. Environment:
// BENCH_RUNS, BENCH_SIZE (default 3+197), BENCH_STYLE (legacy|document, default document).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeFullRotationDesired } from './lib/full-rotation.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const rotateBin = join(repo, 'bin', 'rotate');
// The CLI's own default, from the build the bench drives (`npm run bench` builds first).
const { defaultParallelism: cliDefaultParallelism } = await import(
  pathToFileURL(join(repo, 'dist', 'domain', 'parallelism.js')).href
);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const [cps, workers] = (process.env.BENCH_SIZE ?? '3+197').split('+').map(Number);
const style = process.env.BENCH_STYLE ?? 'document';
const nodes = cps + workers;
const ticksPerS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

// GNU time, when present, measures the CLI's own CPU time (user + system) and peak RSS into a file.
const gnuTime = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

/** Peak RSS (MiB) of a running process so far (VmHWM), or null once it is gone. */
function peakRssMiB(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Runs bin/rotate; resolves with the exit code, output (stdout dropped unless `keepStdout`), the CLI's CPU
 * seconds and peak RSS in MiB (from GNU time; without it, CPU is null and RSS is sampled from /proc).
 */
function rotate(args, { keepStdout = false, cpuFile = null } = {}) {
  return new Promise((resolve, reject) => {
    const [cmd, argv] =
      cpuFile && gnuTime ? [gnuTime, ['-f', '%U %S %M', '-o', cpuFile, rotateBin, ...args]] : [rotateBin, args];
    const child = spawn(cmd, argv, { stdio: ['ignore', keepStdout ? 'pipe' : 'ignore', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout?.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    let sampledRss = null;
    const sampler =
      cpuFile && !gnuTime ? setInterval(() => (sampledRss = peakRssMiB(child.pid) ?? sampledRss), 50) : null;
    const timer = setTimeout(() => child.kill('SIGTERM'), 900_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (sampler) clearInterval(sampler);
      let cpuS = null;
      let rssMiB = sampledRss;
      if (cpuFile && gnuTime) {
        const m = /([\d.]+) ([\d.]+) (\d+)\s*$/.exec(readFileSync(cpuFile, 'utf8'));
        cpuS = m ? Number(m[1]) + Number(m[2]) : null;
        rssMiB = m ? Number(m[3]) / 1024 : null;
      }
      resolve({
        code: code ?? 1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        cpuS,
        rssMiB,
      });
    });
  });
}

async function mustRotate(args, expect = 0, opts) {
  const r = await rotate(args, opts);
  if (r.code !== expect)
    throw new Error(`rotate ${args.join(' ')} exited ${r.code} (expected ${expect}):\n${r.stderr.slice(0, 4000)}`);
  return r;
}

function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n, d = 2) => n.toFixed(d);

/** One timed `rotate plan`: wall seconds, the CLI's CPU seconds and peak RSS, and the lab's CPU seconds meanwhile. */
async function timedPlan(pid, args, expect) {
  const c0 = cpuTicks(pid);
  const t0 = performance.now();
  const r = await mustRotate(args, expect, { cpuFile: join(root, 'cpu.txt') });
  return {
    wallS: (performance.now() - t0) / 1000,
    cliCpuS: r.cpuS,
    labCpuS: (cpuTicks(pid) - c0) / ticksPerS,
    rssMiB: r.rssMiB,
    result: r,
  };
}
const cpu = (s) => (s === null ? 'n/a' : fmt(s));
const waveList = (s) => s.waves.map((w) => `${w.role} ${w.nodes.length}`).join(' → ');
const stepLine = (s) => `${s.id} (${waveList(s)}, ${s.proof.statesChecked} states / ${s.proof.classes} classes)`;

/** BENCH_RUNS timed plans of one variant: each run's figures, then the medians as a `figure:` line. */
async function variant(pid, label, args, expect) {
  const runsOf = [];
  for (let i = 0; i < runs; i++) runsOf.push(await timedPlan(pid, args, expect));
  const list = (key, d = 2) => runsOf.map((r) => (r[key] === null ? 'n/a' : fmt(r[key], d))).join(' / ');
  const med = (key) => {
    const xs = runsOf.map((r) => r[key]).filter((x) => x !== null);
    return xs.length ? median(xs) : null;
  };
  process.stdout.write(
    `${label}: wall ${list('wallS')} s; CLI CPU ${list('cliCpuS')} s; lab CPU ${list('labCpuS')} s; ` +
      `CLI peak RSS ${list('rssMiB', 0)} MiB\n`,
  );
  process.stdout.write(
    `figure: ${nodes} nodes: rotate plan ${label}: median wall ${fmt(med('wallS'))} s ` +
      `(min ${fmt(Math.min(...runsOf.map((r) => r.wallS)))}, n=${runs}), CLI CPU ${cpu(med('cliCpuS'))} s, ` +
      `lab CPU ${fmt(med('labCpuS'))} s, CLI peak RSS ${med('rssMiB') === null ? 'n/a' : fmt(med('rssMiB'), 0)} ` +
      `MiB\n`,
  );
}

const root = mkdtempSync(join(tmpdir(), `bench-plan-${nodes}-`));
const dir = join(root, 'lab');
let up = false;
try {
  process.stdout.write(
    `${new Date().toISOString()}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, ` +
      `load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}, ${runs} run(s) per variant\n`,
  );
  const u0 = performance.now();
  up = true; // bring it down even if `lab up` fails half-way
  await mustRotate([
    'lab',
    'up',
    '--dir',
    dir,
    '--control-planes',
    String(cps),
    '--workers',
    String(workers),
    '--kubernetes-ca-style',
    style,
    '--detach',
  ]);
  const lab = JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8'));
  process.stdout.write(
    `${nodes}-node lab (${cps}+${workers}, ${style}) up in ${fmt((performance.now() - u0) / 1000, 1)} s, ` +
      `pid ${lab.pid}\n`,
  );

  // The desired state of a full rotation: the lab's rotate.yaml with new CAs issuing, nothing else accepted.
  const full = await writeFullRotationDesired(
    dir,
    async (args) => (await mustRotate(args, 0, { keepStdout: true })).stdout,
  );

  // Warm-up (page cache, the lab's first reads), then the full rotation's shape.
  await timedPlan(lab.pid, ['plan', '-f', join(dir, 'rotate.yaml'), '--detailed-exitcode'], 0);
  const shape = await mustRotate(['plan', '-f', full, '--json', '--no-node-dry-run'], 0, { keepStdout: true });
  const plan = JSON.parse(shape.stdout).plan;
  process.stdout.write(
    `full rotation: ${plan.steps.map(stepLine).join('; ')}; verdict ${plan.verdict}; ` +
      `plan JSON ${fmt(shape.stdout.length / 1e6, 1)} MB\n`,
  );

  await variant(lab.pid, 'without changes', ['plan', '-f', join(dir, 'rotate.yaml'), '--detailed-exitcode'], 0);
  const defaultParallelism = `default parallelism (${cliDefaultParallelism(nodes)} at ${nodes} nodes)`;
  const variants = [
    { label: `full rotation, ${defaultParallelism}, node dry runs`, args: [] },
    { label: `full rotation, ${defaultParallelism}, --no-node-dry-run`, args: ['--no-node-dry-run'] },
    { label: 'full rotation, parallelism 1, node dry runs', args: ['--parallelism', '1'] },
    { label: 'full rotation, parallelism 1, --no-node-dry-run', args: ['--parallelism', '1', '--no-node-dry-run'] },
  ];
  for (const v of variants) await variant(lab.pid, v.label, ['plan', '-f', full, '--detailed-exitcode', ...v.args], 2);
} finally {
  if (up) {
    const down = await rotate(['lab', 'down', '--dir', dir]).catch((e) => ({ code: 1, stderr: String(e) }));
    if (down.code !== 0) process.stderr.write(`lab down failed: ${down.stderr}\n`);
  }
  rmSync(root, { recursive: true, force: true });
}
