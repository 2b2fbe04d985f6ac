/**
 * ApplyConfiguration's checks as Talos runs them (facts §5): loader errors, v1alpha1 CA rules, the
 * KubeAPIServerCAConfig rules, the multierror text, and what is NOT validated (broken CA material).
 */
import t from 'tap';
import { generateTalosCa } from '../../../src/pki/index.js';
import { generateMachineConfig } from '../../../src/lab/setup/machineconfig.js';
import { generateLabSecrets, type LabSecrets } from '../../../src/lab/setup/secrets.js';
import { base64ErrorOffset, multierror, talosLine, validateApply } from '../../../src/lab/talos/validation.js';
import { goDuration } from '../../../src/lab/talos/machined.js';
import { deleteRaw, setMachineCa, setRaw } from './fixtures/patch.js';

let s: LabSecrets;
const cfg = (role: 'controlplane' | 'worker', style: 'legacy' | 'document') =>
  generateMachineConfig(s, { role, style, hostname: 'n1', address: '127.1.1.10', clusterName: 'lab', clusterEndpoint: 'https://127.1.1.3:6443' });

t.before(async () => {
  s = await generateLabSecrets({ serviceAccountKey: 'ecdsa-p256' });
});

const v13 = (text: string, mode: string = 'NO_REBOOT') => validateApply(text, { line: 'v1.13', mode });
const v14 = (text: string, mode: string = 'NO_REBOOT') => validateApply(text, { line: 'v1.14', mode });
const nested = (...errs: string[]) => multierror([`v1alpha1.Config: ${multierror(errs)}`]);

t.test('multierror text and helpers', async (t) => {
  t.equal(multierror(['a']), '1 error occurred:\n\t* a\n\n');
  t.equal(multierror(['a', 'b']), '2 errors occurred:\n\t* a\n\t* b\n\n');
  t.equal(talosLine('v1.13.9'), 'v1.13');
  t.equal(talosLine('v1.14.0'), 'v1.14');
  t.equal(base64ErrorOffset('QUJD'), null);
  t.equal(base64ErrorOffset('QU\nJD'), null, 'newlines are ignored as Go does');
  t.equal(base64ErrorOffset('QU*D'), 2);
  t.equal(base64ErrorOffset(''), null);
  t.same([0, 400, 1500, 30_000, 60_000, 61_500, 3_600_000].map(goDuration), ['0s', '400ms', '1.5s', '30s', '1m0s', '1m1.5s', '1h0m0s'], 'Go duration strings');
});

t.test('generated configs validate, for both roles and layouts', async (t) => {
  for (const role of ['controlplane', 'worker'] as const) {
    t.same(await v13(cfg(role, 'legacy')), { ok: true, warnings: [] }, `legacy ${role}`);
    t.same(await v14(cfg(role, 'document')), { ok: true, warnings: [] }, `document ${role}`);
  }
});

t.test('control-plane CA rules', async (t) => {
  const cp = cfg('controlplane', 'legacy');
  t.same(await v13(setMachineCa(cp, s.os.certPem, null)), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: nested('issuing CA key is required for controlplane nodes (.machine.ca.key)'),
  });
  t.same(await v13(deleteRaw(cp, ['machine', 'ca'])), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: nested('issuing CA or some accepted CAs are required (.machine.ca, machine.acceptedCAs)', 'issuing CA is required (.machine.ca)'),
  });
});

