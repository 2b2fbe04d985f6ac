#!/usr/bin/env node
// `rotate apply` at scale, through the built CLI. For each lab size (3 control planes + workers; default 10,
// 50 and 200 nodes), on a FRESH lab each run (`rotate lab up --detach` with a fixed emulated apply latency and
// kubelet restart time): a full rotation of both CAs (new Talos and Kubernetes CAs issuing, the old ones
// dropped: 4 steps, every node in every step), planned with `rotate plan --out` and applied with
// `rotate apply PLAN --auto-approve --json`:
//   - "ours": the default batches (10% of the workers restart at once; see --max-unavailable below);
//   - "baseline": `--parallelism 1 --max-unavailable 1`, one node at a time;
//   - "talosctl": the real `talosctl rotate-ca` (both APIs, explicit node lists; the v1.14 line for document
//     labs, v1.13 for legacy ones, from scripts/build-talosctl.mjs), which rotates one node at a time and
//     generates its own CAs: wall time, its CPU, the lab's CPU and the same ledger.
// For each: plan wall time and peak RSS, apply wall time, peak RSS and CPU, the lab's CPU during the apply
// (the lab shares the cores), and the ledger from `rotate lab inspect --json` (Talos-edge trust failures,
// NotReady events, kubelet → apiserver rejections, pod → apiserver failures). Prints a table, writes JSON.
// Linux only (reads /proc; GNU time for peak RSS). Not a test: it prints figures, never asserts them.
//
// Flags: --sizes 10,50,200  --skip-baseline-above N (no baseline for labs larger than N nodes)
//        --skip-talosctl-above N (no talosctl run for labs larger than N nodes)
//        --apply-latency-ms 100  --kubelet-restart-ms 300  --style document|legacy
//        --heartbeat-ms 10000 (every size: each kubelet renews its Lease every 10 s, as real kubelets do at any
//        size; the lab's own default renews every 2 s below 40 nodes and only stretches it for bigger labs, so
//        without this flag each Kubernetes gate, which waits for one renewal, waited longer at 200 nodes than at
//        10; "lab" keeps the lab's default)
//        --variants ours,baseline,talosctl (which runs to make; default all three)
//        --max-unavailable V (ours; default "10%" when the CLI takes percentages, else ceil(10% of workers))
//        --parallelism N (ours; default: the CLI's, raised to the batch size while the CLI caps restart waves
//        by --parallelism)  --out FILE (default bench/results/apply-scale-<date>.json)
//        --events-dir DIR (keep each apply's JSON events there)  --cpu-prof-dir DIR (node --cpu-prof of apply)
//        --lab-cpu-prof-dir DIR (node --cpu-prof of the lab daemon, written at `lab down`)
//        --cli-node-flags "FLAGS" (extra node flags for apply, e.g. "--heapsnapshot-signal=SIGUSR2")
// Run heavy: `flock /work/wt/heavy.lock node bench/apply-scale.mjs` on shared machines.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeFullRotationDesired } from './lib/full-rotation.mjs';
import { lastStepHeader, rotateCaArgs, talosctlFor } from './lib/talosctl.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const rotateBin = join(repo, 'bin', 'rotate');
const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string', default: process.env.BENCH_SIZES ?? '10,50,200' },
    'skip-baseline-above': { type: 'string', default: process.env.BENCH_SKIP_BASELINE_ABOVE ?? '' },
    'skip-talosctl-above': { type: 'string', default: process.env.BENCH_SKIP_TALOSCTL_ABOVE ?? '' },
    variants: { type: 'string', default: 'ours,baseline,talosctl' },
    'apply-latency-ms': { type: 'string', default: '100' },
    'kubelet-restart-ms': { type: 'string', default: '300' },
    'heartbeat-ms': { type: 'string', default: '10000' },
    style: { type: 'string', default: 'document' },
    'max-unavailable': { type: 'string' },
    parallelism: { type: 'string' },
    out: { type: 'string' },
    'events-dir': { type: 'string' },
    'cpu-prof-dir': { type: 'string' },
    'lab-cpu-prof-dir': { type: 'string' },
    'timeout-s': { type: 'string', default: '3600' },
    'cli-node-flags': { type: 'string', default: '' },
  },
});
const sizes = flags.sizes.split(',').map(Number);
const variants = flags.variants.split(',').map((v) => v.trim());
for (const v of variants)
  if (!['ours', 'baseline', 'talosctl'].includes(v))
    throw new Error(`--variants: ${v} is not one of ours, baseline, talosctl`);
