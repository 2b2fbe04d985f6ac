/**
 * The COSI State API of emulated nodes through a control-plane endpoint: Get/List/Watch of the resources
 * rotation code reads, the kubelet Service watch semantics, and the read-only access policy.
 */
import t from 'tap';
import { keyPemForTls } from '../../../src/pki/index.js';
import { talosProtos, type WatchResponse } from '../../../src/talos/proto.js';
import type { ServiceWatchEvent } from '../../../src/talos/client.js';
import { dialLab } from '../../../src/lab/talos/dial.js';
import { GrpcCallError } from '../../../src/lab/talos/h2-grpc.js';
import { failure, startTestLab, type TestLab } from './fixtures/lab.js';

let lab: TestLab;

t.before(async () => {
  lab = await startTestLab({ controlPlanes: 2, workers: 1, style: 'legacy', vip: true });
});
t.teardown(() => lab.stop());

t.test('MachineConfig, OSRoot and KubernetesRoot as Talos shows them', async (t) => {
  const c = lab.client();
  const [cp, w] = [lab.cluster.controlPlanes[1]!, lab.cluster.workers[0]!];
  const mc = await c.getMachineConfig(w.address);
  t.equal(mc.yaml, w.config);
  t.equal(mc.version, '1');
  const raw = await c.getResource(w.address, 'config', 'MachineConfigs.config.talos.dev', 'v1alpha1');
  t.same(raw.metadata?.annotations, { 'talos.dev/yaml-spec': '1' });
  t.equal(raw.metadata?.phase, 'running');
  const os = await c.getOsRootSecrets(w.address);
  t.equal(os.issuingCa, null, 'a worker has no issuing CA (key empty)');
  t.same(os.acceptedCas, [lab.secrets.os.certPem]);
  t.same(os.certSanIps, [w.address, lab.cluster.clusterEndpointAddress]);
  t.equal(os.token.reveal(), lab.secrets.trustdToken);
  const cpOs = await c.getOsRootSecrets(cp.address);
  t.equal(cpOs.issuingCa?.certPem, lab.secrets.os.certPem);
  t.equal(cpOs.issuingCa?.key?.reveal(), lab.secrets.os.key.reveal());
  const k8s = await c.getKubernetesRootSecrets(cp.address);
  t.equal(k8s.issuingCa?.certPem, lab.secrets.k8s.certPem);
  t.same(k8s.acceptedCas, [lab.secrets.k8s.certPem]);
  t.equal(k8s.endpoint, `https://${lab.cluster.clusterEndpointAddress}:6443`);
  t.equal(k8s.localEndpoint, 'https://127.0.0.1:7445');
  const e = await failure(c.getKubernetesRootSecrets(w.address));
  t.equal(e.kind, 'not-found', 'KubernetesRootSecrets exists only on control planes');
  t.equal(e.detail, "resource KubernetesRootSecrets.secrets.talos.dev(secrets/k8s@undefined) doesn't exist");
});

