/**
 * The loader in-process, with real CAs (src/pki) in temp folders: the state it builds, normalisations,
 * material checks, cluster files, and the error it throws.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { inspect } from 'node:util';
import * as path from 'node:path';
import t from 'tap';

import {
  DesiredStateError,
  loadAuthorityKey,
  loadDesiredState,
  validateDesiredFile,
  type ValidationResult,
} from '../../src/desired/index.js';
import { RotateError, formatError } from '../../src/domain/errors.js';
import {
  encodeTalosBase64Pem,
  generateCa,
  generateKubernetesCa,
  generateTalosCa,
  CA_VALIDITY_MS,
} from '../../src/pki/index.js';
import {
  keyFileText,
  leakNeedles,
  renderBundle,
  renderTalosconfig,
  tempDir,
  writeFile,
  writeMaterial,
  type Material,
  removeTempDirs,
} from './fixtures/helpers.js';

t.teardown(removeTempDirs);

let m: Material;
let dir: string;
let n = 0;

t.before(async () => {
  dir = await tempDir('desired-load-');
  m = await writeMaterial(dir);
});

const HEAD = `version: 1
cluster:
  talosconfig: talosconfig
  kubeconfig: kubeconfig
  controlPlanes: [10.0.0.11, 10.0.0.12, 10.0.0.13]
  workers: [10.0.0.21]
`;

const AUTHORITIES = `authorities:
  talos-2026:
    certificate: pki/talos-2026.crt
    key: { file: pki/talos-2026.key }
  talos-2016:
    certificate: { secretsBundle: secrets.pre-rotation.yaml, entry: os }
  k8s-2026:
    certificate: pki/k8s-2026.crt
    key: { file: pki/k8s-2026.key }
`;

const GOOD = `${HEAD}talos:
  issuing: talos-2026
  accepted: [talos-2016]
kubernetes:
  issuing: k8s-2026
${AUTHORITIES}`;

/** Write `text` as a new desired-state file in the material folder and validate it. */
async function check(
  text: string,
  opts: { env?: NodeJS.ProcessEnv; now?: Date; name?: string } = {},
): Promise<ValidationResult & { path: string }> {
  const file = path.join(dir, opts.name ?? `rotate-${++n}.yaml`);
  await fs.writeFile(file, text);
  const result = await validateDesiredFile(file, {
    env: opts.env ?? { HOME: dir },
    home: dir,
    ...(opts.now ? { now: opts.now } : {}),
  });
  return { ...result, path: file };
}

const codes = (list: { code: string }[]) => list.map((d) => d.code);

t.test('a good file: the state the planner gets', async (t) => {
  const r = await check(GOOD);
  t.equal(r.valid, true, JSON.stringify(r.errors, null, 2));
  t.same(r.warnings, []);
  const s = r.state!;
  t.equal(s.file, r.path);
  t.equal(s.dir, dir);
  t.equal(
    s.digest,
    createHash('sha256')
      .update(await fs.readFile(r.path))
      .digest('hex'),
  );
  t.equal(s.version, 1);
  t.same(s.cluster, {
    talosconfig: path.join(dir, 'talosconfig'),
    talosconfigSource: 'file',
    kubeconfig: path.join(dir, 'kubeconfig'),
    controlPlanes: ['10.0.0.11', '10.0.0.12', '10.0.0.13'],
    workers: ['10.0.0.21'],
  });
  t.equal(s.talos!.issuing.name, 'talos-2026');
  t.equal(s.talos!.issuing.certificate.fingerprint, m.talosNew.fingerprint);
  t.equal(s.talos!.issuing.certificate.algorithm, 'ed25519');
  t.same(s.talos!.issuing.certificateSource, { kind: 'file', path: path.join(dir, 'pki/talos-2026.crt') });
  t.same(s.talos!.issuing.keySource, { kind: 'file', path: path.join(dir, 'pki/talos-2026.key') });
  t.same(
    s.talos!.accepted.map((a) => a.name),
    ['talos-2016'],
  );
  t.equal(s.talos!.accepted[0]!.keySource, null);
  t.equal(s.kubernetes!.issuing.certificate.algorithm, 'ecdsa-p256');
  t.same(s.kubernetes!.accepted, []);
  t.same(Object.keys(s.authorities).sort(), ['k8s-2026', 'talos-2016', 'talos-2026']);
  // No key material anywhere in the state.
  const dump = JSON.stringify(s) + inspect(s, { depth: Infinity });
  for (const needle of leakNeedles(m.keyPems)) t.notOk(dump.includes(needle), 'state holds no key');
});

