import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { parse } from 'yaml';

import { RotateError } from '../../src/domain/errors.js';
import { Secret } from '../../src/domain/secret.js';
import { encodeTalosBase64Pem, generateTalosCa, issueTalosClientCert } from '../../src/pki/index.js';
import {
  contextNames,
  currentContextName,
  emptyTalosconfig,
  getContext,
  loadTalosconfig,
  parseTalosconfig,
  renderTalosconfig,
  resolveTalosconfigPath,
  saveTalosconfig,
  setContextCredentials,
  setCurrentContext,
} from '../../src/talos/talosconfig.js';

const oldCa = await generateTalosCa();
const newCa = await generateTalosCa();
const oldClient = await issueTalosClientCert(oldCa, { roles: ['os:admin'] });
const newClient = await issueTalosClientCert(newCa, { roles: ['os:admin'] });
const b = encodeTalosBase64Pem;

/** As talosctl writes it (4-space yaml.v3), plus a second context, a comment and fields we do not know. */
const TALOSCONFIG = `context: prod
contexts:
    # the cluster we rotate
    prod:
        endpoints:
            - 10.5.0.2
            - cp.example.test:50000
        nodes:
            - 10.5.0.3
        ca: ${b(oldCa.certPem)}
        crt: ${b(oldClient.certPem)}
        key: ${b(oldClient.key.reveal())}
        cluster: prod-cluster
        proxy-url: http://proxy.example.test:3128
        futureField: keep-me
    omni:
        endpoints:
            - https://omni.example.test
        auth:
            siderov1:
                identity: me@example.test
someTopLevelExtension: true
`;

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

async function scratch(t: TapTest): Promise<string> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'talosconfig-test-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

function catchRotate(fn: () => unknown): RotateError {
  try {
    fn();
  } catch (err) {
    if (RotateError.is(err)) return err;
    throw err;
  }
  throw new Error('expected a RotateError');
}

t.test('path resolution follows talosctl', async (t) => {
  const home = '/home/op';
  t.same(resolveTalosconfigPath({ flag: '/x/tc', env: { TALOSCONFIG: '/y', TALOS_HOME: '/z' }, home }), {
    path: '/x/tc',
    source: 'flag',
  });
  t.same(resolveTalosconfigPath({ env: { TALOSCONFIG: '/y', TALOS_HOME: '/z' }, home }), {
    path: '/y',
    source: 'TALOSCONFIG',
  });
  t.same(resolveTalosconfigPath({ env: { TALOS_HOME: '/z' }, home }), { path: '/z/config', source: 'TALOS_HOME' });
  t.same(
    resolveTalosconfigPath({ env: { TALOS_HOME: 'relative/dir' }, home }),
    { path: '/home/op/.talos/config', source: 'home' },
    'relative TALOS_HOME is ignored',
  );
  t.same(resolveTalosconfigPath({ flag: '', env: { TALOSCONFIG: '' }, home }), {
    path: '/home/op/.talos/config',
    source: 'home',
  });
});

t.test('getContext decodes the current or a named context', async (t) => {
  const cfg = parseTalosconfig(TALOSCONFIG, '/tmp/tc');
  t.same(contextNames(cfg), ['prod', 'omni']);
  t.equal(currentContextName(cfg), 'prod');
  const ctx = getContext(cfg);
  t.equal(ctx.name, 'prod');
  t.same(ctx.endpoints, ['10.5.0.2', 'cp.example.test:50000']);
  t.same(ctx.nodes, ['10.5.0.3']);
  t.equal(ctx.caPem, oldCa.certPem);
  t.equal(ctx.certPem, oldClient.certPem);
  t.equal(ctx.key.reveal(), oldClient.key.reveal());
  t.equal(`${ctx.key}`, '(sensitive)');
  t.equal(ctx.cluster, 'prod-cluster');
  t.equal(ctx.proxyUrl, 'http://proxy.example.test:3128');
  t.equal(getContext(cfg, 'prod').name, 'prod');
});

