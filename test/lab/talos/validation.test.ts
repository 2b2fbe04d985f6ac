/**
 * ApplyConfiguration's checks as Talos runs them (talos-behaviour.md §7): loader errors, v1alpha1 CA rules, the
 * KubeAPIServerCAConfig rules, the multierror text, and what is NOT validated (broken CA material).
 */
import t from 'tap';
import { generateKubernetesCa, generateTalosCa } from '../../../src/pki/index.js';
import { generateMachineConfig } from '../../../src/lab/setup/machineconfig.js';
import { generateLabSecrets, type LabSecrets } from '../../../src/lab/setup/secrets.js';
import { base64ErrorOffset, multierror, talosLine, validateApply } from '../../../src/lab/talos/validation.js';
import { goDuration } from '../../../src/lab/talos/machined.js';
import { deleteRaw, setMachineCa, setRaw } from './fixtures/patch.js';

let s: LabSecrets;
const cfg = (role: 'controlplane' | 'worker', style: 'legacy' | 'document') =>
  generateMachineConfig(s, {
    role,
    style,
    hostname: 'n1',
    address: '127.1.1.10',
    clusterName: 'lab',
    clusterEndpoint: 'https://127.1.1.3:6443',
  });

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
  t.same(
    [0, 400, 1500, 30_000, 60_000, 61_500, 3_600_000].map(goDuration),
    ['0s', '400ms', '1.5s', '30s', '1m0s', '1m1.5s', '1h0m0s'],
    'Go duration strings',
  );
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
    message: nested(
      'issuing CA or some accepted CAs are required (.machine.ca, machine.acceptedCAs)',
      'issuing CA is required (.machine.ca)',
    ),
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
    message: nested(
      'trusted CA certificates are required on non-controlplane nodes (.machine.ca.crt, .machine.acceptedCAs)',
    ),
  });
  // Only accepted CAs, no .machine.ca: fine for a worker.
  const other = await generateTalosCa();
  const onlyAccepted = setRaw(
    deleteRaw(w, ['machine', 'ca']),
    ['machine', 'acceptedCAs'],
    [{ crt: Buffer.from(other.certPem).toString('base64') }],
  );
  t.same(await v13(onlyAccepted), { ok: true, warnings: [] });
  const k8sKey = setRaw(w, ['cluster', 'ca', 'key'], Buffer.from(s.k8s.key.reveal()).toString('base64'));
  t.same(await v13(k8sKey), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: nested(
      'cluster CA key is not allowed on non-controlplane nodes (.cluster.ca)',
      'issuing Kubernetes API CA key is not allowed on non-controlplane nodes (.cluster.ca)',
    ),
  });
  const etcd = setRaw(w, ['cluster', 'etcd'], { ca: { crt: Buffer.from(s.etcd.certPem).toString('base64'), key: '' } });
  t.same(await v13(etcd), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: nested('etcd config is only allowed on control plane machines'),
  });
});

