/**
 * The pure rules of the Kubernetes side: authentication/authorization, kubectl's Table negotiation and
 * AGE format, certificate subject parsing, TLS error → ledger reason mapping, the CSR auto-approval rule
 * and KubePrism's round robin.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { createCsr, generateKubernetesCa, issueLeafCert } from '../../../src/pki/index.js';
import { ANONYMOUS, authenticate, authorize, type CertSubject, type KubeUser } from '../../../src/lab/kube/auth.js';
import tls from 'node:tls';
import { keyPemForTls } from '../../../src/pki/index.js';
import { kubeletCsrDenial } from '../../../src/lab/kube/controller-manager.js';
import { KubePrism } from '../../../src/lab/kube/kubeprism.js';
import { humanDuration, KUBELET_CLIENT_SIGNER, wantsTable, type CsrView } from '../../../src/lab/kube/objects.js';
import { reasonForAlert, reasonForVerifyCode, VerdictNotes } from '../../../src/lab/kube/tls-outcome.js';

const TOKEN = 'abcdef.0123456789abcdef';

/**
 * CN and O values of an X509Certificate subject, the reference the apiserver's reading is compared with. Node
 * renders it one RDN per line, the values of a multi-valued RDN (how Talos puts several O values) joined by
 * ` + `, specials backslash-escaped.
 */
function subjectOf(subject: string): { CN: string[]; O: string[] } {
  const out = { CN: [] as string[], O: [] as string[] };
  for (const line of subject.split('\n')) {
    for (const attr of line.split(/(?<!\\) \+ (?=[A-Za-z0-9.]+=)/)) {
      const eq = attr.indexOf('=');
      const key = attr.slice(0, eq);
      if (key === 'CN' || key === 'O') out[key].push(attr.slice(eq + 1).replace(/\\(.)/g, '$1'));
    }
  }
  return out;
}

t.test('authentication: certificate first, then bootstrap token, else anonymous', async (t) => {
  const cert = authenticate({
    verifiedCertSubject: { CN: 'system:node:w1', O: ['system:nodes'] },
    authorization: 'Bearer nope',
    bootstrapToken: TOKEN,
  });
  t.same(cert, { ok: true, user: { name: 'system:node:w1', groups: ['system:nodes', 'system:authenticated'] } });
  const token = authenticate({ verifiedCertSubject: null, authorization: `Bearer ${TOKEN}`, bootstrapToken: TOKEN });
  t.same(token, {
    ok: true,
    user: {
      name: 'system:bootstrap:abcdef',
      groups: ['system:bootstrappers', 'system:bootstrappers:nodes', 'system:authenticated'],
    },
  });
  t.same(authenticate({ verifiedCertSubject: null, authorization: 'Bearer abcdef.wrong', bootstrapToken: TOKEN }), {
    ok: false,
  });
  t.same(authenticate({ verifiedCertSubject: null, authorization: undefined, bootstrapToken: TOKEN }), {
    ok: true,
    user: ANONYMOUS,
  });
});

t.test('authorization: masters, node authorizer, bootstrappers, anonymous', async (t) => {
  const admin: KubeUser = { name: 'admin', groups: ['system:masters', 'system:authenticated'] };
  const w1: KubeUser = { name: 'system:node:w1', groups: ['system:nodes', 'system:authenticated'] };
  const boot: KubeUser = { name: 'system:bootstrap:abcdef', groups: ['system:bootstrappers', 'system:authenticated'] };
  const stranger: KubeUser = { name: 'someone', groups: ['system:authenticated'] };
  const nodes = { kind: 'resource' as const, verb: 'list', group: '', resource: 'nodes' };
  const lease = (name: string, verb = 'update') => ({
    kind: 'resource' as const,
    verb,
    group: 'coordination.k8s.io',
    resource: 'leases',
    namespace: 'kube-node-lease',
    name,
  });
  const csrCreate = {
    kind: 'resource' as const,
    verb: 'create',
    group: 'certificates.k8s.io',
    resource: 'certificatesigningrequests',
  };

  t.ok(authorize(admin, nodes));
  t.ok(authorize(w1, nodes), 'kubelets read nodes');
  t.ok(authorize(w1, lease('w1')), 'own lease');
  t.notOk(authorize(w1, lease('w2')), "another node's lease");
  t.ok(
    authorize(w1, { kind: 'resource', verb: 'patch', group: '', resource: 'nodes', subresource: 'status', name: 'w1' }),
  );
  t.notOk(
    authorize(w1, { kind: 'resource', verb: 'patch', group: '', resource: 'nodes', subresource: 'status', name: 'w2' }),
  );
  t.notOk(
    authorize({ name: 'system:node:w1', groups: ['system:authenticated'] }, lease('w1')),
    'the node name alone is not enough: O=system:nodes is',
  );
  t.ok(authorize(boot, csrCreate));
  t.notOk(authorize(boot, nodes));
  t.notOk(authorize(stranger, nodes));
  t.ok(authorize(stranger, { kind: 'discovery' }));
  t.notOk(authorize(ANONYMOUS, { kind: 'discovery' }));
  t.ok(authorize(ANONYMOUS, { kind: 'public' }));
});

