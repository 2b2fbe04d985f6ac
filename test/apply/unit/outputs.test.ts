import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { mergeKubeconfig } from '../../../src/apply/kubeconfig-merge.js';
import { backupPathFor, pruneBackups, restoreBackup, writeKubeconfigOutput } from '../../../src/apply/outputs.js';
import { generateKubernetesCa, issueKubernetesAdminCert, type CaMaterial } from '../../../src/pki/index.js';
import { renderKubeconfig } from '../../../src/lab/talos/machined.js';
import { GITIGNORE_TEXT } from '../../../src/state/state-dir.js';

const OLD = await generateKubernetesCa();
const NEW = await generateKubernetesCa();

/** What Talos's `Kubeconfig` API returns: a fresh admin certificate each call. */
async function talosKubeconfig(
  signer: CaMaterial,
  trusted: CaMaterial[],
  server = 'https://127.0.0.1:6443',
): Promise<string> {
  const admin = await issueKubernetesAdminCert(signer, { backdateMs: 10_000 });
  return renderKubeconfig({
    cluster: 'lab',
    server,
    caPem: trusted.map((c) => c.certPem).join(''),
    certPem: admin.certPem,
    keyPem: admin.key.reveal(),
  });
}

const OTHER = `apiVersion: v1
kind: Config
clusters:
  - name: prod
    cluster:
      server: https://10.0.0.1:6443
      certificate-authority-data: UFJPRA==
users:
  - name: alice@prod
    user:
      token: not-a-key
contexts:
  - name: alice@prod
    context:
      cluster: prod
      user: alice@prod
current-context: alice@prod
preferences: {}
`;

t.test('merge: other clusters, users and contexts are kept; ours replaced; current context ours', async (t) => {
  const first = mergeKubeconfig(OTHER, await talosKubeconfig(OLD, [OLD]));
  t.ok(first.changed);
  const doc = parseYaml(first.text);
  t.same(
    doc.clusters.map((c: { name: string }) => c.name),
    ['prod', 'lab'],
  );
  t.same(
    doc.users.map((c: { name: string }) => c.name),
    ['alice@prod', 'admin@lab'],
  );
  t.same(
    doc.contexts.map((c: { name: string }) => c.name),
    ['alice@prod', 'admin@lab'],
  );
  t.equal(doc['current-context'], 'admin@lab', 'as talosctl kubeconfig does when it merges');
  t.same(doc.preferences, {}, 'other fields kept');
  t.equal(doc.users[0].user.token, 'not-a-key');

  const swapped = mergeKubeconfig(first.text, await talosKubeconfig(NEW, [NEW, OLD]));
  t.ok(swapped.changed, 'a new CA: changed');
  const doc2 = parseYaml(swapped.text);
  t.equal(doc2.clusters.length, 2, 'ours replaced, not added twice');
  t.equal(
    Buffer.from(doc2.clusters[1].cluster['certificate-authority-data'], 'base64').toString(),
    NEW.certPem + OLD.certPem,
  );
  t.equal(doc2.clusters[0].cluster.server, 'https://10.0.0.1:6443');
});

t.test('unchanged: a fresh certificate from the same CA, same trust and server, is not a change', async (t) => {
  const base = await talosKubeconfig(OLD, [OLD]);
  const again = mergeKubeconfig(base, await talosKubeconfig(OLD, [OLD]));
  t.notOk(again.changed, 'only the client certificate differs (Talos mints one per call)');
  t.equal(again.text, base, 'the file is kept as it is');
  t.ok(mergeKubeconfig(base, await talosKubeconfig(OLD, [OLD, NEW])).changed, 'another CA trusted: changed');
  t.ok(mergeKubeconfig(base, await talosKubeconfig(NEW, [OLD])).changed, 'client from another CA: changed');
  t.ok(
    mergeKubeconfig(base, await talosKubeconfig(OLD, [OLD], 'https://127.0.0.2:6443')).changed,
    'another server: changed',
  );
  t.ok(mergeKubeconfig(null, base).changed, 'no file: changed');
  // A certificate of the same CA that has expired is replaced.
  t.ok(
    mergeKubeconfig(base, await talosKubeconfig(OLD, [OLD]), new Date(Date.now() + 20 * 365 * 86_400_000)).changed,
    'expired client: changed',
  );
});

