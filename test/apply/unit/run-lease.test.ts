/**
 * The run lease: the pure decisions (who may take it, refusals naming the holder) and the holder's I/O
 * against an in-memory Lease API with the API server's optimistic concurrency (create → AlreadyExists,
 * replace with a stale resourceVersion → Conflict), a fake clock, and injected failures.
 */
import t from 'tap';
import { RotateError } from '../../../src/domain/errors.js';
import { LeaseConflict, type LeaseRecord, type LeaseWrite } from '../../../src/cluster/kube/lease.js';
import type { KubeconfigSource } from '../../../src/cluster/kube/nodes.js';
import { decideAcquire, leaseFor, type RunIdentity } from '../../../src/apply/run-lease.js';
import { RunLease, type RunLeaseReporter } from '../../../src/apply/run-lease-holder.js';

const me = (runId: string, who = 'ops@laptop'): RunIdentity => ({
  runId,
  who,
  operation: 'apply',
  statePath: `/repo-${runId}/state/rotate.state.json`,
  desiredFile: `/repo-${runId}/rotate.yaml`,
  pid: 42,
  toolVersion: '0.1.0',
});
const T0 = new Date('2026-03-01T10:00:00Z');

function record(w: LeaseWrite, rv: string): LeaseRecord {
  return {
    name: 'talos-rotate',
    namespace: 'kube-system',
    resourceVersion: rv,
    ...w,
    annotations: { ...w.annotations },
  };
}

t.test('decideAcquire', async (t) => {
  t.same(decideAcquire(null, me('a'), [], { takeOverExpired: false }, T0), { action: 'create' }, 'no lease: create');
  const held = record(leaseFor(me('b', 'ci@runner-7'), new Date(T0.getTime() - 5_000), null), '7');
  const refused = decideAcquire(held, me('a'), [], { takeOverExpired: true }, T0);
  t.equal(refused.action, 'refuse', 'a fresh lease of another run is refused, even with the take-over flag');
  if (refused.action === 'refuse') {
    t.equal(refused.error.code, 'RUN_LEASE_HELD');
    t.match(refused.error.message, /ci@runner-7/, 'names who holds it');
    t.match(refused.error.message, /run b/, 'names the run');
    t.match(refused.error.message, /\/repo-b\/state\/rotate\.state\.json/, 'names its state file');
  }
  const runner7 = { host: 'runner-7', pidAlive: () => false };
  t.same(
    decideAcquire(held, me('b'), [], { takeOverExpired: false }, T0, runner7),
    { action: 'take', resourceVersion: '7', why: 'same-run' },
    'the same run takes it back (its process is gone)',
  );
  t.same(
    decideAcquire(held, me('c'), ['b'], { takeOverExpired: false }, T0, runner7),
    { action: 'take', resourceVersion: '7', why: 'same-run' },
    'a rollback of run b takes it back',
  );
  // The same run from a process that may be alive: a copy of the state resuming it elsewhere.
  const elsewhere = decideAcquire(held, me('b'), [], { takeOverExpired: false }, T0, {
    host: 'laptop',
    pidAlive: () => false,
  });
  t.equal(elsewhere.action, 'refuse', 'held by run b on another host (runner-7), not expired: refused');
  if (elsewhere.action === 'refuse') t.match(elsewhere.error.message, /this same run from another process/);
  const alive = decideAcquire(held, { ...me('b'), pid: 43 }, [], { takeOverExpired: false }, T0, {
    host: 'runner-7',
    pidAlive: (pid) => pid === 42,
  });
  t.equal(alive.action, 'refuse', 'same host, its pid still runs: refused');
  const dead = decideAcquire(held, me('b'), [], { takeOverExpired: false }, T0, {
    host: 'runner-7',
    pidAlive: () => false,
  });
  t.equal(dead.action, 'take', 'same host, its pid gone: taken back');
  const later0 = decideAcquire(held, me('b'), [], { takeOverExpired: false }, new Date(T0.getTime() + 61_000), {
    host: 'laptop',
    pidAlive: () => true,
  });
  t.equal(later0.action, 'take', 'expired: the same run takes it back from anywhere');

  const later = new Date(T0.getTime() + 61_000);
  const expired = decideAcquire(held, me('a'), [], { takeOverExpired: false }, later);
  t.equal(expired.action, 'refuse');
  if (expired.action === 'refuse') {
    t.equal(expired.error.code, 'RUN_LEASE_EXPIRED');
    t.match(expired.error.hint ?? '', /--take-over-expired-lease/, 'the hint names the flag');
  }
  t.same(
    decideAcquire(held, me('a'), [], { takeOverExpired: true }, later),
    { action: 'observe-then-take', resourceVersion: '7', observeMs: 60_000 },
    'with the flag: watch it for a whole duration first',
  );

  const released = { ...held, holderIdentity: null, annotations: {} };
  t.same(
    decideAcquire(released, me('a'), [], { takeOverExpired: false }, T0),
    { action: 'take', resourceVersion: '7', why: 'free' },
    'a released lease is free',
  );
});

