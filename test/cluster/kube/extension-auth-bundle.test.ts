/**
 * The pure bundle computation of the extension-apiserver-authentication step (src/cluster/kube/extension-auth.ts):
 * `client-ca-file` becomes exactly the trusted CAs (canonical PEM, duplicates and expired ones left out),
 * every other key is kept as it was, what the write removes is named, an equal bundle is no change, and an
 * empty bundle is refused.
 */
import t from 'tap';
import { generateCa, generateKubernetesCa } from '../../../src/pki/index.js';
import {
  bundleCertificates,
  bundleCertsFromPems,
  CLIENT_CA_KEY,
  replaceClientCa,
} from '../../../src/cluster/kube/extension-auth.js';
import { RotateError } from '../../../src/domain/errors.js';

const DAY = 86_400_000;

t.test('replaces client-ca-file only, names what it removes', async (t) => {
  const [old, neu, agg] = await Promise.all([generateKubernetesCa(), generateKubernetesCa(), generateKubernetesCa()]);
  const data = {
    [CLIENT_CA_KEY]: old.certPem + neu.certPem,
    'requestheader-client-ca-file': agg.certPem,
    'requestheader-allowed-names': '["front-proxy-client"]',
    'requestheader-username-headers': '["X-Remote-User"]',
  };
  const r = replaceClientCa(data, bundleCertsFromPems([neu.certPem, neu.certPem]), new Date());
  t.equal(r.changed, true);
  t.same(r.removed, [old.fingerprint]);
  t.same(
    bundleCertificates(r.data[CLIENT_CA_KEY]).map((c) => c.fingerprint),
    [neu.fingerprint],
    'exactly the trusted CA, once',
  );
  t.match(
    r.data[CLIENT_CA_KEY],
    /^-----BEGIN CERTIFICATE-----\n(?:[A-Za-z0-9+/=]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END CERTIFICATE-----\n$/,
    'canonical PEM',
  );
  for (const k of [
    'requestheader-client-ca-file',
    'requestheader-allowed-names',
    'requestheader-username-headers',
  ] as const)
    t.equal(r.data[k], data[k], `${k} kept`);

  const again = replaceClientCa(r.data, bundleCertsFromPems([neu.certPem]), new Date());
  t.equal(again.changed, false, 'already exact: nothing to write');
  t.same(again.removed, []);
});

t.test(
  'a missing client-ca-file is written; an expired trusted CA is left out; an empty bundle is refused',
  async (t) => {
    const [neu, expired] = await Promise.all([
      generateKubernetesCa(),
      generateCa({
        algorithm: 'ecdsa-p256',
        organizations: ['kubernetes'],
        now: new Date(Date.now() - 2 * DAY),
        validityMs: DAY,
      }),
    ]);
    const r = replaceClientCa({ other: 'x' }, bundleCertsFromPems([expired.certPem, neu.certPem]), new Date());
    t.same(
      bundleCertificates(r.data[CLIENT_CA_KEY]).map((c) => c.fingerprint),
      [neu.fingerprint],
    );
    t.equal(r.data.other, 'x');
    let caught: unknown = null;
    try {
      replaceClientCa({ [CLIENT_CA_KEY]: neu.certPem }, bundleCertsFromPems([expired.certPem]), new Date());
    } catch (err) {
      caught = err;
    }
    t.ok(RotateError.is(caught) && caught.code === 'EXTAUTH_EMPTY_BUNDLE', 'refused: EXTAUTH_EMPTY_BUNDLE');
  },
);
