/**
 * The `kubernetes` EndpointSlice as the lab keeps it (LabCluster.apiserverEndpoints): kube-apiserver's
 * endpoint reconciler lists every serving apiserver, removes one as it stops and adds it back when it
 * serves again. Talos workers re-register with trustd on each change of that list (talos-behaviour.md §5).
 */
import t from 'tap';
import { applyAndWaitKubelet, makeCas, phaseRoots, startLab, waitFor } from './fixtures/lab.js';

t.test('an apiserver restart takes it out of the endpoint list and puts it back', async (t) => {
  const cas = await makeCas();
  const lab = await startLab({ cas, controlPlanes: 3, workers: 1 });
  t.teardown(() => lab.stop());
  await lab.side.whenAllReady(20_000);
  const all = lab.cps.map((n) => n.address);
  t.same(lab.cluster.apiserverEndpoints(), all, 'every serving apiserver, sorted');
  const events: (string[] | null)[] = [];
  lab.cluster.on('endpoints', (list: string[] | null) => events.push(list));
  const cp2 = lab.cps[1]!;
  await applyAndWaitKubelet(cp2, phaseRoots(cas, 'controlplane', 'add'));
  await waitFor('cp-2 apiserver back', () => lab.side.apiserverUp(cp2.address));
  t.same(events, [all.filter((a) => a !== cp2.address), all], 'out while restarting, back when serving');
  cp2.setDown(true);
  t.same(
    events.at(-1),
    all.filter((a) => a !== cp2.address),
    'a node that goes down leaves the list',
  );
  cp2.setDown(false);
  await waitFor('cp-2 apiserver back', () => lab.side.apiserverUp(cp2.address));
  t.same(lab.cluster.apiserverEndpoints(), all);
});
