/** State encryption at rest: sealing, the errors of a wrong or missing key, and the key sources. */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import {
  isSealed,
  openIfSealed,
  sealIfConfigured,
  setStateCipherForTests,
  StateCipher,
  stateCipherFromEnv,
} from '../../src/state/encryption.js';
import { parseStateText, serializeState } from '../../src/state/codec.js';
import { secretFilesOf, sealStateFolder } from '../../src/state/seal-folder.js';
import type { StateDocument } from '../../src/state/types.js';
import { STATE_VERSION } from '../../src/state/types.js';

t.teardown(() => setStateCipherForTests(undefined));

const key = randomBytes(32);
const cipher = new StateCipher(key);

t.test('seal and open; the sealed text shows neither the content nor the key', async (t) => {
  const plain = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIabc\n-----END PRIVATE KEY-----\n';
  const sealed = cipher.seal(plain, 'escrowed-key');
  t.ok(isSealed(sealed));
  t.notOk(isSealed(plain));
  t.notMatch(sealed, /PRIVATE KEY|MC4CAQ/);
  t.notOk(sealed.includes(key.toString('base64')));
  t.equal(cipher.open(sealed, 'escrowed-key', 'k').toString('utf8'), plain);
  t.not(cipher.seal(plain, 'escrowed-key'), sealed, 'a fresh IV per write');
});

t.test('a wrong key, a tampered file, another purpose: each its own error, naming the file', async (t) => {
  const sealed = cipher.seal('secret', 'state');
  t.throws(() => new StateCipher(randomBytes(32)).open(sealed, 'state', '/s/x.state.json'), {
    code: 'STATE_KEY_WRONG',
    message: /\/s\/x\.state\.json is encrypted with another key/,
  });
  const env = JSON.parse(sealed) as { data: string };
  const flipped = Buffer.from(env.data, 'base64');
  flipped[0] = flipped[0]! ^ 1;
  t.throws(() => cipher.open(JSON.stringify({ ...env, data: flipped.toString('base64') }), 'state', 'f'), {
    code: 'STATE_SEALED_DAMAGED',
  });
  t.throws(() => cipher.open(sealed, 'escrowed-key', 'f'), {
    code: 'STATE_SEALED_UNREADABLE',
    message: /holds a sealed state, not a sealed escrowed-key/,
  });
});

t.test('key sources: base64 or hex in the variable, or a 0600 file; errors never show the value', async (t) => {
  t.equal(stateCipherFromEnv({}), null);
  t.equal(stateCipherFromEnv({ ROTATE_STATE_KEY: key.toString('base64') })!.keyId, cipher.keyId);
  t.equal(stateCipherFromEnv({ ROTATE_STATE_KEY: key.toString('hex') })!.keyId, cipher.keyId);
  const bad = 'not-a-key-at-all-but-secretish';
  const err = t.throws(() => stateCipherFromEnv({ ROTATE_STATE_KEY: bad }), { code: 'STATE_KEY_INVALID' }) as Error;
  t.notMatch(err.message, bad);
  t.throws(
    () => stateCipherFromEnv({ ROTATE_STATE_KEY: randomBytes(16).toString('base64') }),
    { code: 'STATE_KEY_INVALID' },
    'too short',
  );
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'state-key-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'state.key');
  await fs.writeFile(file, `${key.toString('base64')}\n`, { mode: 0o600 });
  t.equal(stateCipherFromEnv({ ROTATE_STATE_KEY_FILE: file })!.keyId, cipher.keyId);
  await fs.chmod(file, 0o644);
  t.throws(() => stateCipherFromEnv({ ROTATE_STATE_KEY_FILE: file }), {
    code: 'STATE_KEY_INVALID',
    message: /readable by others \(mode 0644\)/,
  });
  t.throws(() => stateCipherFromEnv({ ROTATE_STATE_KEY: key.toString('hex'), ROTATE_STATE_KEY_FILE: file }), {
    code: 'STATE_KEY_INVALID',
    message: /both/,
  });
});

