/**
 * A lab in the v1.14 document layout: nodes report v1.14.0, REBOOT applies are Unimplemented, the
 * KubeAPIServerCAConfig rules apply, and Kubeconfig writes the issuing Kubernetes CA first.
 */
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { generateKubernetesCa, splitPemBlocks } from '../../../src/pki/index.js';
import { failure, startTestLab, type TestLab } from './fixtures/lab.js';

let lab: TestLab;

t.before(async () => {
  lab = await startTestLab({ controlPlanes: 1, workers: 1, style: 'document' });
});
t.teardown(() => lab.stop());

const indent = (pem: string, n: number) =>
  pem
    .trimEnd()
    .split('\n')
    .map((l) => `${' '.repeat(n)}${l}`)
    .join('\n');

t.test('Version v1.14.0; REBOOT mode Unimplemented; AUTO answers NO_REBOOT', async (t) => {
  const c = lab.client();
  const w = lab.cluster.workers[0]!;
  t.equal((await c.version(w.address)).tag, 'v1.14.0');
  const e = await failure(c.applyConfiguration(w.address, w.config, { mode: 'REBOOT' }));
  t.equal(e.kind, 'unimplemented');
  t.equal(e.detail, 'the REBOOT mode is not supported, please use AUTO or NO_REBOOT modes instead');
  const r = await c.applyConfiguration(w.address, w.config, { mode: 'AUTO' });
  t.equal(r.mode, 'NO_REBOOT');
});

t.test('KubeAPIServerCAConfig validation through the API', async (t) => {
  const c = lab.client();
  const cp = lab.cluster.controlPlanes[0]!;
  const bad = cp.config.replace(/(kind: KubeAPIServerCAConfig\n)/, '$1acceptedCAs:\n    - nope\n');
  const e = await failure(c.applyConfiguration(cp.address, bad, { mode: 'NO_REBOOT' }));
  t.equal(e.kind, 'invalid-argument');
  t.equal(e.detail, '1 error occurred:\n\t* KubeAPIServerCAConfig: accepted CA #0: no PEM blocks found\n\n');
});

t.test('Kubeconfig: CA data lists the issuing CA first, then the accepted ones (v1.14)', async (t) => {
  const c = lab.client();
  const cp = lab.cluster.controlPlanes[0]!;
  const extra = await generateKubernetesCa();
  const next = cp.config.replace(
    /(kind: KubeAPIServerCAConfig\n)/,
    `$1acceptedCAs:\n    - |\n${indent(extra.certPem, 6)}\n`,
  );
  t.not(next, cp.config);
  await c.applyConfiguration(cp.address, next, { mode: 'NO_REBOOT' });
  const kc = parseYaml(await c.kubeconfig(cp.address)) as {
    clusters: Array<{ cluster: { 'certificate-authority-data': string } }>;
  };
  const pem = Buffer.from(kc.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString('utf8');
  t.same(
    splitPemBlocks(pem).map((b) => b.pem),
    [lab.secrets.k8s.certPem, extra.certPem],
  );
  const k8s = await c.getKubernetesRootSecrets(cp.address);
  t.same(k8s.acceptedCas, [lab.secrets.k8s.certPem, extra.certPem]);
});
