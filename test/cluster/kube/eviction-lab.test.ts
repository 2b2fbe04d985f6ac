/**
 * The product's Eviction API client (src/cluster/kube/eviction.ts) through @kubernetes/client-node against the
 * lab's apiserver, with real TLS and the admin kubeconfig: an eviction a PodDisruptionBudget forbids comes back
 * `refused` with the budget's reason (429, never worked around), others are `evicted`, and a pod already gone
 * is `gone` (404), as the workload phase expects.
 */
import t from 'tap';
import { evictionApi } from '../../../src/cluster/kube/eviction.js';
import { makeCas, startLab, waitFor } from '../../lab/kube/fixtures/lab.js';

t.test('evictions through the product client: refused by a budget, evicted, gone', async (t) => {
  const lab = await startLab({
    cas: await makeCas(),
    controlPlanes: 1,
    workers: 2,
    podsPerNode: 1,
    workloads: 'standard',
  });
  t.teardown(() => lab.stop());
  await lab.side.whenAllReady(30_000);
  await waitFor(
    'every pod running',
    () => lab.side.pods().length >= 13 && lab.side.pods().every((p) => p.running),
    60_000,
  );
  const api = await evictionApi({ text: await lab.side.adminKubeconfig(), origin: 'the lab admin kubeconfig' });

  const refused = await api.evict('apps', 'db-0');
  t.equal(refused.outcome, 'refused', 'db (minAvailable 2 of 2) refuses the eviction');
  t.match(refused.outcome === 'refused' ? refused.reason : '', /disruption budget/i, 'naming the budget');
  t.ok(
    lab.side.objects('pods', 'apps').some((p) => p.metadata.name === 'db-0'),
    'db-0 is still there',
  );

  const jobPod = lab.side.objects('pods', 'apps').find((p) => p.metadata.name.startsWith('migrate-'))!;
  t.same(await api.evict('apps', jobPod.metadata.name), { outcome: 'evicted' }, "the Job's pod is evicted");
  await waitFor(
    'the Job to run a new pod',
    () =>
      lab.side
        .objects('pods', 'apps')
        .some((p) => p.metadata.name.startsWith('migrate-') && p.metadata.name !== jobPod.metadata.name),
    30_000,
  );

  t.same(await api.evict('default', 'debug-shell'), { outcome: 'evicted' }, 'the bare pod is evicted');
  t.same(await api.evict('default', 'debug-shell'), { outcome: 'gone' }, 'and is gone (404) the second time');
});
