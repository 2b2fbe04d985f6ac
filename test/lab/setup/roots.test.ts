/**
 * core/roots.ts: the lab's own reading of Talos's root-secret rules (talos-behaviour.md §3.3, §4.2, §4.3).
 */
import t from 'tap';
import { generateKubernetesCa, generateTalosCa } from '../../../src/pki/index.js';
import { interpretRoots, readConfigCas } from '../../../src/lab/core/roots.js';
import { generateMachineConfig } from '../../../src/lab/setup/machineconfig.js';
import { generateLabSecrets, type LabSecrets } from '../../../src/lab/setup/secrets.js';
import { addAccepted, setMachineCa, setRaw } from '../talos/fixtures/patch.js';

let s: LabSecrets;
t.before(async () => {
  s = await generateLabSecrets({ serviceAccountKey: 'ecdsa-p256' });
});
const gen = (role: 'controlplane' | 'worker', style: 'legacy' | 'document') =>
  generateMachineConfig(s, {
    role,
    style,
    hostname: 'n',
    address: '127.5.5.10',
    clusterName: 'lab',
    clusterEndpoint: 'https://127.5.5.3:6443',
  });
const fps = (cas: Array<{ fingerprint: string }>) => cas.map((c) => c.fingerprint);

t.test('OSRoot: issuing .machine.ca (dropped without key); accepted = acceptedCAs then .machine.ca.crt', async (t) => {
  const extra = await generateTalosCa();
  const cp = await interpretRoots(addAccepted(gen('controlplane', 'legacy'), extra.certPem));
  t.equal(cp.talos.issuing?.fingerprint, s.os.fingerprint);
  t.same(fps(cp.talos.trusted), [extra.fingerprint, s.os.fingerprint]);
  t.equal(cp.talos.error, undefined);
  const w = await interpretRoots(gen('worker', 'legacy'));
  t.equal(w.talos.issuing, null);
  t.equal(w.talos.issuingCert?.fingerprint, s.os.fingerprint);
  t.same(fps(w.talos.trusted), [s.os.fingerprint]);
  t.equal(readConfigCas(gen('worker', 'legacy')).role, 'worker');
});

t.test('KubernetesRoot: legacy = accepted then issuing; document = issuing then accepted', async (t) => {
  const extra = await generateKubernetesCa();
  const legacy = await interpretRoots(
    setRaw(
      gen('controlplane', 'legacy'),
      ['cluster', 'acceptedCAs'],
      [{ crt: Buffer.from(extra.certPem).toString('base64') }],
    ),
  );
  t.same(fps(legacy.kubernetes.trusted), [extra.fingerprint, s.k8s.fingerprint]);
  t.equal(legacy.kubernetes.issuing?.fingerprint, s.k8s.fingerprint);
  const docCp = gen('controlplane', 'document').replace(
    'kind: KubeAPIServerCAConfig\n',
    `kind: KubeAPIServerCAConfig\nacceptedCAs:\n    - |\n${extra.certPem
      .trimEnd()
      .split('\n')
      .map((l) => `      ${l}`)
      .join('\n')}\n`,
  );
  const doc = await interpretRoots(docCp);
  t.same(fps(doc.kubernetes.trusted), [s.k8s.fingerprint, extra.fingerprint]);
  const w = await interpretRoots(gen('worker', 'document'));
  t.equal(w.kubernetes.issuing, null);
  t.equal(w.kubernetes.issuingCert, null, 'a document-style worker names no issuing CA');
  t.same(fps(w.kubernetes.trusted), [s.k8s.fingerprint]);
  const lw = await interpretRoots(gen('worker', 'legacy'));
  t.equal(lw.kubernetes.issuing, null);
  t.equal(lw.kubernetes.issuingCert?.fingerprint, s.k8s.fingerprint);
});

t.test('broken material: recorded as an error, unparseable accepted entries skipped', async (t) => {
  const other = await generateTalosCa();
  const mismatch = await interpretRoots(setMachineCa(gen('controlplane', 'legacy'), other.certPem, s.os.key.reveal()));
  t.equal(mismatch.talos.issuing, null);
  t.match(mismatch.talos.error, /\.machine\.ca/);
  const garbage = Buffer.from('hello').toString('base64');
  // Talos joins the accepted entries and .machine.ca.crt with no separator; Go's PEM decoder (checked with
  // Go 1.26's x509.CertPool.AppendCertsFromPEM) finds no BEGIN line in "hello-----BEGIN …", so garbage
  // without a final newline swallows the issuing CA that follows it, and with one it is only skipped.
  const swallowed = await interpretRoots(
    setRaw(gen('controlplane', 'legacy'), ['machine', 'acceptedCAs'], [{ crt: garbage }]),
  );
  t.same(fps(swallowed.talos.trusted), [], 'the issuing CA after "hello" is lost from the trusted bundle');
  const skipped = await interpretRoots(
    setRaw(
      gen('controlplane', 'legacy'),
      ['machine', 'acceptedCAs'],
      [{ crt: Buffer.from('hello\n').toString('base64') }],
    ),
  );
  t.same(fps(skipped.talos.trusted), [s.os.fingerprint]);
  t.equal(skipped.talos.error, undefined, 'a control plane still generates its certificates');
  const badWorker = await interpretRoots(setRaw(gen('worker', 'legacy'), ['machine', 'ca', 'crt'], garbage));
  t.match(badWorker.talos.error, /failed to parse CA certificate/, "a worker's CSR template is its last accepted CA");
});

t.test('a redacted key ("******") is the key text itself: the control plane cannot issue with it', async (t) => {
  const cp = setRaw(gen('controlplane', 'legacy'), ['machine', 'ca', 'key'], '******');
  const r = await interpretRoots(cp);
  t.equal(readConfigCas(cp).machineCa?.key, '******', 'not decoded as base64, not dropped');
  t.equal(r.talos.issuing, null);
  t.match(r.talos.error, /\.machine\.ca/, 'certificate generation fails, as on Talos');
  const k8s = await interpretRoots(setRaw(gen('controlplane', 'legacy'), ['cluster', 'ca', 'key'], '******'));
  t.equal(k8s.kubernetes.issuing, null);
  t.match(k8s.kubernetes.error, /\.cluster\.ca/);
});

t.test('KubeAPIServerCAConfig wins over .cluster.acceptedCAs: the node trusts the document alone', async (t) => {
  const extra = await generateKubernetesCa();
  // Talos accepts this config (only .cluster.ca conflicts with the document) and reads the Kubernetes CA
  // from the document (container.K8sAPIServerCAConfig returns it before the v1alpha1 shim).
  const both = setRaw(
    gen('controlplane', 'document'),
    ['cluster', 'acceptedCAs'],
    [{ crt: Buffer.from(extra.certPem).toString('base64') }],
  );
  const r = await interpretRoots(both);
  t.same(fps(r.kubernetes.trusted), [s.k8s.fingerprint]);
  t.notOk(fps(r.kubernetes.trusted).includes(extra.fingerprint), '.cluster.acceptedCAs is not trusted');
  const w = await interpretRoots(
    setRaw(
      gen('worker', 'document'),
      ['cluster', 'acceptedCAs'],
      [{ crt: Buffer.from(extra.certPem).toString('base64') }],
    ),
  );
  t.same(fps(w.kubernetes.trusted), [s.k8s.fingerprint]);
});
