/**
 * A worker's Talos patch is done once its apid shows a registration with a control plane as it is now:
 * its trust bundle is exactly that control plane's trusted set and its server certificate is signed by
 * that control plane's issuing CA (facts §3.2).
 */
import t from 'tap';
import type { Fingerprint } from '../../../src/domain/types.js';
import { registeredWith } from '../../../src/apply/worker-registration.js';
import { generateTalosCa, issueLeafCert } from '../../../src/pki/index.js';

const [oldCa, newCa] = await Promise.all([generateTalosCa(), generateTalosCa()]);
const [byOld, byNew] = await Promise.all(
  [oldCa, newCa].map((ca) => issueLeafCert(ca, { usages: ['serverAuth'], ipAddresses: ['127.0.0.20'] })),
);
const OLD = oldCa.fingerprint;
const NEW = newCa.fingerprint;

const cp = (address: string, trusted: Fingerprint[], issuingPem: string | null) => ({ address, trusted: new Set(trusted), issuingPem });

t.test('a bundle equal to a control plane trusted set, and a server certificate its issuing CA signed', async (t) => {
  t.equal(registeredWith([NEW, OLD], byNew!.certPem, [cp('127.0.0.10', [NEW, OLD], newCa.certPem)]), '127.0.0.10');
  t.equal(registeredWith([OLD, NEW, NEW], byNew!.certPem, [cp('127.0.0.10', [NEW, OLD], newCa.certPem)]), '127.0.0.10', 'order and repeats in the bundle do not matter');
  t.equal(
    registeredWith([NEW], byNew!.certPem, [cp('127.0.0.10', [NEW, OLD], newCa.certPem), cp('127.0.0.11', [NEW], newCa.certPem)]),
    '127.0.0.11',
    'the control plane it matches is named, not the first one',
  );
});

t.test('no registration with the control planes as they are now', async (t) => {
  const cps = [cp('127.0.0.10', [NEW, OLD], newCa.certPem)];
  t.equal(registeredWith([OLD], byOld!.certPem, [cp('127.0.0.10', [OLD, NEW], newCa.certPem)]), null, 'an old bundle (a subset of the trusted set)');
  t.equal(registeredWith([NEW, OLD], byNew!.certPem, [cp('127.0.0.10', [NEW], newCa.certPem)]), null, 'a bundle that still holds a dropped CA (a superset)');
  t.equal(registeredWith([NEW, OLD], byOld!.certPem, cps), null, 'the right bundle but a server certificate of the old issuing CA');
  t.equal(registeredWith([NEW, OLD], null, cps), null, 'no server certificate');
  t.equal(registeredWith([NEW, OLD], byNew!.certPem, [cp('127.0.0.10', [NEW, OLD], null)]), null, 'a control plane without an issuing certificate');
  t.equal(registeredWith([NEW, OLD], byNew!.certPem, []), null, 'no control plane');
});
