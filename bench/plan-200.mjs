#!/usr/bin/env node
// `rotate plan` at scale, through the built CLI: a 200-node lab (3 control planes + 197 workers, detached),
// new Talos and Kubernetes CAs from `rotate ca new`, then the wall time of `rotate plan` of a full rotation
// (both APIs: accept → issue → drop, every node in every step) with `--parallelism 1` and the default (10),
// each with and without `--no-node-dry-run`; BENCH_RUNS runs each (default 3), median reported. Also the
// CPU time the lab process spent serving each plan (reads, and the node-side dry runs of every config).
// The lab is brought down at the end, also on failure. Linux only (reads /proc). Not a test: it prints
// figures. Environment: BENCH_RUNS, BENCH_SIZE (default 3+197), BENCH_STYLE (legacy|document, default document).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const rotateBin = join(repo, 'bin', 'rotate');
const runs = Number(process.env.BENCH_RUNS ?? 3);
const [cps, workers] = (process.env.BENCH_SIZE ?? '3+197').split('+').map(Number);
const style = process.env.BENCH_STYLE ?? 'document';
const nodes = cps + workers;
const ticksPerS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

// GNU time, when present, measures the CLI's own CPU time (user + system) into a file.
const gnuTime = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

/**
 * Runs bin/rotate; resolves with the exit code, output (stdout dropped unless `keepStdout`) and the CLI's
 * CPU seconds (null without GNU time).
 */
function rotate(args, { keepStdout = false, cpuFile = null } = {}) {
  return new Promise((resolve, reject) => {
    const [cmd, argv] = cpuFile && gnuTime ? [gnuTime, ['-f', '%U %S', '-o', cpuFile, rotateBin, ...args]] : [rotateBin, args];
    const child = spawn(cmd, argv, { stdio: ['ignore', keepStdout ? 'pipe' : 'ignore', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout?.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGTERM'), 900_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      let cpuS = null;
      if (cpuFile && gnuTime) {
        const m = /([\d.]+) ([\d.]+)\s*$/.exec(readFileSync(cpuFile, 'utf8'));
        cpuS = m ? Number(m[1]) + Number(m[2]) : null;
      }
      resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), cpuS });
    });
  });
}

async function mustRotate(args, expect = 0, opts) {
  const r = await rotate(args, opts);
  if (r.code !== expect) throw new Error(`rotate ${args.join(' ')} exited ${r.code} (expected ${expect}):\n${r.stderr.slice(0, 4000)}`);
  return r;
}

function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n, d = 2) => n.toFixed(d);

/** One timed `rotate plan`: wall seconds, the CLI's CPU seconds, and the lab's CPU seconds meanwhile. */
async function timedPlan(pid, args, expect) {
  const c0 = cpuTicks(pid);
  const t0 = performance.now();
  const r = await mustRotate(args, expect, { cpuFile: join(root, 'cpu.txt') });
  return { wallS: (performance.now() - t0) / 1000, cliCpuS: r.cpuS, labCpuS: (cpuTicks(pid) - c0) / ticksPerS, result: r };
}
const cpu = (s) => (s === null ? 'n/a' : fmt(s));

