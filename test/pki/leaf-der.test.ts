import t from 'tap';
import { createPrivateKey, verify, X509Certificate, type KeyObject } from 'node:crypto';
import {
  createCsr,
  encodePem,
  generateCa,
  keyPemForTls,
  signCsr,
  splitPemBlocks,
  verifiesAgainst,
} from '../../src/pki/index.js';
import { children, readTlv } from '../../src/pki/der.js';
import { encodeLeafCertificate, readCsr, withoutOrganization, type LeafDerInput } from '../../src/pki/leaf-der.js';
import { signerFor } from '../../src/pki/keys.js';
import { buildName } from '../../src/pki/names.js';
import { x509 } from '../../src/pki/x509lib.js';

/** The TBSCertificate bytes of a DER certificate. */
function tbs(der: Uint8Array): Buffer {
  const b = Buffer.from(der);
  const first = children(b, readTlv(b, 0))[0]!;
  return b.subarray(first.offset, first.end);
}

/** The same certificate built by the ASN.1 library (what signLeaf used before). */
async function viaLibrary(input: LeafDerInput, caKey: KeyObject): Promise<Uint8Array> {
  const signer = await signerFor(caKey, 'sha256');
  const extensions: x509.Extension[] = [
    new x509.KeyUsagesExtension(input.keyUsage, true),
    new x509.ExtendedKeyUsageExtension([...input.ekuOids], false),
  ];
  if (input.authorityKeyId)
    extensions.push(new x509.AuthorityKeyIdentifierExtension(Buffer.from(input.authorityKeyId).toString('hex'), false));
  const names: x509.JsonGeneralName[] = [
    ...input.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...input.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, input.sanCritical));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: input.serialHex,
    subject: new x509.Name(Buffer.from(input.subjectDer)),
    issuer: new x509.Name(Buffer.from(input.issuerDer)),
    notBefore: input.notBefore,
    notAfter: input.notAfter,
    publicKey: input.spki,
    signingKey: signer.privateKey as never,
    signingAlgorithm: signer.algorithm,
    extensions,
  });
  return new Uint8Array(cert.rawData);
}

