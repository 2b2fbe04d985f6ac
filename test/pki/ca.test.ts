import t, { type TAP } from 'tap';
import { X509Certificate, createPrivateKey, generateKeyPairSync, webcrypto } from 'node:crypto';
import { Secret } from '../../src/domain/secret.js';
import {
  CA_VALIDITY_MS,
  decodeTalosBase64Pem,
  encodeTalosBase64Pem,
  encodePem,
  generateCa,
  generateKubernetesCa,
  generateTalosCa,
  issueTalosClientCert,
  loadCa,
  parseCaBundle,
  parseCaCertificate,
  privateKeyPemForNode,
  splitPemBlocks,
  type CaMaterial,
} from '../../src/pki/index.js';
import { x509 } from '../../src/pki/x509lib.js';

const NOW = new Date('2031-05-06T07:08:09.555Z');

const OID = {
  keyUsage: '2.5.29.15',
  eku: '2.5.29.37',
  basicConstraints: '2.5.29.19',
  ski: '2.5.29.14',
  aki: '2.5.29.35',
};

function layout(pem: string): string[] {
  const cert = new x509.X509Certificate(pem);
  return cert.extensions.map((e) => `${e.type}${e.critical ? '!' : ''}`);
}

type Asserts = Pick<TAP, 'equal' | 'ok' | 'same' | 'match'>;

async function checkCaProperties(
  t: Asserts,
  ca: CaMaterial,
  expect: { keyType: string; curve?: string; sig: string; org: string; keyLabel: string },
) {
  const node = new X509Certificate(ca.certPem);
  const pec = new x509.X509Certificate(ca.certPem);
  t.equal(node.publicKey.asymmetricKeyType, expect.keyType, 'key type');
  if (expect.curve) t.equal(node.publicKey.asymmetricKeyDetails?.namedCurve, expect.curve, 'curve');
  t.equal(pec.subject, `O=${expect.org}`, 'subject is O only');
  t.equal(pec.issuer, pec.subject, 'self-issued');
  t.ok(node.verify(node.publicKey), 'self-signed');
  t.equal(node.ca, true, 'BasicConstraints CA:TRUE (node)');
  const bc = pec.getExtension(x509.BasicConstraintsExtension)!;
  t.ok(bc.ca && bc.critical && bc.pathLength === undefined, 'BasicConstraints critical, no path length');
  const ku = pec.getExtension(x509.KeyUsagesExtension)!;
  t.equal(
    ku.usages,
    x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign,
    'KeyUsage CertSign+DigitalSignature',
  );
  t.equal(ku.critical, true, 'KeyUsage critical');
  t.same(node.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'EKU ServerAuth+ClientAuth');
  const ski = pec.getExtension(x509.SubjectKeyIdentifierExtension)!;
  t.equal(ski.keyId.length, 40, 'SubjectKeyId is 20 bytes');
  t.same(
    layout(ca.certPem),
    [`${OID.keyUsage}!`, OID.eku, `${OID.basicConstraints}!`, OID.ski],
    'extensions in Go order, no AKI',
  );
  t.equal(pec.notBefore.getTime(), Math.floor(NOW.getTime() / 1000) * 1000, 'NotBefore = now (seconds), no backdating');
  t.equal(pec.notAfter.getTime() - pec.notBefore.getTime(), 87_600 * 3_600_000, 'lifetime 87600h');
  t.equal(CA_VALIDITY_MS, 87_600 * 3_600_000);
  const serial = BigInt(`0x${node.serialNumber}`);
  t.ok(serial > 0n && serial < 1n << 128n, 'serial is positive and below 2^128');
  t.equal((pec.signatureAlgorithm as unknown as { name: string }).name, expect.sig, 'signature algorithm');
  t.equal(ca.signatureAlgorithm, expect.sig === 'Ed25519' ? 'ed25519' : 'ecdsa-with-SHA256');
  t.equal(ca.isCa, true);
  t.equal(ca.subject, `O=${expect.org}`);
  t.equal(ca.notBefore.getTime(), pec.notBefore.getTime());
  t.equal(ca.notAfter.getTime(), pec.notAfter.getTime());
  t.equal(ca.fingerprint, node.fingerprint256.replace(/:/g, '').toLowerCase());
  const keyPem = ca.key.reveal();
  t.equal(splitPemBlocks(keyPem).length, 1);
  t.equal(splitPemBlocks(keyPem)[0]!.label, expect.keyLabel, `key PEM label ${expect.keyLabel}`);
  const keyObj = createPrivateKey(privateKeyPemForNode(keyPem));
  t.same(
    keyObj.asymmetricKeyType === 'ec' ? 'ec' : keyObj.asymmetricKeyType,
    expect.keyType,
    'key readable by node once relabelled',
  );
  t.ok(node.checkPrivateKey(keyObj), 'key belongs to the certificate');
}

