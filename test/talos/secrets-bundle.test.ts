import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import t from 'tap';

import { RotateError } from '../../src/domain/errors.js';
import { encodeTalosBase64Pem, generateCa, generateKubernetesCa, generateTalosCa } from '../../src/pki/index.js';
import {
  getBundleCa,
  loadSecretsBundle,
  parseSecretsBundle,
  saveSecretsBundle,
  setBundleCa,
} from '../../src/talos/secrets-bundle.js';

const os = await generateTalosCa();
const k8s = await generateKubernetesCa();
const etcd = await generateCa({ algorithm: 'ecdsa-p256', organizations: ['etcd'] });
const agg = await generateCa({ algorithm: 'ecdsa-p256', commonName: 'front-proxy' });
const b = encodeTalosBase64Pem;

/** The shape `talosctl gen secrets` writes (talos-behaviour.md §6.2), with a comment added by the operator. */
const BUNDLE = `# production cluster secrets — keep offline
cluster:
    id: Zm9vYmFyYmF6Zm9vYmFyYmF6Zm9vYmFyYmF6Zm9vYmE=
    secret: c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0cw==
secrets:
    bootstraptoken: abcdef.0123456789abcdef
    secretboxencryptionsecret: c2VjcmV0Ym94c2VjcmV0Ym94c2VjcmV0Ym94c2VjcmU=
trustdinfo:
    token: 123abc.abcdef0123456789
certs:
    etcd:
        crt: ${b(etcd.certPem)}
        key: ${b(etcd.key.reveal())}
    k8s:
        crt: ${b(k8s.certPem)}
        key: ${b(k8s.key.reveal())}
    k8saggregator:
        crt: ${b(agg.certPem)}
        key: ${b(agg.key.reveal())}
    k8sserviceaccount:
        key: ${b(etcd.key.reveal())}
    os:
        crt: ${b(os.certPem)} # Talos API CA
        key: "${b(os.key.reveal())}"
`;

function catchRotate(fn: () => unknown): RotateError {
  try {
    fn();
  } catch (err) {
    if (RotateError.is(err)) return err;
    throw err;
  }
  throw new Error('expected a RotateError');
}

t.test('reads the Talos and Kubernetes CAs', async (t) => {
  const bundle = parseSecretsBundle(BUNDLE, '/s/secrets.yaml');
  const o = getBundleCa(bundle, 'os');
  t.equal(o.certPem, os.certPem);
  t.equal(o.fingerprint, os.fingerprint);
  t.equal(o.key.reveal(), os.key.reveal());
  t.match(o.key.reveal(), /^-----BEGIN ED25519 PRIVATE KEY-----/);
  const k = getBundleCa(bundle, 'k8s');
  t.equal(k.fingerprint, k8s.fingerprint);
  t.equal(String(k.key), '(sensitive)');
});

t.test('setBundleCa changes exactly the two values, keeping quoting and comments', async (t) => {
  const bundle = parseSecretsBundle(BUNDLE);
  const fresh = await generateTalosCa();
  setBundleCa(bundle, 'os', { certPem: fresh.certPem, key: fresh.key });
  t.equal(
    bundle.text,
    BUNDLE.replace(b(os.certPem), b(fresh.certPem)).replace(b(os.key.reveal()), b(fresh.key.reveal())),
  );
  t.equal(getBundleCa(bundle, 'os').fingerprint, fresh.fingerprint, 'the parsed view follows');
  t.equal(getBundleCa(bundle, 'k8s').fingerprint, k8s.fingerprint);

  const freshK8s = await generateKubernetesCa();
  setBundleCa(bundle, 'k8s', freshK8s);
  t.equal(getBundleCa(bundle, 'k8s').fingerprint, freshK8s.fingerprint);
  t.match(bundle.text, '# production cluster secrets — keep offline\n');
  t.match(
    bundle.text,
    `    os:\n        crt: ${b(fresh.certPem)} # Talos API CA\n        key: "${b(fresh.key.reveal())}"\n`,
  );
  t.match(bundle.text, `        crt: ${b(etcd.certPem)}\n`, 'other CAs untouched');
});

t.test('a key that does not belong to the certificate is refused', async (t) => {
  const bundle = parseSecretsBundle(BUNDLE, '/s/secrets.yaml');
  const fresh = await generateTalosCa();
  const err = catchRotate(() => setBundleCa(bundle, 'os', { certPem: fresh.certPem, key: os.key }));
  t.equal(err.code, 'SECRETS_BAD_CA');
  t.match(err.message, /certs\.os/);
  t.equal(bundle.text, BUNDLE, 'nothing changed');
});

t.test('errors name the file and field', async (t) => {
  let err = catchRotate(() =>
    getBundleCa(parseSecretsBundle(BUNDLE.replace(/( {4}os:\n {8}crt: )\S+/, '$1""'), '/s/secrets.yaml'), 'os'),
  );
  t.equal(err.code, 'SECRETS_BAD_CA');
  t.match(err.message, 'secrets bundle /s/secrets.yaml: certs.os.crt is missing or empty');

  const keyB64 = b(os.key.reveal());
  err = catchRotate(() =>
    getBundleCa(parseSecretsBundle(BUNDLE.replace(keyB64, keyB64.slice(0, -8)), '/s/secrets.yaml'), 'os'),
  );
  t.equal(err.code, 'SECRETS_BAD_CA');
  t.match(err.message, /certs\.os\.key/);
  t.notOk(`${err.message}${err.hint}`.includes(keyB64.slice(0, 30)), 'no key text in the error');

  // A certificate and key that do not belong together.
  err = catchRotate(() =>
    getBundleCa(
      parseSecretsBundle(BUNDLE.replace(b(k8s.key.reveal()), b(etcd.key.reveal())), '/s/secrets.yaml'),
      'k8s',
    ),
  );
  t.equal(err.code, 'SECRETS_BAD_CA');
  t.match(err.message, /certs\.k8s/);

  err = catchRotate(() =>
    getBundleCa(parseSecretsBundle(BUNDLE.replace(b(os.certPem), b(os.key.reveal())), '/s/secrets.yaml'), 'os'),
  );
  t.match(err.message, /certs\.os\.crt must hold one certificate \(found: ED25519 PRIVATE KEY\)/);

  err = catchRotate(() => parseSecretsBundle('cluster:\n  id: x\n', '/s/other.yaml'));
  t.equal(err.code, 'SECRETS_PARSE');
  t.match(err.message, '/s/other.yaml has no certs section');
  err = catchRotate(() => parseSecretsBundle('certs: [\n'));
  t.equal(err.code, 'SECRETS_PARSE');
});

t.test('load and save: atomic, mode 0600, byte-identical outside the CA', async (t) => {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'bundle-test-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'secrets.yaml');
  await fs.writeFile(file, BUNDLE, { mode: 0o644 });
  const bundle = await loadSecretsBundle(file);
  t.equal(bundle.path, file);
  const fresh = await generateTalosCa();
  setBundleCa(bundle, 'os', fresh);
  await saveSecretsBundle(bundle, file);
  t.equal((await fs.stat(file)).mode & 0o777, 0o600);
  t.equal(await fs.readFile(file, 'utf8'), bundle.text);
  t.equal(getBundleCa(await loadSecretsBundle(file), 'os').fingerprint, fresh.fingerprint);
  t.same((await fs.readdir(dir)).sort(), ['secrets.yaml'], 'no temp files left');
  await t.rejects(loadSecretsBundle(path.join(dir, 'nope.yaml')), { code: 'SECRETS_READ' });
});
