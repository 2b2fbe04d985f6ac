/**
 * One ApplyConfiguration at a time per node (Talos's apply lock, dry runs included), through the built CLI:
 * - on the 1 + 1 legacy lab below, a full-rotation `rotate plan` (node dry runs on) three times in a row:
 *   every one exits 2, and the lab saw every node's dry runs one at a time (as many calls as the plan has
 *   steps for the node, never two at once, none refused); full-rotation.test.ts does the same on its 3 + 2
 *   labs of both styles (fixtures/dry-runs.ts). A 1 + 1 document lab would only repeat it: its shape is this
 *   lab's, its style the 3 + 2 document lab's;
 * - a foreign operator holding a node's apply lock (`rotate lab fault --hold-apply-lock-ms`): plan and apply
 *   wait for it and succeed once it is released within `--apply-lock-wait`, and fail naming the node when
 *   it is held longer.
 *
 * The reproduction: a lab, two new CAs from `rotate ca new`, a desired state rotating both, the
 * lab's CAs keeping their keys from a copy of secrets.yaml.
 */
import * as path from 'node:path';
import t from 'tap';

import type { InspectReport } from '../../../src/lab/process/contracts.js';
import { labInspect } from '../../../src/lab/process/control-client.js';
import { appliesOf, fullRotationKeepingKeys, plansInARow, plansTitle } from './fixtures/dry-runs.js';
import {
  assertCleanError,
  expectExit,
  inspectLab,
  nextCas,
  requireBuild,
  rotate,
  startLab,
  type PlanLab,
} from './fixtures/plan-lab.js';

requireBuild(t);

/** Polls the lab's control API until `check` holds. */
async function until(
  lab: PlanLab,
  check: (report: InspectReport) => boolean,
  what: string,
  timeoutMs = 120_000,
): Promise<void> {
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

t.test(
  'a foreign operator holding a node apply lock: plan and apply wait for it, or fail naming the node',
  async (t) => {
    const lab = await startLab(t, { style: 'legacy', controlPlanes: 1, workers: 1 });
    const cas = await nextCas(lab);
    const file = await fullRotationKeepingKeys(lab, cas);
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
      t.ok(
        applies.get(worker)!.refusedInProgress > before,
        'the plan was refused while the lock was held, and tried again',
      );
      for (const node of lab.nodes) t.equal(applies.get(node)!.maxConcurrent, 1, `${node}: never two applies at once`);
    });

    await t.test('plan fails naming the node when the lock stays held longer than --apply-lock-wait', async (t) => {
      await fault(lab, worker, 600_000);
      const run = await rotate('plan', '-f', file, '--detailed-exitcode', '--apply-lock-wait', '2s');
      await fault(lab, worker, 0);
      assertCleanError(
        t,
        run,
        'TALOS_APPLY_LOCK_HELD',
        [`node ${worker}`, 'another apply holds', 'already in progress'],
        'plan with a held lock',
      );
      t.notMatch(run.stderr, new RegExp(`node ${cp.replace(/\./g, '\\.')}:`), 'only the held node is named');
    });

    const planFile = path.join(lab.dir, 'plan.json');
    const saved = await rotate('plan', '-f', file, '--out', planFile);
    expectExit(t, saved, 0, 'rotate plan --out');
    const configVersions = (r: InspectReport) => r.nodes.map((n) => [n.address, n.configVersion]);

    await t.test('apply fails naming the node when the lock stays held; nothing is changed', async (t) => {
      const before = await inspectLab(lab);
      await fault(lab, cp, 600_000);
      const run = await rotate(
        'apply',
        planFile,
        '--apply-lock-wait',
        '2s',
        '--state',
        path.join(lab.dir, 'state', 'held.state.json'),
      );
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
  },
);