t.test('generateTalosCa: Ed25519, O=talos, as Talos generates it', async (t) => {
  const ca = await generateTalosCa({ now: NOW });
  t.equal(ca.algorithm, 'ed25519');
  await checkCaProperties(t, ca, { keyType: 'ed25519', sig: 'Ed25519', org: 'talos', keyLabel: 'ED25519 PRIVATE KEY' });
  t.match(ca.key.reveal(), /^-----BEGIN ED25519 PRIVATE KEY-----\n/);
});

t.test('generateKubernetesCa: ECDSA P-256 SHA-256, O=kubernetes', async (t) => {
  const ca = await generateKubernetesCa({ now: NOW });
  t.equal(ca.algorithm, 'ecdsa-p256');
  await checkCaProperties(t, ca, {
    keyType: 'ec',
    curve: 'prime256v1',
    sig: 'ECDSA',
    org: 'kubernetes',
    keyLabel: 'EC PRIVATE KEY',
  });
  t.equal((new x509.X509Certificate(ca.certPem).signatureAlgorithm as { hash: { name: string } }).hash.name, 'SHA-256');
});

t.test('each CA is fresh: different keys, serials and SubjectKeyIds', async (t) => {
  const [a, b] = await Promise.all([generateTalosCa(), generateTalosCa()]);
  t.not(a.fingerprint, b.fingerprint);
  t.not(a.serialNumber, b.serialNumber);
  t.not(a.key.reveal(), b.key.reveal());
  const ski = (pem: string) => new x509.X509Certificate(pem).getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
  t.not(ski(a.certPem), ski(b.certPem));
  t.ok(Math.abs(a.notBefore.getTime() - Date.now()) < 60_000, 'default now is the current time');
});

t.test('CA keys never show in String/JSON/inspect', async (t) => {
  const ca = await generateTalosCa();
  const body = ca.key.reveal().split('\n')[1]!;
  const { inspect } = await import('node:util');
  t.notMatch(JSON.stringify(ca), body);
  t.notMatch(inspect(ca, { depth: 5 }), body);
  t.notMatch(`${ca.key}`, body);
});

