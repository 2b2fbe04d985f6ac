/**
 * One rotation per cluster at a time, from whatever checkout (issue 10 item 2): two folders, each with its
 * own desired-state file, talosconfig, kubeconfig, secrets bundle and state, against one lab. The first
 * apply takes the run lease (Lease kube-system/talos-rotate, seen with the real kubectl); while it runs, the
 * second refuses before planning or recording anything, naming the holder; the first completes and
 * releases the lease; then the second may run (and finds nothing left to change).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { kubectl } from '../../lab/kube/fixtures/lab.js';
import { requirePrerequisites, rotate, spawnRotate, on } from './fixtures/proc.js';
import { RotationLab } from './fixtures/rotation-lab.js';

await requirePrerequisites(t);

interface LeaseJson {
  metadata: { annotations?: Record<string, string> };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string };
}

t.test('two applies from two folders against one lab: exactly one runs, the other refuses naming the holder', async (t) => {
  const lab = await RotationLab.up(t, { style: 'legacy' });
  // A second checkout of the same desired state, with its own copies of the cluster files and its own state.
  const other = path.join(lab.root, 'checkout-2');
  await fs.mkdir(other);
  await fs.cp(path.join(lab.dir, 'pki'), path.join(other, 'pki'), { recursive: true });
  for (const f of ['rotate.yaml', 'talosconfig', 'kubeconfig', 'secrets.yaml']) await fs.copyFile(lab.file(f), path.join(other, f));
  const otherDesired = path.join(other, 'rotate.yaml');

  const a = spawnRotate(t, ...lab.cmd('apply', '--auto-approve', '--json'));
  const taken = await a.waitFor(on.type('run-lease-taken'), 'the first run takes the lease');
  a.kill('SIGSTOP'); // hold it right there: the second run starts while the first holds the lease
  try {
    t.equal(taken.how, 'created', 'the first run created the Lease');
    const kc = await fs.readFile(lab.file('kubeconfig'), 'utf8');
    const got = await kubectl(kc, ['get', 'lease', '-n', 'kube-system', 'talos-rotate']);
    t.equal(got.code, 0, `kubectl get lease (stderr: ${got.stderr})`);
    t.match(got.stdout, new RegExp(`^talos-rotate\\s+${String(taken.runId)}\\s`, 'm'), 'kubectl shows the run as the holder');

    const b = await rotate('apply', '-f', otherDesired, '--auto-approve', '--json');
    t.equal(b.code, 1, 'the second apply fails');
    // Errors go to stderr: `error[CODE]: message` and a `hint:` line.
    t.match(b.stderr, /^error\[RUN_LEASE_HELD\]: /m, `refused: the run lease is held (stderr: ${b.stderr})`);
    t.match(b.stderr, String(taken.runId), 'names the holding run');
    t.match(b.stderr, lab.stateFile, "names the holder's state file");
    t.match(b.stderr, /held by apply run \S+ by \S+@\S+/, 'names who runs it');
    t.match(b.stderr, /hint: /, 'with a hint');
    const types = b.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => (JSON.parse(l) as { type: string }).type);
    t.notOk(types.some((ty) => ['run-lease-taken', 'run-start', 'node-started', 'plan'].includes(ty)), `nothing started (${types.join(', ')})`);
    await t.rejects(fs.stat(path.join(other, 'state', 'rotate.state.json')), 'no run recorded in the second state');
  } finally {
    a.kill('SIGCONT');
  }

  const x = await a.exited;
  t.equal(x.code, 0, `the first apply completes (stderr: ${a.stderr})`);
  t.equal(a.ofType('run-complete').length, 1, 'the first run completed');
  const released = a.ofType('run-lease-released');
  t.same(released.map((e) => e.released), [true], 'and released the lease');
  t.ok(a.events.indexOf(released[0]!) > a.events.indexOf(a.ofType('run-complete')[0]!), 'after completing');
  // Across both CA swaps each renewal worked, with a kubeconfig fetched again through the step's Talos client when needed.
  t.same(a.ofType('run-lease-renew-failed'), [], 'no failed renewal');

  const kcAfter = await fs.readFile(lab.file('kubeconfig'), 'utf8'); // rewritten by the run: the new Kubernetes CA
  const json = await kubectl(kcAfter, ['get', 'lease', '-n', 'kube-system', 'talos-rotate', '-o', 'json']);
  t.equal(json.code, 0, `kubectl get lease -o json (stderr: ${json.stderr})`);
  const lease = JSON.parse(json.stdout) as LeaseJson;
  t.notOk(lease.spec.holderIdentity, 'no holder after the run');

  // The second checkout may run now; the cluster is already at its target. Its old kubeconfig copy is stale,
  // but the lease is taken with an admin kubeconfig fetched through the Talos API.
  await fs.copyFile(lab.file('talosconfig'), path.join(other, 'talosconfig'));
  const b2 = await rotate('apply', '-f', otherDesired, '--auto-approve', '--json');
  t.equal(b2.code, 0, `the second apply runs now (stderr: ${b2.stderr})`);
  t.match(b2.stdout, /"type":"run-lease-taken"/, 'it took the lease');
  t.match(b2.stdout, /APPLY_NO_CHANGES/, 'nothing left to change');
  t.match(b2.stdout, /"type":"run-lease-released"/, 'and released it');
});
