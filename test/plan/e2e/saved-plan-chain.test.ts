/**
 * `rotate apply PLANFILE` builds the plan again only to check the saved one is fresh (`chainConfigs: false`):
 * the same steps and the same observed nodes (config digests, which the freshness check compares), without
 * deriving each step's config and diff — the saved plan holds the steps, and the engine derives each node's
 * config from its live one as it goes.
 */
import t from 'tap';
import { buildPlan } from '../../../src/cluster/session/build-plan.js';
import { openSession } from '../../../src/cluster/session/open-session.js';
import { connectTalos } from '../../../src/talos/talos-api.js';
import { fullRotation, nextCas, requireBuild, startLab, writeDesired } from './fixtures/plan-lab.js';

requireBuild(t);

t.test("a plan built for a saved plan's freshness check derives no configs, and is otherwise the same", async (t) => {
  const lab = await startLab(t, { style: 'document', controlPlanes: 1, workers: 1 });
  const full = await writeDesired(lab, 'full', fullRotation(await nextCas(lab)));
  const session = await openSession(full, connectTalos);
  t.teardown(() => session.close());
  const options = { parallelism: 10, maxUnavailable: 1, allowDisruption: false, nodeDryRun: false };

  const planned = await buildPlan(session, options);
  t.ok(planned.plan.changes, 'the desired state changes the cluster');
  t.ok(planned.chained.length > 0, "a plan derives each step's config");
  t.ok(
    planned.plan.steps.some((s) => s.nodes.some((n) => n.configDiff !== null)),
    'and its diffs',
  );

  const check = await buildPlan(session, { ...options, chainConfigs: false });
  t.same(check.chained, [], 'the freshness check derives no config');
  t.ok(
    check.plan.steps.every((s) => s.nodes.every((n) => n.configDiff === null)),
    'and no diff',
  );
  t.same(
    check.nodes.map((n) => [n.address, n.nodeId, n.configDigest]),
    planned.nodes.map((n) => [n.address, n.nodeId, n.configDigest]),
    'the same observed nodes and config digests',
  );
  t.same(
    check.plan.steps.map((s) => [s.id, s.nodes.map((n) => [n.address, n.target])]),
    planned.plan.steps.map((s) => [s.id, s.nodes.map((n) => [n.address, n.target])]),
    'the same steps',
  );
});