const skipAbove = (flag) => (flags[flag] === '' ? Infinity : Number(flags[flag]));
const skipBaselineAbove = skipAbove('skip-baseline-above');
const skipTalosctlAbove = skipAbove('skip-talosctl-above');
const CONTROL_PLANES = 3;
const TALOS_EDGES = ['operator-apid', 'apid-proxy', 'worker-trustd'];
const ticksPerS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const gnuTime = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
const timeoutMs = Number(flags['timeout-s']) * 1000;

const helpText = execFileSync(rotateBin, ['apply', '--help'], { encoding: 'utf8' });
/** Whether this CLI takes `--max-unavailable 10%` (the default batch of the scale issue). */
const cliTakesPercent = /max-unavailable[^\n]*%/.test(helpText) || /10%/.test(helpText);

const fmt = (n, d = 1) => (n === null || n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(d));
const stepParts = (s) => `nodes ${fmt(s.nodesS)}, gates ${fmt(s.gatesS)}`;

/** Runs bin/rotate (or another `bin`, e.g. talosctl) under GNU time (wall, CPU, peak RSS). */
function rotate(args, { keepStdout = false, node = [], timeFile = null, env = process.env, bin = rotateBin } = {}) {
  return new Promise((resolvePromise, reject) => {
    const base = node.length ? [process.execPath, [...node, bin, ...args]] : [bin, args];
    const [cmd, argv] =
      timeFile && gnuTime ? [gnuTime, ['-f', '%e %U %S %M', '-o', timeFile, base[0], ...base[1]]] : base;
    const child = spawn(cmd, argv, { stdio: ['ignore', keepStdout ? 'pipe' : 'ignore', 'pipe'], env });
    // RSS over time of the CLI process (under GNU time: its child), to say when the peak happens.
    const rssSamples = [];
    const t0 = performance.now();
    const sampler = setInterval(() => {
      try {
        const pid =
          timeFile && gnuTime
            ? Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ')[0])
            : child.pid;
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        if (m) rssSamples.push([Math.round(performance.now() - t0), Math.round(Number(m[1]) / 1024)]);
      } catch {
        // not started yet, or gone
      }
    }, 500);
    const out = [];
    const err = [];
    child.stdout?.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      clearInterval(sampler);
      let time = null;
      if (timeFile && gnuTime) {
        const m = /([\d.]+) ([\d.]+) ([\d.]+) (\d+)\s*$/.exec(readFileSync(timeFile, 'utf8'));
        if (m) time = { wallS: Number(m[1]), cpuS: Number(m[2]) + Number(m[3]), maxRssMiB: Number(m[4]) / 1024 };
      }
      const peak = rssSamples.reduce((a, b) => (b[1] > a[1] ? b : a), [0, 0]);
      resolvePromise({
        code: code ?? 1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        time,
        rss: { peakAtMs: peak[0], peakMiB: peak[1], samples: rssSamples.filter((_, i) => i % 4 === 0) },
      });
    });
  });
}

async function mustRotate(args, opts, expect = 0) {
  const r = await rotate(args, opts);
  if (r.code !== expect) throw new Error(`rotate ${args.join(' ')} exited ${r.code}:\n${r.stderr.slice(-4000)}`);
  return r;
}

function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime
}

