import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import {
  escrowCertificatePath,
  escrowDir,
  escrowKeyPath,
  escrowKeys,
  loadEscrowedKey,
  type EscrowItem,
} from '../../../src/apply/keys/index.js';
import { RotateError } from '../../../src/domain/errors.js';
import { Secret } from '../../../src/domain/secret.js';
import { generateKubernetesCa, generateTalosCa, type CaMaterial } from '../../../src/pki/index.js';

type T = Parameters<Parameters<typeof t.test>[0]>[0];

const talosNew = await generateTalosCa();
const talosOld = await generateTalosCa();
const k8sNew = await generateKubernetesCa();
const ALL = [talosNew, talosOld, k8sNew];

async function stateDir(t: T): Promise<string> {
  const root = await fs.mkdtemp(path.join(tmpdir(), 'escrow-test-'));
  t.teardown(() => fs.rm(root, { recursive: true, force: true }));
  return path.join(root, 'state');
}

function item(ca: CaMaterial, over: Partial<EscrowItem> = {}): EscrowItem {
  return {
    api: ca === k8sNew ? 'kubernetes' : 'talos',
    fingerprint: ca.fingerprint,
    role: ca === talosOld ? 'previous-issuing' : 'new-issuing',
    certPem: ca.certPem,
    name: ca === talosNew ? 'talos-2026' : ca === talosOld ? 'talos-2025' : 'k8s-2026',
    source: `key file /keys/${ca.fingerprint.slice(0, 8)}.key`,
    obtain: async () => ca.key,
    ...over,
  };
}

async function mode(file: string): Promise<number> {
  return (await fs.stat(file)).mode & 0o777;
}

/** Text that must never show a key: its PEM header, or any 16-character run of its base64 body. */
function assertNoKey(t: T, text: string, label: string): void {
  t.notMatch(text, /PRIVATE KEY/, `${label}: no PEM key header`);
  for (const ca of ALL) {
    const body = ca.key
      .reveal()
      .split('\n')
      .filter((l) => l && !l.startsWith('-----'))
      .join('');
    for (let i = 0; i + 16 <= body.length; i += 8) {
      if (text.includes(body.slice(i, i + 16))) {
        t.fail(`${label}: holds part of a key`);
        return;
      }
    }
  }
  t.pass(`${label}: no part of any key`);
}

async function errorOf(p: Promise<unknown>): Promise<RotateError> {
  try {
    await p;
  } catch (err) {
    if (RotateError.is(err)) return err;
    throw err;
  }
  throw new Error('expected a RotateError');
}

t.test('escrows each key 0600 in a 0700 folder, with its certificate, durably', async (t) => {
  const old = process.umask(0o022);
  t.teardown(() => void process.umask(old));
  const dir = await stateDir(t);
  // Count fsyncs of file handles while escrowing (writeFileAtomic syncs each temp file and the folder).
  const probe = await fs.open(process.execPath, 'r');
  const proto = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
  await probe.close();
  const sync = proto.sync;
  let syncs = 0;
  proto.sync = function (this: unknown) {
    syncs++;
    return sync.call(this);
  };
  let escrowed;
  try {
    escrowed = await escrowKeys(dir, [item(talosNew), item(talosOld), item(k8sNew)]);
  } finally {
    proto.sync = sync;
  }
  t.ok(syncs >= 3 * 2 * 2, `files and folder fsynced (${syncs} fsyncs for 6 files)`);
  t.equal(await mode(escrowDir(dir)), 0o700, 'keys/ is 0700');
  t.same(
    escrowed.map((e) => [e.api, e.role, e.kept, path.basename(e.file), path.basename(e.certificateFile)]),
    [
      [
        'talos',
        'new-issuing',
        false,
        `talos-${talosNew.fingerprint.slice(0, 16)}.key`,
        `talos-${talosNew.fingerprint.slice(0, 16)}.crt`,
      ],
      [
        'talos',
        'previous-issuing',
        false,
        `talos-${talosOld.fingerprint.slice(0, 16)}.key`,
        `talos-${talosOld.fingerprint.slice(0, 16)}.crt`,
      ],
      [
        'kubernetes',
        'new-issuing',
        false,
        `kubernetes-${k8sNew.fingerprint.slice(0, 16)}.key`,
        `kubernetes-${k8sNew.fingerprint.slice(0, 16)}.crt`,
      ],
    ],
  );
  for (const [i, ca] of [talosNew, talosOld, k8sNew].entries()) {
    const e = escrowed[i]!;
    t.equal(e.file, escrowKeyPath(dir, e.api, ca.fingerprint));
    t.equal(await mode(e.file), 0o600, `${path.basename(e.file)} 0600`);
    t.equal(await mode(e.certificateFile), 0o600);
    t.equal(await fs.readFile(e.file, 'utf8'), ca.key.reveal(), 'the key as obtained');
    t.equal(await fs.readFile(e.certificateFile, 'utf8'), ca.certPem);
    const loaded = await loadEscrowedKey(dir, e.api, ca.fingerprint, ca.certPem);
    t.ok(loaded instanceof Secret);
    t.equal(loaded.reveal(), ca.key.reveal());
    t.equal(String(loaded), '(sensitive)');
  }
  t.same(
    (await fs.readdir(escrowDir(dir))).filter((f) => f.endsWith('.tmp')),
    [],
    'no temp files',
  );
  assertNoKey(t, JSON.stringify(escrowed), 'the result');
});

