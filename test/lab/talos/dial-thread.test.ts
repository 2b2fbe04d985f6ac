/**
 * The lab's dial thread (src/lab/talos/dial-thread.ts): jobs are answered there with the outcome the lab's
 * own thread would give, and when the thread fails, the lab makes the dials itself, in-flight ones included.
 */
import t from 'tap';
import { Worker } from 'node:worker_threads';
import { inlineDialer, threadDialer } from '../../../src/lab/talos/dial-thread.js';
import type { UnaryJob } from '../../../src/lab/talos/dial-call.js';
import { closedPort } from '../../talos/fixtures/server.js';

const job = (port: number): UnaryJob => ({
  dial: { from: '127.0.0.1', host: '127.0.0.1', port, ca: [] },
  method: 'machine.Version',
  request: {},
  metadata: {},
  timeoutMs: 2_000,
});

t.test('a job answered on the thread has the outcome the inline dialer gives', async (t) => {
  const port = await closedPort();
  const threaded = threadDialer();
  t.teardown(() => threaded.close());
  t.ok(threaded.threaded, 'the thread started');
  const there = await threaded.unary(job(port));
  const here = await inlineDialer().unary(job(port));
  t.match(there, { kind: 'dial-failed', failure: { ok: false, kind: 'unavailable' } });
  t.same(there, here);
  t.ok(threaded.threaded, 'still on the thread');
});

t.test('a thread that fails hands its jobs back to the lab thread, and says so', async (t) => {
  const port = await closedPort();
  const logged: string[] = [];
  // The thread fails while it loads, as one that cannot load its modules would; the job is already sent.
  const dialer = threadDialer(
    (m) => logged.push(m),
    () => new Worker('setTimeout(() => { throw new Error("cannot load") }, 50)', { eval: true }),
  );
  t.teardown(() => dialer.close());
  const outcome = await dialer.unary(job(port));
  t.match(outcome, { kind: 'dial-failed', failure: { kind: 'unavailable' } }, 'the job is answered all the same');
  t.notOk(dialer.threaded, 'no thread any more');
  t.match(logged.join('\n'), /dial thread stopped \(cannot load\)/);
  t.match(await dialer.unary(job(port)), { kind: 'dial-failed' }, 'later jobs run on the lab thread');
});

t.test('a job whose dial cannot start is rejected as on the lab thread, and the thread keeps working', async (t) => {
  const port = await closedPort();
  const bad: UnaryJob = { ...job(port), dial: { ...job(port).dial, cert: 'not a certificate', key: 'not a key' } };
  const dialer = threadDialer();
  t.teardown(() => dialer.close());
  const here = await inlineDialer()
    .unary(bad)
    .then(
      () => null,
      (err: Error) => err.message,
    );
  t.type(here, 'string', 'node:tls refuses the options on the lab thread');
  await t.rejects(dialer.unary(bad), { message: here! }, 'the same error from the thread');
  t.ok(dialer.threaded, 'the thread is still there');
  t.match(await dialer.unary(job(port)), { kind: 'dial-failed' }, 'and answers the next job');
});
