#!/usr/bin/env node
// The state journal of one `rotate apply` of a 200-node full rotation, in-process: the plan is made by
// `rotate plan --out` against a 200-node lab (3 control planes + 197 workers, document layout; the lab is
// brought down right after), then a file state store records one run of it as the engine does (a step
// started, each node started then done, in waves of 19, gates passed, the run finished), node events one after
// the other (no group commit: the slowest case), into a state already holding BENCH_PRIOR finished runs of the
// same plan (default "0,2"). For each: the CPU of the process while the run is recorded (every thread:
// serialization, the writes and their fsyncs), wall time, writes and the state's size. Runs dist/ (`npm run
// build` first). Not a test: it prints figures.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeFullRotationDesired } from './lib/full-rotation.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const rotateBin = join(repo, 'bin', 'rotate');
const priors = (process.env.BENCH_PRIOR ?? '0,2').split(',').map(Number);
const { openFileStateStore } = await import(pathToFileURL(join(repo, 'dist', 'state', 'index.js')).href);
const { stripDiffs } = await import(pathToFileURL(join(repo, 'dist', 'apply', 'run-common.js')).href);

const rotate = (args) => execFileSync(rotateBin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const root = mkdtempSync(join(tmpdir(), 'bench-journal-'));
const labDir = join(root, 'lab');
let plan;
process.stdout.write(
  `${new Date().toISOString()}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, ` +
    `load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}\n`,
);
try {
  rotate(['lab', 'up', '--dir', labDir, '--control-planes', '3', '--workers', '197', '--detach']);
  const full = await writeFullRotationDesired(labDir, async (args) => rotate(args));
  const saved = join(root, 'plan.json');
  rotate(['plan', '-f', full, '--no-node-dry-run', '--out', saved]);
  // Recorded as `rotate apply` records it: without the per-node config diffs.
  plan = stripDiffs(JSON.parse(readFileSync(saved, 'utf8')).plan);
} finally {
  try {
    rotate(['lab', 'down', '--dir', labDir]);
  } catch (err) {
    process.stderr.write(`lab down failed: ${String(err)}\n`);
  }
}

// What the engine records of each node: fingerprints before and after (64 hex digits each).
const fp = (c) => ({
  talos: { issuing: c.repeat(64), accepted: ['b'.repeat(64)] },
  kubernetes: { issuing: c.repeat(64), accepted: ['d'.repeat(64)] },
});
const before = plan.basedOn.nodes.map((n) => ({
  address: n.address,
  nodeId: n.nodeId,
  role: n.role,
  talos: { issuing: 'a'.repeat(64), accepted: [] },
  kubernetes: { issuing: 'c'.repeat(64), accepted: [], style: 'document' },
  configDigest: n.configDigest,
}));

/** One run of the plan; `together`: each wave's events at once (group commit), to fill a state quickly. */
async function recordRun(store, together) {
  const run = await store.startRun({ operation: 'apply', plan: structuredClone(plan), before });
  for (const step of plan.steps) {
    await store.markStepStarted(run.id, step.id);
    for (let i = 0; i < step.nodes.length; i += 19) {
      const wave = step.nodes.slice(i, i + 19);
      if (together) {
        await Promise.all(wave.map((n) => store.markNodeStarted(run.id, step.id, n.address, fp('a'))));
        await Promise.all(wave.map((n) => store.markNodeDone(run.id, step.id, n.address, fp('e'))));
        continue;
      }
      for (const n of wave) await store.markNodeStarted(run.id, step.id, n.address, fp('a'));
      for (const n of wave) await store.markNodeDone(run.id, step.id, n.address, fp('e'));
    }
    if (step.gate.talos || step.gate.kubernetes) await store.markGatePassed(run.id, step.id, {});
    await store.markStepDone(run.id, step.id);
  }
  await store.finishRun(run.id, 'complete');
}

try {
  for (const prior of priors) {
    const file = join(root, `journal-${prior}`, 'rotate.state.json');
    const store = openFileStateStore(file);
    for (let k = 0; k < prior; k++) await recordRun(store, true);
    const serial0 = (await store.read())?.serial ?? 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await recordRun(store, false);
    const cpu = process.cpuUsage(cpu0);
    const wallS = (performance.now() - t0) / 1000;
    const writes = (await store.read()).serial - serial0;
    const mb = statSync(file).size / 1e6;
    process.stdout.write(
      `figure: ${plan.basedOn.nodes.length} nodes: journal of one full-rotation apply with ${prior} finished ` +
        `run(s) in the state: CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s, wall ${wallS.toFixed(2)} s, ` +
        `${writes} writes, state ${mb.toFixed(1)} MB\n`,
    );
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