t.test('idempotent: an escrowed key that matches is kept without asking for it again', async (t) => {
  const dir = await stateDir(t);
  await escrowKeys(dir, [item(talosNew)]);
  const file = escrowKeyPath(dir, 'talos', talosNew.fingerprint);
  const before = await fs.stat(file);
  let asked = 0;
  const again = await escrowKeys(dir, [
    item(talosNew, {
      obtain: async () => {
        asked++;
        throw new Error('must not be asked');
      },
    }),
    item(k8sNew),
  ]);
  t.equal(asked, 0);
  t.same(
    again.map((e) => e.kept),
    [true, false],
  );
  const after = await fs.stat(file);
  t.equal(after.ino, before.ino, 'the file was not rewritten');
  t.equal(after.mtimeMs, before.mtimeMs);
  await fs.rm(escrowCertificatePath(dir, 'talos', talosNew.fingerprint));
  await escrowKeys(dir, [item(talosNew)]);
  t.equal(
    await fs.readFile(escrowCertificatePath(dir, 'talos', talosNew.fingerprint), 'utf8'),
    talosNew.certPem,
    'a missing certificate file is added',
  );
  const dup = await escrowKeys(dir, [item(talosNew), item(talosNew, { role: 'client' })]);
  t.equal(dup.length, 1, 'the same key named twice is escrowed once');
});

t.test('an escrowed file holding another key is an error and is never overwritten', async (t) => {
  const dir = await stateDir(t);
  await escrowKeys(dir, [item(talosNew)]);
  const file = escrowKeyPath(dir, 'talos', talosNew.fingerprint);
  await fs.writeFile(file, talosOld.key.reveal(), { mode: 0o600 });
  let asked = false;
  const err = await errorOf(escrowKeys(dir, [item(talosNew, { obtain: async () => ((asked = true), talosNew.key) })]));
  t.equal(err.code, 'KEYS_ESCROW_MISMATCH');
  t.match(err.message, file);
  t.match(err.message, talosNew.fingerprint.slice(0, 16));
  t.match(err.hint, /never overwrites/);
  t.notOk(asked);
  t.equal(await fs.readFile(file, 'utf8'), talosOld.key.reveal(), 'left as it was');
  assertNoKey(t, `${err.message} ${err.hint}`, 'the error');
  const load = await errorOf(loadEscrowedKey(dir, 'talos', talosNew.fingerprint, talosNew.certPem));
  t.equal(load.code, 'KEYS_ESCROW_MISMATCH');
  assertNoKey(t, `${load.message} ${load.hint}`, 'the load error');

  await fs.chmod(file, 0o644);
  const loose = await errorOf(loadEscrowedKey(dir, 'talos', talosNew.fingerprint, talosNew.certPem));
  t.equal(loose.code, 'KEYS_ESCROW_MODE');
  t.match(loose.message, /mode 0644/);
  t.match(loose.hint, `chmod 600 ${file}`);
});

t.test(
  'a key that cannot be obtained refuses before anything is written, naming authority, fingerprint and source',
  async (t) => {
    const dir = await stateDir(t);
    const err = await errorOf(
      escrowKeys(dir, [
        item(talosNew),
        item(talosOld, {
          source: 'machine config of 127.0.0.10 (.machine.ca.key)',
          obtain: async () => {
            throw new RotateError('MC_NO_CA_KEY', 'machine config of 127.0.0.10 has no .machine.ca.key', {
              hint: 'read it from a control plane',
            });
          },
        }),
        item(k8sNew, { obtain: async () => talosNew.key }),
      ]),
    );
    t.equal(err.code, 'KEYS_UNAVAILABLE');
    t.match(err.message, /cannot escrow 2 keys/);
    t.match(err.message, `talos-2025 (${talosOld.fingerprint.slice(0, 16)})`);
    t.match(err.message, 'looked in machine config of 127.0.0.10 (.machine.ca.key)');
    t.match(err.message, 'has no .machine.ca.key');
    t.match(err.message, `k8s-2026 (${k8sNew.fingerprint.slice(0, 16)})`);
    t.match(err.message, /does not belong to its certificate/);
    t.match(err.hint, /no node is touched/);
    assertNoKey(t, `${err.message} ${err.hint}`, 'the error');
    const written = await fs.readdir(escrowDir(dir)).catch(() => []);
    t.same(written, [], 'nothing was written, not even the key that was available');
  },
);

t.test('a leaky obtain error is withheld; a certificate that is not the fingerprint is a bug', async (t) => {
  const dir = await stateDir(t);
  const err = await errorOf(
    escrowKeys(dir, [
      item(talosNew, { obtain: async () => Promise.reject(new Error(`cannot parse ${talosNew.key.reveal()}`)) }),
    ]),
  );
  t.equal(err.code, 'KEYS_UNAVAILABLE');
  t.match(err.message, /withheld/);
  assertNoKey(t, err.message, 'the error');
  const bug = await errorOf(escrowKeys(dir, [item(talosNew, { certPem: talosOld.certPem })]));
  t.equal(bug.code, 'KEYS_CERT_MISMATCH');
  t.equal(bug.source, 'internal');
  const missing = await errorOf(loadEscrowedKey(dir, 'kubernetes', k8sNew.fingerprint, k8sNew.certPem));
  t.equal(missing.code, 'KEYS_ESCROW_MISSING');
  t.match(missing.message, escrowKeyPath(dir, 'kubernetes', k8sNew.fingerprint));
});
