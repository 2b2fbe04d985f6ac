/**
 * The lab's `remove` fault (a node removed for good, as `talosctl reset` + `kubectl delete node` leave it):
 * off, gone from discovery's Members and from the Kubernetes Nodes, irreversible.
 */
import t from 'tap';
import { assembleLabCluster } from '../../../src/lab/setup/cluster.js';
import { generateLabSecrets } from '../../../src/lab/setup/secrets.js';
import { applyFault } from '../../../src/lab/process/control-api.js';
import { renderMembers } from '../../../src/lab/talos/cosi.js';
import { NodeRegistry } from '../../../src/lab/kube/node-registry.js';

t.test('remove: not a member, not a Node, stays off', async (t) => {
  const secrets = await generateLabSecrets({ serviceAccountKey: 'ecdsa-p256' });
  const { cluster } = await assembleLabCluster({
    block: '127.250.3',
    controlPlanes: 1,
    workers: 2,
    style: 'legacy',
    secrets,
  });
  const registry = new NodeRegistry(cluster);
  const w = cluster.workers[1]!;
  t.equal(renderMembers(cluster, null).length, 3);
  t.ok(registry.has(w.hostname));

  t.throws(() => applyFault(cluster, { node: w.address, remove: false }), { message: /remove can only be true/ });
  const r = applyFault(cluster, { node: w.address, remove: true });
  t.equal(r.removed, true);
  t.equal(r.faults.down, true, 'off');
  t.equal(renderMembers(cluster, null).length, 2, 'no longer a member');
  t.notOk(registry.has(w.hostname), 'its Node is deleted');
  t.notOk(
    registry.views().some((v) => v.address === w.address),
    'not listed',
  );
  applyFault(cluster, { node: w.address, down: false });
  t.ok(w.isDown, 'a removed machine stays off');
});

t.test('rotate lab fault --remove', async (t) => {
  const { resolveFaultChange } = await import('../../../src/lab/process/options.js');
  t.same(resolveFaultChange({ node: '127.1.2.20', remove: true }), { node: '127.1.2.20', remove: true });
  t.throws(() => resolveFaultChange({ node: '127.1.2.20', remove: true, up: true }), { message: /--remove and --up/ });
});
