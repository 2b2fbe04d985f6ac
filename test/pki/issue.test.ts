import t from 'tap';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import {
  assertKeyMatches,
  createCsr,
  encodePem,
  generateCa,
  generateKubernetesCa,
  generateTalosCa,
  issueKubernetesAdminCert,
  issueLeafCert,
  issueTalosClientCert,
  isSignedBy,
  keyPemForTls,
  signCsr,
  splitPemBlocks,
  verifiesAgainst,
} from '../../src/pki/index.js';
import { x509 } from '../../src/pki/x509lib.js';

const NOW = new Date('2030-06-01T12:00:00.250Z');
const NOW_S = Math.floor(NOW.getTime() / 1000) * 1000;
const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const OID = {
  ku: '2.5.29.15',
  eku: '2.5.29.37',
  bc: '2.5.29.19',
  ski: '2.5.29.14',
  aki: '2.5.29.35',
  san: '2.5.29.17',
};

function layout(pem: string): string[] {
  return new x509.X509Certificate(pem).extensions.map((e) => `${e.type}${e.critical ? '!' : ''}`);
}
function ekus(pem: string): string[] {
  return new X509Certificate(pem).keyUsage ?? [];
}
function keyUsage(pem: string): number {
  return new x509.X509Certificate(pem).getExtension(x509.KeyUsagesExtension)!.usages;
}
function keyLabel(pem: string): string {
  return splitPemBlocks(pem)[0]!.label;
}
function sans(pem: string): { type: string; value: string }[] {
  const ext = new x509.X509Certificate(pem).getExtension(x509.SubjectAlternativeNameExtension);
  return ext ? ext.names.items.map((n) => ({ type: n.type, value: n.value })) : [];
}

t.test('issueTalosClientCert: as talosctl makes the admin cert', async (t) => {
  const ca = await generateTalosCa({ now: new Date(NOW.getTime() - DAY) });
  const c = await issueTalosClientCert(ca, { roles: ['os:admin'], now: NOW });
  const node = new X509Certificate(c.certPem);
  const pec = new x509.X509Certificate(c.certPem);
  t.equal(pec.subject, 'O=os:admin', 'subject is O=role only, no CN');
  t.same(pec.subjectName.getField('CN'), []);
  t.equal(pec.issuer, 'O=talos');
  t.same(ekus(c.certPem), ['1.3.6.1.5.5.7.3.2'], 'EKU exactly [ClientAuth]');
  t.equal(keyUsage(c.certPem), x509.KeyUsageFlags.digitalSignature, 'KeyUsage DigitalSignature only');
  const caSki = new x509.X509Certificate(ca.certPem).getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
  t.equal(pec.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId, caSki, 'AuthorityKeyId = CA SubjectKeyId');
  t.same(layout(c.certPem), [`${OID.ku}!`, OID.eku, OID.aki], 'no BasicConstraints, no SubjectKeyId, as Go leaves');
  t.equal(node.ca, false);
  t.equal(pec.notBefore.getTime(), NOW_S - 5 * MIN, 'NotBefore backdated 5 minutes');
  t.equal(pec.notAfter.getTime(), NOW_S + 365 * DAY, 'valid one year');
  t.equal(c.notBefore.getTime(), pec.notBefore.getTime());
  t.equal(c.notAfter.getTime(), pec.notAfter.getTime());
  t.equal(c.fingerprint, node.fingerprint256.replace(/:/g, '').toLowerCase());
  t.equal(node.publicKey.asymmetricKeyType, 'ed25519', 'Ed25519 CA -> Ed25519 leaf');
  t.equal(keyLabel(c.key.reveal()), 'ED25519 PRIVATE KEY', 'key in Talos encoding');
  t.ok(node.checkPrivateKey(createPrivateKey(keyPemForTls(c.key))));
  t.ok(node.verify(new X509Certificate(ca.certPem).publicKey), 'signed by the CA');
  t.ok(isSignedBy(c.certPem, ca.certPem));
  t.ok(verifiesAgainst(c.certPem, [ca.certPem], { now: NOW }));
  t.ok(BigInt(`0x${node.serialNumber}`) < 1n << 128n);
});