t.test(
  'the DER encoder writes the bytes the ASN.1 library wrote, for every CA key type and certificate shape',
  async (t) => {
    const cas = [
      ['ed25519', await generateCa({ algorithm: 'ed25519', organizations: ['talos'] })],
      ['ecdsa-p256', await generateCa({ algorithm: 'ecdsa-p256', organizations: ['kubernetes'] })],
      ['rsa', await generateCa({ algorithm: 'rsa', organizations: ['r'], commonName: 'rsa ca', rsaBits: 2048 })],
    ] as const;
    const leafKey = (await generateCa({ algorithm: 'ed25519', organizations: ['x'] })).certPem;
    const spki = new Uint8Array(new X509Certificate(leafKey).publicKey.export({ type: 'spki', format: 'der' }));
    for (const [alg, ca] of cas) {
      const caKey = createPrivateKey(keyPemForTls(ca.key));
      const caCert = new x509.X509Certificate(ca.certPem);
      const shapes: [string, Partial<LeafDerInput>][] = [
        [
          'server, DNS + IPv4 + IPv6 SANs, high-bit serial',
          {
            serialHex: 'f1'.padEnd(32, '3'),
            dnsNames: ['w1', 'w1.lab'],
            ipAddresses: ['10.5.0.3', 'fd00::1'],
            ekuOids: ['1.3.6.1.5.5.7.3.1'],
          },
        ],
        [
          'client, two key usages, leading-zero serial, no SAN, after 2050',
          { serialHex: '00'.padEnd(32, '7'), keyUsage: 5, notAfter: new Date('2051-01-02T03:04:05Z') },
        ],
        [
          'empty subject: critical SAN',
          { subjectDer: new Uint8Array([0x30, 0x00]), sanCritical: true, ipAddresses: ['127.0.0.1'] },
        ],
        ['no AuthorityKeyId, both EKUs', { authorityKeyId: null, ekuOids: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'] }],
      ];
      for (const [name, over] of shapes) {
        const input: LeafDerInput = {
          serialHex: '1234'.padEnd(32, 'a'),
          issuerDer: new Uint8Array(caCert.subjectName.toArrayBuffer()),
          subjectDer: new Uint8Array(
            buildName({ commonName: 'w1.example.org', organizations: ['os:admin', 'b'] }).toArrayBuffer(),
          ),
          notBefore: new Date('2030-06-01T11:55:00Z'),
          notAfter: new Date('2031-06-01T12:00:00Z'),
          spki,
          keyUsage: 1,
          ekuOids: ['1.3.6.1.5.5.7.3.2'],
          authorityKeyId: Buffer.from(caCert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId, 'hex'),
          dnsNames: [],
          ipAddresses: [],
          sanCritical: false,
          ...over,
        };
        const ours = encodeLeafCertificate(input, caKey);
        const theirs = await viaLibrary(input, caKey);
        if (alg === 'ed25519')
          t.same(
            ours,
            Buffer.from(theirs),
            `${alg}, ${name}: the same certificate, byte for byte (Ed25519 signs deterministically)`,
          );
        else t.same(tbs(ours), tbs(theirs), `${alg}, ${name}: the same signed part`);
        t.ok(
          verifiesAgainst(encodePem('CERTIFICATE', ours), [ca.certPem], { now: new Date('2030-07-01T00:00:00Z') }),
          `${alg}, ${name}: verifies against its CA`,
        );
      }
    }
  },
);

t.test(
  'readCsr reads what createCsr writes and refuses a tampered signature; withoutOrganization keeps the rest',
  async (t) => {
    for (const algorithm of ['ed25519', 'ecdsa-p256', 'ecdsa-p384', 'rsa'] as const) {
      const { csrPem } = await createCsr({
        algorithm,
        commonName: 'w1',
        organizations: ['os:admin'],
        dnsNames: ['w1', 'w1.lab'],
        ipAddresses: ['10.0.0.1', '2001:db8::5'],
      });
      const der = Buffer.from(splitPemBlocks(csrPem)[0]!.der);
      const read = readCsr(der)!;
      const lib = new x509.Pkcs10CertificateRequest(der);
      t.equal(read.verified, true, `${algorithm}: verifies`);
      t.same(read.dnsNames, ['w1', 'w1.lab']);
      t.same(
        read.ipAddresses.map((ip) => (ip.includes(':') ? new URL(`http://[${ip}]`).hostname : ip)),
        ['10.0.0.1', '[2001:db8::5]'],
      );
      t.same(read.subjectDer, Buffer.from(lib.subjectName.toArrayBuffer()), `${algorithm}: subject bytes`);
      t.same(read.spki, Buffer.from(lib.publicKey.rawData), `${algorithm}: public key`);
      const stripped = withoutOrganization(read.subjectDer);
      t.same(new x509.Name(stripped.der).toJSON(), [{ CN: ['w1'] }]);
      t.equal(stripped.empty, false);
      const tampered = Buffer.from(der);
      tampered[tampered.indexOf(Buffer.from('w1.lab'))] = 'v'.charCodeAt(0);
      t.equal(readCsr(tampered)!.verified, false, `${algorithm}: a changed byte fails verification`);
    }
    t.same(withoutOrganization(Buffer.from(buildName({ organizations: ['a', 'b'] }).toArrayBuffer())), {
      der: Buffer.from([0x30, 0x00]),
      empty: true,
    });
  },
);

t.test('signCsr through the DER path: an IPv6 SAN and an Organization-only subject', async (t) => {
  const ca = await generateCa({ algorithm: 'ed25519', organizations: ['talos'] });
  const { csrPem } = await createCsr({ algorithm: 'ed25519', organizations: ['os:admin'], ipAddresses: ['fd00::7'] });
  const signed = await signCsr(ca, csrPem, { usages: ['serverAuth'], stripOrganization: true });
  const cert = new x509.X509Certificate(signed.certPem);
  t.same(cert.subjectName.toJSON(), []);
  const san = cert.extensions.find((e) => e.type === '2.5.29.17')!;
  t.equal(san.critical, true, 'SAN critical with an empty subject');
  t.same(new x509.SubjectAlternativeNameExtension(san.rawData).names.toJSON(), [{ type: 'ip', value: 'fd00::7' }]);
  const caKeyPub = new X509Certificate(ca.certPem).publicKey;
  const der = Buffer.from(splitPemBlocks(signed.certPem)[0]!.der);
  const parts = children(der, readTlv(der, 0));
  t.ok(
    verify(
      null,
      der.subarray(parts[0]!.offset, parts[0]!.end),
      caKeyPub,
      der.subarray(parts[2]!.start + 1, parts[2]!.end),
    ),
  );
});