const doc = {
  stateVersion: STATE_VERSION,
  lineage: '3f1e1b3c-0000-4000-8000-000000000000',
  serial: 1,
  createdAt: '2026-12-05T00:00:00.000Z',
  updatedAt: '2026-12-05T00:00:00.000Z',
  toolVersion: '0.1.0',
  desiredFile: null,
  runs: [],
} as unknown as StateDocument;
const where = { file: '/s/rotate.state.json', backup: null };

t.test('the codec: sealed when a key is configured, plain otherwise; a sealed state needs the key', async (t) => {
  setStateCipherForTests(null);
  const plain = serializeState(doc, where);
  t.notOk(isSealed(plain));
  setStateCipherForTests(cipher);
  const sealed = serializeState(doc, where);
  t.ok(isSealed(sealed));
  t.same(parseStateText(sealed, where), doc);
  t.same(parseStateText(plain, where), doc, 'a plain state is still read with a key configured');
  setStateCipherForTests(null);
  t.throws(() => parseStateText(sealed, where), {
    code: 'STATE_KEY_REQUIRED',
    message: /state file \/s\/rotate\.state\.json is encrypted, and no state key is given/,
  });
  t.equal(sealIfConfigured('x', 'state'), 'x');
  t.equal(openIfSealed('x', 'state', 'f'), 'x');
});

t.test(
  'encrypt and decrypt a state folder: state, backup, escrowed keys, output backups; certificates stay',
  async (t) => {
    const dir = await fs.mkdtemp(path.join(tmpdir(), 'state-seal-'));
    t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
    setStateCipherForTests(null);
    const state = path.join(dir, 'rotate.state.json');
    const files: Record<string, string> = {
      [state]: serializeState(doc, where),
      [`${state}.backup`]: serializeState(doc, where),
      [path.join(dir, 'keys', 'talos-0011223344556677.key')]:
        '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n',
      [path.join(dir, 'keys', 'talos-0011223344556677.crt')]:
        '-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n',
      [path.join(dir, 'backups', 'run-1', 'talosconfig-talosconfig')]: 'context: x\n',
    };
    for (const [f, text] of Object.entries(files)) {
      await fs.mkdir(path.dirname(f), { recursive: true });
      await fs.writeFile(f, text, { mode: 0o600 });
    }
    t.same((await secretFilesOf(state)).map((f) => path.relative(dir, f.file)).sort(), [
      'backups/run-1/talosconfig-talosconfig',
      'keys/talos-0011223344556677.key',
      'rotate.state.json',
      'rotate.state.json.backup',
    ]);
    await t.rejects(sealStateFolder(state, 'encrypt'), { code: 'STATE_KEY_REQUIRED' });
    setStateCipherForTests(cipher);
    const enc = await sealStateFolder(state, 'encrypt');
    t.equal(enc.changed.length, 4);
    for (const f of enc.changed) {
      t.ok(isSealed(await fs.readFile(f, 'utf8')), `${path.basename(f)} sealed`);
      t.equal((await fs.stat(f)).mode & 0o777, 0o600);
    }
    t.equal(
      await fs.readFile(path.join(dir, 'keys', 'talos-0011223344556677.crt'), 'utf8'),
      files[path.join(dir, 'keys', 'talos-0011223344556677.crt')],
      'the certificate stays plain',
    );
    t.same((await sealStateFolder(state, 'encrypt')).changed, [], 'again: nothing to do');
    setStateCipherForTests(new StateCipher(randomBytes(32)));
    await t.rejects(sealStateFolder(state, 'decrypt'), { code: 'STATE_KEY_WRONG' }, 'a wrong key changes nothing');
    t.ok(isSealed(await fs.readFile(state, 'utf8')));
    setStateCipherForTests(cipher);
    t.equal((await sealStateFolder(state, 'decrypt')).changed.length, 4);
    for (const [f, text] of Object.entries(files))
      t.equal(await fs.readFile(f, 'utf8'), text, `${path.basename(f)} back as it was`);
  },
);
