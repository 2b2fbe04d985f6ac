/**
 * Node Leases as kube-apiserver serves them (talos-behaviour.md §5.7 "Ready lags"): the real kubectl lists them in
 * `kube-node-lease`, one per Node named after it, and a heartbeating kubelet renews `spec.renewTime`; a
 * stranded one does not, while its Node stays Ready for the grace period. Renewals go over one kept
 * connection per kubelet (KubePrism is a TCP balancer, talos-behaviour.md §5.6).
 */
import t from 'tap';
import { kubectl, makeCas, sleep, startLab, waitFor } from './fixtures/lab.js';

t.test('kubectl get lease -n kube-node-lease: one Lease per Node, renewed by heartbeats only', async (t) => {
  const lab = await startLab({ cas: await makeCas(), controlPlanes: 1, workers: 2, timings: { nodeGraceMs: 120_000 } });
  t.teardown(() => lab.stop());
  await lab.side.whenAllReady(20_000);
  const kubeconfig = await lab.side.adminKubeconfig();
  const table = await kubectl(kubeconfig, ['get', 'lease', '-n', 'kube-node-lease']);
  t.equal(table.code, 0, `kubectl (stderr: ${table.stderr})`);
  for (const n of lab.cluster.nodes)
    t.match(table.stdout, new RegExp(`^${n.hostname}\\s`, 'm'), `${n.hostname} listed`);

  const renewTimes = async (): Promise<Map<string, string>> => {
    const r = await kubectl(kubeconfig, ['get', 'lease', '-n', 'kube-node-lease', '-o', 'json']);
    t.equal(r.code, 0, `kubectl -o json (stderr: ${r.stderr})`);
    const list = JSON.parse(r.stdout) as {
      kind: string;
      items: { metadata: { name: string }; spec: { renewTime: string; holderIdentity: string } }[];
    };
    t.equal(list.items.length, 3, 'three Leases');
    return new Map(list.items.map((l) => [l.metadata.name, l.spec.renewTime]));
  };
  // KubePrism is a TCP balancer: each kubelet renews over one kept connection, to one apiserver.
  const conns = lab.cluster.nodes.map((n) => lab.side.kubeletConnections(n.address));
  const upstreams = lab.cluster.nodes.map((n) => lab.side.kubeletUpstream(n.address));
  await sleep(1_500);
  t.same(
    lab.cluster.nodes.map((n) => lab.side.kubeletConnections(n.address)),
    conns,
    'no new connection over several heartbeats',
  );
  t.same(
    lab.cluster.nodes.map((n) => lab.side.kubeletUpstream(n.address)),
    upstreams,
    'each kubelet stays on its apiserver',
  );
  t.ok(
    conns.every((c) => c >= 1),
    'every kubelet holds a connection',
  );

  const w2 = lab.workers[1]!;
  w2.setDown(true);
  const first = await renewTimes();
  await sleep(1_500); // several heartbeat periods (300 ms in these labs)
  const second = await renewTimes();
  for (const n of lab.cluster.nodes) {
    if (n === w2) t.equal(second.get(n.hostname), first.get(n.hostname), `${n.hostname}: stranded, not renewed`);
    else t.not(second.get(n.hostname), first.get(n.hostname), `${n.hostname}: renewed`);
  }
  t.ok(lab.side.nodeReady(w2.address), 'the stranded Node is still Ready');
  const one = await kubectl(kubeconfig, [
    'get',
    'lease',
    '-n',
    'kube-node-lease',
    w2.hostname,
    '-o',
    'jsonpath={.spec.renewTime}',
  ]);
  t.equal(one.stdout, first.get(w2.hostname), 'GET of one Lease agrees with the list');
  w2.setDown(false);
  await waitFor('worker-2 heartbeating again', () => w2.kubelet?.healthy === true);
});