// A secrets bundle as `talosctl gen secrets` writes it: crt/key are base64 of PEM, the Ed25519 key under
// the non-standard `ED25519 PRIVATE KEY` label, the ECDSA key as SEC1 `EC PRIVATE KEY` (talos-behaviour.md §4.1, §6.2).
t.test('Talos encodings: base64-of-PEM, ED25519 PRIVATE KEY and EC PRIVATE KEY', async (t) => {
  const genOs = await generateTalosCa();
  const genK8s = await generateKubernetesCa();
  const bundle = {
    os: { crt: encodeTalosBase64Pem(genOs.certPem), key: encodeTalosBase64Pem(genOs.key.reveal()) },
    k8s: { crt: encodeTalosBase64Pem(genK8s.certPem), key: encodeTalosBase64Pem(genK8s.key.reveal()) },
  };
  t.match(Buffer.from(bundle.os.key, 'base64').toString('utf8'), /^-----BEGIN ED25519 PRIVATE KEY-----\n/);
  t.match(Buffer.from(bundle.k8s.key, 'base64').toString('utf8'), /^-----BEGIN EC PRIVATE KEY-----\n/);
  const osCrt = decodeTalosBase64Pem(bundle.os.crt, 'certs.os.crt');
  const osKey = decodeTalosBase64Pem(bundle.os.key, 'certs.os.key');
  const talos = await loadCa(osCrt, new Secret(osKey), 'certs.os');
  t.equal(talos.algorithm, 'ed25519');
  t.equal(talos.subject, 'O=talos');
  t.equal(talos.isCa, true);
  t.equal(talos.key.reveal(), osKey, 'key kept as given');
  t.equal(talos.fingerprint, new X509Certificate(osCrt).fingerprint256.replace(/:/g, '').toLowerCase());

  const kube = await loadCa(
    decodeTalosBase64Pem(bundle.k8s.crt, 'certs.k8s.crt'),
    decodeTalosBase64Pem(bundle.k8s.key, 'certs.k8s.key'),
    'certs.k8s',
  );
  t.equal(kube.algorithm, 'ecdsa-p256');
  t.equal(kube.signatureAlgorithm, 'ecdsa-with-SHA256');

  // A leaf issued from the loaded CA names it with the exact subject bytes Go compares.
  const leaf = await issueTalosClientCert(talos, { roles: ['os:admin'] });
  const issuerOf = (pem: string) =>
    Buffer.from(new x509.X509Certificate(pem).issuerName.toArrayBuffer()).toString('hex');
  const subjectOf = (pem: string) =>
    Buffer.from(new x509.X509Certificate(pem).subjectName.toArrayBuffer()).toString('hex');
  t.equal(issuerOf(leaf.certPem), subjectOf(osCrt));
  t.ok(new X509Certificate(leaf.certPem).verify(new X509Certificate(osCrt).publicKey));
});

t.test('loadCa accepts every key label Talos reads', async (t) => {
  const ed = await generateTalosCa();
  const relabelled = privateKeyPemForNode(ed.key.reveal());
  t.equal((await loadCa(ed.certPem, relabelled, 'x')).algorithm, 'ed25519', 'PKCS#8 under PRIVATE KEY');

  const ec = await generateKubernetesCa();
  t.equal((await loadCa(ec.certPem, ec.key, 'x')).algorithm, 'ecdsa-p256', 'SEC1 EC PRIVATE KEY');
  const ecPkcs8 = createPrivateKey(ec.key.reveal()).export({ type: 'pkcs8', format: 'pem' }) as string;
  t.equal((await loadCa(ec.certPem, ecPkcs8, 'x')).algorithm, 'ecdsa-p256', 'EC key as PKCS#8');

  const rsa = await generateCa({ algorithm: 'rsa', organizations: ['kubernetes'], rsaBits: 2048 });
  t.match(rsa.key.reveal(), /^-----BEGIN RSA PRIVATE KEY-----/);
  const loaded = await loadCa(rsa.certPem, rsa.key, 'x');
  t.equal(loaded.algorithm, 'rsa');
  t.equal(loaded.rsaBits, 2048);
  t.equal(loaded.signatureAlgorithm, 'sha512WithRSAEncryption', 'RSA signs with SHA-512 like siderolabs/crypto');

  for (const curve of ['ecdsa-p384', 'ecdsa-p521'] as const) {
    const c = await generateCa({ algorithm: curve, organizations: ['kubernetes'] });
    t.equal((await loadCa(c.certPem, c.key, 'x')).algorithm, curve);
  }
});

