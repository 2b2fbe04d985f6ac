/**
 * The gates that end each step cannot be fooled by lag (issue 13, item 5):
 * - Kubernetes: a Node stays Ready for the grace period after its kubelet stopped heartbeating; the gate
 *   also wants every Node's Lease renewed after it started (lab kube side, real kubeconfig, real TLS);
 * - Talos: every attempt opens a new connection, so an HTTP/2 connection opened before a swap (which keeps
 *   working, talos-behaviour.md §2.2) cannot answer for a client that a fresh handshake would refuse (lab Talos side);
 * - Talos: an untrusted server certificate is retried within the bound (typed: TalosApiError kind), other
 *   TLS refusals are not.
 */
import t from 'tap';
import { RotateError } from '../../../src/domain/errors.js';
import { isGateRetryable, kubernetesGate, talosGate } from '../../../src/apply/gates.js';
import { generateTalosCa } from '../../../src/pki/index.js';
import type { TalosClient } from '../../../src/talos/client.js';
import { TalosApiError, type TalosErrorKind } from '../../../src/talos/errors.js';
import { makeCas, startLab } from '../../lab/kube/fixtures/lab.js';
import { addAccepted, setMachineCa } from '../../lab/talos/fixtures/patch.js';
import { startTestLab } from '../../lab/talos/fixtures/lab.js';

function talosError(kind: TalosErrorKind): TalosApiError {
  return new TalosApiError({
    kind,
    grpcCode: 14,
    node: 'n',
    endpoint: 'e:50000',
    method: '/machine.MachineService/Version',
    detail: kind,
    message: kind,
    hint: '',
  });
}

t.test(
  'Kubernetes gate: a stranded kubelet whose Node is still Ready fails the gate (Lease not renewed)',
  async (t) => {
    const lab = await startLab({
      cas: await makeCas(),
      controlPlanes: 1,
      workers: 2,
      // Heartbeats every 250 ms (the lab's 2 s is only slower): the failing gate below waits out its budget, which
      // then spans a dozen heartbeats of the nodes that do renew.
      timings: { nodeGraceMs: 120_000, heartbeatIntervalMs: 250 },
    });
    t.teardown(() => lab.stop());
    await lab.side.whenAllReady(20_000);
    let fetched = 0;
    const target = {
      fetchKubeconfig: async () => {
        fetched += 1;
        return { text: await lab.side.adminKubeconfig(), origin: 'the lab admin kubeconfig' };
      },
      nodes: lab.cluster.nodes.map((n) => ({ address: n.address, hostname: n.hostname })),
    };
    let attempts = 0;
    // Budgets are generous for a loaded machine: the gate returns as soon as it passes, and a failing gate needs
    // two reads of every Lease a few heartbeats (250 ms) apart, however long one read takes.
    const nodes = await kubernetesGate(target, {
      parallelism: 4,
      budgetMs: 60_000,
      onAttempt: () => void (attempts += 1),
    });
    t.equal(nodes.length, 3, 'every heartbeating Node passes');
    t.ok(attempts >= 1, `it waited for the Leases to be renewed (${attempts} attempt(s) not passed)`);
    t.equal(
      fetched,
      1,
      'one admin kubeconfig fetched for the gate, not one per attempt (each costs the control plane a signature)',
    );

    const w2 = lab.workers[1]!;
    w2.setDown(true); // its kubelet stops heartbeating
    t.ok(lab.side.nodeReady(w2.address), 'the Node is still Ready (grace period)');
    const err = await kubernetesGate(target, { parallelism: 4, budgetMs: 4_000 }).then(
      () => null,
      (e: unknown) => e,
    );
    t.ok(RotateError.is(err) && err.code === 'GATE_KUBERNETES_FAILED', `the gate fails (${String(err)})`);
    t.match(
      (err as Error).message,
      new RegExp(`Lease not renewed .*${w2.address.replace(/\./g, '\\.')} \\(worker-2\\)`),
      'naming the stranded node',
    );
    t.notMatch((err as Error).message, /worker-1|cp-1/, 'and only it');
    t.ok(lab.side.nodeReady(w2.address), 'while Ready alone would have passed');
  },
);

