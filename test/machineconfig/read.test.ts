import t from 'tap';

import { RotateError } from '../../src/domain/errors.js';
import { readCaKey, readCaState } from '../../src/machineconfig/index.js';
import { encodeTalosBase64Pem, fingerprintOfPem, generateKubernetesCa } from '../../src/pki/index.js';
import { FIXTURES, keyMaterialOf, loadFixture, type TapTest } from '../fixtures/machineconfig/helpers.js';

/** Run fn, expect a RotateError with `code`, and return it. */
function catchRotate(fn: () => unknown): RotateError {
  try {
    fn();
  } catch (err) {
    if (RotateError.is(err)) return err;
    throw err;
  }
  throw new Error('expected a RotateError');
}

const allKeys = FIXTURES.flatMap((name) => {
  const src = loadFixture(name);
  // Every base64 `key:` value and every PEM key block of the fixture.
  const b64 = [...src.matchAll(/key: (LS0t[A-Za-z0-9+/=]+)/g)].map((m) => m[1]!);
  const pem = [...src.matchAll(/-----BEGIN [A-Z ]*PRIVATE KEY-----[^]*?-----END [A-Z ]*PRIVATE KEY-----/g)].map((m) =>
    m[0].replace(/^ +/gm, ''),
  );
  return [...b64, ...pem];
});
const keyMaterial = keyMaterialOf(allKeys);

function assertNoKeyMaterial(t: TapTest, err: RotateError, extra: string[] = []) {
  const text = `${err.message}\n${err.hint ?? ''}`;
  for (const k of [...keyMaterial, ...extra])
    t.notOk(text.includes(k), `error text holds no key material (${err.code})`);
  t.notMatch(text, /-----BEGIN|LS0tLS1CRUdJTi/, 'no PEM/base64 armour in the error');
}

t.test('legacy control plane: issuing CAs with keys, empty accepted lists', async (t) => {
  const src = loadFixture('legacy-controlplane');
  const s = readCaState(src, '10.5.0.2');
  t.equal(s.machineType, 'controlplane');
  t.equal(s.role, 'controlplane');
  t.equal(s.kubernetes.style, 'legacy');
  t.ok(s.talos.issuing?.hasKey);
  t.ok(s.kubernetes.issuing?.hasKey);
  t.same(s.talos.accepted, []);
  t.same(s.kubernetes.accepted, [], 'flow `acceptedCAs: []` reads as empty');
  t.match(s.talos.issuing!.certPem, /^-----BEGIN CERTIFICATE-----\n[^]*-----END CERTIFICATE-----\n$/);
  t.equal(s.talos.issuing!.fingerprint, fingerprintOfPem(s.talos.issuing!.certPem));
  t.not(s.talos.issuing!.fingerprint, s.kubernetes.issuing!.fingerprint);
  const key = readCaKey(src, 'talos');
  t.ok(key);
  t.match(key!.reveal(), /^-----BEGIN ED25519 PRIVATE KEY-----\n/, 'key returned as stored (Talos label)');
  t.equal(String(key), '(sensitive)');
  t.match(readCaKey(src, 'kubernetes')!.reveal(), /^-----BEGIN EC PRIVATE KEY-----/);
});

t.test('legacy worker: certificates without keys, extra accepted CA in order', async (t) => {
  const src = loadFixture('legacy-worker');
  const s = readCaState(src);
  t.equal(s.machineType, 'worker');
  t.equal(s.role, 'worker');
  t.equal(s.kubernetes.style, 'legacy');
  t.equal(s.talos.issuing?.hasKey, false);
  t.equal(s.kubernetes.issuing?.hasKey, false);
  t.equal(s.talos.accepted.length, 1);
  t.equal(s.talos.accepted[0]!.hasKey, false);
  t.not(s.talos.accepted[0]!.fingerprint, s.talos.issuing!.fingerprint);
  t.equal(readCaKey(src, 'talos'), null);
  t.equal(readCaKey(src, 'kubernetes'), null);
  // Same CAs as the control plane of the same "cluster".
  const cp = readCaState(loadFixture('legacy-controlplane'));
  t.equal(s.talos.issuing!.fingerprint, cp.talos.issuing!.fingerprint);
  t.equal(s.kubernetes.issuing!.fingerprint, cp.kubernetes.issuing!.fingerprint);
});

