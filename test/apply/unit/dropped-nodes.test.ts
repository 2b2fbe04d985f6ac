/**
 * A node gone for good: a resume plans without a node its run had once the cluster shows it gone (not a
 * Talos member, not a Kubernetes Node), and refuses while the cluster still has it.
 */
import t from 'tap';
import { droppedNodes, refuseDroppedInCluster } from '../../../src/apply/dropped-nodes.js';
import type { KubeNodeStatus } from '../../../src/cluster/kube/nodes.js';
import type { Plan } from '../../../src/plan/model/index.js';
import type { ClusterMember } from '../../../src/talos/resources.js';

const node = (address: string, hostname: string, role: 'controlplane' | 'worker' = 'worker') => ({
  address,
  nodeId: `id-${hostname}`,
  hostname,
  role,
  talosVersion: 'v1.13.9',
  configDigest: 'x',
});
const plan = (nodes: ReturnType<typeof node>[]) => ({ basedOn: { endpoints: [], nodes } }) as unknown as Plan;
const member = (address: string, hostname: string): ClusterMember =>
  ({
    id: hostname,
    nodeId: `id-${hostname}`,
    addresses: [address],
    hostname,
    machineType: 'worker',
    operatingSystem: 'Talos',
    apiServerPort: null,
  }) as ClusterMember;
const kube = (address: string, name: string): KubeNodeStatus => ({ name, ready: true, addresses: [address] });

const runPlan = plan([node('10.0.0.10', 'cp-1', 'controlplane'), node('10.0.0.20', 'w-1'), node('10.0.0.21', 'w-2')]);
const listed = ['10.0.0.10', '10.0.0.20'];

t.test('gone from the cluster: dropped, with what was checked', async (t) => {
  const d = droppedNodes(
    [runPlan],
    listed,
    [member('10.0.0.10', 'cp-1'), member('10.0.0.20', 'w-1')],
    [kube('10.0.0.10', 'cp-1'), kube('10.0.0.20', 'w-1')],
  );
  t.same(d, [
    { address: '10.0.0.21', hostname: 'w-2', role: 'worker', talosMember: 'absent', kubernetesNode: 'absent' },
  ]);
  t.doesNotThrow(() => refuseDroppedInCluster(d, 'rotate.yaml'));
  t.same(droppedNodes([runPlan], [...listed, '10.0.0.21'], [], null), [], 'a node still listed is not dropped');
});

t.test('still a member or still a Node: refused, naming it and the fix', async (t) => {
  const asMember = droppedNodes([runPlan], listed, [member('10.0.0.21', 'w-2')], [kube('10.0.0.10', 'cp-1')]);
  t.throws(() => refuseDroppedInCluster(asMember, 'rotate.yaml'), {
    code: 'APPLY_DROPPED_NODE_IN_CLUSTER',
    message: /10\.0\.0\.21 \(w-2\): still a Talos cluster member/,
    hint: /talosctl reset/,
  });
  const asNode = droppedNodes([runPlan], listed, [member('10.0.0.10', 'cp-1')], [kube('10.0.0.99', 'w-2')]);
  t.throws(
    () => refuseDroppedInCluster(asNode, 'rotate.yaml'),
    { message: /still a Kubernetes Node/ },
    'matched by Node name',
  );
  const unknown = droppedNodes([runPlan], listed, [], null);
  t.throws(
    () => refuseDroppedInCluster(unknown, 'rotate.yaml'),
    { message: /could be checked/ },
    'nothing checked: refused',
  );
  const half = droppedNodes([runPlan], listed, [], [kube('10.0.0.10', 'cp-1')]);
  t.same(
    half.map((d) => [d.talosMember, d.kubernetesNode]),
    [['unknown', 'absent']],
  );
  t.doesNotThrow(
    () => refuseDroppedInCluster(half, 'rotate.yaml'),
    'no Node and no member list: goes on, saying membership is unknown',
  );
});