t.test('decode errors come before validation, as the loader reports them', async (t) => {
  const cp = cfg('controlplane', 'legacy');
  const lineOf = (text: string, needle: string) => text.slice(0, text.indexOf(needle)).split('\n').length;
  // yaml v4's construct error names the line of the PEM mapping (its first key); v1.13.9 (rc.4) lists the
  // errors on their own lines, v1.14 (rc.6) joins them with "; ".
  const badB64 = setRaw(cp, ['machine', 'ca', 'crt'], 'not*base64');
  const at = lineOf(badB64, 'crt: not*base64');
  t.same(await v13(badB64), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message:
      `error decoding document /v1alpha1/ (line 1): error decoding  to *v1alpha1.Config: yaml: construct ` +
      `errors:\n  line ${at}: illegal base64 data at input byte 3`,
  });
  t.same(await v14(badB64), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message:
      `error decoding document /v1alpha1/ (line 1): error decoding  to *v1alpha1.Config: yaml: construct ` +
      `errors: line ${at}: illegal base64 data at input byte 3`,
  });
  // Every broken field is listed, in document order.
  const two = setRaw(badB64, ['cluster', 'serviceAccount', 'key'], 'QUJDR');
  const r2 = await v14(two);
  t.match(
    !r2.ok && r2.message,
    /construct errors: line \d+: illegal base64 data at input byte 3; line \d+: illegal base64 data at input byte 4$/,
  );
  const plainPem = setRaw(cp, ['machine', 'acceptedCAs'], [{ crt: s.os.certPem }]);
  const r = await v13(plainPem);
  t.match(
    !r.ok && r.message,
    new RegExp(
      /^error decoding document \/v1alpha1\/ \(line 1\): error decoding {2}to \*v1alpha1\.Config: yaml: /.source +
        /construct errors:\n {2}line \d+: illegal base64 data at input byte 0$/.source,
    ),
    'plain PEM where base64 is expected',
  );

  // Unknown keys: siderolabs/gen xyaml.CheckUnknownKeys after decoding, all of them in one sorted summary.
  const unknownTop = `${cp.split('---\n')[0]!.trimEnd()}\nextra: 1\n`;
  t.same(await v13(unknownTop), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: 'error decoding document /v1alpha1/ (line 1): unknown keys found during decoding:\nextra: 1\n',
  });
  const typo = setRaw(setRaw(cp, ['machine', 'acceptedCA'], []), ['cluster', 'zzz'], 'x');
  t.same(await v14(typo), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message:
      'error decoding document /v1alpha1/ (line 1): unknown keys found during decoding:\ncluster:\n' +
      '    zzz: x\nmachine:\n    acceptedCA: []\n',
  });
  const dup = `${cp}---\napiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n`;
  const dupLine = dup.split('\n').lastIndexOf('apiVersion: v1alpha1') + 1;
  t.same(await v13(dup), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: `duplicate document v1alpha1/HostnameConfig/ is not allowed (line ${dupLine})`,
  });
  const noKind = `${cp}---\napiVersion: v1alpha2\nhostname: x\n`;
  t.match(await v13(noKind), {
    ok: false,
    message: /^error decoding document v1alpha2\/v1alpha1\/ \(line \d+\): missing kind$/,
  });
  // apiVersion v1alpha1 without a kind IS the v1alpha1 type for the decoder (then a duplicate of it, or unknown keys).
  const v1NoKind = `apiVersion: v1alpha1\nhostname: x\n---\n${cp}`;
  t.same(await v13(v1NoKind), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message:
      'error decoding document v1alpha1/v1alpha1/ (line 1): unknown keys found during decoding:\n' +
      'apiVersion: v1alpha1\nhostname: x\n',
  });
  const noVersion = `${cp}---\nkind: HostnameConfig\nhostname: x\n`;
  t.match(await v13(noVersion), {
    ok: false,
    message: /^error decoding document \/HostnameConfig\/ \(line \d+\): missing apiVersion$/,
  });
  const onlyDoc = 'apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: x\n';
  t.same(await v13(onlyDoc), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message:
      "the applied machine configuration doesn't contain v1alpha1 config, did you mean to patch the machine " +
      'config instead?',
  });
  t.same(await v13('---\n'), { ok: false, code: 'INVALID_ARGUMENT', message: 'config not found' });
  const syntax = await v13('machine: [\n');
  t.match(!syntax.ok && syntax.message, /^decode error: yaml: line \d+/);
});

t.test('broken CA material is NOT validated (Talos accepts it; certificate generation fails later)', async (t) => {
  const cp = cfg('controlplane', 'legacy');
  const garbage = Buffer.from('-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n').toString(
    'base64',
  );
  t.same(await v13(setRaw(cp, ['machine', 'ca', 'crt'], garbage)), { ok: true, warnings: [] });
  const other = await generateTalosCa();
  t.same(
    await v13(setMachineCa(cp, other.certPem, s.os.key.reveal())),
    { ok: true, warnings: [] },
    'key of another CA',
  );
  t.same(await v13(setRaw(cp, ['machine', 'acceptedCAs'], [{ crt: Buffer.from('hello').toString('base64') }])), {
    ok: true,
    warnings: [],
  });
});

t.test('v1.14: REBOOT mode is Unimplemented; v1.13 takes it', async (t) => {
  const cp = cfg('controlplane', 'document');
  t.same(await v14(cp, 'REBOOT'), {
    ok: false,
    code: 'UNIMPLEMENTED',
    message: 'the REBOOT mode is not supported, please use AUTO or NO_REBOOT modes instead',
  });
  t.same(await v13(cfg('controlplane', 'legacy'), 'REBOOT'), { ok: true, warnings: [] });
  // The v1alpha1 check comes first.
  t.equal(
    ((await v14('apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: x\n', 'REBOOT')) as { code: string }).code,
    'INVALID_ARGUMENT',
  );
});

