/**
 * trustd and worker registration: what trustd signs and returns, its token auth, a worker re-requesting
 * its certificate when its own Talos CA config changes (control planes in turn), and the worker's apid
 * trusting exactly the bundle trustd returned.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { createCsr, generateTalosCa } from '../../../src/pki/index.js';
import { talosProtos } from '../../../src/talos/proto.js';
import { TalosApiError } from '../../../src/talos/errors.js';
import { dialLab } from '../../../src/lab/talos/dial.js';
import { GrpcCallError } from '../../../src/lab/talos/h2-grpc.js';
import { addAccepted } from './fixtures/patch.js';
import { eventually, startTestLab, type TestLab } from './fixtures/lab.js';

let lab: TestLab;

t.before(async () => {
  lab = await startTestLab({ controlPlanes: 2, workers: 2, style: 'legacy' });
});
t.teardown(() => lab.stop());

const workerRt = (i = 0) => lab.talos.runtime(lab.workers[i]!)!;

t.test(
  "a worker's apid certificate comes from a control plane's trustd: EKU ServerAuth, no Organization",
  async (t) => {
    const creds = workerRt().credentials!;
    const cert = new X509Certificate(creds.server.certPem);
    t.ok(cert.verify(new X509Certificate(lab.secrets.os.certPem).publicKey), 'signed by the issuing Talos CA');
    t.same(cert.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'EKU exactly ServerAuth');
    t.notMatch(cert.subject, /O=/);
    t.match(cert.subjectAltName ?? '', new RegExp(`IP Address:${lab.workers[0]!.replace(/\./g, '\\.')}`));
    t.same(creds.clientCas, [lab.secrets.os.certPem], "trusted client CAs: the control plane's accepted list");
    t.equal(creds.impersonator, null, 'workers have no proxy client certificate');
  },
);

async function trustdCall(metadata: Record<string, string>, csrPem: string): Promise<{ ca: string; crt: string }> {
  const r = await dialLab({ from: '127.0.0.1', host: lab.cps[0]!, port: 50001, ca: [lab.secrets.os.certPem] });
  if (!r.ok) throw new Error(`dial failed: ${r.kind}`);
  try {
    const res = await r.session.unary(
      talosProtos().securityService.Certificate,
      { csr: Buffer.from(csrPem) },
      metadata,
    );
    return { ca: Buffer.from(res.ca!).toString(), crt: Buffer.from(res.crt!).toString() };
  } finally {
    r.session.destroy();
  }
}

t.test('trustd: token auth, and the Organization of a CSR is stripped', async (t) => {
  const { csrPem } = await createCsr({
    algorithm: 'ed25519',
    commonName: 'sneaky',
    organizations: ['os:admin'],
    ipAddresses: ['127.0.0.1'],
  });
  await t.rejects(trustdCall({}, csrPem), new GrpcCallError(16, 'missing token'));
  await t.rejects(trustdCall({ token: 'abcdef.0123456789abcdef' }, csrPem), new GrpcCallError(16, 'invalid token'));
  const { ca, crt } = await trustdCall({ token: lab.secrets.trustdToken }, csrPem);
  t.equal(ca, lab.secrets.os.certPem);
  const cert = new X509Certificate(crt);
  t.equal(cert.subject, 'CN=sneaky', 'no O=os:admin');
  t.same(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  await t.rejects(
    trustdCall({ token: lab.secrets.trustdToken }, 'not a csr'),
    new GrpcCallError(3, 'failed to decode CSR'),
  );
});

t.test('trustd serves a certificate from the issuing CA and needs no client certificate', async (t) => {
  const stranger = await generateTalosCa();
  const r = await dialLab({ from: '127.0.0.1', host: lab.cps[1]!, port: 50001, ca: [stranger.certPem] });
  t.equal(r.ok, false);
  t.match(
    r,
    { kind: 'trust', refusedBy: 'client', reason: 'unknown-ca' },
    'verified against the CAs the dialler trusts',
  );
});

t.test("a worker's apid trusts exactly the bundle from trustd, not its own accepted CAs", async (t) => {
  const w = lab.cluster.workers[0]!;
  const extra = await generateTalosCa();
  const admin = lab.client();
  const before = workerRt().credentials!.server.certPem;
  await admin.applyConfiguration(w.address, addAccepted(w.config, extra.certPem), { mode: 'NO_REBOOT' });
  await eventually(() => workerRt().credentials!.server.certPem !== before, 10_000, 're-registration');
  t.pass('the worker re-requested its certificate after its Talos CA config changed');
  t.same(
    workerRt().credentials!.clientCas,
    [lab.secrets.os.certPem],
    'the bundle: the control plane did not accept the extra CA',
  );
  // A client certificate from the extra CA: the worker's own config accepts it, its apid does not.
  const cert = await lab.clientCert(extra);
  const direct = lab.client({ endpoints: [w.address], cert });
  try {
    await direct.version();
    t.fail('must be refused');
  } catch (err) {
    t.equal((err as TalosApiError).kind, 'tls-client-rejected');
  }
  direct.close();
});

t.test('a worker tries the control planes in turn when one is down', async (t) => {
  const [cp1, cp2] = lab.cluster.controlPlanes;
  const w = lab.cluster.workers[1]!;
  const rt = workerRt(1);
  cp1!.setDown(true);
  try {
    const extra = await generateTalosCa();
    const admin = lab.client({ endpoints: [cp2!.address] });
    const before = rt.credentials!.server.certPem;
    await admin.applyConfiguration(w.address, addAccepted(w.config, extra.certPem), { mode: 'NO_REBOOT' });
    await eventually(() => rt.credentials!.server.certPem !== before, 10_000, 're-registration');
    t.equal(rt.credentials!.issuer, cp2!.address, 'signed by the control plane that is up');
  } finally {
    cp1!.setDown(false);
  }
  await eventually(
    async () =>
      await lab
        .client()
        .version(cp1!.address)
        .then(
          () => true,
          () => false,
        ),
    10_000,
    'cp1 back',
  );
  await lab.talos.settle();
  t.equal(lab.cluster.ledger.snapshot().trustFailures['worker-trustd'], 0);
});