t.test('leaseFor: holder, annotations, transitions', async (t) => {
  const first = leaseFor(me('a'), T0, null);
  t.equal(first.holderIdentity, 'a');
  t.equal(first.leaseDurationSeconds, 60);
  t.equal(first.annotations['talos-rotate.dev/who'], 'ops@laptop');
  t.equal(first.annotations['talos-rotate.dev/state'], '/repo-a/state/rotate.state.json');
  t.equal(first.leaseTransitions, 0);
  const renewed = leaseFor(me('a'), new Date(T0.getTime() + 10_000), record(first, '2'));
  t.same(renewed.acquireTime, T0, 'a renewal keeps acquireTime');
  t.equal(renewed.leaseTransitions, 0);
  const taken = leaseFor(me('b'), new Date(T0.getTime() + 10_000), record(first, '2'));
  t.equal(taken.leaseTransitions, 1, 'another holder counts a transition');
});

/** One Lease behind the API server's rules. */
class FakeServer {
  lease: LeaseRecord | null = null;
  rv = 1;
  failures = 0;
  /** Kubeconfig texts the API refuses (as a TLS failure after a CA swap). */
  refused = new Set<string>();
  writes: LeaseWrite[] = [];
  api(source: KubeconfigSource) {
    const check = () => {
      if (this.failures > 0) {
        this.failures -= 1;
        throw new RotateError(
          'KUBE_UNREACHABLE',
          'cannot reach the Kubernetes API at https://10.0.0.10:6443: ECONNREFUSED',
        );
      }
      if (this.refused.has(source.text)) throw new RotateError('KUBE_TLS', 'not trusted');
    };
    return {
      server: 'https://10.0.0.10:6443',
      read: async () => (check(), this.lease ? { ...this.lease } : null),
      create: async (_ns: string, _name: string, w: LeaseWrite) => {
        check();
        if (this.lease) throw new LeaseConflict('AlreadyExists');
        this.writes.push(w);
        return (this.lease = record(w, String(++this.rv)));
      },
      replace: async (_ns: string, _name: string, rv: string, w: LeaseWrite) => {
        check();
        if (!this.lease || this.lease.resourceVersion !== rv) throw new LeaseConflict('Conflict');
        this.writes.push(w);
        return (this.lease = record(w, String(++this.rv)));
      },
    };
  }
}

function harness(server: FakeServer, kubeconfig = 'kc-1', onSleep?: () => Promise<void>) {
  let mono = 0;
  let wall = T0.getTime();
  const events: string[] = [];
  const reporter: RunLeaseReporter = {
    taken: (d) => events.push(`taken:${d.how}:${d.previous?.runId ?? '-'}`),
    renewFailed: (e) => events.push(`renew-failed:${e.code}`),
    released: (ok) => events.push(`released:${ok}`),
  };
  const clock = {
    now: () => new Date(wall),
    monotonicMs: () => mono,
    sleep: async (ms: number) => {
      mono += ms;
      wall += ms;
      await onSleep?.();
    },
  };
  const advance = (ms: number) => {
    mono += ms;
    wall += ms;
  };
  let source = kubeconfig;
  return {
    events,
    advance,
    setSource: (s: string) => (source = s),
    acquire: (id: string, opts: { reclaimable?: string[]; takeOverExpired?: boolean } = {}) =>
      RunLease.acquire({
        me: me(id),
        reclaimable: opts.reclaimable ?? [],
        takeOverExpired: opts.takeOverExpired ?? false,
        kubeconfig: async () => ({ text: source, origin: 'test' }),
        reporter,
        clock,
        openApi: async (s) => server.api(s),
        local: { host: 'laptop', pidAlive: () => false },
        timings: { renewIntervalMs: 3_600_000 }, // renewals driven by renewNow() in these tests
      }),
  };
}