t.test('KubeAPIServerCAConfig checks (v1.14 layout)', async (t) => {
  const cp = cfg('controlplane', 'document');
  const withoutKey = cp.replace(
    new RegExp(
      /(kind: KubeAPIServerCAConfig\nissuingCA:\n {4}cert: \|[\s\S]*?-----END CERTIFICATE-----\n)\s+key: /.source +
        /\|[\s\S]*?-----END EC PRIVATE KEY-----\n/.source,
    ),
    '$1',
  );
  t.not(withoutKey, cp, 'the key was removed');
  t.same(await v14(withoutKey), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: multierror(['KubeAPIServerCAConfig: issuing CA: key is required']),
  });
  const badAccepted = `${cp.trimEnd()}\n`.replace(
    'kind: KubeAPIServerCAConfig\n',
    'kind: KubeAPIServerCAConfig\nacceptedCAs:\n    - not a pem\n',
  );
  t.same(await v14(badAccepted), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: multierror(['KubeAPIServerCAConfig: accepted CA #0: no PEM blocks found']),
  });
  const wrongType = cp.replace(
    'kind: KubeAPIServerCAConfig\n',
    `kind: KubeAPIServerCAConfig\nacceptedCAs:\n    - |\n      -----BEGIN PUBLIC KEY-----\n      AAAA\n` +
      `      -----END PUBLIC KEY-----\n`,
  );
  t.same(await v14(wrongType), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: multierror([
      'KubeAPIServerCAConfig: accepted CA #0: unexpected PEM block type "PUBLIC KEY", expected one of ["CERTIFICATE"]',
    ]),
  });
  const conflict = setRaw(cp, ['cluster', 'ca'], {
    crt: Buffer.from(s.k8s.certPem).toString('base64'),
    key: Buffer.from(s.k8s.key.reveal()).toString('base64'),
  });
  t.same(await v14(conflict), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: multierror(['kube-apiserver CA is already set in v1alpha1 config (.cluster.ca)']),
  });
  // The document's issuing CA is parsed during validation (tryLoading), but not matched with its key.
  const other = await generateTalosCa();
  const mismatch = cp.replace(
    /(issuingCA:\n {4}cert: \|\n)([\s\S]*?-----END CERTIFICATE-----\n)/,
    (_m, head: string) =>
      `${head}${other.certPem
        .trimEnd()
        .split('\n')
        .map((l) => `        ${l}`)
        .join('\n')}\n`,
  );
  t.not(mismatch, cp);
  t.same(
    await v14(mismatch),
    { ok: true, warnings: [] },
    'a key that does not match the certificate passes: GetCert and GetKey each parse, nothing compares them',
  );
  // A worker must not carry the Kubernetes CA key.
  const w = cfg('worker', 'document').replace(
    /kind: KubeAPIServerCAConfig\nacceptedCAs:/,
    `kind: KubeAPIServerCAConfig\nissuingCA:\n    cert: |\n${s.k8s.certPem
      .trimEnd()
      .split('\n')
      .map((l) => `        ${l}`)
      .join('\n')}\n    key: |\n${s.k8s.key
      .reveal()
      .trimEnd()
      .split('\n')
      .map((l) => `        ${l}`)
      .join('\n')}\nacceptedCAs:`,
  );
  // v1.14 checks a worker's Kubernetes issuing key in `.cluster.ca` only (v1alpha1_validation.go): a
  // KubeAPIServerCAConfig.issuingCA with its key on a worker is accepted.
  t.same(await v14(w), { ok: true, warnings: [] });
});

/** A KubeAPIServerCAConfig document (plain PEM) appended to a config. */
const pemLines = (pem: string, indent: string) =>
  pem
    .trimEnd()
    .split('\n')
    .map((l) => `${indent}${l}`)
    .join('\n');
const apiServerCaDoc = (issuing: { cert: string; key: string } | null, accepted: string[] = []) =>
  [
    'apiVersion: v1alpha1',
    'kind: KubeAPIServerCAConfig',
    ...(issuing
      ? [
          'issuingCA:',
          '    cert: |',
          pemLines(issuing.cert, '        '),
          '    key: |',
          pemLines(issuing.key, '        '),
        ]
      : []),
    ...(accepted.length ? ['acceptedCAs:', ...accepted.map((a) => `    - |\n${pemLines(a, '      ')}`)] : []),
    '',
  ].join('\n');
