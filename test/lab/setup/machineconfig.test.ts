/**
 * Generated machine configs have the real shape (compare /work/shared/fixtures/talos/v1.13-* and v1.14-*),
 * for both roles and both Kubernetes CA layouts.
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { decodeTalosBase64Pem } from '../../../src/pki/index.js';
import { generateMachineConfig } from '../../../src/lab/setup/machineconfig.js';
import { generateLabSecrets, type LabSecrets } from '../../../src/lab/setup/secrets.js';

let s: LabSecrets;
t.before(async () => {
  s = await generateLabSecrets({ serviceAccountKey: 'ecdsa-p256' });
});

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const docs = (text: string): Doc[] => parseAllDocuments(text).map((d) => d.toJS() as Doc);
const gen = (role: 'controlplane' | 'worker', style: 'legacy' | 'document') =>
  generateMachineConfig(s, { role, style, hostname: role === 'controlplane' ? 'cp-1' : 'worker-1', address: '127.5.5.10', clusterName: 'lab', clusterEndpoint: 'https://127.5.5.3:6443' });
const kinds = (d: Doc[]) => d.map((x) => x.kind ?? 'v1alpha1');
const fixtureKinds = (name: string) => {
  const p = `/work/shared/fixtures/talos/${name}`;
  return existsSync(p) ? kinds(docs(readFileSync(p, 'utf8'))) : null;
};

t.test('legacy control plane: one v1alpha1 document + HostnameConfig, every CA with its key', async (t) => {
  const d = docs(gen('controlplane', 'legacy'));
  t.same(kinds(d), ['v1alpha1', 'HostnameConfig']);
  if (fixtureKinds('v1.13-base-controlplane.yaml')) t.same(kinds(d), fixtureKinds('v1.13-base-controlplane.yaml'));
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
  t.match(gen('controlplane', 'legacy'), /^version: v1alpha1\ndebug: false\npersist: true\nmachine:\n {4}type: controlplane\n/, '4-space indent, talosctl key order');
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
  t.equal(v1!.cluster.etcd, undefined);
  t.equal(v1!.cluster.aggregatorCA, undefined);
  t.notMatch(text, /PRIVATE KEY|LS0tLS1CRUdJTiBFRDI1NTE5IFBSSVZBVEUgS0VZ/, 'no private key on a worker');
});

t.test('document (v1.14) layouts: KubeAPIServerCAConfig with plain PEM', async (t) => {
  const cp = docs(gen('controlplane', 'document'));
  const fk = fixtureKinds('v1.14-base-controlplane.yaml');
  if (fk) for (const k of kinds(cp)) t.ok(fk.includes(k), `${k} is a document kind Talos writes`);
  const ca = cp.find((d) => d.kind === 'KubeAPIServerCAConfig')!;
  t.same(ca.issuingCA, { cert: s.k8s.certPem, key: s.k8s.key.reveal() });
  t.equal(cp[0]!.cluster.ca, undefined, 'no .cluster.ca next to the document');
  t.ok(cp[0]!.cluster.etcd.ca.key);
  t.equal(cp.find((d) => d.kind === 'KubeClusterConfig')!.endpoint, 'https://127.5.5.3:6443');
  const w = docs(gen('worker', 'document'));
  const wca = w.find((d) => d.kind === 'KubeAPIServerCAConfig')!;
  t.same(wca, { apiVersion: 'v1alpha1', kind: 'KubeAPIServerCAConfig', acceptedCAs: [s.k8s.certPem] }, 'workers: acceptedCAs only');
  t.equal(w[0]!.machine.ca.key, '');
  t.equal(w[0]!.cluster.etcd, undefined);
  const fw = fixtureKinds('v1.14-base-worker.yaml');
  if (fw) for (const k of kinds(w)) t.ok(fw.includes(k), `${k} appears in a real worker config`);
});
