/**
 * Generated machine configs have the real shape, for both roles and both Kubernetes CA layouts: compared
 * with real Talos files of the v1.13 line (legacy layout) and the v1.14 line (KubeAPIServerCAConfig document):
 * generated at test time by a built talosctl, else Talos's own test data (test/fixtures/talosctl.ts).
 */
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { decodeTalosBase64Pem } from '../../../src/pki/index.js';
import { generateMachineConfig } from '../../../src/lab/setup/machineconfig.js';
import { generateLabSecrets, type LabSecrets } from '../../../src/lab/setup/secrets.js';
import { realTalosFiles, type RealTalosFiles } from '../../fixtures/talosctl.js';

let s: LabSecrets;
t.before(async () => {
  s = await generateLabSecrets({ serviceAccountKey: 'ecdsa-p256' });
});

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const docs = (text: string): Doc[] => parseAllDocuments(text).map((d) => d.toJS() as Doc);
const gen = (role: 'controlplane' | 'worker', style: 'legacy' | 'document') =>
  generateMachineConfig(s, {
    role,
    style,
    hostname: role === 'controlplane' ? 'cp-1' : 'worker-1',
    address: '127.5.5.10',
    clusterName: 'lab',
    clusterEndpoint: 'https://127.5.5.3:6443',
  });
const kinds = (d: Doc[]) => d.map((x) => x.kind ?? 'v1alpha1');
// Real configs, generated once per layout (a failure to generate them fails the tests that need them).
const real: Partial<Record<'legacy' | 'document', RealTalosFiles>> = {};
const realKinds = (style: 'legacy' | 'document', role: 'controlplane' | 'worker') => {
  real[style] ??= realTalosFiles(style === 'legacy' ? 'v1.13' : 'v1.14');
  return kinds(docs(real[style]![role]));
};

t.test('legacy control plane: one v1alpha1 document + HostnameConfig, every CA with its key', async (t) => {
  const d = docs(gen('controlplane', 'legacy'));
  t.same(kinds(d), ['v1alpha1', 'HostnameConfig']);
  t.same(kinds(d), realKinds('legacy', 'controlplane'), 'the documents real talosctl writes for a v1.13 control plane');
  const [v1, host] = d;
  t.equal(v1!.version, 'v1alpha1');
  t.equal(v1!.machine.type, 'controlplane');
  t.equal(v1!.machine.token, s.trustdToken);
  t.equal(decodeTalosBase64Pem(v1!.machine.ca.crt, 'crt'), s.os.certPem);
  t.equal(decodeTalosBase64Pem(v1!.machine.ca.key, 'key'), s.os.key.reveal());
  t.same(v1!.machine.certSANs, ['127.5.5.10', '127.5.5.3']);
  t.equal(decodeTalosBase64Pem(v1!.cluster.ca.crt, 'crt'), s.k8s.certPem);
  t.equal(decodeTalosBase64Pem(v1!.cluster.ca.key, 'key'), s.k8s.key.reveal());
  t.ok(v1!.cluster.etcd.ca.key, 'etcd CA on control planes');
  t.ok(v1!.cluster.aggregatorCA.key);
  t.ok(v1!.cluster.serviceAccount.key);
  t.equal(v1!.cluster.controlPlane.endpoint, 'https://127.5.5.3:6443');
  t.equal(v1!.cluster.clusterName, 'lab');
  t.equal(v1!.cluster.token, s.bootstrapToken);
  t.same(host, { apiVersion: 'v1alpha1', kind: 'HostnameConfig', auto: 'off', hostname: 'cp-1' });
  t.match(
    gen('controlplane', 'legacy'),
    /^version: v1alpha1\ndebug: false\npersist: true\nmachine:\n {4}type: controlplane\n/,
    '4-space indent, talosctl key order',
  );
});

t.test('legacy worker: .machine.ca crt with key "", .cluster.ca crt only, no etcd', async (t) => {
  const text = gen('worker', 'legacy');
  const [v1] = docs(text);
  t.equal(v1!.machine.type, 'worker');
  t.equal(decodeTalosBase64Pem(v1!.machine.ca.crt, 'crt'), s.os.certPem);
  t.equal(v1!.machine.ca.key, '');
  t.match(text, /\n {8}key: ""\n/);
  t.equal(decodeTalosBase64Pem(v1!.cluster.ca.crt, 'crt'), s.k8s.certPem);
  t.equal(v1!.cluster.ca.key, '');
  t.same(kinds(docs(text)), realKinds('legacy', 'worker'), 'the documents real talosctl writes for a v1.13 worker');
  t.equal(v1!.cluster.etcd, undefined);
  t.equal(v1!.cluster.aggregatorCA, undefined);
  t.notMatch(text, /PRIVATE KEY|LS0tLS1CRUdJTiBFRDI1NTE5IFBSSVZBVEUgS0VZ/, 'no private key on a worker');
});

t.test('document (v1.14) layouts: KubeAPIServerCAConfig with plain PEM', async (t) => {
  const cp = docs(gen('controlplane', 'document'));
  const fk = realKinds('document', 'controlplane');
  for (const k of kinds(cp))
    t.ok(fk.includes(k), `${k} is a document kind real talosctl writes for a v1.14 control plane`);
  const ca = cp.find((d) => d.kind === 'KubeAPIServerCAConfig')!;
  t.same(ca.issuingCA, { cert: s.k8s.certPem, key: s.k8s.key.reveal() });
  t.equal(cp[0]!.cluster.ca, undefined, 'no .cluster.ca next to the document');
  t.ok(cp[0]!.cluster.etcd.ca.key);
  t.equal(cp.find((d) => d.kind === 'KubeClusterConfig')!.endpoint, 'https://127.5.5.3:6443');
  const w = docs(gen('worker', 'document'));
  const wca = w.find((d) => d.kind === 'KubeAPIServerCAConfig')!;
  t.same(
    wca,
    { apiVersion: 'v1alpha1', kind: 'KubeAPIServerCAConfig', acceptedCAs: [s.k8s.certPem] },
    'workers: acceptedCAs only',
  );
  t.equal(w[0]!.machine.ca.key, '');
  t.equal(w[0]!.cluster.etcd, undefined);
  const fw = realKinds('document', 'worker');
  for (const k of kinds(w)) t.ok(fw.includes(k), `${k} appears in a real v1.14 worker config`);
  // The real worker's KubeAPIServerCAConfig has the same keys as ours (acceptedCAs only, no issuing CA).
  const realWca = docs(real.document!.worker).find((d) => d.kind === 'KubeAPIServerCAConfig');
  t.same(
    Object.keys(realWca ?? {}).sort(),
    Object.keys(wca).sort(),
    'a real worker KubeAPIServerCAConfig has the same keys',
  );
  const realCpCa = docs(real.document!.controlplane).find((d) => d.kind === 'KubeAPIServerCAConfig');
  t.same(
    Object.keys(realCpCa?.issuingCA ?? {}).sort(),
    ['cert', 'key'],
    'a real control plane has issuingCA cert and key',
  );
  t.match(String(realCpCa?.issuingCA?.cert), /^-----BEGIN CERTIFICATE-----\n/, 'as plain PEM, like ours');
});