/** The document-style control plane with its KubeAPIServerCAConfig replaced. */
const withApiServerCa = (config: string, doc: string) =>
  config.replace(/apiVersion: v1alpha1\nkind: KubeAPIServerCAConfig\n[\s\S]*?\n(?=---\n)/, doc);

t.test(
  'CertificateAndKey.Validate: only the first certificate block and the key are parsed, never matched',
  async (t) => {
    const cp = cfg('controlplane', 'document');
    const key = s.k8s.key.reveal();
    const junkCert = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    t.same(
      await v14(withApiServerCa(cp, apiServerCaDoc({ cert: `${s.k8s.certPem}${junkCert}`, key }))),
      { ok: true, warnings: [] },
      'a broken second CERTIFICATE block is not parsed',
    );
    t.match(
      await v14(withApiServerCa(cp, apiServerCaDoc({ cert: `${junkCert}${s.k8s.certPem}`, key }))),
      {
        ok: false,
        message: /KubeAPIServerCAConfig: issuing CA: certificate is invalid: failed to parse certificate/,
      },
      'the first block is the one parsed',
    );
    t.match(
      await v14(
        withApiServerCa(
          cp,
          apiServerCaDoc({
            cert: `${s.k8s.certPem}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n`,
            key,
          }),
        ),
      ),
      {
        ok: false,
        message: /issuing CA: certificate: unexpected PEM block type "PRIVATE KEY", expected one of \["CERTIFICATE"\]/,
      },
      'every block of the cert must be a CERTIFICATE (AssertValidPEM), even though only the first is parsed',
    );
    const other = await generateTalosCa();
    t.same(
      await v14(withApiServerCa(cp, apiServerCaDoc({ cert: s.k8s.certPem, key: `${other.key.reveal()}${key}` }))),
      { ok: true, warnings: [] },
      "the key's first block is parsed (an Ed25519 key of another CA): no match check",
    );
    t.same(
      await v14(
        withApiServerCa(
          cp,
          apiServerCaDoc({ cert: s.k8s.certPem, key: `${key}-----BEGIN JUNK-----\nAAAA\n-----END JUNK-----\n` }),
        ),
      ),
      { ok: true, warnings: [] },
      'later key blocks are not read',
    );
    t.match(
      await v14(
        withApiServerCa(
          cp,
          apiServerCaDoc({ cert: s.k8s.certPem, key: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n' }),
        ),
      ),
      {
        ok: false,
        message: /issuing CA: key is invalid: unsupported key type: "PUBLIC KEY"/,
      },
    );
    // Go's pem.Decode drops a block whose END line runs into the next BEGIN: two certificates glued without a
    // newline leave no block at all (talos-behaviour.md §5.1).
    const glued = `${s.k8s.certPem.trimEnd()}${other.certPem}`;
    t.match(await v14(withApiServerCa(cp, apiServerCaDoc({ cert: s.k8s.certPem, key }, [glued]))), {
      ok: false,
      message: /KubeAPIServerCAConfig: accepted CA #0: no PEM blocks found/,
    });
    t.same(
      await v14(
        withApiServerCa(cp, apiServerCaDoc({ cert: s.k8s.certPem, key }, [`${s.k8s.certPem}${other.certPem}`])),
      ),
      { ok: true, warnings: [] },
      'an accepted entry may hold several certificates',
    );
  },
);

t.test('allowSchedulingOnMasters is a .cluster key in both releases', async (t) => {
  t.same(await v13(setRaw(cfg('controlplane', 'legacy'), ['cluster', 'allowSchedulingOnMasters'], true)), {
    ok: true,
    warnings: [],
  });
  t.same(await v14(setRaw(cfg('controlplane', 'document'), ['cluster', 'allowSchedulingOnMasters'], true)), {
    ok: true,
    warnings: [],
  });
  t.match(await v14(setRaw(cfg('controlplane', 'document'), ['cluster', 'allowSchedulingOnMaster'], true)), {
    ok: false,
    message: /unknown keys found during decoding:\ncluster:\n {4}allowSchedulingOnMaster: true\n$/,
  });
});

t.test('key: "******" is read as redacted (siderolabs/crypto), not as base64', async (t) => {
  const w = setRaw(cfg('worker', 'legacy'), ['machine', 'ca', 'key'], '******');
  t.same(
    await v13(w),
    {
      ok: false,
      code: 'INVALID_ARGUMENT',
      message: nested('issuing Talos API CA key is not allowed on non-controlplane nodes (.machine.ca)'),
    },
    'a worker holds a (redacted) key',
  );
  t.same(
    await v13(setRaw(cfg('controlplane', 'legacy'), ['machine', 'ca', 'key'], '******')),
    { ok: true, warnings: [] },
    'a control plane passes validation (and then cannot issue)',
  );
  t.same(
    await v13(setRaw(cfg('controlplane', 'legacy'), ['cluster', 'serviceAccount', 'key'], '******')),
    { ok: true, warnings: [] },
    'PEMEncodedKey too',
  );
  const crt = await v13(setRaw(cfg('controlplane', 'legacy'), ['machine', 'ca', 'crt'], '******'));
  t.match(
    !crt.ok && crt.message,
    /construct errors:\n {2}line \d+: illegal base64 data at input byte 0$/,
    'only the key is special',
  );
});

t.test('v1.13.9 has no KubeAPIServerCAConfig kind: the loader refuses the document', async (t) => {
  const legacy = cfg('controlplane', 'legacy');
  const doc = apiServerCaDoc({ cert: s.k8s.certPem, key: s.k8s.key.reveal() });
  const text = `${legacy}---\n${doc}`;
  const line = text.split('\n').indexOf('kind: KubeAPIServerCAConfig');
  t.same(await v13(text), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message:
      `error decoding document v1alpha1/KubeAPIServerCAConfig/ (line ${line}): "KubeAPIServerCAConfig" ` +
      `"v1alpha1": not registered`,
  });
  // The whole document layout fails on v1.13 at its first v1.14-only kind.
  t.match(await v13(cfg('worker', 'document')), {
    ok: false,
    message: new RegExp(
      /^error decoding document v1alpha1\/DiscoveryIdentityConfig\/ \(line \d+\): /.source +
        /"DiscoveryIdentityConfig" "v1alpha1": not registered$/.source,
    ),
  });
  // v1.14 knows the kind; there the same config conflicts with .cluster.ca.
  t.same(await v14(text), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: multierror(['kube-apiserver CA is already set in v1alpha1 config (.cluster.ca)']),
  });
  t.match(await v14(`${legacy}---\napiVersion: v1alpha2\nkind: KubeAPIServerCAConfig\n`), {
    ok: false,
    message: /"KubeAPIServerCAConfig" "v1alpha2": not registered$/,
  });
});