t.test('Talos gate: each check handshakes anew; an open connection from before a swap does not count', async (t) => {
  const lab = await startTestLab({ controlPlanes: 1, workers: 0 });
  t.teardown(() => lab.stop());
  const OLD = lab.secrets.os;
  const NEW = await generateTalosCa();
  const cp = lab.cluster.controlPlanes[0]!;
  const oldOnly = lab.client({ caPem: OLD.certPem });
  await oldOnly.version(cp.address);
  // The endpoint swaps to NEW (OLD stays accepted): it re-signs its apid certificate with NEW.
  await oldOnly.applyConfiguration(
    cp.address,
    addAccepted(setMachineCa(cp.config, NEW.certPem, NEW.key.reveal()), OLD.certPem),
    { mode: 'NO_REBOOT' },
  );
  await lab.talos.settle();
  await oldOnly.version(cp.address);
  t.pass('the connection opened before the swap still answers (Go and the lab keep it)');

  let connects = 0;
  const err = await talosGate(
    () => {
      connects += 1;
      return lab.client({ caPem: OLD.certPem });
    },
    [cp.address],
    'a client trusting only the old CA',
    { parallelism: 1, budgetMs: 1_500 },
  ).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(
    RotateError.is(err) && err.code === 'GATE_TALOS_FAILED',
    `a new handshake is refused: the gate fails (${String(err)})`,
  );
  t.match((err as Error).message, /not signed by a CA the talosconfig trusts/);
  t.ok(connects >= 2, `retried within the bound, each attempt a new client (${connects})`);

  await talosGate(() => lab.client({ caPem: `${OLD.certPem}${NEW.certPem}` }), [cp.address], 'old + new', {
    parallelism: 1,
    budgetMs: 5_000,
  });
  t.pass('a client trusting old + new passes');
});

t.test(
  'Talos gate: an untrusted server certificate is retried within the bound; a refused client certificate is not',
  async (t) => {
    t.ok(isGateRetryable(talosError('tls-untrusted-server')));
    t.ok(isGateRetryable(talosError('unreachable')));
    t.notOk(isGateRetryable(talosError('tls-client-rejected')));
    t.notOk(isGateRetryable(talosError('permission-denied')));
    t.notOk(
      isGateRetryable(new RotateError('X', 'tls-untrusted-server: server certificate not trusted')),
      'typed, not by message',
    );

    const closed: number[] = [];
    const script: (TalosErrorKind | 'ok')[] = ['tls-untrusted-server', 'tls-untrusted-server', 'ok'];
    let made = 0;
    const fake = (): TalosClient => {
      const id = made++;
      const outcome = script[Math.min(id, script.length - 1)]!;
      return {
        version: async () => {
          if (outcome !== 'ok') throw talosError(outcome);
          return { tag: 'v1.13.9' };
        },
        close: () => void closed.push(id),
      } as unknown as TalosClient;
    };
    const attempts: string[] = [];
    await talosGate(fake, ['10.0.0.1'], 'new', {
      parallelism: 1,
      budgetMs: 20_000,
      onAttempt: (_n, p) => void attempts.push(p),
    });
    t.equal(made, 3, 'three checks, three clients');
    t.same(closed, [0, 1, 2], 'each closed after its check');
    t.equal(attempts.length, 2, 'two retries reported');

    made = 0;
    script.splice(0, script.length, 'tls-client-rejected', 'ok');
    const err = await talosGate(fake, ['10.0.0.1'], 'new', { parallelism: 1, budgetMs: 20_000 }).then(
      () => null,
      (e: unknown) => e,
    );
    t.ok(RotateError.is(err) && err.code === 'GATE_TALOS_FAILED', 'a refused client certificate fails at once');
    t.equal(made, 1);
  },
);