t.test('issueTalosClientCert: several roles, one RDN in DER order; options', async (t) => {
  const ca = await generateTalosCa();
  const c = await issueTalosClientCert(ca, {
    roles: ['os:etcd:backup', 'os:reader', 'os:reader'],
    validityMs: DAY,
    backdateMs: 0,
    now: NOW,
  });
  const pec = new x509.X509Certificate(c.certPem);
  t.same(pec.subjectName.toJSON(), [{ O: ['os:reader', 'os:etcd:backup'] }], 'deduplicated, shorter encoding first');
  t.equal(c.notBefore.getTime(), NOW_S);
  t.equal(c.notAfter.getTime() - c.notBefore.getTime(), DAY);
  await t.rejects(issueTalosClientCert(ca, { roles: [] }), { code: 'PKI_INVALID_REQUEST' });
  await t.rejects(issueTalosClientCert(ca, { roles: [' '] }), { code: 'PKI_INVALID_REQUEST' });
  await t.rejects(issueTalosClientCert(ca, { roles: ['os:admin'], validityMs: 0 }), { code: 'PKI_INVALID_REQUEST' });
  await t.rejects(issueTalosClientCert(ca, { roles: ['os:admin'], backdateMs: -1 }), { code: 'PKI_INVALID_REQUEST' });
  const other = await generateTalosCa();
  await t.rejects(issueTalosClientCert({ ...ca, key: other.key }, { roles: ['os:admin'] }), {
    code: 'PKI_KEY_MISMATCH',
  });
});