t.test('relative paths resolve against the file, not the working folder; ~/ against home', async (t) => {
  const sub = path.join(dir, 'nested');
  await fs.mkdir(sub, { recursive: true });
  const text = GOOD.replace(/pki\//g, '../pki/')
    .replace('secrets.pre-rotation.yaml', '~/secrets.pre-rotation.yaml')
    .replace('talosconfig: talosconfig', 'talosconfig: ../talosconfig');
  const file = path.join(sub, 'rotate.yaml');
  await fs.writeFile(file, text);
  const cwd = process.cwd();
  process.chdir('/');
  try {
    const { state } = await loadDesiredState(file, { env: {}, home: dir });
    t.equal(
      state.authorities['talos-2026']!.certificateSource.kind === 'file' &&
        state.authorities['talos-2026']!.certificateSource.path,
      path.join(dir, 'pki/talos-2026.crt'),
    );
    t.same(state.authorities['talos-2016']!.certificateSource, {
      kind: 'secretsBundle',
      path: path.join(dir, 'secrets.pre-rotation.yaml'),
      entry: 'os',
    });
    t.equal(state.cluster.kubeconfig, path.join(sub, 'kubeconfig'));
  } finally {
    process.chdir(cwd);
  }
});

t.test('issuing listed as accepted, and repeats, are normalised with warnings', async (t) => {
  const r = await check(GOOD.replace('accepted: [talos-2016]', 'accepted: [talos-2026, talos-2016, talos-2016]'));
  t.equal(r.valid, true);
  t.same(codes(r.warnings), ['DESIRED_ISSUING_ALSO_ACCEPTED', 'DESIRED_DUPLICATE_ACCEPTED']);
  t.same(
    r.warnings.map((w) => w.path),
    ['talos.accepted[0]', 'talos.accepted[2]'],
  );
  t.same(
    r.state!.talos!.accepted.map((a) => a.name),
    ['talos-2016'],
  );
});

t.test('the same certificate under two names', async (t) => {
  const twin = AUTHORITIES + '  talos-2026-again:\n    certificate: pki/talos-2026.crt\n';
  const r = await check(
    `${HEAD}talos:\n  issuing: talos-2026\n  accepted: [talos-2026-again, talos-2016]\nkubernetes:\n` +
      `  issuing: k8s-2026\n${twin}`,
  );
  t.equal(r.valid, true);
  t.same(codes(r.warnings), ['DESIRED_ISSUING_ALSO_ACCEPTED']);
  t.same(
    r.state!.talos!.accepted.map((a) => a.name),
    ['talos-2016'],
  );
  const across = await check(
    `${HEAD}talos:\n  issuing: talos-2026\nkubernetes:\n  issuing: k8s-2026\n  accepted: [talos-2026-again]\n${twin}`,
  );
  t.same(codes(across.errors), ['DESIRED_AUTHORITY_SHARED']);
  t.equal(across.errors[0]!.path, 'kubernetes.accepted[0]');
});

t.test('an Ed25519 Kubernetes CA is accepted with a warning', async (t) => {
  const r = await check(
    GOOD.replace(
      '  k8s-2026:\n    certificate: pki/k8s-2026.crt\n    key: { file: pki/k8s-2026.key }\n',
      '  k8s-2026:\n    certificate: pki/expired.crt\n    key: { file: pki/expired.key }\n',
    ),
    {
      now: new Date(m.expired.notBefore.getTime() + 1000),
    },
  );
  // At that time the new CAs do not exist yet: those errors are expected; the warning is what we look at.
  t.ok(r.warnings.some((w) => w.code === 'DESIRED_K8S_ED25519' && w.path === 'kubernetes.issuing'));
});

t.test('validity window: expired, expiring, not yet valid', async (t) => {
  const now = new Date();
  const soon = await generateCa({
    algorithm: 'ed25519',
    organizations: ['talos'],
    now: new Date(now.getTime() - CA_VALIDITY_MS + 10 * 86_400_000),
  });
  const later = await generateTalosCa({ now: new Date(now.getTime() + 3_600_000) });
  await writeFile(path.join(dir, 'pki/soon.crt'), soon.certPem);
  await writeFile(path.join(dir, 'pki/soon.key'), keyFileText(soon), 0o600);
  await writeFile(path.join(dir, 'pki/later.crt'), later.certPem);
  const expiring = await check(
    GOOD.replace('pki/talos-2026.crt', 'pki/soon.crt').replace('pki/talos-2026.key', 'pki/soon.key'),
  );
  t.equal(expiring.valid, true);
  t.same(codes(expiring.warnings), ['DESIRED_CA_EXPIRING']);
  t.match(expiring.warnings[0]!.message, /in (9|10) days/);
  const early = await check(
    GOOD.replace('certificate: { secretsBundle: secrets.pre-rotation.yaml, entry: os }', 'certificate: pki/later.crt'),
  );
  t.same(codes(early.errors), ['DESIRED_CA_NOT_YET_VALID']);
  // Within the 5-minute skew tolerance a freshly made CA from a machine slightly ahead is fine.
  const skewed = await check(GOOD, { now: new Date(m.talosNew.notBefore.getTime() - 60_000) });
  t.equal(skewed.valid, true, JSON.stringify(skewed.errors));
});

t.test('key from the environment: PEM, base64 of PEM, flattened newlines; wrong key', async (t) => {
  const text = GOOD.replace('key: { file: pki/k8s-2026.key }', 'key: { env: K8S_CA_KEY }');
  for (const [what, value] of [
    ['PEM', keyFileText(m.k8sNew)],
    ['base64', encodeTalosBase64Pem(m.k8sNew.key.reveal())],
    ['flattened', keyFileText(m.k8sNew).replace(/\n/g, '\\n')],
  ] as const) {
    const r = await check(text, { env: { HOME: dir, K8S_CA_KEY: value } });
    t.equal(r.valid, true, `${what}: ${JSON.stringify(r.errors)}`);
  }
  const wrong = await check(text, { env: { HOME: dir, K8S_CA_KEY: keyFileText(m.k8sOld) } });
  t.same(codes(wrong.errors), ['DESIRED_KEY_MISMATCH']);
  t.equal(wrong.errors[0]!.path, 'authorities.k8s-2026.key.env');
  const garbage = await check(text, { env: { HOME: dir, K8S_CA_KEY: 'not a key' } });
  t.same(codes(garbage.errors), ['DESIRED_KEY_INVALID']);
  const empty = await check(text, { env: { HOME: dir, K8S_CA_KEY: '' } });
  t.same(codes(empty.errors), ['DESIRED_ENV_MISSING']);
});

t.test('key from a secrets bundle; the bundle must be private', async (t) => {
  const text =
    `${HEAD}talos:\n  issuing: talos-2016\nkubernetes:\n  issuing: k8s-2016\nauthorities:\n  talos-2016:\n` +
    `    certificate: { secretsBundle: secrets.pre-rotation.yaml, entry: os }\n` +
    `    key: { secretsBundle: secrets.pre-rotation.yaml, entry: os }\n  k8s-2016:\n` +
    `    certificate: { secretsBundle: secrets.pre-rotation.yaml, entry: k8s }\n` +
    `    key: { secretsBundle: secrets.pre-rotation.yaml, entry: k8s }\n`;
  const r = await check(text);
  t.equal(r.valid, true, JSON.stringify(r.errors));
  t.same(r.state!.talos!.issuing.keySource, {
    kind: 'secretsBundle',
    path: path.join(dir, 'secrets.pre-rotation.yaml'),
    entry: 'os',
  });
  await writeFile(path.join(dir, 'open-bundle.yaml'), await renderBundle(m.talosOld, m.k8sOld), 0o640);
  const loose = await check(text.replace(/secrets\.pre-rotation\.yaml/g, 'open-bundle.yaml'));
  t.same(codes(loose.errors), ['DESIRED_KEY_FILE_MODE', 'DESIRED_KEY_FILE_MODE']);
  t.match(loose.errors[0]!.message, /readable by group \(mode 0640\)/);
  // A key from a bundle must still be the certificate's.
  const mixed = await check(
    text.replace(
      'key: { secretsBundle: secrets.pre-rotation.yaml, entry: os }',
      'key: { secretsBundle: secrets.pre-rotation.yaml, entry: k8s }',
    ),
  );
  t.ok(codes(mixed.errors).includes('DESIRED_KEY_MISMATCH') || codes(mixed.errors).includes('DESIRED_KEY_INVALID'));
});

t.test(
  'a key that is not its certificate\'s: an error where the CA issues, "not available" (a warning) elsewhere',
  async (t) => {
    // talos-2016 is only accepted; its key here is talos-2026's (as after apply rewrote a bundle entry).
    const accepted = await check(
      GOOD.replace(
        '    certificate: { secretsBundle: secrets.pre-rotation.yaml, entry: os }\n',
        '    certificate: { secretsBundle: secrets.pre-rotation.yaml, entry: os }\n' +
          '    key: { file: pki/talos-2026.key }\n',
      ),
    );
    t.equal(accepted.valid, true, JSON.stringify(accepted.errors));
    t.same(
      accepted.warnings.map((w) => [w.code, w.path]),
      [['DESIRED_KEY_NOT_AVAILABLE', 'authorities.talos-2016.key.file']],
    );
    t.match(accepted.warnings[0]!.message, /talos-2016 is not issuing, so it needs no key/);
    t.equal(accepted.state!.talos!.accepted[0]!.keySource, null, 'no key source for the accepted CA');
    t.equal(
      accepted.state!.talos!.accepted[0]!.certificate.fingerprint,
      m.talosOld.fingerprint,
      'the name still means its certificate',
    );
    // The same key on the issuing CA's side stays an error.
    const issuing = await check(GOOD.replace('key: { file: pki/talos-2026.key }', 'key: { file: pki/k8s-2026.key }'));
    t.ok(codes(issuing.errors).includes('DESIRED_KEY_MISMATCH'));
  },
);

t.test('inline certificate PEM', async (t) => {
  const pem = m.talosOld.certPem
    .trimEnd()
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n');
  const r = await check(
    GOOD.replace('certificate: { secretsBundle: secrets.pre-rotation.yaml, entry: os }', `certificate: |\n${pem}`),
  );
  t.equal(r.valid, true, JSON.stringify(r.errors));
  t.same(r.state!.authorities['talos-2016']!.certificateSource, { kind: 'inline' });
  t.equal(r.state!.authorities['talos-2016']!.certificate.fingerprint, m.talosOld.fingerprint);
});

t.test('a certificate file that also holds a key', async (t) => {
  await writeFile(path.join(dir, 'pki/combined.pem'), m.talosNew.certPem + keyFileText(m.talosNew), 0o644);
  const loose = await check(GOOD.replace('certificate: pki/talos-2026.crt', 'certificate: pki/combined.pem'));
  t.same(codes(loose.errors), ['DESIRED_KEY_IN_CERT_FILE']);
  await fs.chmod(path.join(dir, 'pki/combined.pem'), 0o600);
  const tight = await check(GOOD.replace('certificate: pki/talos-2026.crt', 'certificate: pki/combined.pem'));
  t.equal(tight.valid, true, 'a private file may hold both; only the certificate is used from it');
});

t.test('loadAuthorityKey: for apply, checked again, as a Secret', async (t) => {
  const { state } = await loadDesiredState((await check(GOOD)).path, { env: {}, home: dir });
  const key = await loadAuthorityKey(state.talos!.issuing);
  t.equal(key.reveal(), keyFileText(m.talosNew));
  t.equal(String(key), '(sensitive)');
  t.equal(JSON.stringify({ key }), '{"key":"(sensitive)"}');
  const old = state.talos!.accepted[0]!;
  const noKey = await loadAuthorityKey(old).catch((e: unknown) => e);
  t.ok(RotateError.is(noKey) && noKey.code === 'DESIRED_NO_KEY');
  // The file changed since validation: mode and content are checked again.
  const keyFile = path.join(dir, 'pki/talos-2026.key');
  await fs.chmod(keyFile, 0o644);
  try {
    const err = await loadAuthorityKey(state.talos!.issuing).catch((e: unknown) => e);
    t.ok(RotateError.is(err) && err.code === 'DESIRED_KEY_FILE_MODE', String(err));
    t.match((err as RotateError).message, /^authority talos-2026: key file/);
  } finally {
    await fs.chmod(keyFile, 0o600);
  }
  const envAuthority = { ...state.kubernetes!.issuing, keySource: { kind: 'env' as const, variable: 'K' } };
  t.equal(
    (await loadAuthorityKey(envAuthority, { env: { K: keyFileText(m.k8sNew) } })).reveal(),
    keyFileText(m.k8sNew),
  );
  const mismatch = await loadAuthorityKey(envAuthority, { env: { K: keyFileText(m.k8sOld) } }).catch((e: unknown) => e);
  t.ok(RotateError.is(mismatch) && mismatch.code === 'DESIRED_KEY_MISMATCH');
  for (const needle of leakNeedles(m.keyPems)) t.notOk(formatError(mismatch as RotateError).includes(needle));
});

t.test('loadDesiredState throws one DesiredStateError listing every error', async (t) => {
  const text = GOOD.replace('workers: [10.0.0.21]', 'workers: [10.0.0.21, "10.0.0.22:50000"]').replace(
    'accepted: [talos-2016]',
    'accepted: [talos-2015]',
  );
  const file = path.join(dir, 'invalid.yaml');
  await fs.writeFile(file, text);
  const err = await loadDesiredState(file, { env: {}, home: dir, displayName: 'invalid.yaml' }).catch(
    (e: unknown) => e,
  );
  t.ok(RotateError.is(err), 'a RotateError');
  t.ok(DesiredStateError.isDesiredStateError(err));
  const e = err as DesiredStateError;
  t.equal(e.code, 'DESIRED_INVALID');
  t.same(codes(e.diagnostics), ['DESIRED_BAD_ADDRESS', 'DESIRED_UNKNOWN_AUTHORITY']);
  t.same(codes(e.warnings), ['DESIRED_UNUSED_AUTHORITY']);
  const lines = formatError(e).split('\n');
  t.equal(lines[0], 'error[DESIRED_INVALID]: invalid.yaml is not a valid desired-state file (2 errors):');
  t.match(
    lines[1],
    new RegExp(
      /^ {2}invalid\.yaml:6:24: cluster\.workers\[1\]: must be an IP address or DNS name without port /.source +
        /or scheme \(got "10\.0\.0\.22:50000"\) \[DESIRED_BAD_ADDRESS\]$/.source,
    ),
  );
  t.match(lines[2], /^ {6}hint: write the address alone: 10\.0\.0\.22/);
  t.match(
    lines[3],
    new RegExp(
      /^ {2}invalid\.yaml:9:14: talos\.accepted\[0\]: names authority "talos-2015", which is not /.source +
        /defined under authorities \(defined: talos-2026, talos-2016, k8s-2026\) /.source +
        /\[DESIRED_UNKNOWN_AUTHORITY\]$/.source,
    ),
  );
  t.match(lines[4], /^ {6}hint: did you mean talos-2016\?$/);
  t.match(
    lines[lines.length - 1],
    /^ {2}hint: fix the errors above, then check again with `rotate validate -f invalid\.yaml`$/,
  );
  t.notMatch(formatError(e), /\n\s+at /, 'no stack');
});

t.test('YAML problems: empty file, several documents, aliases', async (t) => {
  t.same(codes((await check('')).errors), ['DESIRED_EMPTY']);
  t.same(codes((await check('# nothing but a comment\n')).errors), ['DESIRED_EMPTY']);
  const multi = await check(`${GOOD}---\nversion: 1\n`);
  t.same(codes(multi.errors), ['DESIRED_YAML']);
  t.match(multi.errors[0]!.hint, /single YAML document/);
  const aliased = await check(
    GOOD.replace(
      'controlPlanes: [10.0.0.11, 10.0.0.12, 10.0.0.13]',
      'controlPlanes: &cps [10.0.0.11, 10.0.0.12, 10.0.0.13]',
    ).replace('workers: [10.0.0.21]', 'workers: *cps'),
  );
  t.same(
    codes(aliased.errors),
    ['DESIRED_DUPLICATE_NODE', 'DESIRED_DUPLICATE_NODE', 'DESIRED_DUPLICATE_NODE'],
    'aliases resolve; the duplicates are then found',
  );
  const dangling = await check(GOOD.replace('workers: [10.0.0.21]', 'workers: *nowhere'));
  t.same(codes(dangling.errors), ['DESIRED_YAML']);
  const missing = await validateDesiredFile(path.join(dir, 'does-not-exist.yaml'), { env: {} });
  t.same(codes(missing.errors), ['DESIRED_READ']);
  t.equal(missing.errors[0]!.line, 0);
});

t.test('talosconfig: default resolution, missing file, context, endpoints', async (t) => {
  const noPath = GOOD.replace('  talosconfig: talosconfig\n', '');
  const viaEnv = await check(noPath, { env: { HOME: dir, TALOSCONFIG: path.join(dir, 'talosconfig') } });
  t.equal(viaEnv.valid, true);
  t.equal(viaEnv.state!.cluster.talosconfigSource, 'TALOSCONFIG');
  const missing = await check(noPath, { env: { HOME: dir } });
  t.equal(missing.valid, true, 'a missing talosconfig is only a warning offline');
  t.same(codes(missing.warnings), ['DESIRED_TALOSCONFIG_MISSING']);
  t.equal(missing.state!.cluster.talosconfig, path.join(dir, '.talos/config'));
  const badContext = await check(
    GOOD.replace('  talosconfig: talosconfig\n', '  talosconfig: talosconfig\n  context: staging\n'),
  );
  t.same(codes(badContext.errors), ['DESIRED_TALOSCONFIG_CONTEXT']);
  t.match(badContext.errors[0]!.message, /has no context "staging" \(contexts: prod\)/);
  await writeFile(
    path.join(dir, 'talosconfig-noep'),
    (await renderTalosconfig(m.talosOld, 'prod', [])).replace('        endpoints:\n', '        endpoints: []\n'),
    0o600,
  );
  const noEndpoints = await check(GOOD.replace('talosconfig: talosconfig', 'talosconfig: talosconfig-noep'));
  t.same(codes(noEndpoints.errors), ['DESIRED_NO_ENDPOINTS']);
  const given = await check(
    GOOD.replace('talosconfig: talosconfig', 'talosconfig: talosconfig-noep').replace(
      '  workers:',
      '  endpoints: [10.0.0.11, "10.0.0.11:50000", cp.example.com:50001]\n  workers:',
    ),
  );
  t.equal(given.valid, true, JSON.stringify(given.errors));
  t.same(codes(given.warnings), ['DESIRED_DUPLICATE_ENDPOINT']);
  t.same(given.state!.cluster.endpoints, ['10.0.0.11', 'cp.example.com:50001']);
});

t.test('files apply writes must not collide', async (t) => {
  const same = await check(GOOD.replace('kubeconfig: kubeconfig', 'kubeconfig: talosconfig'));
  t.same(codes(same.errors), ['DESIRED_PATH_CONFLICT']);
  t.equal(same.errors[0]!.path, 'cluster.kubeconfig');
  const overKey = await check(GOOD.replace('kubeconfig: kubeconfig', 'kubeconfig: pki/k8s-2026.key'));
  t.same(codes(overKey.errors), ['DESIRED_PATH_CONFLICT']);
  const noDir = await check(GOOD.replace('kubeconfig: kubeconfig', 'kubeconfig: out/kubeconfig'));
  t.equal(noDir.valid, true);
  t.same(codes(noDir.warnings), ['DESIRED_KUBECONFIG_DIR']);
  const bundleOk = await check(
    GOOD.replace('  workers: [10.0.0.21]\n', '  workers: [10.0.0.21]\n  secretsBundle: secrets.yaml\n'),
  );
  t.equal(bundleOk.valid, true, JSON.stringify(bundleOk.errors));
  t.equal(bundleOk.state!.cluster.secretsBundle, path.join(dir, 'secrets.yaml'));
  await writeFile(path.join(dir, 'open-secrets.yaml'), await renderBundle(m.talosOld, m.k8sOld), 0o644);
  const bundleOpen = await check(
    GOOD.replace('  workers: [10.0.0.21]\n', '  workers: [10.0.0.21]\n  secretsBundle: open-secrets.yaml\n'),
  );
  t.same(codes(bundleOpen.errors), ['DESIRED_BUNDLE_MODE']);
  const bundleMissing = await check(
    GOOD.replace('  workers: [10.0.0.21]\n', '  workers: [10.0.0.21]\n  secretsBundle: nope.yaml\n'),
  );
  t.same(codes(bundleMissing.errors), ['DESIRED_BUNDLE_READ']);
});

t.test('Kubernetes endpoint override', async (t) => {
  const at = (url: string) =>
    check(GOOD.replace('  workers: [10.0.0.21]\n', `  workers: [10.0.0.21]\n  kubernetesEndpoint: ${url}\n`));
  t.equal((await at('https://10.0.0.10:6443')).valid, true);
  t.same(codes((await at('https://vip.example.com')).warnings), ['DESIRED_K8S_ENDPOINT_PORT']);
  t.same(codes((await at('https://10.0.0.10:6443/api')).errors), ['DESIRED_BAD_URL']);
  t.same(codes((await at('https://user:pw@10.0.0.10:6443')).errors), ['DESIRED_BAD_URL']);
  t.same(codes((await at('http://10.0.0.10:6443')).errors), ['DESIRED_BAD_URL']);
});

t.test('node lists: spellings of one address are one address', async (t) => {
  const r = await check(
    GOOD.replace(
      'controlPlanes: [10.0.0.11, 10.0.0.12, 10.0.0.13]',
      'controlPlanes: ["fd00::1", "FD00:0:0::1", cp.example.com, CP.EXAMPLE.COM.]',
    ),
  );
  t.same(codes(r.errors), ['DESIRED_DUPLICATE_NODE', 'DESIRED_DUPLICATE_NODE']);
  t.same(
    r.errors.map((e) => e.path),
    ['cluster.controlPlanes[1]', 'cluster.controlPlanes[3]'],
  );
  const nonString = await check(GOOD.replace('workers: [10.0.0.21]', 'workers: [10]'));
  t.same(codes(nonString.errors), ['DESIRED_BAD_ADDRESS']);
  t.match(nonString.errors[0]!.message, /\(got 10\)/);
});

t.test(
  'a Kubernetes CA generated by Talos and an RSA CA work for either API; one made for the other API is warned about',
  async (t) => {
    const rsa = await generateCa({ algorithm: 'rsa', organizations: ['kubernetes'], rsaBits: 2048 });
    const k8s = await generateKubernetesCa();
    await writeFile(path.join(dir, 'pki/rsa.crt'), rsa.certPem);
    await writeFile(path.join(dir, 'pki/rsa.key'), rsa.key.reveal(), 0o600);
    await writeFile(path.join(dir, 'pki/k8s-b.crt'), k8s.certPem);
    const r = await check(
      GOOD.replace('pki/talos-2026.crt', 'pki/rsa.crt')
        .replace('pki/talos-2026.key', 'pki/rsa.key')
        .replace('certificate: { secretsBundle: secrets.pre-rotation.yaml, entry: os }', 'certificate: pki/k8s-b.crt'),
    );
    t.equal(r.valid, true, JSON.stringify(r.errors));
    // Both Talos API CAs now carry O=kubernetes (the RSA one, and talos-2016 made by Talos for Kubernetes).
    t.same(
      r.warnings.map((w) => [w.code, w.path]),
      [
        ['DESIRED_CA_WRONG_API', 'talos.issuing'],
        ['DESIRED_CA_WRONG_API', 'talos.accepted[0]'],
      ],
    );
    t.match(
      r.warnings[1]!.message,
      /talos-2016, whose certificate \(O=kubernetes\) looks made for the Kubernetes API, not the Talos API/,
    );
  },
);

t.test(
  'the workloads section: defaults, namespaces, selectors; bad actions refused; no effect without kubernetes',
  async (t) => {
    const none = await check(GOOD);
    t.ok(none.valid);
    t.equal(none.state?.workloads, undefined, 'absent: the default (report) applies');

    const good = await check(`${GOOD}workloads:
  default: ignore
  namespaces: { kube-system: restart, web: report }
  selectors:
    - { matchLabels: { app: db }, namespace: web, action: ignore }
`);
    t.ok(good.valid, JSON.stringify(good.errors));
    t.same(good.state?.workloads, {
      default: 'ignore',
      namespaces: { 'kube-system': 'restart', web: 'report' },
      selectors: [{ matchLabels: { app: 'db' }, namespace: 'web', action: 'ignore' }],
      evict: [],
      extensionApiserverAuthentication: 'replace',
    });
    const evict = await check(`${GOOD}workloads: { default: restart, evict: [Job, Pod] }\n`);
    t.ok(evict.valid, JSON.stringify(evict.errors));
    t.same(evict.state?.workloads?.evict, ['Job', 'Pod'], 'the kinds whose pods are evicted');
    t.equal(
      evict.state?.workloads?.extensionApiserverAuthentication,
      'replace',
      'the ConfigMap step is written by default',
    );
    const ext = await check(`${GOOD}workloads: { extensionApiserverAuthentication: report }\n`);
    t.equal(ext.state?.workloads?.extensionApiserverAuthentication, 'report');
    t.notOk(
      (await check(`${GOOD}workloads: { extensionApiserverAuthentication: delete }\n`)).valid,
      'only replace or report',
    );
    const badEvict = await check(`${GOOD}workloads: { evict: [Deployment] }\n`);
    t.notOk(badEvict.valid);
    t.match(
      badEvict.errors.map((e) => `${e.path}: ${e.message}`).join('\n'),
      /workloads\.evict\[0\]: must be Job, Other or Pod/,
    );
    const dflt = await check(`${GOOD}workloads: { namespaces: { a: restart } }\n`);
    t.equal(dflt.state?.workloads?.default, 'report', 'default report when not given');

    const bad = await check(`${GOOD}workloads:\n  namespaces: { kube-system: bounce }\n`);
    t.notOk(bad.valid);
    t.match(
      bad.errors.map((e) => `${e.path}: ${e.message}`).join('\n'),
      /workloads\.namespaces\.kube-system: must be restart, report or ignore/,
    );
    const badNs = await check(`${GOOD}workloads:\n  namespaces: { Kube_System: restart }\n`);
    t.notOk(badNs.valid, 'a namespace name Kubernetes would refuse');
    const emptySel = await check(`${GOOD}workloads:\n  selectors: [{ matchLabels: {}, action: restart }]\n`);
    t.notOk(emptySel.valid, 'an empty selector would match everything');

    const talosOnly = await check(
      `${HEAD.replace('  kubeconfig: kubeconfig\n', '')}talos:\n  issuing: talos-2026\n` +
        `  accepted: [talos-2016]\n${AUTHORITIES}workloads: { default: restart }\n`,
    );
    t.ok(talosOnly.valid);
    t.ok(
      talosOnly.warnings.some((w) => w.code === 'DESIRED_WORKLOADS_UNUSED' && w.path === 'workloads'),
      'warned: no Kubernetes CA change, no effect',
    );
  },
);
