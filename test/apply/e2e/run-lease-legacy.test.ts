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
import { RotationLab, STATIC_POD_DELAY_MS, trustOf } from './fixtures/rotation-lab.js';

await requirePrerequisites(t);

interface LeaseJson {
  metadata: { annotations?: Record<string, string> };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string };
}

t.test(
  'two applies from two folders against one lab: exactly one runs, the other refuses naming the holder',
  async (t) => {
    const lab = await RotationLab.up(t, { style: 'legacy', staticPodDelayMs: STATIC_POD_DELAY_MS });
    // A second checkout of the same desired state, with its own copies of the cluster files and its own state.
    const other = path.join(lab.root, 'checkout-2');
    await fs.mkdir(other);
    await fs.cp(path.join(lab.dir, 'pki'), path.join(other, 'pki'), { recursive: true });
    for (const f of ['rotate.yaml', 'talosconfig', 'kubeconfig', 'secrets.yaml'])
      await fs.copyFile(lab.file(f), path.join(other, f));
    const otherDesired = path.join(other, 'rotate.yaml');

    const a = spawnRotate(t, ...lab.cmd('apply', '--auto-approve', '--json'));
    const taken = await a.waitFor(on.type('run-lease-taken'), 'the first run takes the lease');
    a.kill('SIGSTOP'); // hold it right there: the second run starts while the first holds the lease
    try {
      t.equal(taken.how, 'created', 'the first run created the Lease');
      const kc = await fs.readFile(lab.file('kubeconfig'), 'utf8');
      const got = await kubectl(kc, ['get', 'lease', '-n', 'kube-system', 'talos-rotate']);
      t.equal(got.code, 0, `kubectl get lease (stderr: ${got.stderr})`);
      t.match(
        got.stdout,
        new RegExp(`^talos-rotate\\s+${String(taken.runId)}\\s`, 'm'),
        'kubectl shows the run as the holder',
      );

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
      t.notOk(
        types.some((ty) => ['run-lease-taken', 'run-start', 'node-started', 'plan'].includes(ty)),
        `nothing started (${types.join(', ')})`,
      );
      await t.rejects(fs.stat(path.join(other, 'state', 'rotate.state.json')), 'no run recorded in the second state');
    } finally {
      a.kill('SIGCONT');
    }

    const x = await a.exited;
    t.equal(x.code, 0, `the first apply completes (stderr: ${a.stderr})`);
    t.equal(a.ofType('run-complete').length, 1, 'the first run completed');
    const released = a.ofType('run-lease-released');
    t.same(
      released.map((e) => e.released),
      [true],
      'and released the lease',
    );
    t.ok(a.events.indexOf(released[0]!) > a.events.indexOf(a.ofType('run-complete')[0]!), 'after completing');
    // Across both CA swaps each renewal worked, with a kubeconfig fetched again through the step's Talos client when
    // needed.
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
  },
);

/**
 * The two other ways a run meets the lease (README, State: Run lease), against one lab, with the real kubectl:
 * - the Kubernetes API cannot be reached at start (here: `cluster.kubernetesEndpoint` points at a closed
 *   port): the run refuses before planning, RUN_LEASE_UNAVAILABLE naming the endpoint, and changes nothing;
 * - a lease another run holds but no longer renews (a CI runner that died): refused, RUN_LEASE_EXPIRED naming
 *   the holder, unless --take-over-expired-lease, which watches it stay unrenewed for its duration and then
 *   takes it over. The stale lease is written with kubectl, as that runner left it (a short duration keeps
 *   the take-over's watch short; the run judges expiry by the lease's own duration).
 */