t.test('document control plane: KubeAPIServerCAConfig issuing CA (plain PEM)', async (t) => {
  const src = loadFixture('document-controlplane');
  const s = readCaState(src);
  t.equal(s.kubernetes.style, 'document');
  t.ok(s.kubernetes.issuing?.hasKey);
  t.same(s.kubernetes.accepted, []);
  t.ok(s.talos.issuing?.hasKey, 'the Talos CA stays in .machine.ca even with documents');
  t.match(readCaKey(src, 'kubernetes')!.reveal(), /^-----BEGIN EC PRIVATE KEY-----\n/);
});

t.test('document worker: no issuing Kubernetes CA, the CA is acceptedCAs[0]', async (t) => {
  const src = loadFixture('document-worker');
  const s = readCaState(src);
  t.equal(s.kubernetes.style, 'document');
  t.equal(s.kubernetes.issuing, null);
  t.equal(s.kubernetes.accepted.length, 1);
  const cp = readCaState(loadFixture('document-controlplane'));
  t.equal(s.kubernetes.accepted[0]!.fingerprint, cp.kubernetes.issuing!.fingerprint);
  t.equal(readCaKey(src, 'kubernetes'), null);
});

t.test('machine types: init folds into controlplane; join and empty are workers', async (t) => {
  const base = loadFixture('legacy-controlplane');
  const withType = (type: string) =>
    base.replace('    type: controlplane\n', type === '' ? '    type: ""\n' : `    type: ${type}\n`);
  t.match(readCaState(withType('init')), { machineType: 'init', role: 'controlplane' });
  t.match(readCaState(withType('join')), { machineType: 'worker', role: 'worker' });
  t.match(readCaState(withType('')), { machineType: 'worker', role: 'worker' });
  t.match(readCaState(base.replace('    type: controlplane\n', '')), { machineType: 'worker' });
  const err = catchRotate(() => readCaState(withType('master'), 'n1'));
  t.equal(err.code, 'MC_BAD_MACHINE_TYPE');
  t.match(err.message, /machine config of n1: \.machine\.type "master"/);
});

t.test('a redacted key ("******") is refused, never read as a key or as no key', async (t) => {
  // siderolabs/crypto keeps "******" as the key text: applying such a config back would give a control
  // plane a key that does not parse. The reader says so instead of guessing.
  const src = loadFixture('legacy-controlplane').replace(/(\n {4}ca:\n {8}crt: \S+\n {8}key: )\S+/, '$1"******"');
  for (const fn of [() => readCaState(src, 'node 10.5.0.2'), () => readCaKey(src, 'talos', 'node 10.5.0.2')]) {
    const err = catchRotate(fn);
    t.equal(err.code, 'MC_REDACTED_KEY');
    t.match(
      err.message,
      /^machine config of node 10\.5\.0\.2: \.machine\.ca\.key is "\*{6}", the placeholder of a redacted key/,
    );
    t.match(err.hint, /real key/);
  }
  // The document layout: a redacted issuingCA.key is refused the same way.
  const doc = loadFixture('document-controlplane').replace(
    new RegExp(
      /(kind: KubeAPIServerCAConfig\nissuingCA:\n(?: {4}cert: [\s\S]*?\n))( {4}key: )[|][\s\S]*?-----END /.source +
        /[A-Z ]*PRIVATE KEY-----\n/.source,
    ),
    '$1$2"******"\n',
  );
  t.match(doc, /key: "\*{6}"\n/, 'fixture edited');
  t.equal(catchRotate(() => readCaKey(doc, 'kubernetes')).code, 'MC_REDACTED_KEY');
});