t.test('leaf key type follows the CA', async (t) => {
  const p256 = await generateKubernetesCa();
  const a = await issueTalosClientCert(p256, { roles: ['os:admin'] });
  t.equal(new X509Certificate(a.certPem).publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  t.equal(keyLabel(a.key.reveal()), 'EC PRIVATE KEY');
  t.equal(
    (new x509.X509Certificate(a.certPem).signatureAlgorithm as unknown as { hash: { name: string } }).hash.name,
    'SHA-256',
  );

  const p384 = await generateCa({ algorithm: 'ecdsa-p384', organizations: ['kubernetes'] });
  const b = await issueTalosClientCert(p384, { roles: ['os:admin'] });
  t.equal(
    new X509Certificate(b.certPem).publicKey.asymmetricKeyDetails?.namedCurve,
    'prime256v1',
    'any ECDSA CA -> P-256 leaf',
  );
  t.ok(isSignedBy(b.certPem, p384.certPem));

  const rsa = await generateCa({ algorithm: 'rsa', organizations: ['talos'], rsaBits: 2048 });
  const c = await issueTalosClientCert(rsa, { roles: ['os:admin'] });
  const node = new X509Certificate(c.certPem);
  t.equal(node.publicKey.asymmetricKeyType, 'rsa');
  t.equal(node.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  t.equal(keyLabel(c.key.reveal()), 'RSA PRIVATE KEY');
  t.ok(isSignedBy(c.certPem, rsa.certPem));
});

t.test('issueKubernetesAdminCert', async (t) => {
  const ca = await generateKubernetesCa({ now: new Date(NOW.getTime() - DAY) });
  const c = await issueKubernetesAdminCert(ca, { now: NOW });
  const pec = new x509.X509Certificate(c.certPem);
  t.same(pec.subjectName.toJSON(), [{ O: ['system:masters'] }, { CN: ['admin'] }], 'O then CN, as Go orders them');
  t.same(ekus(c.certPem), ['1.3.6.1.5.5.7.3.2']);
  t.equal(keyUsage(c.certPem), x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
  t.equal(new X509Certificate(c.certPem).publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  t.equal(c.notAfter.getTime(), NOW_S + 365 * DAY);
  t.equal(c.notBefore.getTime(), NOW_S - 5 * MIN);
  t.ok(verifiesAgainst(c.certPem, [ca.certPem], { now: NOW }));
});

t.test('issueLeafCert: server certs with SANs, kubelet and impersonator certs', async (t) => {
  const ca = await generateTalosCa();
  const server = await issueLeafCert(ca, {
    commonName: 'cp1.example.org',
    usages: ['serverAuth'],
    ipAddresses: ['10.5.0.2', '127.0.0.1', 'fd00::1'],
    dnsNames: ['cp1', 'cp1.example.org'],
    validityMs: DAY,
  });
  t.same(sans(server.certPem), [
    { type: 'dns', value: 'cp1' },
    { type: 'dns', value: 'cp1.example.org' },
    { type: 'ip', value: '10.5.0.2' },
    { type: 'ip', value: '127.0.0.1' },
    { type: 'ip', value: 'fd00::1' },
  ]);
  t.same(layout(server.certPem), [`${OID.ku}!`, OID.eku, OID.aki, OID.san]);
  t.same(ekus(server.certPem), ['1.3.6.1.5.5.7.3.1']);
  t.equal(new X509Certificate(server.certPem).checkIP('10.5.0.2'), '10.5.0.2');
  t.equal(new X509Certificate(server.certPem).checkHost('cp1.example.org'), 'cp1.example.org');

  const imp = await issueLeafCert(ca, {
    commonName: 'cp1',
    organizations: ['os:impersonator'],
    usages: ['clientAuth'],
  });
  t.equal(new x509.X509Certificate(imp.certPem).subject, 'O=os:impersonator, CN=cp1');

  const both = await issueLeafCert(ca, { commonName: 'x', usages: ['serverAuth', 'clientAuth'] });
  t.same(ekus(both.certPem), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);

  const noSubject = await issueLeafCert(ca, { usages: ['serverAuth'], ipAddresses: ['127.0.0.1'] });
  t.same(
    layout(noSubject.certPem),
    [`${OID.ku}!`, OID.eku, OID.aki, `${OID.san}!`],
    'SAN critical when the subject is empty',
  );

  const k8s = await generateKubernetesCa();
  const kubelet = await issueLeafCert(k8s, {
    commonName: 'system:node:w1',
    organizations: ['system:nodes'],
    usages: ['clientAuth'],
  });
  t.same(new x509.X509Certificate(kubelet.certPem).subjectName.toJSON(), [
    { O: ['system:nodes'] },
    { CN: ['system:node:w1'] },
  ]);

  await t.rejects(issueLeafCert(ca, { usages: ['serverAuth'], ipAddresses: ['cp1.example.org'] }), {
    code: 'PKI_INVALID_REQUEST',
    message: /not an IP/,
  });
  await t.rejects(issueLeafCert(ca, { usages: ['serverAuth'], dnsNames: ['a b'] }), { code: 'PKI_INVALID_REQUEST' });
  await t.rejects(issueLeafCert(ca, { usages: [] }), { code: 'PKI_INVALID_REQUEST' });
});

t.test('createCsr and signCsr, as trustd signs worker CSRs', async (t) => {
  const ca = await generateTalosCa({ now: new Date(NOW.getTime() - DAY) });
  const { csrPem, key } = await createCsr({
    algorithm: 'ed25519',
    commonName: 'w1.example.org',
    organizations: ['os:admin'],
    ipAddresses: ['10.5.0.3'],
    dnsNames: ['w1'],
  });
  t.match(csrPem, /^-----BEGIN CERTIFICATE REQUEST-----\n[\s\S]+-----END CERTIFICATE REQUEST-----\n$/);
  t.equal(keyLabel(key.reveal()), 'ED25519 PRIVATE KEY');
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  t.ok(await csr.verify());
  t.same(csr.subjectName.toJSON(), [{ O: ['os:admin'] }, { CN: ['w1.example.org'] }]);

  const signed = await signCsr(ca, csrPem, {
    usages: ['serverAuth'],
    stripOrganization: true,
    now: NOW,
    validityMs: DAY,
  });
  t.notOk('key' in signed, 'the requester holds the key');
  const pec = new x509.X509Certificate(signed.certPem);
  t.same(pec.subjectName.toJSON(), [{ CN: ['w1.example.org'] }], 'Organization stripped');
  t.same(
    sans(signed.certPem),
    [
      { type: 'dns', value: 'w1' },
      { type: 'ip', value: '10.5.0.3' },
    ],
    'SANs from the CSR',
  );
  t.same(ekus(signed.certPem), ['1.3.6.1.5.5.7.3.1']);
  t.equal(signed.notBefore.getTime(), NOW_S - 5 * MIN);
  t.equal(signed.notAfter.getTime(), NOW_S + DAY);
  t.doesNotThrow(() => assertKeyMatches(signed.certPem, key, 'signed'), 'certificate carries the CSR key');
  t.ok(verifiesAgainst(signed.certPem, [ca.certPem], { now: NOW }));

  const kept = await signCsr(ca, csrPem, { usages: ['clientAuth'] });
  t.same(new x509.X509Certificate(kept.certPem).subjectName.toJSON(), [
    { O: ['os:admin'] },
    { CN: ['w1.example.org'] },
  ]);

  // A tampered CSR: change one byte of the CN inside the signed part.
  const der = Buffer.from(splitPemBlocks(csrPem)[0]!.der);
  const at = der.indexOf(Buffer.from('w1.example.org'));
  der[at] = 'v'.charCodeAt(0);
  await t.rejects(signCsr(ca, encodePem('CERTIFICATE REQUEST', der), { usages: ['serverAuth'] }), {
    code: 'PKI_CSR_SIGNATURE',
  });
  await t.rejects(signCsr(ca, 'nope', { usages: ['serverAuth'] }), { code: 'PKI_PARSE' });
  await t.rejects(
    signCsr(ca, encodePem('CERTIFICATE REQUEST', new Uint8Array([1, 2, 3])), { usages: ['serverAuth'] }),
    { code: 'PKI_PARSE' },
  );
});

t.test('createCsr for every algorithm; ECDSA hash follows the curve', async (t) => {
  const expectations = [
    ['ecdsa-p256', 'SHA-256', 'EC PRIVATE KEY'],
    ['ecdsa-p384', 'SHA-384', 'EC PRIVATE KEY'],
    ['ecdsa-p521', 'SHA-512', 'EC PRIVATE KEY'],
    ['rsa', 'SHA-512', 'RSA PRIVATE KEY'],
  ] as const;
  const k8s = await generateKubernetesCa();
  for (const [algorithm, hash, label] of expectations) {
    const { csrPem, key } = await createCsr({ algorithm, commonName: 'n' });
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    t.ok(await csr.verify(), `${algorithm} CSR verifies`);
    t.equal(
      (csr.signatureAlgorithm as unknown as { hash: { name: string } }).hash.name,
      hash,
      `${algorithm} signed with ${hash}`,
    );
    t.equal(keyLabel(key.reveal()), label);
    const signed = await signCsr(k8s, csrPem, { usages: ['clientAuth'] });
    t.doesNotThrow(() => assertKeyMatches(signed.certPem, key, algorithm));
  }
});

t.test(
  'createCsr encodes what the ASN.1 library and OpenSSL read back: IPv4 and IPv6 SANs, no SAN at all',
  async (t) => {
    const { execFileSync } = await import('node:child_process');
    const cases: {
      algorithm: 'ed25519' | 'ecdsa-p256';
      commonName: string;
      organizations: string[];
      ipAddresses?: string[];
      dnsNames?: string[];
    }[] = [
      {
        algorithm: 'ed25519',
        commonName: 'w2',
        organizations: ['os:impersonator', 'a'],
        ipAddresses: ['127.1.2.3', 'fd00::1', '2001:db8:0:1::5'],
        dnsNames: ['w2', 'w2.lab'],
      },
      { algorithm: 'ecdsa-p256', commonName: 'system:node:w3', organizations: ['system:nodes'] },
    ];
    for (const c of cases) {
      const { csrPem } = await createCsr(c);
      const csr = new x509.Pkcs10CertificateRequest(csrPem);
      t.ok(await csr.verify(), `${c.algorithm}: the signature verifies`);
      // As signCsr reads it: by OID, the value re-read as a SubjectAlternativeName.
      const raw = csr.getExtension('2.5.29.17');
      const san = raw ? new x509.SubjectAlternativeNameExtension(raw.rawData) : null;
      if (c.ipAddresses && c.dnsNames) {
        t.same(
          san?.names.toJSON(),
          [
            ...c.dnsNames.map((value) => ({ type: 'dns', value })),
            { type: 'ip', value: '127.1.2.3' },
            { type: 'ip', value: 'fd00::1' },
            { type: 'ip', value: '2001:db8:0:1::5' },
          ],
          `${c.algorithm}: SANs`,
        );
      } else {
        t.equal(san, null, `${c.algorithm}: no SAN extension`);
      }
      t.same(
        csr.subjectName.toJSON(),
        [{ O: [...c.organizations].sort() }, { CN: [c.commonName] }],
        `${c.algorithm}: subject`,
      );
      const out = execFileSync('openssl', ['req', '-verify', '-noout'], {
        input: csrPem,
        encoding: 'utf8',
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      t.equal(out, '', `${c.algorithm}: openssl req -verify accepts it`);
    }
  },
);