t.test('two runs: the second refuses naming the first; released → the next one takes it', async (t) => {
  const server = new FakeServer();
  const a = harness(server);
  const lease = await a.acquire('run-a');
  t.equal(server.lease?.holderIdentity, 'run-a');
  const b = harness(server);
  await t.rejects(b.acquire('run-b'), { code: 'RUN_LEASE_HELD', message: /run run-a by ops@laptop/ });
  await lease.release();
  t.equal(server.lease?.holderIdentity, null, 'released: no holder');
  t.same(a.events, ['taken:created:-', 'released:true']);
  const next = await b.acquire('run-b');
  t.same(b.events, ['taken:free:-']);
  await next.release();
});

t.test(
  'a killed run: its resume takes the lease back; another run needs the flag and a whole unrenewed duration',
  async (t) => {
    const server = new FakeServer();
    const a = harness(server);
    await a.acquire('run-a'); // never released: SIGKILL
    const resumed = await harness(server).acquire('run-a');
    t.equal(server.lease?.holderIdentity, 'run-a');
    await resumed.renewNow();
    // killed again, and time passes
    const other = harness(server);
    other.advance(120_000);
    await t.rejects(other.acquire('run-b'), { code: 'RUN_LEASE_EXPIRED' }, 'expired, but no flag');
    const taken = await other.acquire('run-b', { takeOverExpired: true });
    t.equal(server.lease?.holderIdentity, 'run-b');
    t.equal(server.lease?.leaseTransitions, 1);
    t.same(other.events, ['taken:taken-over:run-a']);
    await taken.release();
  },
);

t.test('a take-over is refused when the holder renews while it watches', async (t) => {
  const server = new FakeServer();
  const a = harness(server);
  const held = await a.acquire('run-a');
  let sleeps = 0;
  // run-a renews while b watches (b's clock says expired: the clocks differ, but run-a is alive)
  const b = harness(server, 'kc-1', async () => {
    if (++sleeps === 2) await held.renewNow();
  });
  b.advance(120_000);
  await t.rejects(b.acquire('run-b', { takeOverExpired: true }), {
    code: 'RUN_LEASE_HELD',
    message: /renewed while this run waited/,
  });
  t.ok(sleeps >= 2, 'it watched before deciding');
  t.equal(server.lease?.holderIdentity, 'run-a');
});

t.test('renewal: a stale kubeconfig is replaced by a fresh one; unreachable past the deadline → lost', async (t) => {
  const server = new FakeServer();
  const h = harness(server, 'old-ca');
  const lease = await h.acquire('run-a');
  let fresh = 0;
  lease.useKubeconfig(async () => ({ text: `new-ca-${++fresh}`, origin: 'test' }));
  await lease.renewNow();
  t.equal(
    fresh,
    1,
    'every renewal fetches a kubeconfig afresh, even while the last one still works (it may hold a ' +
      'certificate of a CA about to be dropped)',
  );
  server.refused.add('old-ca');
  const before = server.rv;
  await lease.renewNow();
  t.ok(server.rv > before, 'renewed with the refreshed kubeconfig');
  t.equal(fresh, 2);
  t.notOk(lease.lost.aborted);

  server.failures = 100;
  await lease.renewNow();
  t.notOk(lease.lost.aborted, 'one failure: still held');
  t.match(h.events, ['taken:created:-', 'renew-failed:KUBE_UNREACHABLE']);
  h.advance(46_000);
  await lease.renewNow();
  t.ok(lease.lost.aborted, 'no renewal for longer than the renew deadline: lost');
  t.equal(lease.lostError?.code, 'RUN_LEASE_LOST');
  await lease.release();
  t.match(h.events[h.events.length - 1], 'released:false');
});

t.test('renewal: someone else holds it now → lost at once', async (t) => {
  const server = new FakeServer();
  const lease = await harness(server).acquire('run-a');
  server.lease = {
    ...server.lease!,
    holderIdentity: 'run-z',
    resourceVersion: String(++server.rv),
    annotations: { 'talos-rotate.dev/who': 'ci@runner-9' },
  };
  await lease.renewNow();
  t.ok(lease.lost.aborted);
  t.match(lease.lostError?.message ?? '', /ci@runner-9/);
  await lease.release();
  t.equal(server.lease?.holderIdentity, 'run-z', 'release does not clear another holder');
});

t.test('the Kubernetes API unreachable: refuse to start, naming the fix', async (t) => {
  const server = new FakeServer();
  server.failures = 1;
  await t.rejects(harness(server).acquire('run-a'), {
    code: 'RUN_LEASE_UNAVAILABLE',
    message: /ECONNREFUSED/,
    hint: /--no-run-lease/,
  });
});
