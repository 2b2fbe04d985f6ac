/**
 * apid's EKU rule as Go applies it (internal/app/apid/service.go verifyExtKeyUsage): `cert.ExtKeyUsage` must
 * equal [ClientAuth], and Go fills it only with the usages it knows (crypto/x509 extKeyUsageOIDs); other OIDs
 * go to UnknownExtKeyUsage, which apid does not look at. CA certificates are skipped.
 */
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { peerIdentity } from '../../../src/lab/talos/peer.js';
import { generateTalosCa, issueTalosClientCert } from '../../../src/pki/index.js';

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const ANY = '2.5.29.37.0';

t.test('EKU as Go reads it: unknown OIDs are ignored, known ones count', async (t) => {
  const ca = await generateTalosCa();
  const issued = await issueTalosClientCert(ca, { roles: ['os:reader'] });
  const x = new X509Certificate(issued.certPem);
  let n = 0;
  const identity = (ext_key_usage: string[], isCa = false) =>
    // A distinct fingerprint per case: peerIdentity remembers identities by fingerprint.
    peerIdentity({ fingerprint256: `case-${n++}`, raw: x.raw, ca: isCa, ext_key_usage });
  t.equal(identity([CLIENT_AUTH]).clientAuthOnly, true, '[ClientAuth]');
  t.equal(identity([CLIENT_AUTH, '1.2.3.4.5']).clientAuthOnly, true, '[ClientAuth, a private OID]: passes in Go');
  t.equal(identity(['1.2.3.4.5', CLIENT_AUTH]).clientAuthOnly, true, 'in either order');
  t.equal(identity([SERVER_AUTH, CLIENT_AUTH]).clientAuthOnly, false, '[ServerAuth, ClientAuth]');
  t.equal(identity([CLIENT_AUTH, ANY]).clientAuthOnly, false, '[ClientAuth, Any]');
  t.equal(identity([CLIENT_AUTH, '1.3.6.1.4.1.311.10.3.3']).clientAuthOnly, false, 'a Microsoft OID Go knows');
  t.equal(identity(['1.2.3.4.5']).clientAuthOnly, false, 'only a private OID: ExtKeyUsage is empty');
  t.equal(identity([]).clientAuthOnly, false, 'no EKU');
  t.equal(identity([CLIENT_AUTH, CLIENT_AUTH]).clientAuthOnly, false, 'ClientAuth twice: not equal to [ClientAuth]');
  t.equal(identity([SERVER_AUTH], true).clientAuthOnly, true, 'a CA certificate is skipped');
  t.same([...identity([CLIENT_AUTH]).roles], ['os:reader'], 'roles from the subject');
});