t.test('the Kubernetes API unreachable at start; a lease no longer renewed needs the take-over flag', async (t) => {
  const lab = await RotationLab.up(t, { style: 'legacy', staticPodDelayMs: STATIC_POD_DELAY_MS });
  // A desired state the cluster already matches: the take-over run then has nothing else to do.
  const text = await fs.readFile(lab.desired, 'utf8');
  const noChange = lab.file('rotate-no-change.yaml');
  await fs.writeFile(
    noChange,
    text
      .replace('  issuing: talos-next\n', '  issuing: talos-lab\n')
      .replace('  issuing: k8s-next\n', '  issuing: kubernetes-lab\n'),
  );
  const kc = await fs.readFile(lab.file('kubeconfig'), 'utf8');
  const noRun = async (what: string, r: { stdout: string }, stateFile: string) => {
    const types = r.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => (JSON.parse(l) as { type: string }).type);
    t.notOk(
      types.some((ty) => ['run-lease-taken', 'run-start', 'node-started', 'plan'].includes(ty)),
      `${what}: nothing started (${types.join(', ')})`,
    );
    await t.rejects(fs.stat(stateFile), `${what}: no run recorded`);
  };

  // 1. Unreachable: a closed port on this host stands for a Kubernetes API that is down.
  const unreachable = lab.file('rotate-unreachable.yaml');
  await fs.writeFile(
    unreachable,
    text.replace(/^cluster:\n/m, 'cluster:\n  kubernetesEndpoint: https://127.0.0.1:1\n'),
  );
  const u = await rotate(
    'apply',
    '-f',
    unreachable,
    '--auto-approve',
    '--json',
    '--state',
    lab.file('state-u/rotate.state.json'),
  );
  t.equal(u.code, 1, 'the run refuses to start');
  t.match(
    u.stderr,
    new RegExp(
      /^error\[RUN_LEASE_UNAVAILABLE\]: cannot take the run lease kube-system\/talos-rotate at the /.source +
        /Kubernetes API https:\/\/127\.0\.0\.1:1/.source,
      'm',
    ),
    `names the endpoint (stderr: ${u.stderr})`,
  );
  t.match(u.stderr, /hint: .*--no-run-lease/, 'the hint names the way out, and when it is for');
  await noRun('unreachable', u, lab.file('state-u/rotate.state.json'));
  const inspect = await lab.inspectCli();
  t.same(trustOf(inspect), trustOf(lab.original), 'no node was changed');

  // 2. A lease held by a run that stopped renewing it long ago.
  const renewed = new Date(Date.now() - 10 * 60_000).toISOString().replace(/Z$/, '000Z'); // MicroTime
  const leaseFile = path.join(lab.root, 'stale-lease.json');
  await fs.writeFile(
    leaseFile,
    JSON.stringify({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: 'talos-rotate',
        namespace: 'kube-system',
        annotations: {
          'talos-rotate.dev/run-id': 'run-dead-runner',
          'talos-rotate.dev/who': 'ci@runner-7',
          'talos-rotate.dev/operation': 'apply',
          'talos-rotate.dev/state': '/builds/infra/state/rotate.state.json',
          'talos-rotate.dev/pid': '4242',
        },
      },
      spec: {
        holderIdentity: 'run-dead-runner',
        leaseDurationSeconds: 3,
        acquireTime: renewed,
        renewTime: renewed,
        leaseTransitions: 0,
      },
    }),
  );
  const created = await kubectl(kc, ['create', '--validate=false', '-f', leaseFile]);
  t.equal(created.code, 0, `kubectl create the stale lease (stderr: ${created.stderr})`);

  const stateTo = lab.file('state-e/rotate.state.json');
  const refused = await rotate('apply', '-f', noChange, '--auto-approve', '--json', '--state', stateTo);
  t.equal(refused.code, 1, 'without the flag the run refuses');
  t.match(
    refused.stderr,
    new RegExp(
      /^error\[RUN_LEASE_EXPIRED\]: Lease kube-system\/talos-rotate is held by apply run /.source +
        /run-dead-runner by ci@runner-7 \(state \/builds\/infra\/state\/rotate\.state\.json/.source,
      'm',
    ),
    `names the holder (stderr: ${refused.stderr})`,
  );
  t.match(refused.stderr, /hint: .*--take-over-expired-lease/, 'the hint names the flag');
  await noRun('expired, no flag', refused, stateTo);
  const still = await kubectl(kc, ['get', 'lease', '-n', 'kube-system', 'talos-rotate', '-o', 'json']);
  t.equal(
    (JSON.parse(still.stdout) as LeaseJson).spec.holderIdentity,
    'run-dead-runner',
    'the lease is left as it was',
  );

  const over = await rotate(
    'apply',
    '-f',
    noChange,
    '--auto-approve',
    '--json',
    '--state',
    stateTo,
    '--take-over-expired-lease',
  );
  t.equal(over.code, 0, `with the flag the run takes it over (stderr: ${over.stderr})`);
  const events = over.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { type: string; how?: string; previousHolder?: { runId: string; who: string } });
  const taken = events.find((e) => e.type === 'run-lease-taken');
  t.equal(taken?.how, 'taken-over', 'taken over');
  t.same(
    { runId: taken?.previousHolder?.runId, who: taken?.previousHolder?.who },
    { runId: 'run-dead-runner', who: 'ci@runner-7' },
    'from the dead runner, named',
  );
  t.ok(
    events.some((e) => e.type === 'run-lease-released'),
    'and released at the end',
  );
  const after = await kubectl(kc, ['get', 'lease', '-n', 'kube-system', 'talos-rotate', '-o', 'json']);
  t.notOk((JSON.parse(after.stdout) as LeaseJson).spec.holderIdentity, 'no holder after the run');
});