t.test('the deprecated target field counts as an endpoint', async (t) => {
  const cfg = parseTalosconfig(
    TALOSCONFIG.replace(
      '        endpoints:\n            - 10.5.0.2\n            - cp.example.test:50000\n',
      '        target: 10.5.0.9\n',
    ),
  );
  t.same(getContext(cfg).endpoints, ['10.5.0.9']);
});

t.test('context errors are clear and never show the key', async (t) => {
  const cfg = parseTalosconfig(TALOSCONFIG, '/tmp/tc');
  let err = catchRotate(() => getContext(cfg, 'staging'));
  t.equal(err.code, 'TALOSCONFIG_UNKNOWN_CONTEXT');
  t.match(err.message, 'talosconfig /tmp/tc has no context "staging" (available: "prod", "omni")');

  err = catchRotate(() => getContext(cfg, 'omni'));
  t.equal(err.code, 'TALOSCONFIG_BAD_CREDENTIALS');
  t.match(err.message, 'contexts.omni.ca is missing');
  t.match(err.hint, /certificate-based talosconfig/);

  err = catchRotate(() => getContext(parseTalosconfig(TALOSCONFIG.replace('context: prod', 'context: ""'))));
  t.equal(err.code, 'TALOSCONFIG_NO_CONTEXT');
  t.match(err.message, /available: "prod", "omni"/);

  err = catchRotate(() =>
    getContext(
      parseTalosconfig(
        TALOSCONFIG.replace(
          / {8}endpoints:\n {12}- 10\.5\.0\.2\n {12}- cp\.example\.test:50000\n/,
          '        endpoints: []\n',
        ),
      ),
    ),
  );
  t.equal(err.code, 'TALOSCONFIG_NO_ENDPOINTS');
  t.match(err.message, 'contexts.prod.endpoints is empty');

  const keyB64 = b(oldClient.key.reveal());
  err = catchRotate(() =>
    getContext(parseTalosconfig(TALOSCONFIG.replace(keyB64, `${keyB64.slice(0, 20)}!!${keyB64.slice(22)}`))),
  );
  t.equal(err.code, 'TALOSCONFIG_BAD_CREDENTIALS');
  t.match(err.message, /contexts\.prod\.key is not standard base64/);
  t.notOk(
    err.message.includes(keyB64.slice(0, 20)) || (err.hint ?? '').includes(keyB64.slice(0, 20)),
    'no key text in the error',
  );

  err = catchRotate(() =>
    getContext(parseTalosconfig(TALOSCONFIG.replace(`crt: ${b(oldClient.certPem)}`, `crt: ${keyB64}`))),
  );
  t.equal(err.code, 'TALOSCONFIG_BAD_CREDENTIALS');
  t.match(err.message, /contexts\.prod\.crt holds ED25519 PRIVATE KEY instead of certificates/);

  err = catchRotate(() => parseTalosconfig('context: [\n', '/tmp/bad'));
  t.equal(err.code, 'TALOSCONFIG_PARSE');
  t.match(err.message, /^talosconfig \/tmp\/bad is not valid YAML \(line \d+/);
  t.equal(catchRotate(() => parseTalosconfig('- a\n')).code, 'TALOSCONFIG_PARSE');
  t.equal(catchRotate(() => parseTalosconfig('contexts: [a]\n')).code, 'TALOSCONFIG_PARSE');
});

t.test('round trip: new credentials in one context, everything else kept', async (t) => {
  const dir = await scratch(t);
  const file = path.join(dir, 'config');
  await fs.writeFile(file, TALOSCONFIG, { mode: 0o644 });
  const cfg = await loadTalosconfig(file);
  setContextCredentials(cfg, 'prod', { caPem: newCa.certPem, certPem: newClient.certPem, key: newClient.key });
  await saveTalosconfig(cfg, file, { backupPath: path.join(dir, 'config.bak') });

  const text = await fs.readFile(file, 'utf8');
  t.equal((await fs.stat(file)).mode & 0o777, 0o600, 'written 0600');
  t.equal((await fs.stat(path.join(dir, 'config.bak'))).mode & 0o777, 0o600, 'backup 0600');
  t.equal(await fs.readFile(path.join(dir, 'config.bak'), 'utf8'), TALOSCONFIG, 'backup is the previous file');

  const reread = getContext(await loadTalosconfig(file));
  t.equal(reread.caPem, newCa.certPem);
  t.equal(reread.certPem, newClient.certPem);
  t.equal(reread.key.reveal(), newClient.key.reveal());
  t.same(reread.endpoints, ['10.5.0.2', 'cp.example.test:50000'], 'endpoints kept when not given');

  const before = parse(TALOSCONFIG);
  const after = parse(text);
  before.contexts.prod.ca = b(newCa.certPem);
  before.contexts.prod.crt = b(newClient.certPem);
  before.contexts.prod.key = b(newClient.key.reveal());
  t.same(after, before, 'other contexts, unknown fields and order kept');
  t.match(text, '# the cluster we rotate', 'comments kept');
  t.match(text, '\n    prod:\n        endpoints:\n            - 10.5.0.2\n', 'talosctl indentation kept');
  t.equal(text.split('\n').length, TALOSCONFIG.split('\n').length, 'no value folded over lines');
});

t.test('creating a context and switching to it', async (t) => {
  const cfg = emptyTalosconfig();
  t.equal(
    catchRotate(() =>
      setContextCredentials(cfg, 'new', { caPem: newCa.certPem, certPem: newClient.certPem, key: newClient.key }),
    ).code,
    'TALOSCONFIG_NO_ENDPOINTS',
  );
  setContextCredentials(cfg, 'new', {
    caPem: newCa.certPem,
    certPem: newClient.certPem,
    key: newClient.key,
    endpoints: ['10.5.0.2'],
  });
  setCurrentContext(cfg, 'new');
  const text = renderTalosconfig(cfg);
  t.match(
    text,
    new RegExp(
      /^context: new\ncontexts:\n {4}new:\n {8}endpoints:\n {12}- 10\.5\.0\.2\n/.source +
        / {8}ca: LS0t\S+\n {8}crt: LS0t\S+\n {8}key: LS0t\S+\n$/.source,
    ),
    'block style like talosctl',
  );
  const again = parseTalosconfig(text);
  const ctx = getContext(again);
  t.equal(ctx.name, 'new');
  t.same(ctx.endpoints, ['10.5.0.2']);
  t.equal(ctx.key.reveal(), newClient.key.reveal());
});

t.test('save writes through a symlink, creates the folder 0700, needs no backup of a missing file', async (t) => {
  const dir = await scratch(t);
  const realDir = path.join(dir, 'real');
  await fs.mkdir(realDir);
  await fs.writeFile(path.join(realDir, 'config'), TALOSCONFIG, { mode: 0o600 });
  const link = path.join(dir, 'link-config');
  await fs.symlink(path.join(realDir, 'config'), link);
  const cfg = await loadTalosconfig(link);
  setContextCredentials(cfg, 'prod', {
    caPem: newCa.certPem,
    certPem: newClient.certPem,
    key: new Secret(newClient.key.reveal()),
  });
  await saveTalosconfig(cfg, link);
  t.ok((await fs.lstat(link)).isSymbolicLink(), 'the symlink stays a symlink');
  t.equal(getContext(await loadTalosconfig(path.join(realDir, 'config'))).caPem, newCa.certPem);

  const fresh = path.join(dir, 'sub', 'dir', 'config');
  await saveTalosconfig(cfg, fresh, { backupPath: path.join(dir, 'none.bak') });
  t.equal((await fs.stat(path.join(dir, 'sub', 'dir'))).mode & 0o777, 0o700);
  await t.rejects(fs.stat(path.join(dir, 'none.bak')), { code: 'ENOENT' });

  await t.rejects(loadTalosconfig(path.join(dir, 'missing')), { code: 'TALOSCONFIG_READ' });
});
