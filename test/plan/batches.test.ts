/**
 * Wave batch sizes (issue 12 item 1): --max-unavailable as a number or a percentage of the workers
 * (default 10%, at least 1); control planes whose kube-apiserver restarts one at a time; workers whose
 * kubelet restarts by --max-unavailable alone; Talos-only waves by --parallelism; the plan records each
 * wave's bound and says when it shrank a request.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import {
  DEFAULT_MAX_UNAVAILABLE,
  maxUnavailableProblem,
  parseMaxUnavailable,
  resolveMaxUnavailable,
} from '../../src/domain/max-unavailable.js';
import type { PlanOptions } from '../../src/plan/model/input.js';
import type { Plan, Wave } from '../../src/plan/model/plan.js';
import { planRotation } from '../../src/plan/planner/index.js';
import { renderPlanText } from '../../src/plan/render/human.js';
import {
  readSavedPlan,
  SAVED_PLAN_KIND,
  SAVED_PLAN_VERSION,
  writeSavedPlan,
  type SavedPlan,
} from '../../src/cluster/session/saved-plan.js';
import { TOOL_VERSION } from '../../src/version.js';
import { cluster, desired, input, K_NEW, T_NEW } from './fixtures/cluster.js';

const opts = (o: Partial<PlanOptions>): PlanOptions => ({
  allowDisruption: false,
  maxUnavailable: DEFAULT_MAX_UNAVAILABLE,
  parallelism: 10,
  ...o,
});
const wavesOf = (plan: Plan): (Wave & { step: string })[] =>
  plan.steps.flatMap((s) => s.waves.map((w) => ({ ...w, step: s.id })));

t.test('--max-unavailable: a number, or a percentage of the workers rounded down, at least 1', async (t) => {
  t.equal(DEFAULT_MAX_UNAVAILABLE, '10%');
  t.equal(resolveMaxUnavailable('10%', 197), 19, '10% of 197 workers');
  t.equal(resolveMaxUnavailable('10%', 200), 20);
  t.equal(resolveMaxUnavailable('10%', 9), 1, 'rounded down to 0, then at least 1');
  t.equal(resolveMaxUnavailable('10%', 0), 1, 'no worker: still 1');
  t.equal(resolveMaxUnavailable('100%', 7), 7);
  t.equal(resolveMaxUnavailable('33%', 10), 3);
  t.equal(resolveMaxUnavailable(3, 200), 3, 'a number means that many nodes');
  t.equal(resolveMaxUnavailable(50, 2), 50, 'a number above the worker count is kept (it means all of them)');
  t.equal(
    resolveMaxUnavailable('3' as unknown as number, 200),
    3,
    'a numeric string (valid for the planner) is a number of nodes',
  );

  t.equal(parseMaxUnavailable('3'), 3, 'a command-line number becomes a number');
  t.equal(parseMaxUnavailable(3), 3);
  t.equal(parseMaxUnavailable('25%'), '25%');
  t.equal(parseMaxUnavailable('100%'), '100%');
  for (const bad of [
    0,
    -1,
    1.5,
    Number.NaN,
    '0',
    '-1',
    'abc',
    '',
    '0%',
    '101%',
    '150%',
    '12.5%',
    '10 %',
    '%',
    '1e2',
    ['3', '4'],
    null,
  ]) {
    t.equal(parseMaxUnavailable(bad), null, `${JSON.stringify(bad)} is refused`);
    t.match(
      maxUnavailableProblem(bad),
      /^it must be a whole number of at least 1 or a percentage of the workers from 1% to 100%$/,
    );
  }
});

t.test(
  'default 10% of the workers: worker waves that restart kubelets run that many at once, not capped by --parallelism',
  async (t) => {
    const nodes = cluster({ controlPlanes: 3, workers: 197 });
    const plan = planRotation(input(nodes, { options: opts({ parallelism: 10 }) }));
    t.same(
      plan.options,
      { allowDisruption: false, maxUnavailable: 19, maxUnavailableRequested: '10%', parallelism: 10 },
      'the request as given and the resolved number',
    );
    const workerWaves = wavesOf(plan).filter((w) => w.role === 'worker' && w.step !== 'talos-drop');
    t.same(
      workerWaves.map((w) => w.step),
      ['talos-kubernetes-accept', 'talos-kubernetes-issue', 'kubernetes-drop'],
      'the worker waves whose kubelets restart',
    );
    t.match(
      wavesOf(plan).find((w) => w.role === 'worker' && w.step === 'talos-drop'),
      { maxConcurrent: 10, bound: { by: 'parallelism' } },
      'the Talos drop restarts nothing',
    );
    for (const w of workerWaves) {
      t.equal(w.maxConcurrent, 19, `${w.step}: 19 workers at once (10% of 197), above --parallelism 10`);
      t.match(w.bound, {
        by: 'max-unavailable',
        requested: 19,
        applied: 19,
        reason: /kubelets restart .*--max-unavailable 10%/,
      });
    }
    t.equal(plan.steps[0]!.maxConcurrent, 19, "a step's maxConcurrent is its largest wave's");

    const small = planRotation(input(cluster(), { options: opts({}) }));
    t.same(small.options.maxUnavailable, 1, '2 workers: 10% rounds down to 0, at least 1');
    t.same(
      wavesOf(small)
        .filter((w) => w.role === 'worker')
        .map((w) => w.maxConcurrent),
      [1, 1, 10, 1],
    );
  },
);

t.test(
  'control planes one at a time whenever their kube-apiserver restarts, whatever --max-unavailable says; the ' +
    'plan says why',
  async (t) => {
    for (const maxUnavailable of ['100%', 5] as const) {
      const plan = planRotation(
        input(cluster({ controlPlanes: 3, workers: 10 }), {
          desired: { kubernetes: desired(K_NEW) },
          options: opts({ maxUnavailable, parallelism: 50 }),
        }),
      );
      t.same(
        plan.steps.map((s) => s.id),
        ['kubernetes-accept', 'kubernetes-issue', 'kubernetes-drop'],
      );
      const cpWaves = wavesOf(plan).filter((w) => w.role === 'controlplane');
      t.equal(cpWaves.length, 3);
      for (const w of cpWaves) {
        t.equal(w.maxConcurrent, 1, `${w.step}: one control plane at a time (--max-unavailable ${maxUnavailable})`);
        t.match(w.bound, {
          by: 'controlplane-restart',
          requested: maxUnavailable === 5 ? 5 : 10,
          applied: 1,
          reason: /kube-apiserver and kube-controller-manager restart/,
        });
      }
      const shrink = plan.notices.filter((n) => /^Batches of 1, not 3 as --max-unavailable/.test(n));
      t.equal(shrink.length, 1, 'one notice for the three waves shrunk alike');
      t.match(
        shrink[0],
        `--max-unavailable ${maxUnavailable} allows, in step 1 (kubernetes-accept) wave 1 (control planes), ` +
          `step 2 (kubernetes-issue) wave 1 (control planes), step 3 (kubernetes-drop) wave 2 (control planes): ` +
          `kube-apiserver`,
      );
      t.ok(
        plan.notices.some((n) =>
          new RegExp(
            /kube-apiserver restarts on each control plane it patches in step\(s\) 1, 2, 3, one control /.source +
              /plane at a time/.source,
          ).test(n),
        ),
      );
    }
    // Before: min(parallelism, maxUnavailable, control planes − 1), i.e. 2 of 3 at once here.
    const merged = planRotation(
      input(cluster({ controlPlanes: 3, workers: 2 }), { options: opts({ maxUnavailable: 2, parallelism: 4 }) }),
    );
    t.same(
      merged.steps.map((s) => s.waves.find((w) => w.role === 'controlplane')!.maxConcurrent),
      [1, 1, 4, 1],
      'Talos and Kubernetes merged: 1; the Talos drop (no restart): --parallelism',
    );
    t.equal(merged.steps[2]!.waves.find((w) => w.role === 'controlplane')!.bound!.by, 'parallelism');

    const none = planRotation(
      input(cluster({ controlPlanes: 3, workers: 2 }), { options: opts({ maxUnavailable: 1 }) }),
    );
    t.notOk(
      none.notices.some((n) => /^Batches of/.test(n)),
      'asked for 1: nothing shrunk, no notice',
    );
    const single = planRotation(
      input(cluster({ controlPlanes: 1, workers: 20 }), { options: opts({ maxUnavailable: '50%' }) }),
    );
    t.notOk(
      single.notices.some((n) => /^Batches of/.test(n)),
      'a one-node wave is not shrunk by being one at a time',
    );
  },
);

t.test('Talos-only waves (no restart) are bounded by --parallelism alone', async (t) => {
  const plan = planRotation(
    input(cluster({ controlPlanes: 3, workers: 40 }), {
      desired: { talos: desired(T_NEW) },
      options: opts({ maxUnavailable: 1, parallelism: 7 }),
    }),
  );
  const waves = wavesOf(plan);
  t.ok(waves.length >= 6);
  for (const w of waves) {
    t.equal(w.maxConcurrent, 7, `${w.step} ${w.role}: --parallelism 7, not --max-unavailable 1`);
    t.match(w.bound, { by: 'parallelism', requested: 7, applied: 7 });
  }
  t.notOk(plan.notices.some((n) => /^Batches of/.test(n)));
});

t.test(
  'the proof does not depend on batch sizes: it covers every subset of a wave (several apiservers lagging included)',
  async (t) => {
    const nodes = cluster({ controlPlanes: 3, workers: 12 });
    const serial = planRotation(input(nodes, { options: opts({ maxUnavailable: 1, parallelism: 1 }) }));
    const wide = planRotation(input(nodes, { options: opts({ maxUnavailable: '100%', parallelism: 50 }) }));
    t.same(
      wide.steps.map((s) => s.proof),
      serial.steps.map((s) => s.proof),
      'same proofs at batch 1 and at every node of a wave at once',
    );
    t.equal(wide.verdict, serial.verdict);
    t.same(wide.refused, serial.refused);
  },
);

t.test('human output: batch size per wave and what set it', async (t) => {
  const text = renderPlanText(
    planRotation(input(cluster({ controlPlanes: 3, workers: 40 }), { options: opts({ parallelism: 6 }) })),
  );
  t.match(text, /\n {2}wave 1\/2: control planes, one at a time \(kube-apiserver restarts\)\n/);
  t.match(text, /\n {2}wave 2\/2: workers, up to 4 at a time \(--max-unavailable 10%\)\n/);
  t.match(
    text,
    /\n {2}wave 1\/2: control planes, up to 6 at a time \(--parallelism\)\n/,
    'the Talos drop restarts nothing',
  );
  t.match(text, /Batches of 1, not 3 as --max-unavailable 10% allows/);
});

t.test('invalid options are a bug in the caller', async (t) => {
  for (const maxUnavailable of [0, '150%', 'abc', '0%'] as unknown as PlanOptions['maxUnavailable'][]) {
    t.throws(
      () => planRotation(input(cluster(), { options: opts({ maxUnavailable }) })),
      { code: 'PLAN_INPUT_INVALID' },
      JSON.stringify(maxUnavailable),
    );
  }
});

t.test('a saved plan keeps the batch sizes it was proved with, and the request as given', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'batches-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const plan = planRotation(
    input(cluster({ controlPlanes: 3, workers: 30 }), { options: opts({ maxUnavailable: '20%', parallelism: 5 }) }),
  );
  const saved: SavedPlan = {
    kind: SAVED_PLAN_KIND,
    savedPlanVersion: SAVED_PLAN_VERSION,
    toolVersion: TOOL_VERSION,
    createdAt: '2026-12-05T00:00:00.000Z',
    desired: { file: 'rotate.yaml', digest: 'x' },
    cluster: { talosconfig: 'talosconfig', context: 'lab', endpoints: ['127.0.0.10'] },
    plan,
  };
  const file = path.join(dir, 'plan.json');
  await writeSavedPlan(file, saved);
  const back = await readSavedPlan(file);
  t.same(back.plan.options, {
    allowDisruption: false,
    maxUnavailable: 6,
    maxUnavailableRequested: '20%',
    parallelism: 5,
  });
  t.same(wavesOf(back.plan), wavesOf(plan), 'every wave with its maxConcurrent and bound');
  t.same(
    wavesOf(back.plan).map((w) => [w.step, w.role, w.maxConcurrent, w.bound!.by]),
    [
      ['talos-kubernetes-accept', 'controlplane', 1, 'controlplane-restart'],
      ['talos-kubernetes-accept', 'worker', 6, 'max-unavailable'],
      ['talos-kubernetes-issue', 'controlplane', 1, 'controlplane-restart'],
      ['talos-kubernetes-issue', 'worker', 6, 'max-unavailable'],
      ['talos-drop', 'controlplane', 5, 'parallelism'],
      ['talos-drop', 'worker', 5, 'parallelism'],
      ['kubernetes-drop', 'worker', 6, 'max-unavailable'],
      ['kubernetes-drop', 'controlplane', 1, 'controlplane-restart'],
    ],
  );
});