t.test(
  'writeKubeconfigOutput: merged, 0600, backed up in the state folder, nothing written when unchanged',
  async (t) => {
    const dir = t.testdir({ kubeconfig: OTHER });
    const file = path.join(dir, 'kubeconfig');
    const stateDir = path.join(dir, 'state');
    const place = { stateDir, runId: 'r1' };
    const w = await writeKubeconfigOutput(file, await talosKubeconfig(OLD, [OLD]), place);
    t.same(w, { kind: 'kubeconfig', path: file, backupPath: backupPathFor(place, 'kubeconfig', file) });
    t.equal(w!.backupPath, path.join(stateDir, 'backups', 'r1', 'kubeconfig-kubeconfig'));
    t.equal(await fs.readFile(w!.backupPath!, 'utf8'), OTHER, 'the backup holds the file as it was');
    t.equal((await fs.stat(file)).mode & 0o777, 0o600);
    t.equal((await fs.stat(w!.backupPath!)).mode & 0o777, 0o600);
    t.equal((await fs.stat(path.dirname(w!.backupPath!))).mode & 0o777, 0o700);
    t.same((await fs.readdir(dir)).sort(), ['kubeconfig', 'state'], 'no backup beside the file');
    const written = await fs.readFile(file, 'utf8');
    t.equal(
      await writeKubeconfigOutput(file, await talosKubeconfig(OLD, [OLD]), { stateDir, runId: 'r2' }),
      null,
      'unchanged: nothing written',
    );
    t.equal(await fs.readFile(file, 'utf8'), written);
    t.notOk(await fs.stat(path.join(stateDir, 'backups', 'r2')).catch(() => null), 'and nothing backed up');
    t.ok(await restoreBackup(w!), 'rollback restores from the state folder');
    t.equal(await fs.readFile(file, 'utf8'), OTHER, 'byte for byte');
  },
);

t.test('retention: the backups of the last 3 runs and of the last apply run are kept', async (t) => {
  const stateDir = t.testdir({
    backups: {
      '.gitignore': GITIGNORE_TEXT,
      a1: { x: '1' },
      r1: { x: '2' },
      a2: { x: '3' },
      a3: { x: '4' },
      r3: { x: '5' },
      other: { x: '6' },
    },
  });
  const runs = [
    { id: 'a1', operation: 'apply' },
    { id: 'r1', operation: 'rollback' },
    { id: 'a2', operation: 'apply' },
    { id: 'a3', operation: 'apply' },
    { id: 'r3', operation: 'rollback' },
    { id: 'r3b', operation: 'rollback' },
  ];
  const removed = await pruneBackups(stateDir, runs);
  t.same(removed.sort(), ['a1', 'a2', 'r1']);
  t.same(
    (await fs.readdir(path.join(stateDir, 'backups'))).sort(),
    ['.gitignore', 'a3', 'other', 'r3'],
    'a3 kept as the last apply run; a folder of no run of this state left alone',
  );
  const rollbacksOnly = t.testdir({ backups: { a1: {}, r1: {}, r2: {}, r3: {} } });
  await pruneBackups(rollbacksOnly, [
    { id: 'a1', operation: 'apply' },
    { id: 'r1', operation: 'rollback' },
    { id: 'r2', operation: 'rollback' },
    { id: 'r3', operation: 'rollback' },
  ]);
  t.same(
    (await fs.readdir(path.join(rollbacksOnly, 'backups'))).sort(),
    ['a1', 'r1', 'r2', 'r3'],
    'the apply run a rollback restores from is never pruned',
  );
});
