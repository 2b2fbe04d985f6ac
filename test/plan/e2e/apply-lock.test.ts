/**
 * One ApplyConfiguration at a time per node (Talos's apply lock, dry runs included), through the built CLI:
 * - a full-rotation `rotate plan` (node dry runs on) on a 3 + 2 lab of each Kubernetes CA style and on the
 *   1 + 1 legacy lab below, three times in a row: every one exits 2, and the lab saw every node's dry runs one
 *   at a time (as many calls as the plan has steps for the node, never two at once, none refused). A 1 + 1
 *   document lab of its own would only repeat that: its shape is the 1 + 1 legacy lab's, its style the 3 + 2
 *   document lab's (the dry runs are serialised per node whatever the config holds);
 * - a foreign operator holding a node's apply lock (`rotate lab fault --hold-apply-lock-ms`): plan and apply
 *   wait for it and succeed once it is released within `--apply-lock-wait`, and fail naming the node when
 *   it is held longer.
 *
 * The reproduction: a lab, two new CAs from `rotate ca new`, a desired state rotating both, the
 * lab's CAs keeping their keys from a copy of secrets.yaml.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';

import type { InspectReport } from '../../../src/lab/process/contracts.js';
import { labInspect } from '../../../src/lab/process/control-client.js';
import type { SavedPlan } from '../../../src/session/saved-plan.js';
import {
  assertCleanError,
  expectExit,
  fullRotation,
  inspectLab,
  nextCas,
  requireBuild,
  rotate,
  startLab,
  writeDesired,
  type NextCas,
  type PlanLab,
  type Style,
  type TapTest as Tap,
} from './fixtures/plan-lab.js';

requireBuild(t);

/** The full rotation, with the lab's CAs keeping their keys, read from a copy of secrets.yaml. */
async function fullRotationFile(lab: PlanLab): Promise<{ file: string; cas: NextCas }> {
  const cas = await nextCas(lab);
  await fs.copyFile(path.join(lab.dir, 'secrets.yaml'), path.join(lab.dir, 'secrets-orig.yaml'));
  const file = await writeDesired(lab, 'full', { ...fullRotation(cas), dropKeys: [] });
  const text = await fs.readFile(file, 'utf8');
  const keys = text.match(/key: \{ secretsBundle: \.\/secrets\.yaml, entry: (os|k8s) \}/g) ?? [];
  if (keys.length !== 2) throw new Error(`${file}: expected the two lab CA keys read from ./secrets.yaml, found ${keys.length}`);
  await fs.writeFile(file, text.replace(/key: \{ secretsBundle: \.\/secrets\.yaml,/g, 'key: { secretsBundle: ./secrets-orig.yaml,'));
  return { file, cas };
}

type NodeApplies = InspectReport['nodes'][number]['applyConfiguration'];

function appliesOf(report: InspectReport): Map<string, NodeApplies> {
  return new Map(report.nodes.map((n) => [n.address, n.applyConfiguration]));
}

/** Polls the lab's control API until `check` holds. */
async function until(lab: PlanLab, check: (report: InspectReport) => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (check(await labInspect(lab.file))) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function fault(lab: PlanLab, node: string, holdMs: number): Promise<void> {
  const r = await rotate('lab', 'fault', '--dir', lab.dir, '--node', node, '--hold-apply-lock-ms', String(holdMs));
  if (r.code !== 0) throw new Error(`rotate lab fault --hold-apply-lock-ms ${holdMs} exited ${r.code}: ${r.stderr}`);
}

const SHAPES: { controlPlanes: number; workers: number }[] = [
  { controlPlanes: 1, workers: 1 },
  { controlPlanes: 3, workers: 2 },
];
const RUNS = 3;

/** RUNS full-rotation plans in a row on a lab no other plan ran on: each exits 2, one dry run per node at a time. */
async function plansInARow(t: Tap, lab: PlanLab, file: string): Promise<void> {
  let saved: SavedPlan | null = null;
  for (let i = 1; i <= RUNS; i++) {
    // The last run prints JSON, to count the configs each node was given.
    const run = await rotate('plan', '-f', file, '--detailed-exitcode', ...(i === RUNS ? ['--json'] : []));
    expectExit(t, run, 2, `rotate plan run ${i}`);
    t.notMatch(run.stderr, /already in progress/, `run ${i}: no node refused a dry run for its apply lock`);
    if (i === RUNS) saved = JSON.parse(run.stdout) as SavedPlan;
  }
  const applies = appliesOf(await inspectLab(lab));
  for (const node of lab.nodes) {
    const steps = saved!.plan.steps.filter((s) => s.nodes.some((n) => n.address === node)).length;
    t.ok(steps > 0, `${node} is changed by the plan`);
    t.same(applies.get(node), { calls: RUNS * steps, maxConcurrent: 1, refusedInProgress: 0, foreignHoldUntil: null }, `${node}: ${RUNS} × ${steps} dry runs, one at a time`);
  }
}

const plansTitle = (shape: { controlPlanes: number; workers: number }, style: Style) =>
  `${shape.controlPlanes} + ${shape.workers} ${style}: a full-rotation plan exits 2 ${RUNS} times in a row, one dry run per node at a time`;

for (const shape of SHAPES) {
  for (const style of ['legacy', 'document'] as Style[]) {
    // 1 + 1 runs on the lab of the foreign-operator test below (legacy; plans change no node), and only there.
    if (shape.controlPlanes === 1 && shape.workers === 1) continue;
    t.test(plansTitle(shape, style), async (t) => {
      const lab = await startLab(t, { style, ...shape });
      const { file } = await fullRotationFile(lab);
      await plansInARow(t, lab, file);
    });
  }
}

t.test('a foreign operator holding a node apply lock: plan and apply wait for it, or fail naming the node', async (t) => {
  const lab = await startLab(t, { style: 'legacy', controlPlanes: 1, workers: 1 });
  const { file, cas } = await fullRotationFile(lab);
  const [cp] = lab.cps as [string];
  const [worker] = lab.workers as [string];
  const refusedOn = (report: InspectReport, node: string) => appliesOf(report).get(node)!.refusedInProgress;

  // Sharing the lab: these plans only dry-run, and the checks below count from what the lab saw before them.
  await t.test(plansTitle({ controlPlanes: 1, workers: 1 }, 'legacy'), (t) => plansInARow(t, lab, file));

  await t.test('plan waits while the lock is held, and succeeds once it is released', async (t) => {
    await fault(lab, worker, 600_000);
    const before = refusedOn(await inspectLab(lab), worker);
    const plan = rotate('plan', '-f', file, '--detailed-exitcode');
    // Released only once the plan has been refused at least once: it has been waiting.
    await until(lab, (r) => refusedOn(r, worker) > before, 'a dry run refused by the held lock');
    await fault(lab, worker, 0);
    const run = await plan;
    expectExit(t, run, 2, 'rotate plan after the lock was released');
    const applies = appliesOf(await inspectLab(lab));
    t.ok(applies.get(worker)!.refusedInProgress > before, 'the plan was refused while the lock was held, and tried again');
    for (const node of lab.nodes) t.equal(applies.get(node)!.maxConcurrent, 1, `${node}: never two applies at once`);
  });

  await t.test('plan fails naming the node when the lock stays held longer than --apply-lock-wait', async (t) => {
    await fault(lab, worker, 600_000);
    const run = await rotate('plan', '-f', file, '--detailed-exitcode', '--apply-lock-wait', '2s');
    await fault(lab, worker, 0);
    assertCleanError(t, run, 'TALOS_APPLY_LOCK_HELD', [`node ${worker}`, 'another apply holds', 'already in progress'], 'plan with a held lock');
    t.notMatch(run.stderr, new RegExp(`node ${cp.replace(/\./g, '\\.')}:`), 'only the held node is named');
  });

  const planFile = path.join(lab.dir, 'plan.json');
  const saved = await rotate('plan', '-f', file, '--out', planFile);
  expectExit(t, saved, 0, 'rotate plan --out');
  const configVersions = (r: InspectReport) => r.nodes.map((n) => [n.address, n.configVersion]);

  await t.test('apply fails naming the node when the lock stays held; nothing is changed', async (t) => {
    const before = await inspectLab(lab);
    await fault(lab, cp, 600_000);
    const run = await rotate('apply', planFile, '--apply-lock-wait', '2s', '--state', path.join(lab.dir, 'state', 'held.state.json'));
    await fault(lab, cp, 0);
    t.equal(run.code, 1, `apply exits 1\n${run.stderr}`);
    t.match(run.stderr, /error\[APPLY_NODE_FAILED\]/);
    t.match(run.stderr, `node ${cp}: another apply holds the node's apply lock`);
    t.match(run.stderr, 'another operator or controller');
    t.same(configVersions(await inspectLab(lab)), configVersions(before), 'no node changed');
  });

  await t.test('apply waits while the lock is held, and completes once it is released', async (t) => {
    await fault(lab, worker, 600_000);
    const before = refusedOn(await inspectLab(lab), worker);
    const apply = rotate('apply', planFile, '--state', path.join(lab.dir, 'state', 'released.state.json'));
    await until(lab, (r) => refusedOn(r, worker) > before, "the worker's patch refused by the held lock", 300_000);
    await fault(lab, worker, 0);
    const run = await apply;
    expectExit(t, run, 0, 'rotate apply after the lock was released');
    const report = await inspectLab(lab);
    for (const n of report.nodes) {
      t.equal(n.talos.issuing, cas.talos.fingerprint, `${n.address}: the new Talos CA issues`);
      t.equal(n.applyConfiguration.maxConcurrent, 1, `${n.address}: never two applies at once`);
    }
  });
});
