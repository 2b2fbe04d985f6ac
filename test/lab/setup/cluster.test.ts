/**
 * setup/cluster.ts: addresses inside the /24 block, roles and hostnames, the Talos tag by layout, and node
 * roots computed from the generated configs.
 */
import t from 'tap';
import { assembleLabCluster, labAddresses, randomNodeId, TALOS_TAG } from '../../../src/lab/setup/cluster.js';
import { readConfigCas } from '../../../src/lab/core/roots.js';

t.test('addresses: .2 VIP, .3 cluster endpoint, .10… control planes then workers', async (t) => {
  t.same(labAddresses('127.20.30', 2, 3), {
    vip: '127.20.30.2',
    clusterEndpoint: '127.20.30.3',
    controlPlanes: ['127.20.30.10', '127.20.30.11'],
    workers: ['127.20.30.12', '127.20.30.13', '127.20.30.14'],
  });
  t.throws(() => labAddresses('10.0.0', 1, 1), RangeError, 'only 127.0.0.0/8');
  t.throws(() => labAddresses('127.1.1', 0, 1), RangeError);
  t.throws(() => labAddresses('127.1.1', 100, 200), RangeError);
  t.match(randomNodeId(), /^[A-Za-z0-9]{43}$/);
});

t.test('an assembled cluster: configs, roots, tags, VIP in control-plane certSANs', async (t) => {
  const { cluster, secrets } = await assembleLabCluster({
    block: '127.21.31',
    controlPlanes: 2,
    workers: 1,
    style: 'document',
    vip: true,
    secretsOptions: { serviceAccountKey: 'ecdsa-p256' },
  });
  t.same(
    cluster.nodes.map((n) => [n.address, n.role, n.hostname, n.talosTag]),
    [
      ['127.21.31.10', 'controlplane', 'cp-1', TALOS_TAG.document],
      ['127.21.31.11', 'controlplane', 'cp-2', 'v1.14.0'],
      ['127.21.31.12', 'worker', 'worker-1', 'v1.14.0'],
    ],
  );
  t.equal(cluster.vipAddress, '127.21.31.2');
  t.equal(cluster.clusterEndpointAddress, '127.21.31.3');
  t.equal(cluster.trustdToken, secrets.trustdToken);
  t.equal(cluster.bootstrapToken, secrets.bootstrapToken);
  t.same(readConfigCas(cluster.nodes[0]!.config).certSans, ['127.21.31.10', '127.21.31.3', '127.21.31.2']);
  t.same(readConfigCas(cluster.nodes[2]!.config).certSans, ['127.21.31.12', '127.21.31.3']);
  t.equal(cluster.nodes[0]!.roots.talos.issuing?.fingerprint, secrets.os.fingerprint);
  t.equal(cluster.nodes[2]!.roots.talos.issuing, null);
  t.equal(new Set(cluster.nodes.map((n) => n.nodeId)).size, 3);
  t.equal(cluster.vipHolder(), cluster.nodes[0]);
  cluster.nodes[0]!.setDown(true);
  t.equal(cluster.vipHolder(), cluster.nodes[1], 'the VIP moves when its holder is down');
  cluster.nodes[0]!.setDown(false);
  t.equal(cluster.vipHolder(), cluster.nodes[1], '…and stays where it went');
  const legacy = await assembleLabCluster({
    block: '127.21.32',
    controlPlanes: 1,
    workers: 0,
    style: 'legacy',
    secrets,
  });
  t.equal(legacy.cluster.nodes[0]!.talosTag, 'v1.13.9');
  t.equal(legacy.cluster.vipHolder(), null, 'no VIP asked');
});