t.test('v1.14: a control plane with a Kubernetes API CA needs etcd encryption', async (t) => {
  const required = multierror(['etcd encryption config is required for control plane machines running kube-apiserver']);
  const cp = cfg('controlplane', 'document');
  const noEtcdEnc = cp.replace(/apiVersion: v1alpha1\nkind: KubeEtcdEncryptionConfig\n[\s\S]*?---\n/, '');
  t.not(noEtcdEnc, cp);
  t.same(await v14(noEtcdEnc), { ok: false, code: 'INVALID_ARGUMENT', message: required });
  t.same(
    await v14(setRaw(noEtcdEnc, ['cluster', 'secretboxEncryptionSecret'], s.secretboxEncryptionSecret)),
    { ok: true, warnings: [] },
    'the legacy secret counts',
  );
  t.same(await v14(setRaw(noEtcdEnc, ['cluster', 'aescbcEncryptionSecret'], s.secretboxEncryptionSecret)), {
    ok: true,
    warnings: [],
  });
  t.same(
    await v14(setRaw(cp, ['cluster', 'secretboxEncryptionSecret'], s.secretboxEncryptionSecret)),
    {
      ok: false,
      code: 'INVALID_ARGUMENT',
      message: multierror(['etcd encryption config is already set in v1alpha1 config']),
    },
    'not both',
  );
  // The legacy layout on v1.14: .cluster.ca is a Kubernetes API CA too.
  const legacyCp = deleteRaw(cfg('controlplane', 'legacy'), ['cluster', 'secretboxEncryptionSecret']);
  t.same(await v14(legacyCp), { ok: false, code: 'INVALID_ARGUMENT', message: required });
  t.same(await v13(legacyCp), { ok: true, warnings: [] }, 'v1.13.9 has no such rule');
  t.same(
    await v14(deleteRaw(cfg('worker', 'legacy'), ['cluster', 'secretboxEncryptionSecret'])),
    { ok: true, warnings: [] },
    'workers do not run kube-apiserver',
  );
});