t.test(
  'Talos gate: one new client per attempt for every node (not one per node); a node still refused fails it, named',
  async (t) => {
    const made: { id: number; asked: string[]; closed: boolean }[] = [];
    // 127.0.0.3 answers only from the second attempt on; 127.0.0.4 is refused for good in the last scenario.
    let refuseFor = new Set<string>();
    const fake = (): TalosClient => {
      const c = { id: made.length, asked: [] as string[], closed: false };
      made.push(c);
      return {
        version: async (node: string) => {
          if (c.closed) throw new Error('used after close');
          c.asked.push(node);
          if (node === '127.0.0.3' && c.id === 0) throw talosError('unreachable');
          if (refuseFor.has(node)) throw talosError('tls-client-rejected');
          return { tag: 'v1.13.9' };
        },
        close: () => void (c.closed = true),
      } as unknown as TalosClient;
    };
    const nodes = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'];
    await talosGate(fake, nodes, 'new', { parallelism: 2, budgetMs: 20_000 });
    t.equal(made.length, 2, 'two attempts, two clients');
    t.same([...made[0]!.asked].sort(), nodes, 'the first client asked every node');
    t.same(made[1]!.asked, ['127.0.0.3'], 'the second only the node that did not answer');
    t.ok(
      made.every((c) => c.closed),
      'each closed after its attempt',
    );

    made.length = 0;
    refuseFor = new Set(['127.0.0.4']);
    const err = await talosGate(fake, nodes, 'new', { parallelism: 4, budgetMs: 20_000 }).then(
      () => null,
      (e: unknown) => e,
    );
    t.ok(RotateError.is(err) && err.code === 'GATE_TALOS_FAILED', 'one refused node fails the gate');
    t.match((err as Error).message, /127\.0\.0\.4/);
    t.notMatch((err as Error).message, /127\.0\.0\.1/);
  },
);

t.test(
  'both gates follow one retry policy: the Kubernetes gate stops at once on what another attempt cannot fix',
  async (t) => {
    // Kubernetes errors, classified where they are made (kube/nodes.ts kubeError), by the same predicate.
    t.ok(
      isGateRetryable(new RotateError('KUBE_TLS', 'the API server certificate is not trusted (yet)')),
      'an untrusted server certificate: retried, as in the Talos gate',
    );
    t.ok(isGateRetryable(new RotateError('KUBE_UNREACHABLE', 'x', { transient: true })), 'transient: retried');
    t.notOk(
      isGateRetryable(new RotateError('KUBE_FORBIDDEN', 'refused')),
      'a refused client: not retried, as tls-client-rejected in the Talos gate',
    );
    t.notOk(isGateRetryable(new Error('a bug')), 'a plain error: not retried');

    for (const [failure, expectAttempts] of [
      [new RotateError('KUBE_FORBIDDEN', 'the Kubernetes API refused the kubeconfig (HTTP 403)'), 0],
      [talosError('tls-client-rejected'), 0],
    ] as const) {
      let attempts = 0;
      const err = await kubernetesGate(
        { fetchKubeconfig: async () => Promise.reject(failure), nodes: [{ address: '127.0.0.10', hostname: 'cp-1' }] },
        // A budget far longer than the test's timeout: only a failure at once ends it.
        { parallelism: 1, budgetMs: 3_600_000, onAttempt: () => void (attempts += 1) },
      ).then(
        () => null,
        (e: unknown) => e,
      );
      t.ok(RotateError.is(err) && err.code === 'GATE_KUBERNETES_FAILED', `${failure.code}: the gate fails`);
      t.equal((err as RotateError).cause, failure, 'with the failure as its cause');
      t.equal(attempts, expectAttempts, `${failure.code}: at once, no second attempt`);
    }

    let calls = 0;
    const transient = await kubernetesGate(
      {
        fetchKubeconfig: async () => {
          calls += 1;
          throw new RotateError('KUBE_UNREACHABLE', 'connect ECONNREFUSED', { transient: true });
        },
        nodes: [{ address: '127.0.0.10', hostname: 'cp-1' }],
      },
      { parallelism: 1, budgetMs: 1_200 },
    ).catch((e: unknown) => e);
    t.ok(
      RotateError.is(transient) && transient.code === 'GATE_KUBERNETES_FAILED',
      'a transient failure fails only at the deadline',
    );
    t.ok(calls >= 2, `and is tried again first (${calls} attempts)`);
  },
);
