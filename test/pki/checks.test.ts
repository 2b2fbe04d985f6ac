import t from 'tap';
import { X509Certificate, createHash, webcrypto } from 'node:crypto';
import {
  assertIsCa,
  assertKeyMatches,
  assertSupportedAlgorithm,
  assertValidNow,
  concatPem,
  fingerprintOfDer,
  fingerprintOfPem,
  generateCa,
  generateKubernetesCa,
  generateTalosCa,
  issueLeafCert,
  issueTalosClientCert,
  isSignedBy,
  parseCaCertificate,
  signerIndex,
  splitPemBlocks,
  verifiesAgainst,
  type CaCertificate,
} from '../../src/pki/index.js';
import { x509 } from '../../src/pki/x509lib.js';

const NOW = new Date('2030-01-01T00:00:00Z');
const HOUR = 3_600_000;

type KeyPair = webcrypto.CryptoKeyPair;

async function edKeys(): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as KeyPair;
}

/** A hand-made certificate for shapes our generators never produce. */
async function makeCert(opts: {
  subject: string;
  issuer: string;
  keys: KeyPair;
  signer?: KeyPair;
  extensions?: x509.Extension[];
  signingAlgorithm?: { name: string; hash?: string };
}): Promise<string> {
  const cert = await x509.X509CertificateGenerator.create({
    subject: opts.subject,
    issuer: opts.issuer,
    notBefore: new Date(NOW.getTime() - HOUR),
    notAfter: new Date(NOW.getTime() + 100 * HOUR),
    publicKey: opts.keys.publicKey as never,
    signingKey: (opts.signer ?? opts.keys).privateKey as never,
    signingAlgorithm: (opts.signingAlgorithm ?? { name: 'Ed25519' }) as never,
    extensions: opts.extensions ?? [],
  });
  return `${cert.toString('pem')}\n`;
}