t.test("kubectl's Table negotiation and AGE column", async (t) => {
  t.ok(
    wantsTable(
      'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json',
    ),
  );
  t.notOk(wantsTable('application/json'));
  t.notOk(wantsTable('application/json;as=Table;v=v1beta1;g=meta.k8s.io'), 'only v1 Tables are served');
  t.notOk(wantsTable(undefined));
  const s = 1000;
  t.equal(humanDuration(5 * s), '5s');
  t.equal(humanDuration(119 * s), '119s');
  t.equal(humanDuration(150 * s), '2m30s');
  t.equal(humanDuration(600 * s), '10m');
  t.equal(humanDuration(4 * 3600 * s + 5 * 60 * s), '4h5m');
  t.equal(humanDuration(30 * 3600 * s), '30h');
  t.equal(humanDuration(3 * 24 * 3600 * s), '3d');
  t.equal(humanDuration(-5 * s), '<invalid>');
});

t.test('certificate subject parsing, multi-valued O and escapes', async (t) => {
  const ca = await generateKubernetesCa();
  const leaf = await issueLeafCert(ca, {
    commonName: 'system:node:a+b',
    organizations: ['system:masters', 'x,y', 'p + O=q'],
    usages: ['clientAuth'],
  });
  const subject = subjectOf(new X509Certificate(leaf.certPem).subject);
  t.same(subject.CN, ['system:node:a+b']);
  t.same([...subject.O].sort(), ['p + O=q', 'system:masters', 'x,y']);
});

t.test("the user read from node:tls's subject object equals the one the certificate's text names", async (t) => {
  const ca = await generateKubernetesCa();
  const server = await issueLeafCert(ca, { commonName: 'srv', usages: ['serverAuth'], ipAddresses: ['127.0.0.1'] });
  const srv = tls.createServer({
    cert: server.certPem,
    key: keyPemForTls(server.key),
    ca: [ca.certPem],
    requestCert: true,
    rejectUnauthorized: false,
  });
  t.teardown(() => srv.close());
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  for (const subject of [
    { commonName: 'system:node:a+b', organizations: ['system:masters', 'x,y', 'p + O=q'] },
    { commonName: 'system:node:w1', organizations: ['system:nodes'] },
    { commonName: 'admin', organizations: ['ünï', ' lead', 'trail ', 'a\\b', 'a#h'] },
    { organizations: ['only'] },
    { commonName: 'cn-only' },
  ]) {
    const leaf = await issueLeafCert(ca, { ...subject, usages: ['clientAuth'] });
    // What the apiserver hands authenticate(), and the same certificate's names read from its text.
    const seen = new Promise<{ object: CertSubject; text: { CN: string[]; O: string[] } }>((resolve) =>
      srv.once('secureConnection', (s: tls.TLSSocket) => {
        resolve({ object: s.getPeerCertificate().subject, text: subjectOf(s.getPeerX509Certificate()!.subject) });
        s.destroy();
      }),
    );
    const client = tls.connect({
      host: '127.0.0.1',
      port,
      ca: [ca.certPem],
      cert: leaf.certPem,
      key: keyPemForTls(leaf.key),
    });
    client.on('error', () => undefined);
    const { object, text } = await seen;
    client.destroy();
    const user = (s: CertSubject) =>
      authenticate({ verifiedCertSubject: s, authorization: undefined, bootstrapToken: TOKEN });
    t.same(user(object), user(text), JSON.stringify(subject));
    t.same(text.O.length, subject.organizations?.length ?? 0, 'every O value');
    t.same(text.CN.length, subject.commonName ? 1 : 0, 'the CN');
  }
});

t.test("a subject with several CNs authenticates as the last, as Go's pkix.Name keeps it", async (t) => {
  const r = authenticate({
    verifiedCertSubject: { CN: ['first', 'last'] },
    authorization: undefined,
    bootstrapToken: TOKEN,
  });
  t.same(r, { ok: true, user: { name: 'last', groups: ['system:authenticated'] } });
});

