/**
 * How many nodes of a wave apply runs at once: the batch size the plan recorded (and proved), never more;
 * this run's own --parallelism / --max-unavailable may only lower it, each for the waves it bounds.
 */
import t from 'tap';
import { loweredBatches, waveLimit } from '../../../src/apply/engine.js';
import type { Wave } from '../../../src/plan/model/index.js';
import { planRotation } from '../../../src/plan/planner/index.js';
import { cluster, input } from '../../plan/fixtures/cluster.js';

const plan = planRotation(
  input(cluster({ controlPlanes: 3, workers: 30 }), {
    options: { allowDisruption: false, maxUnavailable: '20%', parallelism: 5 },
  }),
);
const waves = plan.steps.flatMap((s) => s.waves);
const limits = (run: { parallelism: number; maxUnavailable?: number }): number[] => waves.map((w) => waveLimit(w, run));
// accept: cp, workers; issue: cp, workers; Talos drop: cp, workers; Kubernetes drop: workers, cp
const RECORDED = [1, 6, 1, 6, 5, 5, 6, 1];

t.test('the recorded batch sizes, as planned', async (t) => {
  t.same(
    waves.map((w) => w.maxConcurrent),
    RECORDED,
  );
  t.same(limits({ parallelism: 5, maxUnavailable: 6 }), RECORDED, 'the same options: the plan as it was proved');
});

t.test('worker waves that restart kubelets are not capped by --parallelism', async (t) => {
  t.same(
    limits({ parallelism: 2, maxUnavailable: 6 }),
    [1, 6, 1, 6, 2, 2, 6, 1],
    '--parallelism 2 lowers only the waves that restart nothing',
  );
});

t.test('never above the recorded bound, whatever this run passes', async (t) => {
  t.same(limits({ parallelism: 50, maxUnavailable: 100 }), RECORDED);
  t.same(limits({ parallelism: 50 }), RECORDED, 'no --max-unavailable of its own: the recorded bound');
});

t.test(
  "this run's smaller --max-unavailable lowers the kubelet-restart waves; control planes stay one at a time",
  async (t) => {
    t.same(limits({ parallelism: 5, maxUnavailable: 2 }), [1, 2, 1, 2, 5, 5, 2, 1]);
    t.equal(loweredBatches(plan, { parallelism: 5, maxUnavailable: '20%' }), null, 'the same options: nothing to say');
    t.equal(loweredBatches(plan, { parallelism: 5, maxUnavailable: 100 }), null, 'a larger request is not lowering');
    const text = loweredBatches(plan, { parallelism: 5, maxUnavailable: 2 });
    t.match(
      text,
      new RegExp(
        /^this run's --parallelism 5 \/ --max-unavailable 2 lower the batches the saved plan was made /.source +
          /with \(--parallelism 5 \/ --max-unavailable 20%\): step 1 wave 2: 2 at a time, not 6; step 2 /.source +
          /wave 2: 2 at a time, not 6; step 4 wave 1: 2 at a time, not 6$/.source,
      ),
    );
    t.match(
      loweredBatches(plan, { parallelism: 3, maxUnavailable: '10%' }),
      new RegExp(
        /: step 1 wave 2: 3 at a time, not 6; step 2 wave 2: 3 at a time, not 6; step 3 wave 2: 3 at a /.source +
          /time, not 5; step 4 wave 1: 3 at a time, not 6$/.source,
      ),
      '10% of 30 workers = 3; the 3 control planes of the Talos drop run all at once anyway',
    );
  },
);

t.test('a plan made before waves recorded their bound: --parallelism caps it, as before', async (t) => {
  const old: Wave = { index: 1, role: 'worker', nodes: ['a', 'b', 'c', 'd'], maxConcurrent: 4 };
  t.equal(waveLimit(old, { parallelism: 2, maxUnavailable: 10 }), 2);
  t.equal(waveLimit(old, { parallelism: 10 }), 4);
});
