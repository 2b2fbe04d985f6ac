/**
 * A worker's Talos patch is done once its apid shows a registration with a control plane as it is now:
 * its trust bundle is exactly that control plane's trusted set and its server certificate is signed by
 * that control plane's issuing CA (talos-behaviour.md §4.2).
 */
import t from 'tap';
import type { Fingerprint } from '../../../src/domain/types.js';
import { registeredWith, SharedReads } from '../../../src/apply/worker-registration.js';
import { generateTalosCa, issueLeafCert } from '../../../src/pki/index.js';

const [oldCa, newCa] = await Promise.all([generateTalosCa(), generateTalosCa()]);
const [byOld, byNew] = await Promise.all(
  [oldCa, newCa].map((ca) => issueLeafCert(ca, { usages: ['serverAuth'], ipAddresses: ['127.0.0.20'] })),
);
const OLD = oldCa.fingerprint;
const NEW = newCa.fingerprint;

const cp = (address: string, trusted: Fingerprint[], issuingPem: string | null) => ({
  address,
  trusted: new Set(trusted),
  issuingPem,
});

t.test('a bundle equal to a control plane trusted set, and a server certificate its issuing CA signed', async (t) => {
  t.equal(registeredWith([NEW, OLD], byNew!.certPem, [cp('127.0.0.10', [NEW, OLD], newCa.certPem)]), '127.0.0.10');
  t.equal(
    registeredWith([OLD, NEW, NEW], byNew!.certPem, [cp('127.0.0.10', [NEW, OLD], newCa.certPem)]),
    '127.0.0.10',
    'order and repeats in the bundle do not matter',
  );
  t.equal(
    registeredWith([NEW], byNew!.certPem, [
      cp('127.0.0.10', [NEW, OLD], newCa.certPem),
      cp('127.0.0.11', [NEW], newCa.certPem),
    ]),
    '127.0.0.11',
    'the control plane it matches is named, not the first one',
  );
});

t.test('no registration with the control planes as they are now', async (t) => {
  const cps = [cp('127.0.0.10', [NEW, OLD], newCa.certPem)];
  t.equal(
    registeredWith([OLD], byOld!.certPem, [cp('127.0.0.10', [OLD, NEW], newCa.certPem)]),
    null,
    'an old bundle (a subset of the trusted set)',
  );
  t.equal(
    registeredWith([NEW, OLD], byNew!.certPem, [cp('127.0.0.10', [NEW], newCa.certPem)]),
    null,
    'a bundle that still holds a dropped CA (a superset)',
  );
  t.equal(
    registeredWith([NEW, OLD], byOld!.certPem, cps),
    null,
    'the right bundle but a server certificate of the old issuing CA',
  );
  t.equal(registeredWith([NEW, OLD], null, cps), null, 'no server certificate');
  t.equal(
    registeredWith([NEW, OLD], byNew!.certPem, [cp('127.0.0.10', [NEW, OLD], null)]),
    null,
    'a control plane without an issuing certificate',
  );
  t.equal(registeredWith([NEW, OLD], byNew!.certPem, []), null, 'no control plane');
});

t.test('control-plane reads are shared by workers waiting at once, never older than a caller asks', async (t) => {
  let clock = 1_000;
  const started: string[] = [];
  const release: (() => void)[] = [];
  const reads = new SharedReads<string>(
    (cp) => {
      started.push(`${cp}@${clock}`);
      return new Promise((resolve) => release.push(() => resolve(`${cp} read at ${clock}`)));
    },
    () => clock,
  );
  // Twenty workers of a wave ask for the same control plane at once: one read.
  const first = Array.from({ length: 20 }, () => reads.get('127.0.0.10', 1_000));
  t.same(started, ['127.0.0.10@1000'], 'one read for every worker of the wave');
  release.shift()!();
  t.same(new Set(await Promise.all(first)).size, 1);

  // A caller that needs a view from after the read started gets a new read, not the old one.
  clock = 1_600;
  const later = reads.get('127.0.0.10', 1_100);
  t.same(started, ['127.0.0.10@1000', '127.0.0.10@1600'], 'a read older than asked is not reused');
  t.equal(reads.get('127.0.0.10', 1_100), later, 'the new one is shared in turn');
  reads.get('127.0.0.11', 0);
  t.equal(started.length, 3, 'each control plane read on its own');

  // A failed read is not kept.
  const failing = new SharedReads<string>(
    async () => {
      started.push('fail');
      throw new Error('unreachable');
    },
    () => clock,
  );
  await t.rejects(failing.get('127.0.0.10', 0));
  await t.rejects(failing.get('127.0.0.10', 0));
  t.equal(started.filter((s) => s === 'fail').length, 2, 'read again after a failure');
});
