/**
 * The kubelet-restart wait re-checks as soon as the watch reports an event (not at its next poll), and the
 * re-check still decides: an event alone never ends the wait.
 */
import t from 'tap';
import { waitKubeletRestarted, type KubeletSnapshot } from '../../../src/apply/kubelet-restart.js';
import type { ServiceWatchEvent, TalosClient } from '../../../src/talos/client.js';

/** A watch the test feeds event by event. */
function feedWatch(): { client: TalosClient; push: (e: ServiceWatchEvent) => void; closed: () => boolean } {
  const queue: ServiceWatchEvent[] = [];
  let waiting: ((r: IteratorResult<ServiceWatchEvent>) => void) | null = null;
  let closed = false;
  const watch = {
    ready: Promise.resolve(),
    node: 'n',
    close: () => {
      closed = true;
      waiting?.({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]: () => ({
      next: () =>
        new Promise<IteratorResult<ServiceWatchEvent>>((resolve) => {
          if (closed) return resolve({ value: undefined, done: true });
          const e = queue.shift();
          if (e) resolve({ value: e, done: false });
          else waiting = resolve;
        }),
    }),
  };
  return {
    client: { watchKubeletService: () => watch } as unknown as TalosClient,
    push: (e) => {
      const w = waiting;
      waiting = null;
      if (w) w({ value: e, done: false });
      else queue.push(e);
    },
    closed: () => closed,
  };
}

t.test('a watch event wakes the re-check; only a re-created, healthy kubelet ends the wait', async (t) => {
  const before: KubeletSnapshot = { createdMs: 1_000, running: true, healthy: true };
  const { client, push, closed } = feedWatch();
  let current: KubeletSnapshot = before;
  const reads: KubeletSnapshot[] = [];
  const snapshot = async (): Promise<KubeletSnapshot> => {
    reads.push(current);
    return current;
  };
  /** Lets the event loop turn until `n` reads happened (no clock involved). */
  const readsReach = async (n: number): Promise<void> => {
    while (reads.length < n) await new Promise((r) => setImmediate(r));
  };
  // A poll interval no test waits out: only a wake-up can make the wait re-check.
  const done = waitKubeletRestarted(client, 'n', before, {
    deadline: Date.now() + 3_600_000,
    pollMs: 3_600_000,
    snapshot,
  });
  let settled = false;
  void done.then(() => (settled = true));
  await readsReach(1);

  current = { createdMs: null, running: false, healthy: false };
  push({ type: 'DESTROYED', service: null });
  await readsReach(2);
  t.notOk(settled, 'the kubelet gone: still waiting');

  // An event while the resource still shows it starting: woken, checked, still waiting.
  current = { createdMs: 2_000, running: true, healthy: false };
  push({ type: 'CREATED', service: { id: 'kubelet', running: true, healthy: false, unknown: false } });
  await readsReach(3);
  await new Promise((r) => setImmediate(r));
  t.notOk(settled, 'running but not healthy: still waiting');

  current = { createdMs: 2_000, running: true, healthy: true };
  push({ type: 'UPDATED', service: { id: 'kubelet', running: true, healthy: true, unknown: false } });
  await done;
  t.ok(reads.length >= 3, `re-checked on events (${reads.length} reads), not on the hour-long poll`);
  t.ok(closed(), 'the watch is closed');
});