t.test('KubeAPIServerCAConfig beside .cluster.acceptedCAs: the document alone is read, as Talos does', async (t) => {
  const dcp = loadFixture('document-controlplane');
  const other = await generateKubernetesCa();
  const both = dcp.replace(
    '\ncluster:\n',
    `\ncluster:\n    acceptedCAs:\n        - crt: ${encodeTalosBase64Pem(other.certPem)}\n`,
  );
  t.not(both, dcp);
  const s = readCaState(both);
  const plain = readCaState(dcp);
  t.equal(s.kubernetes.style, 'document');
  t.same(
    s.kubernetes.accepted.map((c) => c.fingerprint),
    plain.kubernetes.accepted.map((c) => c.fingerprint),
  );
  t.notOk(
    s.kubernetes.accepted.some((c) => c.fingerprint === fingerprintOfPem(other.certPem)),
    '.cluster.acceptedCAs is ignored',
  );
  t.equal(s.kubernetes.issuing?.fingerprint, plain.kubernetes.issuing?.fingerprint);
});

t.test('errors name the field and never carry key material', async (t) => {
  const cp = loadFixture('legacy-controlplane');
  const dcp = loadFixture('document-controlplane');

  t.test('MC_PARSE with line and column', async (t) => {
    const broken = cp.replace('    certSANs: []\n', '    certSANs: [\n');
    const err = catchRotate(() => readCaState(broken, '10.5.0.2'));
    t.equal(err.code, 'MC_PARSE');
    t.match(err.message, /^machine config of 10\.5\.0\.2: YAML syntax error at line \d+, column \d+/);
    assertNoKeyMaterial(t, err);
    // An error right inside a key value: still no key text in the message.
    const inKey = cp.replace(/(\n {4}ca:\n {8}crt: \S+\n {8}key: )(\S+)/, '$1"$2');
    const err2 = catchRotate(() => readCaState(inKey));
    t.equal(err2.code, 'MC_PARSE');
    assertNoKeyMaterial(t, err2);
  });

  t.test('MC_NO_V1ALPHA1', async (t) => {
    const err = catchRotate(() => readCaState('apiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n'));
    t.equal(err.code, 'MC_NO_V1ALPHA1');
  });

  t.test('MC_DUPLICATE_DOCUMENT', async (t) => {
    t.equal(
      catchRotate(() => readCaState(`${cp}---\napiVersion: v1alpha1\nkind: HostnameConfig\nauto: off\n`)).code,
      'MC_DUPLICATE_DOCUMENT',
    );
    t.equal(catchRotate(() => readCaState(`${cp}---\nmachine:\n    type: worker\n`)).code, 'MC_DUPLICATE_DOCUMENT');
    const kubeCa = dcp.slice(
      dcp.indexOf('apiVersion: v1alpha1\nkind: KubeAPIServerCAConfig'),
      dcp.indexOf('---\napiVersion: v1alpha1\nkind: KubeAggregatorCAConfig'),
    );
    const err = catchRotate(() => readCaState(`${dcp.replace(/\.\.\.\n$/, '')}---\n${kubeCa}`));
    t.equal(err.code, 'MC_DUPLICATE_DOCUMENT');
    t.match(err.message, /KubeAPIServerCAConfig/);
    assertNoKeyMaterial(t, err);
  });

  t.test('MC_CONFLICT: .cluster.ca and a KubeAPIServerCAConfig document', async (t) => {
    const legacyCluster = cp.slice(cp.indexOf('    ca:\n        crt:', cp.indexOf('cluster:')));
    const clusterCa = legacyCluster.slice(0, legacyCluster.indexOf('    acceptedCAs'));
    const both = dcp.replace('cluster:\n', `cluster:\n${clusterCa}`);
    const err = catchRotate(() => readCaState(both, 'cp-1'));
    t.equal(err.code, 'MC_CONFLICT');
    t.match(err.message, /\.cluster\.ca.*KubeAPIServerCAConfig/);
    assertNoKeyMaterial(t, err);
  });

  t.test('MC_BAD_CA names the field path', async (t) => {
    const w = loadFixture('legacy-worker');
    // Second accepted entry: base64 of something that is not PEM.
    const bad = w.replace(/( {2}- crt: \S+\n)/, `$1  - crt: ${Buffer.from('hello world').toString('base64')}\n`);
    let err = catchRotate(() => readCaState(bad, 'w1'));
    t.equal(err.code, 'MC_BAD_CA');
    t.match(err.message, /machine config of w1: \.machine\.acceptedCAs\[1\]\.crt/);

    // A private key where a certificate belongs: the label is named, the key is not shown.
    const keyB64 = /\n {4}ca:\n {8}crt: \S+\n {8}key: (\S+)/.exec(cp)![1]!;
    err = catchRotate(() => readCaState(cp.replace(/(\n {4}ca:\n {8}crt: )\S+/, `$1${keyB64}`)));
    t.equal(err.code, 'MC_BAD_CA');
    t.match(
      err.message,
      /\.machine\.ca\.crt must hold exactly one CERTIFICATE PEM block \(found: ED25519 PRIVATE KEY\)/,
    );
    assertNoKeyMaterial(t, err);

    // A corrupted key: the key field is named, nothing of it is quoted.
    const corrupted = cp.replace(
      keyB64,
      encodeTalosBase64Pem('-----BEGIN EC PRIVATE KEY-----\nnot*base64\n-----END EC PRIVATE KEY-----\n'),
    );
    err = catchRotate(() => readCaState(corrupted));
    t.equal(err.code, 'MC_BAD_CA');
    t.match(err.message, /\.machine\.ca\.key/);
    assertNoKeyMaterial(t, err, ['not*base64']);

    // Plain PEM in a legacy field.
    const k8s = await generateKubernetesCa();
    err = catchRotate(() =>
      readCaState(
        cp.replace(
          'acceptedCAs: [] # nothing extra trusted yet',
          `acceptedCAs:\n        - crt: ${JSON.stringify(k8s.certPem)}`,
        ),
      ),
    );
    t.equal(err.code, 'MC_BAD_CA');
    t.match(err.message, /\.cluster\.acceptedCAs\[0\]\.crt holds plain PEM text/);

    // Document style: base64 where PEM belongs, and a bare item that is not a certificate.
    err = catchRotate(() =>
      readCaState(
        loadFixture('document-worker').replace(
          /acceptedCAs:\n[^]*?(?=^---$)/m,
          `acceptedCAs:\n    - ${encodeTalosBase64Pem(k8s.certPem)}\n`,
        ),
      ),
    );
    t.equal(err.code, 'MC_BAD_CA');
    t.match(
      err.message,
      /KubeAPIServerCAConfig\.acceptedCAs\[0\] must hold CERTIFICATE PEM blocks only \(found: none\)/,
    );

    err = catchRotate(() =>
      readCaState(cp.replace('acceptedCAs: [] # nothing extra trusted yet', 'acceptedCAs: [{crt: ""}]')),
    );
    t.match(err.message, /\.cluster\.acceptedCAs\[0\]\.crt is empty/);
    err = catchRotate(() =>
      readCaState(cp.replace('acceptedCAs: [] # nothing extra trusted yet', 'acceptedCAs: {crt: x}')),
    );
    t.match(err.message, /\.cluster\.acceptedCAs is not a list/);
    err = catchRotate(() => readCaState(cp.replace(/(\n {4}ca:\n {8}crt: )\S+/, '$1""')));
    t.match(err.message, /\.machine\.ca has a key but no certificate/);
    assertNoKeyMaterial(t, err);
  });
});
