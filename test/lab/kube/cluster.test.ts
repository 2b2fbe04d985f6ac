/**
 * A 3 control plane + 2 worker lab on real TLS: Nodes become Ready, the machine's real kubectl lists them
 * through the cluster endpoint and the VIP, a kubeconfig from an unknown CA is refused and counted, the
 * apiserver's authentication/authorization answers, and an apiserver restart on a CA change.
 */
import t from 'tap';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import {
  generateKubernetesCa,
  issueKubernetesAdminCert,
  issueLeafCert,
  isSignedBy,
  keyPemForTls,
  concatPem,
} from '../../../src/pki/index.js';
import { KUBERNETES_VERSION, renderKubeconfig } from '../../../src/lab/kube/index.js';
import {
  applyAndWaitKubelet,
  kubectl,
  makeCas,
  phaseRoots,
  startLab,
  waitFor,
  type TestLab,
  type Cas,
} from './fixtures/lab.js';

let cas: Cas;
let lab: TestLab;

t.before(async () => {
  cas = await makeCas();
  lab = await startLab({ cas, vip: true });
  await lab.side.whenAllReady(15_000);
});
t.teardown(async () => {
  await lab?.stop();
});

interface RawResult {
  status: number;
  body: Record<string, unknown>;
  contentType: string | undefined;
}

