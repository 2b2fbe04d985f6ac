// Micro-benchmark of the pure planner (src/plan): prints figures, asserts nothing (timings vary by machine).
// Run with `npm run bench` (builds dist/ first) or `node bench/run.mjs plan` after a build.
// CPU time is reported next to wall time: it is the fairer figure on a loaded machine.
import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { planRotation } from '../dist/plan/planner/index.js';
import { evaluateSequence } from '../dist/plan/safety/index.js';

const fp = (s) => createHash('sha256').update(s).digest('hex');
const [TO, TN, KO, KN] = [fp('t-old'), fp('t-new'), fp('k-old'), fp('k-new')];

function clusterOf(cps, workers, half = false) {
  const nodes = [];
  for (let i = 0; i < cps + workers; i++) {
    const done = half && i % 2 === 0; // a crash mid-accept: every other node already accepted NEW
    nodes.push({
      address: `10.${Math.floor(i / 250)}.${i % 250}.1`,
      nodeId: `n${i}`,
      hostname: `node-${i}`,
      role: i < cps ? 'controlplane' : 'worker',
      talosVersion: 'v1.13.9',
      configDigest: `d${i}`,
      talos: done ? { issuing: TO, accepted: [TN] } : { issuing: TO, accepted: [] },
      kubernetes: { style: 'legacy', ...(done ? { issuing: KO, accepted: [KN] } : { issuing: KO, accepted: [] }) },
      ready: true,
    });
  }
  return nodes;
}

function inputOf(nodes) {
  return {
    nodes,
    endpoints: [nodes[0].address],
    desired: { talos: { issuing: TN, accepted: [], names: {} }, kubernetes: { issuing: KN, accepted: [], names: {} } },
    operator: { talos: { clientSigner: TO, trusts: [TO] }, kubernetes: null },
    options: { allowDisruption: false, maxUnavailable: 2, parallelism: 8 },
  };
}

function measure(label, fn, runs = 30) {
  for (let i = 0; i < 20; i++) fn();
  const wall = [];
  const cpu = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  process.stdout.write(
    `figure: ${label}: wall median ${med(wall).toFixed(2)} ms (min ${Math.min(...wall).toFixed(2)}), ` +
      `cpu median ${med(cpu).toFixed(2)} ms\n`,
  );
}

process.stdout.write(
  `node ${process.version}, load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}\n`,
);
for (const [cps, workers] of [
  [3, 2],
  [3, 47],
  [5, 195],
  [7, 993],
]) {
  const steady = inputOf(clusterOf(cps, workers));
  const plan = planRotation(steady);
  process.stdout.write(
    `${cps + workers} nodes: ${plan.steps.length} ` +
      `steps, ${plan.steps.reduce((a, s) => a + s.proof.statesChecked, 0)} states ` +
      `over ${plan.steps.map((s) => s.proof.classes).join('/')} classes\n`,
  );
  measure(`planRotation full rotation ${cps} CP + ${workers} workers`, () => planRotation(steady));
  const half = inputOf(clusterOf(cps, workers, true));
  measure(`planRotation half-done ${cps} CP + ${workers} workers`, () => planRotation(half));
}

// talosctl's order as single-node groups, as a lab comparison replays it
const nodes = clusterOf(5, 195);
const groups = nodes.map((n) => [{ address: n.address, target: { talos: { issuing: TO, accepted: [TN] } } }]);
measure(
  'evaluateSequence 200 single-node groups',
  () => evaluateSequence({ nodes, endpoints: [nodes[0].address] }, groups),
  10,
);
