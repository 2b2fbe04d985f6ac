import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import {
  authorityKeyItem,
  describeKeySource,
  escrowKeys,
  loadEscrowedKey,
  machineConfigKeyItem,
} from '../../../src/apply/keys/index.js';
import type { Authority } from '../../../src/desired/index.js';
import { RotateError } from '../../../src/domain/errors.js';
import { readCaState } from '../../../src/machineconfig/index.js';
import { generateTalosCa } from '../../../src/pki/index.js';
import { loadFixture } from '../../fixtures/machineconfig/helpers.js';

type T = Parameters<Parameters<typeof t.test>[0]>[0];

async function scratch(t: T): Promise<string> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'escrow-src-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('describeKeySource says where a key is looked for', async (t) => {
  t.equal(describeKeySource({ kind: 'file', path: '/k/ca.key' }), 'key file /k/ca.key');
  t.equal(describeKeySource({ kind: 'env', variable: 'TALOS_CA_KEY' }), 'environment variable TALOS_CA_KEY');
  t.equal(
    describeKeySource({ kind: 'secretsBundle', path: '/s.yaml', entry: 'k8s' }),
    'secrets bundle /s.yaml (certs.k8s.key)',
  );
});

t.test('a desired-state authority: escrowed from its key file; a missing variable is named', async (t) => {
  const dir = await scratch(t);
  const ca = await generateTalosCa();
  const keyFile = path.join(dir, 'talos-2026.key');
  await fs.writeFile(keyFile, ca.key.reveal(), { mode: 0o600 });
  const { key: _key, ...certificate } = ca;
  const authority: Authority = {
    name: 'talos-2026',
    certificate,
    certificateSource: { kind: 'inline' },
    keySource: { kind: 'file', path: keyFile },
  };
  const [escrowed] = await escrowKeys(path.join(dir, 'state'), [authorityKeyItem(authority, 'talos', 'new-issuing')]);
  t.equal(escrowed!.fingerprint, ca.fingerprint);
  t.equal(
    (await loadEscrowedKey(path.join(dir, 'state'), 'talos', ca.fingerprint, ca.certPem)).reveal(),
    ca.key.reveal(),
  );

  const fromEnv: Authority = { ...authority, keySource: { kind: 'env', variable: 'ROTATE_TEST_MISSING_KEY' } };
  const err = await escrowKeys(path.join(dir, 'state2'), [
    authorityKeyItem(fromEnv, 'talos', 'new-issuing', { env: {} }),
  ]).catch((e: unknown) => e as RotateError);
  t.ok(RotateError.is(err));
  t.equal((err as RotateError).code, 'KEYS_UNAVAILABLE');
  t.match((err as RotateError).message, 'talos-2026');
  t.match((err as RotateError).message, 'looked in environment variable ROTATE_TEST_MISSING_KEY');
});

t.test("a control plane's machine config: its issuing keys; a worker's config has none", async (t) => {
  const dir = await scratch(t);
  const config = loadFixture('legacy-controlplane');
  const state = readCaState(config);
  const items = (['talos', 'kubernetes'] as const).map((api) =>
    machineConfigKeyItem({
      api,
      role: 'previous-issuing',
      certPem: state[api].issuing!.certPem,
      fingerprint: state[api].issuing!.fingerprint,
      name: null,
      node: '127.0.0.10',
      config: async () => config,
    }),
  );
  const escrowed = await escrowKeys(path.join(dir, 'state'), items);
  t.same(
    escrowed.map((e) => [e.api, e.kept]),
    [
      ['talos', false],
      ['kubernetes', false],
    ],
  );
  for (const api of ['talos', 'kubernetes'] as const) {
    const key = await loadEscrowedKey(
      path.join(dir, 'state'),
      api,
      state[api].issuing!.fingerprint,
      state[api].issuing!.certPem,
    );
    t.match(key.reveal(), /PRIVATE KEY/);
  }
  const worker = loadFixture('legacy-worker');
  const err = await escrowKeys(path.join(dir, 'state3'), [
    machineConfigKeyItem({
      api: 'talos',
      role: 'previous-issuing',
      certPem: state.talos.issuing!.certPem,
      fingerprint: state.talos.issuing!.fingerprint,
      name: 'talos-2025',
      node: '127.0.0.20',
      config: worker,
    }),
  ]).catch((e: unknown) => e as RotateError);
  t.equal((err as RotateError).code, 'KEYS_UNAVAILABLE');
  t.match((err as RotateError).message, 'the machine config of 127.0.0.20 holds no Talos API CA key');
  t.notMatch(`${(err as RotateError).message} ${(err as RotateError).hint}`, /PRIVATE KEY|LS0tLS1CRUdJTi/);
});