t.test('worker CA rules', async (t) => {
  const w = cfg('worker', 'legacy');
  t.same(await v13(setMachineCa(w, s.os.certPem, s.os.key.reveal())), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: nested('issuing Talos API CA key is not allowed on non-controlplane nodes (.machine.ca)'),
  });
  t.same(await v13(setRaw(w, ['machine', 'ca'], { crt: '', key: '' })), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: nested('trusted CA certificates are required on non-controlplane nodes (.machine.ca.crt, .machine.acceptedCAs)'),
  });
  // Only accepted CAs, no .machine.ca: fine for a worker.
  const other = await generateTalosCa();
  const onlyAccepted = setRaw(deleteRaw(w, ['machine', 'ca']), ['machine', 'acceptedCAs'], [{ crt: Buffer.from(other.certPem).toString('base64') }]);
  t.same(await v13(onlyAccepted), { ok: true, warnings: [] });
  const k8sKey = setRaw(w, ['cluster', 'ca', 'key'], Buffer.from(s.k8s.key.reveal()).toString('base64'));
  t.same(await v13(k8sKey), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: nested('cluster CA key is not allowed on non-controlplane nodes (.cluster.ca)', 'issuing Kubernetes API CA key is not allowed on non-controlplane nodes (.cluster.ca)'),
  });
  const etcd = setRaw(w, ['cluster', 'etcd'], { ca: { crt: Buffer.from(s.etcd.certPem).toString('base64'), key: '' } });
  t.same(await v13(etcd), { ok: false, code: 'INVALID_ARGUMENT', message: nested('etcd config is only allowed on control plane machines') });
});

t.test('decode errors come before validation, as the loader reports them', async (t) => {
  const cp = cfg('controlplane', 'legacy');
  const badB64 = setRaw(cp, ['machine', 'ca', 'crt'], 'not*base64');
  t.same(await v13(badB64), { ok: false, code: 'INVALID_ARGUMENT', message: 'error decoding  to *v1alpha1.Config: illegal base64 data at input byte 3' });
  const plainPem = setRaw(cp, ['machine', 'acceptedCAs'], [{ crt: s.os.certPem }]);
  const r = await v13(plainPem);
  t.equal(r.ok, false);
  t.match(!r.ok && r.message, /^error decoding {2}to \*v1alpha1\.Config: illegal base64 data at input byte \d+$/, 'plain PEM where base64 is expected');
  const unknownTop = `${cp.split('---\n')[0]!.trimEnd()}\nextra: 1\n`;
  const r2 = await v13(unknownTop);
  t.match(!r2.ok && r2.message, /^error decoding {2}to \*v1alpha1\.Config: yaml: unmarshal errors:\n {2}line \d+: field extra not found in type v1alpha1\.Config$/);
  const typo = setRaw(cp, ['machine', 'acceptedCA'], []);
  const r3 = await v13(typo);
  t.match(!r3.ok && r3.message, /field acceptedCA not found in type v1alpha1\.MachineConfig/);
  const dup = `${cp}---\napiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n`;
  t.same(await v13(dup), { ok: false, code: 'INVALID_ARGUMENT', message: 'duplicate document v1alpha1/HostnameConfig/ is not allowed' });
  const noKind = `${cp}---\napiVersion: v1alpha1\nhostname: x\n`;
  t.same(await v13(noKind), { ok: false, code: 'INVALID_ARGUMENT', message: 'missing kind' });
  const onlyDoc = 'apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: x\n';
  t.same(await v13(onlyDoc), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: "the applied machine configuration doesn't contain v1alpha1 config, did you mean to patch the machine config instead?",
  });
  const syntax = await v13('machine: [\n');
  t.match(!syntax.ok && syntax.message, /^decode error: yaml: line \d+/);
});

t.test('broken CA material is NOT validated (Talos accepts it; certificate generation fails later)', async (t) => {
  const cp = cfg('controlplane', 'legacy');
  const garbage = Buffer.from('-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n').toString('base64');
  t.same(await v13(setRaw(cp, ['machine', 'ca', 'crt'], garbage)), { ok: true, warnings: [] });
  const other = await generateTalosCa();
  t.same(await v13(setMachineCa(cp, other.certPem, s.os.key.reveal())), { ok: true, warnings: [] }, 'key of another CA');
  t.same(await v13(setRaw(cp, ['machine', 'acceptedCAs'], [{ crt: Buffer.from('hello').toString('base64') }])), { ok: true, warnings: [] });
});

