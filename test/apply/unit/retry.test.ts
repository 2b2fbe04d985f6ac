/**
 * Only transient failures are retried (a node restarting a component, a dropped connection), with
 * backoff, until a deadline; a trust failure or a refused config fails at once.
 */
import t from 'tap';
import { RotateError } from '../../../src/domain/errors.js';
import { isTransient, retryTransient, sleep } from '../../../src/apply/retry.js';
import { kubeError, withTimeout } from '../../../src/cluster/kube/nodes.js';
import { TalosApiError, type TalosErrorKind } from '../../../src/talos/errors.js';

const talosError = (kind: TalosErrorKind) =>
  new TalosApiError({
    kind,
    grpcCode: undefined,
    node: '127.0.0.10',
    endpoint: '127.0.0.10:50000',
    method: '/machine.MachineService/Version',
    detail: '',
    message: `a ${kind} failure`,
    hint: 'h',
  });

t.test('isTransient', async (t) => {
  for (const kind of ['unreachable', 'deadline', 'cancelled'] as const)
    t.ok(isTransient(talosError(kind)), `Talos ${kind}`);
  for (const kind of [
    'tls-untrusted-server',
    'tls-client-rejected',
    'permission-denied',
    'invalid-argument',
    'not-found',
    'unimplemented',
    'failed-precondition',
    'other',
  ] as const) {
    t.notOk(isTransient(talosError(kind)), `Talos ${kind}`);
  }
  // Kubernetes errors are classified where they are made (kubeError, withTimeout), not by their code.
  const refused = kubeError(
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.10:6443'), { code: 'ECONNREFUSED' }),
    'https://127.0.0.10:6443',
    'the kubeconfig',
    'list nodes',
  );
  t.equal(refused.code, 'KUBE_UNREACHABLE');
  t.ok(isTransient(refused), 'KUBE_UNREACHABLE');
  const timedOut = await withTimeout(new Promise(() => undefined), 1, 'list nodes').catch((err: unknown) => err);
  t.ok(RotateError.is(timedOut) && timedOut.code === 'KUBE_TIMEOUT' && isTransient(timedOut), 'KUBE_TIMEOUT');
  const untrusted = kubeError(
    Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }),
    'https://127.0.0.10:6443',
    'the kubeconfig',
    'list nodes',
  );
  t.equal(untrusted.code, 'KUBE_TLS');
  t.notOk(isTransient(untrusted), 'KUBE_TLS');
  t.notOk(
    isTransient(new RotateError('KUBE_UNREACHABLE', 'a code alone does not make an error transient')),
    'only the producer says so',
  );
  for (const code of ['APPLY_NOT_CONFIRMED', 'PLAN_STALE']) t.notOk(isTransient(new RotateError(code, 'x')), code);
  t.notOk(isTransient(new Error('plain')), 'a plain error');
  t.notOk(isTransient(null), 'null');
  t.notOk(isTransient(undefined), 'undefined');
});

t.test('retryTransient retries transient failures with doubling, capped delays', async (t) => {
  const delays: number[] = [];
  const attempts: number[] = [];
  let calls = 0;
  const value = await retryTransient(
    async (attempt) => {
      attempts.push(attempt);
      calls += 1;
      if (calls <= 4) throw talosError('unreachable');
      return 'ok';
    },
    {
      deadline: Date.now() + 60_000,
      initialDelayMs: 1,
      maxDelayMs: 4,
      onRetry: (_err, attempt, delay) => delays.push(delay),
    },
  );
  t.equal(value, 'ok');
  t.same(attempts, [1, 2, 3, 4, 5], 'attempts are numbered from 1');
  t.same(delays, [1, 2, 4, 4], 'delays double up to the cap');
});

t.test('retryTransient gives up at once on a permanent failure', async (t) => {
  let calls = 0;
  const refused = talosError('tls-untrusted-server');
  await t.rejects(
    retryTransient(
      async () => {
        calls += 1;
        throw refused;
      },
      { deadline: Date.now() + 60_000, initialDelayMs: 1, onRetry: () => t.fail('no retry') },
    ),
    refused,
  );
  t.equal(calls, 1);
});

t.test('retryTransient stops at the deadline with the last error', async (t) => {
  let calls = 0;
  const err = await retryTransient(
    async () => {
      calls += 1;
      throw Object.assign(talosError('unreachable'), { n: calls });
    },
    { deadline: Date.now() + 50, initialDelayMs: 20, maxDelayMs: 20 },
  ).catch((e: unknown) => e as { n: number });
  t.ok(calls >= 1, `tried ${calls} time(s)`);
  t.equal(err.n, calls, 'the error of the last attempt');
});

t.test('retryTransient does not retry once aborted', async (t) => {
  const controller = new AbortController();
  let calls = 0;
  const transient = talosError('unreachable');
  await t.rejects(
    retryTransient(
      async () => {
        calls += 1;
        controller.abort();
        throw transient;
      },
      { deadline: Date.now() + 60_000, initialDelayMs: 1, signal: controller.signal },
    ),
    transient,
  );
  t.equal(calls, 1);
});

t.test('sleep ends early when aborted', async (t) => {
  const controller = new AbortController();
  const slept = sleep(60_000, controller.signal);
  controller.abort();
  await t.resolves(slept, 'resolves instead of waiting a minute');
  await t.resolves(sleep(1), 'and simply waits otherwise');
});

t.test('a Kubernetes API answering 5xx or 429 is transient where it is classified; 4xx is not', async (t) => {
  const answer = (code: number) =>
    kubeError(
      Object.assign(new Error(`HTTP-Code: ${code}`), { code }),
      'https://127.0.0.10:6443',
      'the kubeconfig',
      'list nodes',
    );
  for (const code of [500, 503, 429])
    t.ok(isTransient(answer(code)) && answer(code).code === 'KUBE_API', `HTTP ${code}`);
  for (const code of [400, 404, 409]) t.notOk(isTransient(answer(code)), `HTTP ${code}`);
  t.equal(answer(403).code, 'KUBE_FORBIDDEN');
  t.notOk(isTransient(answer(403)), 'HTTP 403');
});