/** A fresh lab of `nodes` nodes and the desired state of a full rotation (both APIs) beside it. */
async function freshLab(nodes) {
  const workers = nodes - CONTROL_PLANES;
  const root = mkdtempSync(join(tmpdir(), `bench-apply-${nodes}-`));
  const dir = join(root, 'lab');
  const t0 = performance.now();
  const lab = { root, dir, up: true, workers };
  // The lab daemon inherits NODE_OPTIONS: its profile is written when `lab down` stops it.
  // (--cpu-prof is not allowed in NODE_OPTIONS: a preloaded hook profiles the daemon through the inspector.)
  if (flags['lab-cpu-prof-dir']) mkdirSync(resolve(flags['lab-cpu-prof-dir']), { recursive: true });
  const labEnv = flags['lab-cpu-prof-dir']
    ? {
        ...process.env,
        BENCH_LAB_CPU_PROF_DIR: resolve(flags['lab-cpu-prof-dir']),
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${join(repo, 'bench', 'cpu-prof-hook.mjs')}`.trim(),
      }
    : process.env;
  await mustRotate(
    [
      'lab',
      'up',
      '--dir',
      dir,
      '--detach',
      '--control-planes',
      String(CONTROL_PLANES),
      '--workers',
      String(workers),
      '--kubernetes-ca-style',
      flags.style,
      '--apply-latency-ms',
      flags['apply-latency-ms'],
      '--kubelet-restart-ms',
      flags['kubelet-restart-ms'],
      ...(flags['heartbeat-ms'] === 'lab' ? [] : ['--heartbeat-ms', flags['heartbeat-ms']]),
    ],
    { env: labEnv },
  );
  lab.upS = (performance.now() - t0) / 1000;
  lab.file = JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8'));
  lab.desired = await writeFullRotationDesired(
    dir,
    async (args) => (await mustRotate(args, { keepStdout: true })).stdout,
  );
  return lab;
}

async function down(lab) {
  if (lab.up) await rotate(['lab', 'down', '--dir', lab.dir]).catch(() => undefined);
  rmSync(lab.root, { recursive: true, force: true });
}

/** The batch flags of a variant at a size. */
function variantArgs(variant, workers) {
  if (variant === 'baseline') return ['--parallelism', '1', '--max-unavailable', '1'];
  const batch = Math.max(1, Math.ceil(workers / 10));
  const maxUnavailable = flags['max-unavailable'] ?? (cliTakesPercent ? '10%' : String(batch));
  // Until the CLI sizes restart waves by --max-unavailable alone, --parallelism (default 10) caps them too.
  const parallelism = flags.parallelism ?? (cliTakesPercent ? null : String(Math.max(10, batch)));
  return ['--max-unavailable', maxUnavailable, ...(parallelism ? ['--parallelism', parallelism] : [])];
}

/** Ledger figures after the run (the lab is fresh, so every entry is this run's). */
async function ledger(lab) {
  const r = await mustRotate(['lab', 'inspect', '--dir', lab.dir, '--json'], { keepStdout: true });
  const report = JSON.parse(r.stdout);
  const issuing = (api) => new Set(report.nodes.flatMap((n) => [n[api].issuing, ...n[api].accepted].filter(Boolean)));
  return {
    talosEdgeFailures: TALOS_EDGES.reduce((s, e) => s + (report.trustFailures[e] ?? 0), 0),
    notReady: report.notReadyEvents,
    kubeletRejections: report.trustFailures['kubelet-apiserver'] ?? 0,
    podFailures: report.trustFailures['pod-apiserver'] ?? 0,
    readyNodes: report.nodes.filter((n) => n.ready).length,
    oneCaPerApi: issuing('talos').size === 1 && issuing('kubernetes').size === 1,
  };
}

/** Per-phase sums from the apply's JSON events (where the wall time went). */
function eventSummary(lines) {
  const events = lines
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
  const at = (e) => Date.parse(e['@timestamp']);
  const steps = [];
  let current = null;
  for (const e of events) {
    if (e.type === 'step-start') current = { id: e.stepId, start: at(e), waves: 0, gateStart: null, end: null };
    if (e.type === 'wave-start' && current) current.waves += 1;
    if (e.type === 'gate-start' && current && current.gateStart === null) current.gateStart = at(e);
    if (e.type === 'step-complete' && current) {
      current.end = at(e);
      steps.push({
        id: current.id,
        waves: current.waves,
        nodesS: ((current.gateStart ?? current.end) - current.start) / 1000,
        gatesS: current.gateStart ? (current.end - current.gateStart) / 1000 : 0,
        totalS: (current.end - current.start) / 1000,
      });
      current = null;
    }
  }
  const first = events.find((e) => e['@timestamp']);
  const runStart = events.find((e) => e.type === 'run-start');
  const done = events.find((e) => e.type === 'run-complete');
  return {
    events: events.length,
    beforeRunS: first && runStart ? (at(runStart) - at(first)) / 1000 : null,
    runS: runStart && done ? (at(done) - at(runStart)) / 1000 : null,
    steps,
  };
}

async function oneRun(nodes, variant) {
  const lab = await freshLab(nodes);
  try {
    const args = variantArgs(variant, lab.workers);
    const planFile = join(lab.root, 'plan.json');
    const state = join(lab.root, 'state.json');
    const plan = await mustRotate(
      ['plan', '-f', lab.desired, '--out', planFile, ...args],
      { timeFile: join(lab.root, 'plan.time') },
      0,
    );
    const planDoc = JSON.parse(readFileSync(planFile, 'utf8'));
    const waves = planDoc.plan.steps.map((s) =>
      s.waves.map((w) => `${w.role[0]}${w.nodes.length}/${w.maxConcurrent}`).join(' '),
    );
    const pid = lab.file.pid;
    const c0 = cpuTicks(pid);
    const nodeFlags = flags['cli-node-flags'].split(' ').filter(Boolean);
    if (flags['cpu-prof-dir']) {
      mkdirSync(resolve(flags['cpu-prof-dir']), { recursive: true });
      nodeFlags.push(
        '--cpu-prof',
        '--cpu-prof-dir',
        resolve(flags['cpu-prof-dir']),
        '--cpu-prof-name',
        `apply-${nodes}-${variant}.cpuprofile`,
      );
    }
    const apply = await rotate(['apply', planFile, '--auto-approve', '--json', '--state', state], {
      keepStdout: true,
      timeFile: join(lab.root, 'apply.time'),
      node: nodeFlags,
    });
    const labCpuS = (cpuTicks(pid) - c0) / ticksPerS;
    if (flags['events-dir']) {
      mkdirSync(resolve(flags['events-dir']), { recursive: true });
      writeFileSync(join(resolve(flags['events-dir']), `apply-${nodes}-${variant}.jsonl`), apply.stdout);
    }
    let stateBytes = null;
    try {
      stateBytes = readFileSync(state).length;
    } catch {
      // none
    }
    const l = await ledger(lab);
    const ok = apply.code === 0 && l.oneCaPerApi;
    return {
      nodes,
      variant,
      args,
      ok,
      failure: ok
        ? null
        : `exit ${apply.code}: ` +
          (apply.stderr.trim().split('\n').slice(-3).join(' | ') ||
            apply.stdout.trim().split('\n').slice(-2).join(' | ')),
      labUpS: lab.upS,
      plan: {
        wallS: plan.time?.wallS ?? null,
        cpuS: plan.time?.cpuS ?? null,
        maxRssMiB: plan.time?.maxRssMiB ?? null,
        waves,
      },
      apply: {
        wallS: apply.time?.wallS ?? null,
        cpuS: apply.time?.cpuS ?? null,
        maxRssMiB: apply.time?.maxRssMiB ?? null,
        labCpuS,
        stateBytes,
        rss: apply.rss,
      },
      events: eventSummary(apply.stdout),
      ledger: l,
    };
  } finally {
    await down(lab);
  }
}

/**
 * `talosctl rotate-ca` of both APIs on a fresh lab of the same size and timings: one node at a time, as
 * talosctl does; it makes its own new CAs, so the ledger's one-CA-per-API check is what says it finished.
 */
async function talosctlRun(nodes) {
  const bin = talosctlFor(flags.style);
  const lab = await freshLab(nodes);
  try {
    const args = rotateCaArgs({
      talosconfig: join(lab.dir, 'talosconfig'),
      nodes: lab.file.nodes,
      apis: ['talos', 'kubernetes'],
      out: join(lab.root, 'talosconfig.new'),
    });
    const c0 = cpuTicks(lab.file.pid);
    const r = await rotate(args, { bin: bin.path, keepStdout: true, timeFile: join(lab.root, 'talosctl.time') });
    const labCpuS = (cpuTicks(lab.file.pid) - c0) / ticksPerS;
    const l = await ledger(lab);
    const ok = r.code === 0 && l.oneCaPerApi;
    return {
      nodes,
      variant: 'talosctl',
      args: [`talosctl ${bin.tag} rotate-ca --talos=true --kubernetes=true`],
      ok,
      failure: ok
        ? null
        : // Never talosctl's output itself: it holds the new CA private key (lastStepHeader).
          `exit ${r.code}${l.oneCaPerApi ? '' : ', more than one CA left for an API'}; ` +
          `last step: ${lastStepHeader(r.stdout)}`,
      labUpS: lab.upS,
      plan: null,
      apply: {
        wallS: r.time?.wallS ?? null,
        cpuS: r.time?.cpuS ?? null,
        maxRssMiB: r.time?.maxRssMiB ?? null,
        labCpuS,
        stateBytes: null,
        rss: r.rss,
      },
      events: null,
      ledger: l,
    };
  } finally {
    await down(lab);
  }
}

const startedAt = new Date();
const machine = {
  cpus: cpus().length,
  model: cpus()[0]?.model ?? 'unknown',
  node: process.version,
  loadAtStart: loadavg().map((x) => Number(x.toFixed(2))),
};
const heartbeat = flags['heartbeat-ms'] === 'lab' ? "the lab's default" : `${flags['heartbeat-ms']} ms`;
process.stdout.write(
  `apply-scale: sizes ${sizes.join(', ')} (3 control planes + workers), ${flags.style} labs, ` +
    `apply latency ${flags['apply-latency-ms']} ms, kubelet restart ${flags['kubelet-restart-ms']} ` +
    `ms, heartbeat ${heartbeat}; ${machine.cpus} CPUs, load ${machine.loadAtStart.join(' ')}; ` +
    `CLI takes --max-unavailable N%: ${cliTakesPercent}\n`,
);
const results = [];
let failures = 0;
for (const nodes of sizes) {
  for (const variant of variants) {
    if (variant === 'baseline' && nodes > skipBaselineAbove) continue;
    if (variant === 'talosctl' && nodes > skipTalosctlAbove) continue;
    let r;
    try {
      r = variant === 'talosctl' ? await talosctlRun(nodes) : await oneRun(nodes, variant);
    } catch (err) {
      r = { nodes, variant, ok: false, failure: String(err?.message ?? err).slice(0, 2000) };
    }
    if (!r.ok) failures += 1;
    results.push(r);
    if (r.apply) {
      process.stdout.write(
        `figure: ${nodes} nodes, ${variant} (${r.args.join(' ')}): ${r.ok ? 'ok' : `FAILED (${r.failure})`}; ` +
          (r.plan ? `plan ${fmt(r.plan.wallS)} s, ${fmt(r.plan.maxRssMiB, 0)} MiB; ` : '') +
          `${r.plan ? 'apply' : 'run'} ${fmt(r.apply.wallS)} s (CLI CPU ${fmt(r.apply.cpuS)} s, ` +
          `lab CPU ${fmt(r.apply.labCpuS)} s), ${fmt(r.apply.maxRssMiB, 0)} MiB; ` +
          `Talos-edge ${r.ledger.talosEdgeFailures}, NotReady ${r.ledger.notReady}, ` +
          `kubelet rejections ${r.ledger.kubeletRejections}, pod failures ${r.ledger.podFailures}\n`,
      );
      if (!r.plan) continue;
      process.stdout.write(`  waves: ${r.plan.waves.map((w, i) => `step ${i + 1}: ${w}`).join('; ')}\n`);
      process.stdout.write(
        `  apply RSS peak (sampled) ${r.apply.rss.peakMiB} MiB at ${fmt(r.apply.rss.peakAtMs / 1000)} s; ` +
          `run started at ${fmt(r.events.beforeRunS)} s\n`,
      );
      process.stdout.write(
        `  steps: ${r.events.steps.map((s) => `${s.id} ${fmt(s.totalS)} s (${stepParts(s)})`).join('; ')}\n`,
      );
    } else {
      process.stdout.write(`figure: ${nodes} nodes, ${variant}: FAILED (${r.failure})\n`);
    }
  }
}

// The table and the ratios.
const find = (n, v) => results.find((r) => r.nodes === n && r.variant === v && r.apply);
const rows = [
  [
    'Nodes',
    'Run',
    'Plan s',
    'Plan MiB',
    'Apply s',
    'Apply MiB',
    'CLI CPU s',
    'Lab CPU s',
    'Talos-edge',
    'NotReady',
    'Kubelet rej.',
    'Pod fail.',
    'OK',
  ],
];
for (const r of results) {
  if (!r.apply) {
    rows.push([String(r.nodes), r.variant, '', '', '', '', '', '', '', '', '', '', 'FAILED']);
    continue;
  }
  rows.push([
    String(r.nodes),
    r.variant,
    fmt(r.plan?.wallS),
    fmt(r.plan?.maxRssMiB, 0),
    fmt(r.apply.wallS),
    fmt(r.apply.maxRssMiB, 0),
    fmt(r.apply.cpuS),
    fmt(r.apply.labCpuS),
    String(r.ledger.talosEdgeFailures),
    String(r.ledger.notReady),
    String(r.ledger.kubeletRejections),
    String(r.ledger.podFailures),
    r.ok ? 'yes' : 'NO',
  ]);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
process.stdout.write(`\n${rows.map((row) => row.map((c, i) => c.padStart(widths[i])).join('  ')).join('\n')}\n`);
const ratios = {};
const small = find(Math.min(...sizes), 'ours');
const large = find(Math.max(...sizes), 'ours');
if (small && large && small !== large)
  ratios[`apply ${large.nodes} vs ${small.nodes}`] = large.apply.wallS / small.apply.wallS;
for (const n of sizes) {
  const b = find(n, 'baseline');
  const o = find(n, 'ours');
  if (b && o) ratios[`baseline vs ours at ${n}`] = b.apply.wallS / o.apply.wallS;
  const tc = find(n, 'talosctl');
  if (tc && o && tc.ok) ratios[`talosctl vs ours at ${n}`] = tc.apply.wallS / o.apply.wallS;
}
for (const [k, v] of Object.entries(ratios)) process.stdout.write(`figure: ${k}: ${fmt(v, 2)}×\n`);

const out = resolve(
  flags.out ?? join(repo, 'bench', 'results', `apply-scale-${startedAt.toISOString().slice(0, 10)}.json`),
);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify(
    {
      bench: 'apply-scale',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine: { ...machine, loadAtEnd: loadavg().map((x) => Number(x.toFixed(2))) },
      lab: {
        controlPlanes: CONTROL_PLANES,
        style: flags.style,
        applyLatencyMs: Number(flags['apply-latency-ms']),
        kubeletRestartMs: Number(flags['kubelet-restart-ms']),
        heartbeatMs: flags['heartbeat-ms'] === 'lab' ? 'lab default' : Number(flags['heartbeat-ms']),
      },
      cliTakesPercent,
      results,
      ratios,
    },
    null,
    2,
  )}\n`,
);
process.stdout.write(`results: ${out}\n`);
process.exitCode = failures ? 1 : 0;
