/**
 * Leases a client owns (outside kube-node-lease), served as kube-apiserver's generic registry does, checked
 * with the real kubectl: create → 201 (a second create → 409 AlreadyExists), get → the object or 404
 * NotFound, replace with a stale resourceVersion → 409 Conflict, with the current one → a new version,
 * `kubectl get lease` prints NAME / HOLDER / AGE, delete → gone.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { kubectl, makeCas, startLab } from './fixtures/lab.js';

t.test('kube-system Leases: create, conflict, optimistic update, get, delete with the real kubectl', async (t) => {
  const lab = await startLab({ cas: await makeCas(), controlPlanes: 1, workers: 0 });
  const dir = await mkdtemp(join(tmpdir(), 'client-lease-'));
  t.teardown(async () => {
    await lab.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await lab.side.whenAllReady(20_000);
  const kc = await lab.side.adminKubeconfig();
  const file = async (name: string, obj: unknown): Promise<string> => {
    const p = join(dir, name);
    await writeFile(p, JSON.stringify(obj));
    return p;
  };
  const lease = (holder: string, rv?: string) => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: 'talos-rotate',
      namespace: 'kube-system',
      annotations: { 'example.org/who': holder },
      ...(rv ? { resourceVersion: rv } : {}),
    },
    spec: { holderIdentity: holder, leaseDurationSeconds: 60, renewTime: new Date().toISOString() },
  });

  const missing = await kubectl(kc, ['get', 'lease', '-n', 'kube-system', 'talos-rotate']);
  t.not(missing.code, 0, 'absent at first');
  t.match(missing.stderr, /NotFound|not found/, `404 NotFound (${missing.stderr.trim()})`);

  const created = await kubectl(kc, [
    'create',
    '--validate=false',
    '-f',
    await file('a.json', lease('run-a')),
    '-o',
    'json',
  ]);
  t.equal(created.code, 0, `created (stderr: ${created.stderr})`);
  const first = JSON.parse(created.stdout) as { metadata: { resourceVersion: string; uid: string; namespace: string } };
  t.equal(first.metadata.namespace, 'kube-system');
  t.ok(first.metadata.uid, 'has a uid');

  const again = await kubectl(kc, ['create', '--validate=false', '-f', await file('b.json', lease('run-b'))]);
  t.not(again.code, 0, 'a second create is refused');
  t.match(again.stderr, /AlreadyExists|already exists/, again.stderr.trim());

  const table = await kubectl(kc, ['get', 'lease', '-n', 'kube-system', 'talos-rotate']);
  t.equal(table.code, 0, `kubectl get lease (stderr: ${table.stderr})`);
  t.match(table.stdout, /^NAME\s+HOLDER\s+AGE/m, 'the printer columns of a Lease');
  t.match(table.stdout, /^talos-rotate\s+run-a\s/m, 'the holder');

  const replaced = await kubectl(kc, [
    'replace',
    '--validate=false',
    '-f',
    await file('c.json', lease('run-a2', first.metadata.resourceVersion)),
    '-o',
    'json',
  ]);
  t.equal(replaced.code, 0, `replace with the current resourceVersion (stderr: ${replaced.stderr})`);
  const second = JSON.parse(replaced.stdout) as {
    metadata: { resourceVersion: string };
    spec: { holderIdentity: string; renewTime: string };
  };
  t.not(second.metadata.resourceVersion, first.metadata.resourceVersion, 'a new resourceVersion');
  t.match(second.spec.renewTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'renewTime as a MicroTime');

  const stale = await kubectl(kc, [
    'replace',
    '--validate=false',
    '-f',
    await file('d.json', lease('run-b', first.metadata.resourceVersion)),
  ]);
  t.not(stale.code, 0, 'a stale resourceVersion is refused');
  t.match(stale.stderr, /the object has been modified/, stale.stderr.trim());
  const holder = await kubectl(kc, [
    'get',
    'lease',
    '-n',
    'kube-system',
    'talos-rotate',
    '-o',
    'jsonpath={.spec.holderIdentity}',
  ]);
  t.equal(holder.stdout, 'run-a2', 'the stale write changed nothing');

  const nodeLeases = await kubectl(kc, ['get', 'lease', '-n', 'kube-node-lease', '-o', 'name']);
  t.equal(nodeLeases.code, 0);
  t.notMatch(nodeLeases.stdout, /talos-rotate/, 'node Leases are apart');

  const deleted = await kubectl(kc, ['delete', 'lease', '-n', 'kube-system', 'talos-rotate']);
  t.equal(deleted.code, 0, `deleted (stderr: ${deleted.stderr})`);
  const gone = await kubectl(kc, ['get', 'lease', '-n', 'kube-system', 'talos-rotate']);
  t.match(gone.stderr, /NotFound|not found/, 'gone');
});