const root = mkdtempSync(join(tmpdir(), `bench-plan-${nodes}-`));
const dir = join(root, 'lab');
let up = false;
try {
  process.stdout.write(`node ${process.version}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}, ${runs} run(s) per variant\n`);
  const u0 = performance.now();
  up = true; // bring it down even if `lab up` fails half-way
  await mustRotate(['lab', 'up', '--dir', dir, '--control-planes', String(cps), '--workers', String(workers), '--kubernetes-ca-style', style, '--detach']);
  const lab = JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8'));
  process.stdout.write(`${nodes}-node lab (${cps}+${workers}, ${style}) up in ${fmt((performance.now() - u0) / 1000, 1)} s, pid ${lab.pid}\n`);

  // The desired state of a full rotation: the lab's rotate.yaml with new CAs issuing, nothing else accepted.
  const cas = {};
  for (const [api, name] of [['talos', 'talos-next'], ['kubernetes', 'kubernetes-next']]) {
    const r = await mustRotate(['ca', 'new', '--api', api, '--name', name, '--dir', join(dir, 'pki'), '--json'], 0, { keepStdout: true });
    const made = JSON.parse(r.stdout);
    cas[api] = { name, certificate: relative(dir, made.certificate), key: relative(dir, made.key) };
  }
  const doc = parseDocument(readFileSync(join(dir, 'rotate.yaml'), 'utf8'));
  for (const api of ['talos', 'kubernetes']) {
    doc.setIn([api, 'issuing'], cas[api].name);
    doc.setIn(['authorities', cas[api].name], doc.createNode({ certificate: cas[api].certificate, key: { file: cas[api].key } }));
  }
  for (const old of ['talos-lab', 'kubernetes-lab']) doc.deleteIn(['authorities', old, 'key']);
  const full = join(dir, 'full.yaml');
  writeFileSync(full, doc.toString({ lineWidth: 0 }));

  // Sanity and warm-up: no change for the lab's own file; the full rotation's shape.
  const none = await timedPlan(lab.pid, ['plan', '-f', join(dir, 'rotate.yaml'), '--detailed-exitcode'], 0);
  process.stdout.write(`figure: ${nodes} nodes: rotate plan without changes ${fmt(none.wallS)} s (CLI CPU ${cpu(none.cliCpuS)} s, lab CPU ${fmt(none.labCpuS)} s)\n`);
  const shape = await mustRotate(['plan', '-f', full, '--json', '--no-node-dry-run'], 0, { keepStdout: true });
  const plan = JSON.parse(shape.stdout).plan;
  process.stdout.write(
    `full rotation: ${plan.steps.map((s) => `${s.id} (${s.waves.map((w) => `${w.role} ${w.nodes.length}`).join(' → ')}, ${s.proof.statesChecked} states / ${s.proof.classes} classes)`).join('; ')}; verdict ${plan.verdict}; plan JSON ${fmt(shape.stdout.length / 1e6, 1)} MB\n`,
  );

  const variants = [
    { label: 'parallelism 1, node dry runs', args: ['--parallelism', '1'] },
    { label: 'parallelism 10 (default), node dry runs', args: [] },
    { label: 'parallelism 1, --no-node-dry-run', args: ['--parallelism', '1', '--no-node-dry-run'] },
    { label: 'parallelism 10 (default), --no-node-dry-run', args: ['--no-node-dry-run'] },
  ];
  for (const v of variants) {
    const walls = [];
    const cliCpus = [];
    const labCpus = [];
    for (let i = 0; i < runs; i++) {
      const r = await timedPlan(lab.pid, ['plan', '-f', full, '--detailed-exitcode', ...v.args], 2);
      walls.push(r.wallS);
      if (r.cliCpuS !== null) cliCpus.push(r.cliCpuS);
      labCpus.push(r.labCpuS);
    }
    process.stdout.write(`${v.label}: wall ${walls.map((w) => fmt(w)).join(' / ')} s; CLI CPU ${cliCpus.map((c) => fmt(c)).join(' / ') || 'n/a'} s; lab CPU ${labCpus.map((c) => fmt(c)).join(' / ')} s\n`);
    process.stdout.write(
      `figure: ${nodes} nodes: rotate plan full rotation, ${v.label}: median ${fmt(median(walls))} s (min ${fmt(Math.min(...walls))}, n=${runs}), CLI CPU ${cliCpus.length ? fmt(median(cliCpus)) : 'n/a'} s, lab CPU ${fmt(median(labCpus))} s\n`,
    );
  }
} finally {
  if (up) {
    const down = await rotate(['lab', 'down', '--dir', dir]).catch((e) => ({ code: 1, stderr: String(e) }));
    if (down.code !== 0) process.stderr.write(`lab down failed: ${down.stderr}\n`);
  }
  rmSync(root, { recursive: true, force: true });
}
