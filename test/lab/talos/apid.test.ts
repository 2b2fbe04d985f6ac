/**
 * apid of the emulated nodes with OUR client as the operator: proxying through a control plane to every
 * node, client-certificate trust (unknown CA, accepted CA, EKU), roles, routing rules, Kubeconfig.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { generateKubernetesCa, generateTalosCa, issueLeafCert, splitPemBlocks } from '../../../src/pki/index.js';
import { TalosApiError } from '../../../src/talos/errors.js';
import { addAccepted, setRaw } from './fixtures/patch.js';
import { eventually, startTestLab, type Asserts, type TestLab } from './fixtures/lab.js';

let lab: TestLab;

t.before(async () => {
  lab = await startTestLab({ controlPlanes: 2, workers: 2, style: 'legacy' });
});
t.teardown(() => lab.stop());

const trust = () => lab.cluster.ledger.snapshot().trustFailures;

async function rejects(t: Asserts, p: Promise<unknown>, kind: string, message?: RegExp): Promise<TalosApiError> {
  try {
    await p;
  } catch (err) {
    t.ok(TalosApiError.isTalosApiError(err), 'a TalosApiError');
    const e = err as TalosApiError;
    t.equal(e.kind, kind, `kind ${kind} (${e.message})`);
    if (message) t.match(e.detail, message);
    return e;
  }
  t.fail('expected a rejection');
  throw new Error('unreachable');
}

t.test(
  'Version through a control-plane endpoint reaches every node (proxy path) and reports the v1.13 tag',
  async (t) => {
    const c = lab.client();
    for (const n of lab.cluster.nodes) {
      const v = await c.version(n.address);
      t.equal(v.tag, 'v1.13.9', `${n.address} answers`);
      t.equal(v.rbac, true);
    }
    // The identity of each node tells them apart.
    const ids = await Promise.all(lab.cluster.nodes.map((n) => c.getIdentity(n.address)));
    t.same(
      ids.map((i) => i.nodeId),
      lab.cluster.nodes.map((n) => n.nodeId),
    );
    t.equal(new Set(ids.map((i) => i.nodeId)).size, lab.cluster.nodes.length);
  },
);

t.test('a talosconfig from an unknown CA is refused and counted as operator-apid', async (t) => {
  const before = trust()['operator-apid'];
  const stranger = await generateTalosCa();
  const cert = await lab.clientCert(stranger);
  const c = lab.client({ cert });
  await rejects(t, c.version(), 'tls-client-rejected');
  c.close(); // no background reconnects
  t.ok(trust()['operator-apid'] > before, 'counted by the listener');
  const entry = lab.cluster.ledger.snapshot().trustFailureLog.at(-1)!;
  t.equal(entry.edge, 'operator-apid');
  t.equal(entry.reason, 'unknown-ca');
  t.equal(entry.refusedBy, 'server');
  t.equal(entry.to, lab.cps[0]);
});

t.test('an operator that does not trust the node is refused by its own client and counted too', async (t) => {
  const from = lab.cluster.ledger.snapshot().trustFailureLog.length;
  const other = await generateTalosCa();
  const c = lab.client({ caPem: other.certPem });
  const before = Date.now();
  await rejects(t, c.version(), 'tls-untrusted-server');
  c.close();
  const refusals = () =>
    lab.cluster.ledger
      .snapshot()
      .trustFailureLog.slice(from)
      .filter((e) => e.edge === 'operator-apid' && e.refusedBy === 'client' && e.to === lab.cps[0]);
  await eventually(() => refusals().length > 0, 5_000, 'the refusal to be counted');
  t.pass('counted as refused by the client');
  // The wire cannot tell this from a client killed mid-handshake, so the entry says when the connection was
  // accepted: a test that kills a client excuses only connections open across the kill.
  const e = refusals()[0]!;
  t.type(e.openedAt, 'string', 'the entry carries when the connection was accepted');
  t.ok(
    Date.parse(e.openedAt!) >= before - 1 && Date.parse(e.openedAt!) <= Date.parse(e.at),
    'accepted during the call, before the hang-up',
  );
  t.ok(Number.isInteger(e.fromPort) && e.fromPort! > 0, 'and the source port it came from');
});

t.test('a client certificate from an accepted CA works once the node accepts that CA', async (t) => {
  const extra = await generateTalosCa();
  const cert = await lab.clientCert(extra);
  const cp = lab.cluster.controlPlanes[0]!;
  const direct = lab.client({ cert });
  await rejects(t, direct.version(), 'tls-client-rejected');
  direct.close();
  const admin = lab.client();
  await admin.applyConfiguration(cp.address, addAccepted(cp.config, extra.certPem), { mode: 'NO_REBOOT' });
  t.equal(cp.roots.talos.trusted.length, 2);
  // New connections get the new trust set once apid has it: as in Talos, the node's certificates follow the
  // applied config asynchronously (the secrets controllers), not before ApplyConfiguration returns.
  let again = lab.client({ cert });
  let v: Awaited<ReturnType<typeof again.version>> | null = null;
  for (let i = 0; v === null; i++) {
    try {
      v = await again.version();
    } catch (err) {
      again.close();
      if (i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
      again = lab.client({ cert });
    }
  }
  t.equal(v.tag, 'v1.13.9');
  // Through the proxy the target only sees the control plane's impersonator certificate, and the caller's roles.
  t.equal((await again.version(lab.workers[0])).tag, 'v1.13.9');
});

t.test(
  'a client certificate with EKU ServerAuth+ClientAuth is refused (wrong-eku), as apid does since v1.3',
  async (t) => {
    const before = lab.cluster.ledger.snapshot().trustFailureLog.length;
    const cert = await issueLeafCert(lab.secrets.os, {
      organizations: ['os:admin'],
      usages: ['serverAuth', 'clientAuth'],
    });
    const c = lab.client({ cert });
    await rejects(t, c.version(), 'tls-client-rejected');
    c.close();
    const log = lab.cluster.ledger.snapshot().trustFailureLog.slice(before);
    t.ok(
      log.some((e) => e.edge === 'operator-apid' && e.reason === 'wrong-eku'),
      'recorded as wrong-eku',
    );
  },
);

t.test('roles: os:reader can read but not apply nor read sensitive resources', async (t) => {
  const reader = lab.client({ cert: await lab.clientCert(lab.secrets.os, ['os:reader']) });
  const w = lab.cluster.workers[0]!;
  t.equal((await reader.version(w.address)).tag, 'v1.13.9');
  const e = await rejects(
    t,
    reader.applyConfiguration(w.address, w.config, { mode: 'NO_REBOOT' }),
    'permission-denied',
  );
  t.equal(e.detail, 'not authorized');
  const e2 = await rejects(t, reader.getMachineConfig(w.address), 'permission-denied');
  t.equal(e2.detail, 'not authorized');
  const members = await reader.listMembers(w.address);
  t.equal(members.length, lab.cluster.nodes.length);
  // A certificate with no known role can do nothing.
  const nobody = lab.client({ cert: await lab.clientCert(lab.secrets.os, ['team:ops']) });
  const e3 = await rejects(t, nobody.version(), 'permission-denied');
  t.equal(e3.detail, 'not authorized');
});

t.test('routing: a worker endpoint refuses to forward but serves requests naming itself', async (t) => {
  const [w1, w2] = lab.workers;
  const c = lab.client({ endpoints: [w1!] });
  t.equal((await c.version()).tag, 'v1.13.9', 'no node metadata: served locally');
  t.equal((await c.version(w1)).tag, 'v1.13.9', 'node = itself: served locally');
  const e = await rejects(t, c.version(w2), 'permission-denied');
  t.equal(e.detail, 'no request forwarding');
  const e2 = await rejects(t, c.version(lab.cps[0]), 'permission-denied');
  t.equal(e2.detail, 'no request forwarding');
});

t.test('routing: a control plane forwards to itself too, and an unreachable target is Unavailable', async (t) => {
  const c = lab.client();
  t.equal((await c.version(lab.cps[0])).tag, 'v1.13.9');
  const nobody = `${lab.block}.200`;
  const e = await rejects(t, c.version(nobody), 'unreachable');
  t.match(e.detail, /connection refused|ECONNREFUSED/);
  const e2 = await rejects(t, c.version('10.0.0.1'), 'unreachable');
  t.match(e2.detail, /no such host/);
});

t.test('Kubeconfig: a control plane mints an admin kubeconfig; a worker answers Unimplemented', async (t) => {
  const c = lab.client();
  const cp = lab.cluster.controlPlanes[1]!;
  const yaml = await c.kubeconfig(cp.address);
  const kc = parseYaml(yaml) as {
    clusters: Array<{ name: string; cluster: { server: string; 'certificate-authority-data': string } }>;
    users: Array<{ name: string; user: { 'client-certificate-data': string } }>;
    contexts: Array<{ name: string; context: { user: string; cluster: string } }>;
    'current-context': string;
  };
  t.equal(kc['current-context'], `admin@${lab.cluster.clusterName}`);
  t.equal(kc.users[0]!.name, `admin@${lab.cluster.clusterName}`);
  t.equal(kc.contexts[0]!.context.user, `admin@${lab.cluster.clusterName}`);
  t.equal(kc.clusters[0]!.cluster.server, `https://${lab.cluster.clusterEndpointAddress}:6443`);
  const caPem = Buffer.from(kc.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString('utf8');
  t.same(
    splitPemBlocks(caPem).map((b) => b.pem),
    [lab.secrets.k8s.certPem],
    'CA data: the Kubernetes CA (accepted list, then issuing: the v1.13 order)',
  );
  const cert = new X509Certificate(Buffer.from(kc.users[0]!.user['client-certificate-data'], 'base64'));
  t.match(cert.subject, /CN=admin/);
  t.match(cert.subject, /O=system:masters/);
  t.ok(
    cert.verify(new X509Certificate(lab.secrets.k8s.certPem).publicKey),
    "signed by the node's issuing Kubernetes CA",
  );
  const e = await rejects(t, c.kubeconfig(lab.workers[0]), 'unimplemented');
  t.equal(e.detail, 'kubeconfig is only available on control plane nodes');
  const reader = lab.client({ cert: await lab.clientCert(lab.secrets.os, ['os:reader']) });
  const e2 = await rejects(t, reader.kubeconfig(cp.address), 'permission-denied');
  t.equal(e2.detail, 'not authorized');

  // v1.13 writes the accepted Kubernetes CAs first, then the issuing one.
  const extra = await generateKubernetesCa();
  const withAccepted = setRaw(
    cp.config,
    ['cluster', 'acceptedCAs'],
    [{ crt: Buffer.from(extra.certPem).toString('base64') }],
  );
  await c.applyConfiguration(cp.address, withAccepted, { mode: 'NO_REBOOT' });
  const kc2 = parseYaml(await c.kubeconfig(cp.address)) as typeof kc;
  const ca2 = Buffer.from(kc2.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString('utf8');
  t.same(
    splitPemBlocks(ca2).map((b) => b.pem),
    [extra.certPem, lab.secrets.k8s.certPem],
    'accepted first, then issuing',
  );
});

t.test('in-cluster edges stayed clean through all of this', async (t) => {
  await lab.talos.settle();
  t.equal(trust()['apid-proxy'], 0);
  t.equal(trust()['worker-trustd'], 0);
  t.ok(lab.talos.probeStats().apid > 0, 'the control planes did dial the nodes');
});