t.test('v1.14: control-plane-only documents are refused on workers', async (t) => {
  const agg =
    `apiVersion: v1alpha1\nkind: KubeAggregatorCAConfig\nissuingCA:\n` +
    `    cert: |\n${pemLines(s.k8sAggregator.certPem, '        ')}\n` +
    `    key: |\n${pemLines(s.k8sAggregator.key.reveal(), '        ')}\n`;
  t.same(await v14(`${cfg('worker', 'document')}---\n${agg}`), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: multierror([
      'the following document kinds are only allowed on control plane machines: [KubeAggregatorCAConfig]',
    ]),
  });
  const noIssuing = cfg('controlplane', 'document').replace(
    /(kind: KubeAggregatorCAConfig\n)issuingCA:\n(?: {4}.*\n)+/,
    '$1',
  );
  t.same(await v14(noIssuing), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: multierror(['KubeAggregatorCAConfig: issuing CA is not set']),
  });
});

t.test('the document wins over .cluster.acceptedCAs: both together are valid', async (t) => {
  const other = await generateKubernetesCa();
  const acc = [{ crt: Buffer.from(other.certPem).toString('base64') }];
  t.same(await v14(setRaw(cfg('controlplane', 'document'), ['cluster', 'acceptedCAs'], acc)), {
    ok: true,
    warnings: [],
  });
  t.same(await v14(setRaw(cfg('worker', 'document'), ['cluster', 'acceptedCAs'], acc)), { ok: true, warnings: [] });
});

t.test('machine type and cluster section rules', async (t) => {
  const w = cfg('worker', 'legacy');
  t.same(await v13(setRaw(w, ['machine', 'type'], 'join')), {
    ok: true,
    warnings: ['use "worker" instead of "join" for machine type'],
  });
  t.same(await v13(deleteRaw(w, ['machine'])), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: nested('machine instructions are required'),
  });
  t.same(await v13(setRaw(w, ['cluster', 'controlPlane'], {})), {
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: nested('cluster controlplane endpoint is required'),
  });
});

t.test('unknown keys are refused wherever the lab knows the Go struct, and only there', async (t) => {
  const cp = cfg('controlplane', 'legacy');
  t.match(await v13(setRaw(cp, ['cluster', 'etcd', 'ca', 'cert'], 'x')), {
    ok: false,
    message: /unknown keys found during decoding:\ncluster:\n {4}etcd:\n {8}ca:\n {12}cert: x\n$/,
  });
  t.match(await v13(setRaw(cp, ['machine', 'install', 'wipeDisk'], true)), {
    ok: false,
    message: /machine:\n {4}install:\n {8}wipeDisk: true\n$/,
  });
  t.match(
    await v13(setRaw(cp, ['machine', 'acceptedCAs'], [{ crt: Buffer.from(s.os.certPem).toString('base64'), key: '' }])),
    { ok: false, message: /machine:\n {4}acceptedCAs:\n {8}- key: ""\n$/ },
  );
  // Free-form parts (Unstructured, maps of strings, Args) take any key.
  t.same(await v13(setRaw(cp, ['machine', 'kubelet', 'extraConfig'], { anything: { goes: 1 } })), {
    ok: true,
    warnings: [],
  });
  t.same(await v13(setRaw(cp, ['cluster', 'apiServer', 'extraArgs'], { 'feature-gates': 'X=true' })), {
    ok: true,
    warnings: [],
  });
  // The CA documents' own keys (v1.14).
  const dcp = cfg('controlplane', 'document');
  t.match(await v14(dcp.replace('kind: KubeAPIServerCAConfig\n', 'kind: KubeAPIServerCAConfig\nacceptedCA: []\n')), {
    ok: false,
    message: new RegExp(
      /^error decoding document v1alpha1\/KubeAPIServerCAConfig\/ \(line \d+\): unknown keys found /.source +
        /during decoding:\nacceptedCA: \[\]\n$/.source,
    ),
  });
});