t.test('loadCa errors', async (t) => {
  const a = await generateTalosCa();
  const b = await generateTalosCa();
  const k = await generateKubernetesCa();
  await t.rejects(loadCa(a.certPem, b.key, '.machine.ca'), { code: 'PKI_KEY_MISMATCH', message: /^\.machine\.ca: / });
  await t.rejects(loadCa(a.certPem, k.key, '.machine.ca'), { code: 'PKI_KEY_MISMATCH' }, 'other key type');
  await t.rejects(loadCa(a.certPem, 'garbage', '.machine.ca'), {
    code: 'PKI_PARSE',
    message: /\.machine\.ca key holds no private key/,
  });
  await t.rejects(loadCa('garbage', a.key, '.machine.ca'), {
    code: 'PKI_PARSE',
    message: /\.machine\.ca certificate holds no certificate/,
  });
  const openssh = '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n';
  await t.rejects(loadCa(a.certPem, openssh, 'x'), { code: 'PKI_PARSE', message: /found "OPENSSH PRIVATE KEY"/ });
  const corrupt = encodePem('ED25519 PRIVATE KEY', new Uint8Array(48).fill(7));
  await t.rejects(loadCa(a.certPem, corrupt, 'x'), { code: 'PKI_PARSE', message: /not a valid "ED25519 PRIVATE KEY"/ });
  // An EC key under the Ed25519 label is refused like Talos refuses it.
  const ecUnderEdLabel = encodePem(
    'ED25519 PRIVATE KEY',
    splitPemBlocks(createPrivateKey(k.key.reveal()).export({ type: 'pkcs8', format: 'pem' }) as string)[0]!.der,
  );
  await t.rejects(loadCa(k.certPem, ecUnderEdLabel, 'x'), { code: 'PKI_PARSE', message: /labelled ED25519/ });
});

/** A CA-shaped certificate whose key is of a type Talos does not support, signed by an Ed25519 key. */
async function certWithKey(spki: Buffer): Promise<string> {
  const signer = (await webcrypto.subtle.generateKey({ name: 'Ed25519' }, false, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    subject: 'O=weird',
    issuer: 'O=weird',
    publicKey: spki,
    signingKey: signer.privateKey as never,
    signingAlgorithm: { name: 'Ed25519' },
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  return cert.toString('pem');
}

t.test('unsupported key types are PKI_UNSUPPORTED_ALG', async (t) => {
  const ed448 = generateKeyPairSync('ed448').publicKey.export({ type: 'spki', format: 'der' });
  const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({ type: 'spki', format: 'der' });
  const ed448Pem = await certWithKey(ed448);
  t.throws(() => parseCaCertificate(ed448Pem, '.machine.acceptedCAs[0]'), {
    code: 'PKI_UNSUPPORTED_ALG',
    message: /\.machine\.acceptedCAs\[0\] has a ed448 key/,
  });
  const k1Pem = await certWithKey(k1);
  t.throws(() => parseCaCertificate(k1Pem, 'ca'), { code: 'PKI_UNSUPPORTED_ALG', message: /ec secp256k1/ });
  const k1Key = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({
    type: 'sec1',
    format: 'pem',
  }) as string;
  await t.rejects(loadCa(k1Pem, k1Key, 'ca'), { code: 'PKI_UNSUPPORTED_ALG' });
});

t.test('parseCaCertificate', async (t) => {
  const ca = await generateTalosCa({ now: NOW });
  const parsed = parseCaCertificate(ca.certPem.trimEnd(), 'x');
  const { key: _key, ...withoutKey } = ca;
  t.same(parsed, withoutKey, 'describes the same certificate as the generator did');
  t.equal(parsed.subject, 'O=talos');
  t.equal(parsed.certPem, ca.certPem);
  t.equal(parsed.fingerprint, ca.fingerprint);

  const leaf = await issueTalosClientCert(ca, { roles: ['os:admin'], now: NOW });
  const leafDesc = parseCaCertificate(leaf.certPem, 'leaf');
  t.equal(leafDesc.isCa, false, 'a leaf parses, isCa false');

  t.throws(() => parseCaCertificate(ca.certPem + ca.certPem, 'bundle'), {
    code: 'PKI_PARSE',
    message: /holds 2 certificates/,
  });
  t.equal(parseCaBundle(ca.certPem + leaf.certPem, 'bundle').length, 2);
  t.throws(() => parseCaCertificate(encodePem('CERTIFICATE', new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])), 'bad'), {
    code: 'PKI_PARSE',
    message: /bad is not a valid X\.509 certificate/,
  });
  t.throws(() => parseCaCertificate('', 'empty'), { code: 'PKI_PARSE', message: /found no PEM block/ });
});
