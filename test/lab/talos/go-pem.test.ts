/**
 * The lab's emulation of Go's PEM reading (src/lab/core/go-pem.ts) and how the lab's Talos uses it.
 * The expected survivors of each bundle shape were produced by running Go 1.26 `encoding/pem.Decode` +
 * `x509.ParseCertificate` (the `AppendCertsFromPEM` loop) over the same shapes built from three certificates.
 * Then: a lab node whose `.machine.acceptedCAs` entry lacks its final newline loses that CA and the next one
 * (`.machine.ca.crt`) from what its apid and trustd client trust, and trustd hands that joined text on.
 */
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { goAppendCertsFromPem, goJoin, goTrustedCertificates } from '../../../src/lab/core/go-pem.js';
import { interpretRoots, readConfigCas } from '../../../src/lab/core/roots.js';
import { generateTalosCa } from '../../../src/pki/index.js';
import { setMachineCa, setRaw } from './fixtures/patch.js';
import { startTestLab } from './fixtures/lab.js';

const cas = await Promise.all([generateTalosCa(), generateTalosCa(), generateTalosCa()]);
const c = cas.map((x) => (x.certPem.endsWith('\n') ? x.certPem : `${x.certPem}\n`));
const n = c.map((p) => p.replace(/\n$/, ''));
const der = c.map((p) => Buffer.from(new X509Certificate(p).raw).toString('hex'));
const survivors = (bundle: string) => goAppendCertsFromPem(bundle).map((d) => der.indexOf(d.toString('hex')));

t.test("Go's pem.Decode + AppendCertsFromPEM, shape by shape (expected values from Go 1.26)", async (t) => {
  const cases: [string, string, number[]][] = [
    ['three well-formed', c[0]! + c[1]! + c[2]!, [0, 1, 2]],
    ['first lacks its newline', n[0]! + c[1]! + c[2]!, [2]],
    ['second lacks its newline', c[0]! + n[1]! + c[2]!, [0]],
    ['last lacks its newline', c[0]! + c[1]! + n[2]!, [0, 1, 2]],
    ['none has a newline', n[0]! + n[1]! + n[2]!, []],
    ['CRLF line ends', (c[0]! + c[1]!).replace(/\n/g, '\r\n'), [0, 1]],
    [
      'spaces and tabs after END',
      c[0]!.replace('-----END CERTIFICATE-----', '-----END CERTIFICATE-----  \t') + c[1]!,
      [0, 1],
    ],
    ['text between blocks', `${c[0]!}hello\n${c[1]!}`, [0, 1]],
    ['BEGIN not at a line start', `  ${c[0]!}${c[1]!}`, [1]],
    [
      'a block with headers is skipped',
      c[0]!.replace('-----BEGIN CERTIFICATE-----\n', '-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\n') + c[1]!,
      [1],
    ],
    ['END of another type', c[0]!.replace('-----END CERTIFICATE-----', '-----END CERT-----') + c[1]!, [1]],
    ['a repeated BEGIN line', `-----BEGIN CERTIFICATE-----\n${c[0]!}${c[1]!}`, [0, 1]],
    ['a body that is not base64', c[0]!.replace('M', '!') + c[1]!, [1]],
    ['spaces inside the body', c[0]!.replace(/\n/g, (m, i: number) => (i < 200 ? '\n ' : m)) + c[1]!, [0, 1]],
  ];
  for (const [name, bundle, want] of cases) t.same(survivors(bundle), want, name);
  t.equal(goJoin([n[0]!, c[1]!]), n[0]! + c[1]!, 'bytes.Join with no separator');
  t.same(goTrustedCertificates([n[0]!, c[1]!]), [], 'joined entries: both lost');
  t.same(goTrustedCertificates([c[0]!, n[1]!]).length, 2, 'only a following entry is hurt');
});

t.test(
  'a node whose accepted entry lacks its newline: that CA and .machine.ca.crt are lost from its trust, and ' +
    'trustd passes the join on',
  async (t) => {
    const lab = await startTestLab({ controlPlanes: 1, workers: 0, style: 'legacy' });
    t.teardown(() => lab.stop());
    const cp = lab.cluster.controlPlanes[0]!;
    const base = cp.config;
    const extra = cas[0]!;
    const broken = setRaw(base, ['machine', 'acceptedCAs'], [{ crt: Buffer.from(n[0]!).toString('base64') }]);
    const roots = await interpretRoots(broken);
    const trusted = roots.talos.trusted.map((x) => x.fingerprint);
    t.notOk(trusted.includes(extra.fingerprint), 'the entry without its newline is not trusted');
    t.notOk(trusted.includes(lab.secrets.os.fingerprint), 'nor the issuing CA joined after it');
    t.same(roots.talos.acceptedEntries, [n[0]!, readConfigCas(broken).machineCa!.crt], 'OSRoot entries as configured');

    const repaired = setRaw(base, ['machine', 'acceptedCAs'], [{ crt: Buffer.from(c[0]!).toString('base64') }]);
    const ok = (await interpretRoots(repaired)).talos.trusted.map((x) => x.fingerprint);
    t.same(ok, [extra.fingerprint, lab.secrets.os.fingerprint], 'with the newline both are trusted, in order');

    // A worker-shaped config (no key) whose last entry's first block is the CSR template.
    const workerCfg = setMachineCa(setRaw(repaired, ['machine', 'type'], 'worker'), `${c[1]!}${c[2]!}`, null);
    const w = await interpretRoots(workerCfg);
    t.equal(w.talos.csrTemplate?.fingerprint, cas[1]!.fingerprint, 'GetCert: the first block of the last entry');
    t.same(
      w.talos.trusted.map((x) => x.fingerprint),
      [extra.fingerprint, cas[1]!.fingerprint, cas[2]!.fingerprint],
    );
  },
);