t.test('assertIsCa', async (t) => {
  const ca = await generateTalosCa({ now: NOW });
  t.doesNotThrow(() => assertIsCa(ca, '.machine.ca'));
  const leaf = await issueTalosClientCert(ca, { roles: ['os:admin'], now: NOW });
  t.throws(() => assertIsCa(parseCaCertificate(leaf.certPem, '.machine.acceptedCAs[1]'), '.machine.acceptedCAs[1]'), {
    code: 'PKI_NOT_CA',
    message: /^\.machine\.acceptedCAs\[1\] \(O=os:admin\) is not a CA certificate/,
  });

  const keys = await edKeys();
  const noCertSign = await makeCert({
    subject: 'O=talos',
    issuer: 'O=talos',
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    ],
  });
  t.throws(() => assertIsCa(parseCaCertificate(noCertSign, 'x'), 'x'), {
    code: 'PKI_NOT_CA',
    message: /lacks keyCertSign/,
  });

  const noKeyUsage = await makeCert({
    subject: 'O=talos',
    issuer: 'O=talos',
    keys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  t.doesNotThrow(
    () => assertIsCa(parseCaCertificate(noKeyUsage, 'x'), 'x'),
    'no KeyUsage at all is accepted, as in Go',
  );

  const noBasicConstraints = await makeCert({ subject: 'O=talos', issuer: 'O=talos', keys });
  t.throws(() => assertIsCa(parseCaCertificate(noBasicConstraints, 'x'), 'x'), {
    code: 'PKI_NOT_CA',
    message: /CA:TRUE is missing/,
  });
});

t.test('assertValidNow', async (t) => {
  const cert = { notBefore: new Date('2030-01-01T00:00:00Z'), notAfter: new Date('2030-02-01T00:00:00Z') };
  t.doesNotThrow(() => assertValidNow(cert, 'c', { now: new Date('2030-01-15T00:00:00Z') }));
  t.throws(() => assertValidNow(cert, '.machine.ca.crt', { now: new Date('2030-02-01T00:10:00Z') }), {
    code: 'PKI_EXPIRED',
    message: /^\.machine\.ca\.crt expired at 2030-02-01T00:00:00\.000Z \(now 2030-02-01T00:10:00\.000Z\)/,
  });
  t.throws(() => assertValidNow(cert, 'c', { now: new Date('2029-12-31T23:50:00Z') }), {
    code: 'PKI_NOT_YET_VALID',
    message: /not valid before 2030-01-01T00:00:00\.000Z \(now 2029-12-31T23:50:00\.000Z\)/,
  });
  // Default tolerance is five minutes on either side.
  t.doesNotThrow(() => assertValidNow(cert, 'c', { now: new Date('2030-02-01T00:04:59Z') }));
  t.doesNotThrow(() => assertValidNow(cert, 'c', { now: new Date('2029-12-31T23:55:01Z') }));
  t.throws(() => assertValidNow(cert, 'c', { now: new Date('2030-02-01T00:00:01Z'), skewMs: 0 }), {
    code: 'PKI_EXPIRED',
  });
  t.throws(() => assertValidNow(cert, 'c', { now: new Date('2029-12-31T23:59:59Z'), skewMs: 0 }), {
    code: 'PKI_NOT_YET_VALID',
  });
  t.doesNotThrow(
    () => assertValidNow({ notBefore: new Date(Date.now() - HOUR), notAfter: new Date(Date.now() + HOUR) }, 'c'),
    'default now',
  );

  const ca = await generateTalosCa({ now: NOW });
  t.throws(
    () => assertValidNow(ca, 'ca', { now: new Date(NOW.getTime() + 87_601 * HOUR) }),
    { code: 'PKI_EXPIRED' },
    'expired CA via now',
  );
  t.throws(
    () => assertValidNow(ca, 'ca', { now: new Date(NOW.getTime() - HOUR) }),
    { code: 'PKI_NOT_YET_VALID' },
    'future CA via now',
  );
});

t.test('assertKeyMatches', async (t) => {
  const a = await generateTalosCa();
  const b = await generateTalosCa();
  const k = await generateKubernetesCa();
  t.doesNotThrow(() => assertKeyMatches(a.certPem, a.key, 'a'));
  t.doesNotThrow(() => assertKeyMatches(k.certPem, k.key, 'k'));
  t.throws(() => assertKeyMatches(a.certPem, b.key, '.machine.ca'), {
    code: 'PKI_KEY_MISMATCH',
    message: /^\.machine\.ca: /,
  });
  t.throws(() => assertKeyMatches(k.certPem, a.key, 'k'), { code: 'PKI_KEY_MISMATCH' });
  const leaf = await issueTalosClientCert(a, { roles: ['os:admin'] });
  t.doesNotThrow(() => assertKeyMatches(leaf.certPem, leaf.key, 'leaf'));
  t.throws(() => assertKeyMatches(leaf.certPem, a.key, 'leaf'), { code: 'PKI_KEY_MISMATCH' });
});

t.test('assertSupportedAlgorithm', async (t) => {
  for (const ca of [
    await generateTalosCa(),
    await generateKubernetesCa(),
    await generateCa({ algorithm: 'ecdsa-p384' }),
  ]) {
    t.doesNotThrow(() => assertSupportedAlgorithm(ca, ca.subject));
  }
  const weakRsa = await generateCa({ algorithm: 'rsa', rsaBits: 1024, organizations: ['kubernetes'] });
  t.throws(() => assertSupportedAlgorithm(weakRsa, '.cluster.ca'), {
    code: 'PKI_UNSUPPORTED_ALG',
    message: /^\.cluster\.ca has a 1024-bit RSA key/,
  });
  const rsa2048 = await generateCa({ algorithm: 'rsa', rsaBits: 2048 });
  t.doesNotThrow(() => assertSupportedAlgorithm(rsa2048, 'rsa 2048'));

  const rsaKeys = (await webcrypto.subtle.generateKey(
    { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-1' },
    true,
    ['sign', 'verify'],
  )) as KeyPair;
  const sha1 = await makeCert({
    subject: 'O=kubernetes',
    issuer: 'O=kubernetes',
    keys: rsaKeys,
    signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-1' },
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const sha1Ca = parseCaCertificate(sha1, 'old');
  t.equal(sha1Ca.signatureAlgorithm, 'sha1WithRSAEncryption');
  t.throws(() => assertSupportedAlgorithm(sha1Ca, 'old'), {
    code: 'PKI_UNSUPPORTED_ALG',
    message: /signed with sha1WithRSAEncryption/,
  });

  const forged = { ...(await generateTalosCa()), algorithm: 'dsa' } as unknown as CaCertificate;
  t.throws(() => assertSupportedAlgorithm(forged, 'x'), { code: 'PKI_UNSUPPORTED_ALG', message: /"dsa"/ });
});

t.test('isSignedBy: signature and exact issuer name, not dates', async (t) => {
  const a = await generateTalosCa({ now: NOW });
  const b = await generateTalosCa({ now: NOW }); // same subject O=talos, different key
  const leaf = await issueTalosClientCert(a, { roles: ['os:admin'], now: NOW });
  t.equal(isSignedBy(leaf.certPem, a.certPem), true);
  t.equal(isSignedBy(leaf.certPem, b.certPem), false, 'same subject, other key');
  t.equal(isSignedBy(a.certPem, a.certPem), true, 'self-signed CA');
  t.equal(isSignedBy(b.certPem, a.certPem), false);
  t.equal(isSignedBy(leaf.certPem, leaf.certPem), false);
  t.equal(isSignedBy('garbage', a.certPem), false);
  t.equal(isSignedBy(leaf.certPem, 'garbage'), false);
  const expired = await issueTalosClientCert(a, {
    roles: ['os:admin'],
    now: new Date('2000-01-01T00:00:00Z'),
    validityMs: HOUR,
  });
  t.equal(isSignedBy(expired.certPem, a.certPem), true, 'dates are not checked');

  // Right key, wrong issuer name: Go would not find the CA, so neither do we.
  const caKeys = await edKeys();
  const caPem = await makeCert({
    subject: 'O=talos',
    issuer: 'O=talos',
    keys: caKeys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const wrongIssuer = await makeCert({
    subject: 'O=os:admin',
    issuer: 'O=other',
    keys: await edKeys(),
    signer: caKeys,
  });
  const rightIssuer = await makeCert({
    subject: 'O=os:admin',
    issuer: 'O=talos',
    keys: await edKeys(),
    signer: caKeys,
  });
  t.equal(isSignedBy(rightIssuer, caPem), true);
  t.equal(isSignedBy(wrongIssuer, caPem), false);
  // Same name, other string type (UTF8String vs PrintableString): still not byte-equal.
  const utf8Issuer = await x509.X509CertificateGenerator.create({
    subject: 'O=os:admin',
    issuer: [{ O: [{ utf8String: 'talos' }] }] as never,
    publicKey: (await edKeys()).publicKey as never,
    signingKey: caKeys.privateKey as never,
    signingAlgorithm: { name: 'Ed25519' },
  });
  t.equal(isSignedBy(utf8Issuer.toString('pem'), caPem), false, 'issuer compared byte for byte');
});

t.test('signerIndex: the first CA isSignedBy accepts, without the @peculiar/x509 view of the leaf', async (t) => {
  const a = await generateTalosCa({ now: NOW });
  const b = await generateTalosCa({ now: NOW }); // same subject, other key
  const leaf = await issueTalosClientCert(a, { roles: ['os:admin'], now: NOW });
  const other = await issueTalosClientCert(b, { roles: ['os:admin'], now: NOW });
  t.equal(signerIndex(leaf.certPem, [b.certPem, a.certPem]), 1);
  t.equal(signerIndex(leaf.certPem, [a.certPem, a.certPem]), 0, 'the first match');
  t.equal(signerIndex(other.certPem, [b.certPem, a.certPem]), 0);
  t.equal(signerIndex(leaf.certPem, [b.certPem]), -1, 'same subject, other key');
  t.equal(signerIndex(leaf.certPem, []), -1);
  t.equal(signerIndex(leaf.certPem, ['garbage', a.certPem]), 1, 'an unparseable CA is skipped');
  t.equal(signerIndex('garbage', [a.certPem]), -1);
  t.equal(signerIndex(concatPem([leaf.certPem, other.certPem]), [a.certPem, b.certPem]), -1, 'two certificates');
  t.equal(signerIndex(a.certPem, [b.certPem, a.certPem]), 1, 'self-signed CA');
  // Right key, issuer name differing only in string type: isSignedBy refuses it, and so does signerIndex.
  const caKeys = await edKeys();
  const caPem = await makeCert({
    subject: 'O=talos',
    issuer: 'O=talos',
    keys: caKeys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const utf8Issuer = await x509.X509CertificateGenerator.create({
    subject: 'O=os:admin',
    issuer: [{ O: [{ utf8String: 'talos' }] }] as never,
    publicKey: (await edKeys()).publicKey as never,
    signingKey: caKeys.privateKey as never,
    signingAlgorithm: { name: 'Ed25519' },
  });
  t.equal(isSignedBy(utf8Issuer.toString('pem'), caPem), false);
  t.equal(signerIndex(utf8Issuer.toString('pem'), [caPem]), -1, 'issuer compared byte for byte');
});

t.test('verifiesAgainst', async (t) => {
  const a = await generateTalosCa({ now: NOW });
  const b = await generateTalosCa({ now: NOW });
  const leaf = await issueTalosClientCert(a, { roles: ['os:admin'], now: NOW });
  const opts = { now: new Date(NOW.getTime() + HOUR) };
  t.equal(verifiesAgainst(leaf.certPem, [a.certPem], opts), true);
  t.equal(verifiesAgainst(leaf.certPem, [b.certPem], opts), false);
  t.equal(verifiesAgainst(leaf.certPem, [b.certPem, a.certPem], opts), true);
  t.equal(verifiesAgainst(leaf.certPem, [concatPem([b.certPem, a.certPem])], opts), true, 'bundle entry');
  t.equal(verifiesAgainst(leaf.certPem, ['garbage', a.certPem], opts), true, 'bad entries are skipped');
  t.equal(verifiesAgainst(leaf.certPem, [], opts), false);
  t.equal(
    verifiesAgainst(leaf.certPem, [a.certPem], { now: new Date(NOW.getTime() + 400 * 24 * HOUR) }),
    false,
    'leaf expired',
  );
  t.equal(
    verifiesAgainst(leaf.certPem, [a.certPem], { now: new Date(NOW.getTime() - HOUR) }),
    false,
    'leaf not yet valid',
  );

  // A leaf that outlives its CA: the CA's own validity counts too, as in Go.
  const shortCa = await generateCa({ algorithm: 'ed25519', organizations: ['talos'], now: NOW, validityMs: 2 * HOUR });
  const longLeaf = await issueTalosClientCert(shortCa, { roles: ['os:admin'], now: NOW, validityMs: 100 * HOUR });
  t.equal(verifiesAgainst(longLeaf.certPem, [shortCa.certPem], { now: new Date(NOW.getTime() + HOUR) }), true);
  t.equal(
    verifiesAgainst(longLeaf.certPem, [shortCa.certPem], { now: new Date(NOW.getTime() + 10 * HOUR) }),
    false,
    'CA expired',
  );

  const k = await generateKubernetesCa({ now: NOW });
  const kubelet = await issueLeafCert(k, {
    commonName: 'system:node:w1',
    organizations: ['system:nodes'],
    usages: ['clientAuth'],
    now: NOW,
  });
  t.equal(verifiesAgainst(kubelet.certPem, [a.certPem, k.certPem], opts), true);
});

t.test('fingerprints equal the openssl -fingerprint -sha256 digest', async (t) => {
  const ca = await generateTalosCa();
  const node = new X509Certificate(ca.certPem);
  const opensslStyle = node.fingerprint256; // "AB:CD:..." as openssl prints it
  t.equal(fingerprintOfPem(ca.certPem), opensslStyle.replace(/:/g, '').toLowerCase());
  t.equal(fingerprintOfDer(node.raw), createHash('sha256').update(node.raw).digest('hex'));
  t.match(fingerprintOfPem(ca.certPem), /^[0-9a-f]{64}$/);
  const other = await generateKubernetesCa();
  t.equal(fingerprintOfPem(concatPem([other.certPem, ca.certPem])), other.fingerprint, 'first certificate of a bundle');
  t.equal(fingerprintOfPem(ca.key.reveal() + ca.certPem), ca.fingerprint, 'skips non-certificate blocks');
  t.throws(() => fingerprintOfPem(ca.key.reveal()), { code: 'PKI_PARSE' });
  t.throws(() => fingerprintOfPem(''), { code: 'PKI_PARSE' });
  t.equal(fingerprintOfDer(splitPemBlocks(ca.certPem)[0]!.der), ca.fingerprint);
});
