/**
 * The lab's `talosctl gen secrets` bundle: algorithms and subjects as Talos makes them (talos-behaviour.md §4.1), and
 * the rendered file has the shape of a real bundle (test/fixtures/talosctl.ts: from a built talosctl, else
 * Talos's own test data).
 */
import t from 'tap';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { decodeTalosBase64Pem, privateKeyPemForNode } from '../../../src/pki/index.js';
import { getBundleCa, parseSecretsBundle } from '../../../src/talos/secrets-bundle.js';
import {
  generateLabSecrets,
  generateToken,
  renderSecretsBundle,
  type LabSecrets,
} from '../../../src/lab/setup/secrets.js';
import { realTalosFiles, type TalosLine } from '../../fixtures/talosctl.js';

let s: LabSecrets;
t.before(async () => {
  s = await generateLabSecrets({ serviceAccountKey: 'ecdsa-p256' });
});

type Tree = Record<string, unknown>;
/** The key paths of a YAML tree (values dropped). */
function shape(v: unknown, prefix = ''): string[] {
  if (typeof v !== 'object' || v === null) return [prefix];
  return Object.entries(v as Tree).flatMap(([k, x]) => shape(x, prefix ? `${prefix}.${k}` : k));
}

t.test(
  'CAs: Talos Ed25519 O=talos, Kubernetes ECDSA P-256 O=kubernetes, aggregator with an empty subject (as real ' +
    'talosctl writes it), etcd O=etcd',
  async (t) => {
    t.equal(s.os.algorithm, 'ed25519');
    t.equal(s.os.subject, 'O=talos');
    t.equal(s.k8s.algorithm, 'ecdsa-p256');
    t.equal(s.k8s.subject, 'O=kubernetes');
    t.equal(s.k8sAggregator.algorithm, 'ecdsa-p256');
    t.equal(s.k8sAggregator.subject, '');
    t.equal(s.etcd.subject, 'O=etcd');
    for (const ca of [s.os, s.k8s, s.k8sAggregator, s.etcd])
      t.ok(new X509Certificate(ca.certPem).ca, `${ca.subject} is a CA`);
    t.match(s.os.key.reveal(), /^-----BEGIN ED25519 PRIVATE KEY-----/, 'Talos writes its Ed25519 label');
    t.match(s.serviceAccountKey.reveal(), /^-----BEGIN EC PRIVATE KEY-----/);
  },
);

t.test('tokens and ids have Talos formats', async (t) => {
  t.match(s.bootstrapToken, /^[a-z0-9]{6}\.[a-z0-9]{16}$/);
  t.match(s.trustdToken, /^[a-z0-9]{6}\.[a-z0-9]{16}$/);
  t.not(s.bootstrapToken, s.trustdToken);
  t.not(generateToken(), generateToken());
  t.match(s.clusterId, /^[A-Za-z0-9_-]{43}=$/, 'URL-safe base64 of 32 bytes');
  t.equal(Buffer.from(s.clusterSecret, 'base64').length, 32);
  t.equal(Buffer.from(s.secretboxEncryptionSecret, 'base64').length, 32);
});

t.test('the rendered bundle has the shape of `talosctl gen secrets` and our own reader takes it', async (t) => {
  const text = renderSecretsBundle(s);
  const tree = parseYaml(text) as Tree;
  const expected = [
    'cluster.id',
    'cluster.secret',
    'secrets.bootstraptoken',
    'secrets.secretboxencryptionsecret',
    'trustdinfo.token',
    'certs.etcd.crt',
    'certs.etcd.key',
    'certs.k8s.crt',
    'certs.k8s.key',
    'certs.k8saggregator.crt',
    'certs.k8saggregator.key',
    'certs.k8sserviceaccount.key',
    'certs.os.crt',
    'certs.os.key',
  ];
  t.same(shape(tree), expected);
  t.match(text, /^cluster:\n {4}id: /, '4-space indent');
  const certs = tree.certs as Record<string, { crt?: string; key: string }>;
  t.equal(decodeTalosBase64Pem(certs.os!.crt!, 'os.crt'), s.os.certPem);
  createPrivateKey(privateKeyPemForNode(decodeTalosBase64Pem(certs.k8sserviceaccount!.key, 'sa')));
  const bundle = parseSecretsBundle(text);
  t.equal(getBundleCa(bundle, 'os').fingerprint, s.os.fingerprint);
  t.equal(getBundleCa(bundle, 'k8s').fingerprint, s.k8s.fingerprint);
  t.notMatch(JSON.stringify(s), /PRIVATE KEY/, 'keys never serialise from the in-memory secrets');
});

for (const line of ['v1.13', 'v1.14'] as TalosLine[]) {
  t.test(`same keys, same order as a real ${line} bundle, and our reader takes it`, async (t) => {
    const real = realTalosFiles(line);
    t.same(shape(parseYaml(real.secrets)), shape(parseYaml(renderSecretsBundle(s))), `gen secrets (${real.source})`);
    t.match(real.secrets.replace(/^(#.*\n)+/, ''), /^cluster:\n {4}id: /, 'the same 4-space indent');
    const bundle = parseSecretsBundle(real.secrets);
    t.match(getBundleCa(bundle, 'os').fingerprint, /\S/, 'our reader finds the Talos CA of a real bundle');
    t.match(getBundleCa(bundle, 'k8s').fingerprint, /\S/, 'and its Kubernetes CA');
    // The lab's algorithms and subjects (talos-behaviour.md §4.1) are the ones real talosctl uses.
    const certs = (parseYaml(real.secrets) as Tree).certs as Record<string, { crt: string }>;
    const realCa = (name: string) => new X509Certificate(decodeTalosBase64Pem(certs[name]!.crt, name));
    t.equal(realCa('os').publicKey.asymmetricKeyType, 'ed25519');
    t.equal(realCa('os').subject, s.os.subject.replace(/, /g, '\n'));
    t.equal(realCa('k8s').publicKey.asymmetricKeyType, 'ec');
    t.equal(realCa('k8s').publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    t.equal(realCa('k8s').subject, s.k8s.subject.replace(/, /g, '\n'));
    t.equal(
      realCa('k8saggregator').subject ?? '',
      s.k8sAggregator.subject,
      'aggregator CA: empty subject (node:crypto says undefined)',
    );
  });
}

t.test('the default service-account key is RSA 4096, as current contracts make it', async (t) => {
  const rsa = await generateLabSecrets();
  const key = createPrivateKey(rsa.serviceAccountKey.reveal());
  t.equal(key.asymmetricKeyType, 'rsa');
  t.equal(key.asymmetricKeyDetails?.modulusLength, 4096);
  t.match(rsa.serviceAccountKey.reveal(), /^-----BEGIN RSA PRIVATE KEY-----/);
});