t.test('a verified certificate without a CN authenticates no one: the token or anonymous decides', async (t) => {
  // Kubernetes' CommonNameUserConversion answers "not authenticated" for an empty CommonName (Go's pkix.Name
  // keeps the last CN, so an empty last one counts too); the union goes on to the bearer token, then anonymous.
  for (const subject of [{ O: ['system:masters'] }, { CN: '', O: 'system:masters' }, { CN: ['admin', ''] }]) {
    const what = JSON.stringify(subject);
    const as = (authorization: string | undefined) =>
      authenticate({ verifiedCertSubject: subject, authorization, bootstrapToken: TOKEN });
    t.same(as(undefined), { ok: true, user: ANONYMOUS }, `${what}: anonymous`);
    t.same(as('Bearer abcdef.wrong'), { ok: false }, `${what}: a wrong token is refused`);
    t.match(as(`Bearer ${TOKEN}`), { ok: true, user: { name: 'system:bootstrap:abcdef' } }, `${what}: the token`);
  }
});

t.test('TLS outcomes → ledger reasons', async (t) => {
  t.equal(reasonForVerifyCode('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'unknown-ca');
  t.equal(reasonForVerifyCode('SELF_SIGNED_CERT_IN_CHAIN'), 'unknown-ca');
  t.equal(reasonForVerifyCode('CERT_HAS_EXPIRED'), 'expired');
  t.equal(reasonForVerifyCode('ERR_TLS_CERT_ALTNAME_INVALID'), 'hostname-mismatch');
  t.equal(reasonForVerifyCode('INVALID_PURPOSE'), 'wrong-eku');
  t.equal(reasonForVerifyCode('ECONNRESET'), null);
  t.equal(reasonForAlert('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'tlsv1 alert unknown ca'), 'unknown-ca');
  t.equal(reasonForAlert('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'sslv3 alert bad certificate'), 'bad-certificate');
  t.equal(reasonForAlert('ECONNRESET', 'socket hang up'), null);
  const notes = new VerdictNotes();
  notes.record('::ffff:127.1.2.10', 40000, { kind: 'trust', reason: 'unknown-ca' });
  t.same(notes.take('127.1.2.10', 40000), { kind: 'trust', reason: 'unknown-ca' });
  t.equal(notes.take('127.1.2.10', 40000), null, 'a note is read once');
});

t.test('kubelet CSR auto-approval rule', async (t) => {
  const view = (requestPem: string, over: Partial<CsrView> = {}): CsrView => ({
    name: 'csr-1',
    uid: 'u',
    createdAt: new Date(),
    resourceVersion: '1',
    requestPem,
    signerName: KUBELET_CLIENT_SIGNER,
    usages: ['digital signature', 'client auth'],
    username: 'system:bootstrap:abcdef',
    groups: ['system:bootstrappers', 'system:authenticated'],
    state: 'Pending',
    message: '',
    certificatePem: null,
    ...over,
  });
  const good = await createCsr({
    algorithm: 'ecdsa-p256',
    commonName: 'system:node:w1',
    organizations: ['system:nodes'],
  });
  t.equal(kubeletCsrDenial(view(good.csrPem)), null, 'bootstrap CSR for a node: approved');
  t.match(kubeletCsrDenial(view(good.csrPem, { signerName: 'kubernetes.io/kube-apiserver-client' })), /signer/);
  t.match(kubeletCsrDenial(view(good.csrPem, { username: 'someone', groups: ['system:authenticated'] })), /neither/);
  t.equal(
    kubeletCsrDenial(view(good.csrPem, { username: 'system:node:w1', groups: ['system:nodes'] })),
    null,
    'a node renewing its own',
  );
  t.match(kubeletCsrDenial(view(good.csrPem, { username: 'system:node:w2', groups: ['system:nodes'] })), /own/);
  const masters = await createCsr({
    algorithm: 'ecdsa-p256',
    commonName: 'system:node:w1',
    organizations: ['system:masters'],
  });
  t.match(kubeletCsrDenial(view(masters.csrPem)), /organization/, 'a bootstrap token cannot obtain system:masters');
});

t.test('KubePrism: round robin over the upstreams that are up', async (t) => {
  const ups = [
    { id: 'a', isUp: true },
    { id: 'b', isUp: true },
    { id: 'c', isUp: true },
  ];
  const prism = new KubePrism(() => ups);
  t.same(
    [1, 2, 3, 4].map(() => prism.pick()!.id),
    ['a', 'b', 'c', 'a'],
  );
  ups[1]!.isUp = false;
  t.same(
    [1, 2, 3].map(() => prism.pick()!.id),
    ['c', 'a', 'c'],
  );
  for (const u of ups) u.isUp = false;
  t.equal(prism.pick(), null);
});