t.test('v1.14: REBOOT mode is Unimplemented; v1.13 takes it', async (t) => {
  const cp = cfg('controlplane', 'document');
  t.same(await v14(cp, 'REBOOT'), { ok: false, code: 'UNIMPLEMENTED', message: 'the REBOOT mode is not supported, please use AUTO or NO_REBOOT modes instead' });
  t.same(await v13(cfg('controlplane', 'legacy'), 'REBOOT'), { ok: true, warnings: [] });
  // The v1alpha1 check comes first.
  t.equal((await v14('apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: x\n', 'REBOOT') as { code: string }).code, 'INVALID_ARGUMENT');
});

t.test('KubeAPIServerCAConfig checks (v1.14 layout)', async (t) => {
  const cp = cfg('controlplane', 'document');
  const withoutKey = cp.replace(/(kind: KubeAPIServerCAConfig\nissuingCA:\n {4}cert: \|[\s\S]*?-----END CERTIFICATE-----\n)\s+key: \|[\s\S]*?-----END EC PRIVATE KEY-----\n/, '$1');
  t.not(withoutKey, cp, 'the key was removed');
  t.same(await v14(withoutKey), { ok: false, code: 'INVALID_ARGUMENT', message: multierror(['KubeAPIServerCAConfig: issuing CA: key is required']) });
  const badAccepted = `${cp.trimEnd()}\n`.replace('kind: KubeAPIServerCAConfig\n', 'kind: KubeAPIServerCAConfig\nacceptedCAs:\n    - not a pem\n');
  t.same(await v14(badAccepted), { ok: false, code: 'INVALID_ARGUMENT', message: multierror(['KubeAPIServerCAConfig: accepted CA #0: no PEM blocks found']) });
  const wrongType = cp.replace('kind: KubeAPIServerCAConfig\n', `kind: KubeAPIServerCAConfig\nacceptedCAs:\n    - |\n      -----BEGIN PUBLIC KEY-----\n      AAAA\n      -----END PUBLIC KEY-----\n`);
  t.same(await v14(wrongType), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: multierror(['KubeAPIServerCAConfig: accepted CA #0: unexpected PEM block type "PUBLIC KEY", expected one of ["CERTIFICATE"]']),
  });
  const conflict = setRaw(cp, ['cluster', 'ca'], { crt: Buffer.from(s.k8s.certPem).toString('base64'), key: Buffer.from(s.k8s.key.reveal()).toString('base64') });
  t.same(await v14(conflict), { ok: false, code: 'INVALID_ARGUMENT', message: multierror(['kube-apiserver CA is already set in v1alpha1 config (.cluster.ca)']) });
  // The document's issuing CA is loaded during validation (tryLoading): a broken one IS rejected.
  const other = await generateTalosCa();
  const mismatch = cp.replace(/(issuingCA:\n {4}cert: \|\n)([\s\S]*?-----END CERTIFICATE-----\n)/, (_m, head: string) => `${head}${other.certPem.trimEnd().split('\n').map((l) => `        ${l}`).join('\n')}\n`);
  const r = await v14(mismatch);
  t.equal(r.ok, false);
  t.match(!r.ok && r.message, /KubeAPIServerCAConfig: issuing CA: (key|certificate) is invalid/);
  // A worker must not carry the Kubernetes CA key.
  const w = cfg('worker', 'document').replace(
    /kind: KubeAPIServerCAConfig\nacceptedCAs:/,
    `kind: KubeAPIServerCAConfig\nissuingCA:\n    cert: |\n${s.k8s.certPem.trimEnd().split('\n').map((l) => `        ${l}`).join('\n')}\n    key: |\n${s.k8s.key.reveal().trimEnd().split('\n').map((l) => `        ${l}`).join('\n')}\nacceptedCAs:`,
  );
  t.same(await v14(w), { ok: false, code: 'INVALID_ARGUMENT', message: nested('issuing Kubernetes API CA key is not allowed on non-controlplane nodes (.cluster.ca)') });
});