t.test('Members lists every node (the VIP holder with the VIP first); Identities tells machines apart', async (t) => {
  const c = lab.client();
  const members = await c.listMembers(lab.workers[0]);
  t.same(
    members.map((m) => [m.id, m.nodeId, m.machineType]),
    lab.cluster.nodes.map((n) => [n.hostname, n.nodeId, n.role]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
  );
  const holder = lab.cluster.vipHolder()!;
  const first = members.find((m) => m.nodeId === holder.nodeId)!;
  t.same(first.addresses, [lab.cluster.vipAddress, holder.address], 'the VIP shows first on its holder');
  // The VIP reached as an endpoint and as a node is the same machine as its holder.
  const viaVip = lab.client({ endpoints: [lab.cluster.vipAddress!] });
  t.equal((await viaVip.getIdentity(undefined)).nodeId, holder.nodeId);
  t.equal((await c.getIdentity(lab.cluster.vipAddress!)).nodeId, holder.nodeId);
  t.not((await c.getIdentity(lab.cps[1])).nodeId, holder.nodeId);
});

t.test('kubelet Service watch: empty response, then DESTROYED tombstone / CREATED, then changes', async (t) => {
  const c = lab.client();
  const w = lab.cluster.workers[0]!;
  const watch = c.watchKubeletService(w.address);
  await watch.ready;
  const it = watch[Symbol.asyncIterator]();
  const next = async (): Promise<ServiceWatchEvent> => (await it.next()).value as ServiceWatchEvent;
  const first = await next();
  t.equal(first.type, 'DESTROYED', 'no kubelet yet: a tombstone');
  w.setKubelet({ running: true, healthy: false });
  t.same(
    await next(),
    { type: 'CREATED', service: { id: 'kubelet', running: true, healthy: false, unknown: true } },
    'running, health not yet checked (Talos: Unknown = Healthy == nil)',
  );
  w.setKubelet({ running: true, healthy: true });
  t.same(await next(), { type: 'UPDATED', service: { id: 'kubelet', running: true, healthy: true, unknown: false } });
  w.setKubelet(null);
  const gone = await next();
  t.equal(gone.type, 'DESTROYED');
  t.same(gone.service, { id: 'kubelet', running: true, healthy: true, unknown: false }, 'the last state');
  w.setKubelet({ running: true, healthy: true });
  t.equal((await next()).type, 'CREATED');
  watch.close();
  // A new watch starts with CREATED and the current state, as rotate-ca expects.
  const again = c.watchKubeletService(w.address);
  const ev = (await again[Symbol.asyncIterator]().next()).value as ServiceWatchEvent;
  t.same(ev, { type: 'CREATED', service: { id: 'kubelet', running: true, healthy: true, unknown: false } });
  again.close();
  t.same(await c.getKubeletService(w.address), { id: 'kubelet', running: true, healthy: true, unknown: false });
});

t.test('a whole-type watch with bootstrap contents, and List', async (t) => {
  const c = lab.client();
  const items = await c.listResources(lab.cps[0], 'config', 'MachineConfigs.config.talos.dev');
  t.equal(items.length, 1);
  t.equal(items[0]?.metadata?.id, 'v1alpha1');
});

t.test('access policy: writes refused, unknown types refused, sensitive types need os:admin', async (t) => {
  const c = lab.client();
  const e = await failure(c.getResource(lab.workers[0], 'network', 'Nodenames.kubernetes.talos.dev', 'x'));
  t.equal(e.kind, 'permission-denied');
  t.equal(e.detail, 'resource type "Nodenames.kubernetes.talos.dev" is not supported');
  const e2 = await failure(c.getResource(lab.workers[0], 'nowhere', 'Members.cluster.talos.dev', 'x'));
  t.equal(e2.detail, 'namespace "nowhere" is not supported');
  const reader = lab.client({ cert: await lab.clientCert(lab.secrets.os, ['os:reader']) });
  t.equal((await failure(reader.getOsRootSecrets(lab.cps[0]))).detail, 'not authorized');
  t.equal((await failure(reader.getKubernetesRootSecrets(lab.cps[0]))).detail, 'not authorized');

  // A write, straight to a node with our own h2 client (TalosClient has no write methods).
  const cp = lab.cps[0]!;
  const r = await dialLab({
    from: '127.0.0.1',
    host: cp,
    port: 50000,
    ca: [lab.secrets.os.certPem],
    cert: lab.admin.certPem,
    key: keyPemForTls(lab.admin.key),
  });
  t.ok(r.ok, 'dialled');
  if (!r.ok) return;
  const create = { ...talosProtos().stateService.Get, path: '/cosi.resource.State/Create' };
  try {
    await r.session.unary(create, { namespace: 'config', type: 'MachineConfigs.config.talos.dev', id: 'v1alpha1' }, {});
    t.fail('a write must be refused');
  } catch (err) {
    t.ok(err instanceof GrpcCallError);
    t.equal((err as GrpcCallError).code, 7);
    t.equal((err as GrpcCallError).details, 'write access is not allowed');
  }
  // one-to-many proxying is refused for COSI methods.
  try {
    await r.session.unary(
      talosProtos().stateService.Get,
      { namespace: 'cluster', type: 'Identities.cluster.talos.dev', id: 'local' },
      { nodes: [lab.workers[0]!, lab.cps[1]!] },
    );
    t.fail('nodes metadata on COSI must be refused');
  } catch (err) {
    t.equal((err as GrpcCallError).details, 'one-2-many proxying is not supported for COSI methods');
  }
  // ...but works for machine methods (deprecated `nodes`): each reply carries its node's hostname.
  const v = await r.session.unary(
    talosProtos().machineService.Version,
    {},
    { nodes: [lab.workers[0]!, lab.cps[1]!, `${lab.block}.250`] },
  );
  t.same(
    v.messages?.map((m) => m.metadata?.hostname),
    [lab.workers[0], lab.cps[1], `${lab.block}.250`],
  );
  t.equal(v.messages?.[0]?.version?.tag, 'v1.13.9');
  t.equal(v.messages?.[2]?.metadata?.status?.code, 14, 'an unreachable node becomes a metadata error');
  // And the Watch stream starts with an empty response.
  const got: WatchResponse[] = [];
  const ac = new AbortController();
  const done = r.session
    .call(
      talosProtos().stateService.Watch,
      { namespace: 'cluster', type: 'Identities.cluster.talos.dev', id: 'local', api_version: 1, options: {} },
      {},
      (m) => {
        got.push(m);
        if (got.length === 2) ac.abort();
      },
      { signal: ac.signal },
    )
    .catch((err: GrpcCallError) => err.code);
  t.equal(await done, 1, 'cancelled by us');
  t.same(got[0], { event: [] });
  t.equal(got[1]?.event?.[0]?.event_type, 'CREATED');
  r.session.destroy();
});

t.test(
  "SecretStatuses.kubernetes.talos.dev/static-pods (namespace controlplane): the static pods' secrets " +
    'version, control planes only',
  async (t) => {
    const c = lab.client();
    const cp = lab.cluster.controlPlanes[0]!;
    const w = lab.cluster.workers[0]!;
    const raw = await c.getResource(cp.address, 'controlplane', 'SecretStatuses.kubernetes.talos.dev', 'static-pods');
    t.equal(raw.metadata?.owner, 'k8s.RenderSecretsStaticPodController');
    const before = await c.getSecretsStatus(cp.address);
    t.same(before, { ready: true, version: String(cp.secretsVersion) });
    const next = cp.bumpSecretsVersion();
    const after = await c.getSecretsStatus(cp.address);
    t.equal(after.version, String(next), 'a new render shows as a new version');
    t.not(after.version, before.version);
    const e = await failure(c.getSecretsStatus(w.address));
    t.equal(e.kind, 'not-found', 'only control planes render static pods');
  },
);