function rawRequest(
  address: string,
  path: string,
  opts: {
    cert?: { certPem: string; keyPem: string };
    method?: string;
    body?: unknown;
    headers?: Record<string, string>;
  } = {},
): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = https.request(
      {
        host: address,
        port: 6443,
        path,
        method: opts.method ?? 'GET',
        agent: false,
        ca: concatPem([cas.old.certPem, cas.new.certPem]),
        ...(opts.cert ? { cert: opts.cert.certPem, key: opts.cert.keyPem } : {}),
        headers: {
          Accept: 'application/json',
          ...(payload ? { 'Content-Type': 'application/json' } : {}),
          ...opts.headers,
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => {
          let body: Record<string, unknown>;
          try {
            body = JSON.parse(text) as Record<string, unknown>;
          } catch {
            body = { text };
          }
          resolve({ status: res.statusCode ?? 0, body, contentType: res.headers['content-type'] });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

t.test('every Node becomes Ready and real kubectl lists them (table and JSON)', async (t) => {
  t.ok(lab.side.allReady(), 'all Nodes Ready');
  for (const n of lab.cluster.nodes) {
    t.same(n.kubelet, { running: true, healthy: true }, `${n.hostname} kubelet Service running and healthy`);
    t.ok(
      isSignedBy(lab.side.kubeletCertPem(n.address)!, cas.old.certPem),
      `${n.hostname} kubelet cert signed by the issuing CA`,
    );
  }
  const kubeconfig = await lab.side.adminKubeconfig();
  const table = await kubectl(kubeconfig, ['get', 'nodes']);
  t.equal(table.code, 0, `kubectl get nodes exits 0 (stderr: ${table.stderr})`);
  const lines = table.stdout.trim().split('\n');
  t.match(lines[0], /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\s*$/, 'kubectl header');
  t.equal(lines.length, 6, 'five nodes listed');
  for (const n of lab.cluster.nodes) {
    const row = lines.find((l) => l.split(/\s+/)[0] === n.hostname);
    t.ok(row, `${n.hostname} listed`);
    const [, status, roles] = row!.split(/\s+/);
    t.equal(status, 'Ready', `${n.hostname} Ready`);
    t.equal(roles, n.role === 'controlplane' ? 'control-plane' : '<none>', `${n.hostname} roles`);
  }

  const json = await kubectl(kubeconfig, ['get', 'nodes', '-o', 'json']);
  t.equal(json.code, 0, `kubectl get nodes -o json exits 0 (stderr: ${json.stderr})`);
  const list = JSON.parse(json.stdout) as {
    items: Array<{ metadata: { name: string }; status: { conditions: Array<{ type: string; status: string }> } }>;
  };
  t.same(
    list.items.map((i) => i.metadata.name).sort(),
    lab.cluster.nodes.map((n) => n.hostname).sort(),
    'JSON lists every node',
  );
  for (const item of list.items) {
    t.equal(
      item.status.conditions.find((c) => c.type === 'Ready')?.status,
      'True',
      `${item.metadata.name} Ready=True in JSON`,
    );
  }

  const one = await kubectl(kubeconfig, ['get', 'node', 'worker-1', '-o', 'wide']);
  t.equal(one.code, 0, `kubectl get node worker-1 -o wide (stderr: ${one.stderr})`);
  t.match(one.stdout, /INTERNAL-IP/);
  t.match(one.stdout, new RegExp(`worker-1\\s+Ready\\s+<none>.*${lab.workers[0]!.address.replace(/\./g, '\\.')}`));

  const missing = await kubectl(kubeconfig, ['get', 'node', 'nope']);
  t.not(missing.code, 0, 'unknown node fails');
  t.match(missing.stderr, /nodes "nope" not found/);
});

t.test('kubectl through the VIP', async (t) => {
  t.equal(lab.side.vipHolder(), lab.cps[0]!.address, 'VIP held by the first control plane');
  const kubeconfig = await lab.side.adminKubeconfig({ server: `https://${lab.cluster.vipAddress}:6443` });
  const r = await kubectl(kubeconfig, ['get', 'nodes', '-o', 'name']);
  t.equal(r.code, 0, `kubectl via VIP (stderr: ${r.stderr})`);
  t.equal(r.stdout.trim().split('\n').length, 5);
});

t.test(
  'a kubeconfig whose client cert comes from an unknown CA is refused and counted as client-apiserver',
  async (t) => {
    const before = lab.cluster.ledger.snapshot().trustFailures['client-apiserver'];
    const stranger = await generateKubernetesCa();
    const admin = await issueKubernetesAdminCert(stranger);
    const kubeconfig = renderKubeconfig({
      clusterName: 'lab',
      server: `https://${lab.cluster.clusterEndpointAddress}:6443`,
      caPem: cas.old.certPem,
      certPem: admin.certPem,
      keyPem: keyPemForTls(admin.key),
    });
    const r = await kubectl(kubeconfig, ['get', 'nodes'], '2s');
    t.not(r.code, 0, 'kubectl fails');
    t.notMatch(r.stdout, /Ready/, 'no nodes listed');
    const snap = lab.cluster.ledger.snapshot();
    t.ok(snap.trustFailures['client-apiserver'] > before, 'client-apiserver trust failure counted');
    const entry = snap.trustFailureLog.filter((e) => e.edge === 'client-apiserver').at(-1)!;
    t.equal(entry.refusedBy, 'server');
    t.equal(entry.reason, 'unknown-ca');
    t.ok(
      lab.cps.some((c) => c.address === entry.to),
      'counted by a control plane apiserver',
    );
    t.equal(snap.trustFailures['kubelet-apiserver'], 0, 'kubelets unaffected');
  },
);

t.test('a kubectl that does not trust the apiserver fails on the server certificate', async (t) => {
  const before = lab.cluster.ledger.snapshot().trustFailures['client-apiserver'];
  const stranger = await generateKubernetesCa();
  const admin = await issueKubernetesAdminCert(cas.old);
  const kubeconfig = renderKubeconfig({
    clusterName: 'lab',
    server: `https://${lab.cluster.clusterEndpointAddress}:6443`,
    caPem: stranger.certPem,
    certPem: admin.certPem,
    keyPem: keyPemForTls(admin.key),
  });
  const r = await kubectl(kubeconfig, ['get', 'nodes'], '2s');
  t.not(r.code, 0, 'kubectl fails');
  t.match(r.stderr, /x509|certificate/, 'on the server certificate');
  const snap = lab.cluster.ledger.snapshot();
  t.ok(snap.trustFailures['client-apiserver'] > before, "kubectl's alert is seen by the apiserver and counted");
  const entry = snap.trustFailureLog.filter((e) => e.edge === 'client-apiserver').at(-1)!;
  t.equal(entry.refusedBy, 'client', 'refused by the client');
});

t.test('authentication and authorization answers', async (t) => {
  const cp = lab.cps[1]!.address;
  const anonVersion = await rawRequest(cp, '/version');
  t.equal(anonVersion.status, 200, 'anonymous /version allowed');
  t.equal(anonVersion.body.gitVersion, KUBERNETES_VERSION, "the version of the machine configs' images");
  const anonNodes = await rawRequest(cp, '/api/v1/nodes');
  t.equal(anonNodes.status, 401, 'anonymous nodes list: 401');
  t.equal(anonNodes.body.kind, 'Status');
  t.equal(anonNodes.body.reason, 'Unauthorized');
  const badToken = await rawRequest(cp, '/apis/certificates.k8s.io/v1/certificatesigningrequests', {
    headers: { Authorization: 'Bearer abcdef.wrongwrongwrongw' },
  });
  t.equal(badToken.status, 401, 'wrong bootstrap token: 401');
  const bootstrap = await rawRequest(cp, '/api/v1/nodes', {
    headers: { Authorization: 'Bearer abcdef.0123456789abcdef' },
  });
  t.equal(bootstrap.status, 403, 'bootstrap token cannot list nodes');

  const admin = await issueKubernetesAdminCert(cas.old);
  const adminCert = { certPem: admin.certPem, keyPem: keyPemForTls(admin.key) };
  const pods = await rawRequest(cp, '/api/v1/namespaces/default/replicationcontrollers', { cert: adminCert });
  t.equal(pods.status, 404, 'unknown resource: 404');
  t.equal(pods.body.kind, 'Status');
  t.equal(pods.body.reason, 'NotFound');
  const resources = await rawRequest(cp, '/api/v1', { cert: adminCert });
  t.equal(resources.body.kind, 'APIResourceList');
  t.ok((resources.body.resources as Array<{ name: string }>).some((r) => r.name === 'nodes'));
  const csrs = await rawRequest(cp, '/apis/certificates.k8s.io/v1/certificatesigningrequests', { cert: adminCert });
  t.equal(csrs.status, 200);
  t.ok((csrs.body.items as unknown[]).length >= 5, 'one CSR per kubelet bootstrap');

  const w1 = await issueLeafCert(cas.old, {
    commonName: 'system:node:worker-1',
    organizations: ['system:nodes'],
    usages: ['clientAuth'],
  });
  const w1Cert = { certPem: w1.certPem, keyPem: keyPemForTls(w1.key) };
  const lease = (name: string): unknown => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace: 'kube-node-lease' },
    spec: { holderIdentity: name, renewTime: new Date().toISOString() },
  });
  const own = await rawRequest(cp, '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/worker-1', {
    cert: w1Cert,
    method: 'PUT',
    body: lease('worker-1'),
  });
  t.equal(own.status, 200, 'a kubelet renews its own Lease');
  const other = await rawRequest(cp, '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/worker-2', {
    cert: w1Cert,
    method: 'PUT',
    body: lease('worker-2'),
  });
  t.equal(other.status, 403, "a kubelet may not renew another node's Lease");
  t.equal(other.body.reason, 'Forbidden');
  const nodeGet = await rawRequest(cp, '/api/v1/nodes/worker-2', { cert: w1Cert });
  t.equal(nodeGet.status, 200, 'a kubelet may read Nodes');
});

t.test(
  'response negotiation: JSON to a client that lists protobuf first, 406 to one that accepts no JSON',
  async (t) => {
    const cp = lab.cps[0]!.address;
    const admin = await issueKubernetesAdminCert(cas.old);
    const cert = { certPem: admin.certPem, keyPem: keyPemForTls(admin.key) };
    // client-go's typed clients (talosctl's Node list in rotate-ca) ask for protobuf, then JSON.
    const clientGo = await rawRequest(cp, '/api/v1/nodes', {
      cert,
      headers: { Accept: 'application/vnd.kubernetes.protobuf,application/json' },
    });
    t.equal(clientGo.status, 200);
    t.equal(clientGo.contentType, 'application/json', 'answered as JSON, which client-go decodes by Content-Type');
    t.equal(clientGo.body.kind, 'NodeList');
    const any = await rawRequest(cp, '/api/v1/nodes', { cert, headers: { Accept: '*/*' } });
    t.equal(any.status, 200, '*/* gets JSON');
    for (const accept of [
      'application/vnd.kubernetes.protobuf',
      'text/plain',
      'application/json;q=0, application/vnd.kubernetes.protobuf',
    ]) {
      const r = await rawRequest(cp, '/api/v1/nodes', { cert, headers: { Accept: accept } });
      t.equal(r.status, 406, `Accept: ${accept} → 406 (the lab encodes no protobuf)`);
      t.equal(r.body.reason, 'NotAcceptable');
      t.equal(r.body.message, 'only the following media types are accepted: application/json');
    }
    const health = await rawRequest(cp, '/healthz', { headers: { Accept: 'text/plain' } });
    t.equal(health.status, 200, '/healthz does not negotiate');
  },
);

t.test('an apiserver restarts on a Kubernetes CA change: refused while down, new client-CA bundle after', async (t) => {
  const cp1 = lab.cps[0]!;
  const cp2 = lab.cps[1]!;
  const trustBefore = lab.cluster.ledger.snapshot().trustFailures['kubelet-apiserver'];
  const startsBefore = lab.cluster.ledger.snapshot();
  // Adding NEW as accepted on cp1 only; its apiserver keeps serving until its static pod is re-created.
  const restarted = applyAndWaitKubelet(cp1, phaseRoots(cas, 'controlplane', 'add'));
  t.ok(lab.side.apiserverUp(cp1.address), 'apiserver still up right after the change');
  await waitFor('cp1 apiserver restarting', () => !lab.side.apiserverUp(cp1.address));
  const refused = await new Promise<string>((resolve) => {
    const s = net.connect({ host: cp1.address, port: 6443 });
    s.on('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
  t.equal(refused, 'ECONNREFUSED', 'clients get ECONNREFUSED while it restarts');
  await waitFor('cp1 apiserver up', () => lab.side.apiserverUp(cp1.address));
  await restarted;

  const fromNew = await issueKubernetesAdminCert(cas.new);
  const newCert = { certPem: fromNew.certPem, keyPem: keyPemForTls(fromNew.key) };
  const ok = await rawRequest(cp1.address, '/api/v1/nodes', { cert: newCert });
  t.equal(ok.status, 200, 'cp1 now accepts a client cert from the NEW CA');
  const at2 = await rawRequest(cp2.address, '/api/v1/nodes', { cert: newCert });
  t.equal(at2.status, 401, 'cp2 (unchanged) answers 401 Unauthorized on the connection, as kube-apiserver does');
  const served = await new Promise<string>((resolve, reject) => {
    const s = tls.connect(
      { host: cp1.address, port: 6443, ca: cas.old.certPem, checkServerIdentity: () => undefined },
      () => {
        resolve(s.getPeerX509Certificate()!.toString());
        s.destroy();
      },
    );
    s.on('error', reject);
  });
  t.ok(isSignedBy(served, cas.old.certPem), 'serving cert still from the issuing (OLD) CA');
  t.equal(
    lab.cluster.ledger.snapshot().trustFailures['kubelet-apiserver'],
    trustBefore,
    'no kubelet trust failure from adding a CA',
  );
  t.ok(startsBefore.notReadyEvents === 0 && lab.side.allReady(), 'Nodes stay Ready');
});
