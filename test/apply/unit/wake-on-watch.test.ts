/**
 * Polls woken by a watch (src/apply/wake-on-watch.ts): an event ends the current sleep at once, an event that
 * came while the loop was checking skips the next sleep, `skipFirst` ignores the watch's initial event, and a
 * watch that cannot be opened or fails leaves plain polling. No test waits out a real poll interval.
 */
import t from 'tap';
import { wakeOnWatch } from '../../../src/apply/wake-on-watch.js';
import { feedWatch } from '../fixtures/feed-watch.js';

const HOUR = 3_600_000;

const turn = () => new Promise((r) => setImmediate(r));

t.test('an event ends the sleep at once; the watch is closed at the end', async (t) => {
  const feed = feedWatch<string>();
  const seen: string[] = [];
  const wake = wakeOnWatch(() => feed.watch, { onEvent: (e) => seen.push(e) });
  wake.checking();
  let woke = false;
  const slept = wake.sleep(HOUR).then(() => (woke = true));
  await turn();
  t.notOk(woke, 'asleep');
  feed.push('a');
  await slept;
  t.ok(woke, 'woken by the event, not by the hour-long timer');
  t.same(seen, ['a'], 'onEvent sees every event');
  await wake.close();
  t.ok(feed.closed(), 'closed');
});

t.test('an event while checking skips the next sleep; checking() starts counting afresh', async (t) => {
  const feed = feedWatch<string>();
  const wake = wakeOnWatch(() => feed.watch);
  wake.checking();
  feed.push('during the check');
  await turn();
  await wake.sleep(HOUR); // returns at once: the event came after checking()
  t.pass('no sleep after an event that came during the check');
  wake.checking();
  let woke = false;
  const slept = wake.sleep(HOUR).then(() => (woke = true));
  await turn();
  t.notOk(woke, 'an event already counted does not skip a later sleep');
  feed.push('next');
  await slept;
  await wake.close();
});

t.test('skipFirst: the initial event (the resource as it is) does not wake', async (t) => {
  const feed = feedWatch<string>();
  const wake = wakeOnWatch(() => feed.watch, { skipFirst: true });
  wake.checking();
  let woke = false;
  const slept = wake.sleep(HOUR).then(() => (woke = true));
  feed.push('initial');
  await turn();
  await turn();
  t.notOk(woke, 'still asleep after the initial event');
  feed.push('change');
  await slept;
  t.ok(woke, 'the second event wakes');
  await wake.close();
});

t.test('a watch that cannot be opened, or fails, leaves plain polling', async (t) => {
  const broken = wakeOnWatch<string>(() => {
    throw new Error('not supported');
  });
  broken.checking();
  const t0 = Date.now();
  await broken.sleep(30);
  t.ok(Date.now() - t0 >= 25, 'slept its interval');
  await broken.close();

  const feed = feedWatch<string>();
  const wake = wakeOnWatch(() => feed.watch);
  wake.checking();
  await turn();
  feed.fail(new Error('stream reset'));
  await turn();
  const t1 = Date.now();
  await wake.sleep(30);
  t.ok(Date.now() - t1 >= 25, 'after the failure: slept its interval');
  await wake.close();
});
