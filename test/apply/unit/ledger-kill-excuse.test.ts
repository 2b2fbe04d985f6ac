/**
 * The e2e judge's only excuse around a SIGKILL: an operator → apid refusal on a connection of the killed
 * process (its own handshake, cut), seen ending after the kill. With the ports the process held when it
 * was stopped, the entry's source port decides, whenever the lab accepted the connection; without them, the
 * lab must have accepted it before the kill. No wall-clock window either way.
 */
import t from 'tap';
import type { LedgerEntry } from '../../../src/lab/core/ledger.js';
import type { KillRecord } from '../e2e/fixtures/kill-snapshot.js';
import { cutByKill } from '../e2e/fixtures/ledger.js';

const at = Date.parse('2026-01-01T00:00:10.000Z');
const withPorts: KillRecord = { at, ports: [40100, 40102] };
const noPorts: KillRecord = { at, ports: null };
const entry = (openedAt: string | undefined, ended: string, over: Partial<LedgerEntry> = {}): LedgerEntry => ({
  edge: 'operator-apid',
  from: '127.0.0.1',
  to: '127.9.0.10',
  reason: 'bad-certificate',
  refusedBy: 'client',
  at: ended,
  seq: 1,
  fromPort: 40102,
  ...(openedAt ? { openedAt } : {}),
  ...over,
});

t.test('with the ports: a connection of the killed process, however late the lab saw it', async (t) => {
  t.ok(cutByKill(entry('2026-01-01T00:00:09.990Z', '2026-01-01T00:00:10.004Z'), [withPorts]));
  t.ok(
    cutByKill(entry('2026-01-01T00:00:10.300Z', '2026-01-01T00:00:10.310Z'), [withPorts]),
    'accepted by a lagging lab 300 ms after the kill: still the killed process',
  );
  t.ok(cutByKill(entry(undefined, '2026-01-01T00:00:10.000Z'), [withPorts]), 'same millisecond, no accept time');
});

t.test('with the ports: anyone else is refused for real', async (t) => {
  t.notOk(
    cutByKill(entry('2026-01-01T00:00:09.990Z', '2026-01-01T00:00:10.004Z', { fromPort: 40101 }), [withPorts]),
    'another port, open across the kill',
  );
  t.notOk(
    cutByKill(entry('2026-01-01T00:00:09.990Z', '2026-01-01T00:00:10.004Z', { fromPort: undefined }), [withPorts]),
  );
  t.notOk(
    cutByKill(entry('2026-01-01T00:00:09.900Z', '2026-01-01T00:00:09.950Z'), [withPorts]),
    'its own port, but ended before the kill: a refusal it made',
  );
  t.notOk(cutByKill(entry('2026-01-01T00:00:09.990Z', '2026-01-01T00:00:10.004Z'), [{ at, ports: [] }]));
});

t.test('without the ports: a handshake open across the kill', async (t) => {
  t.ok(cutByKill(entry('2026-01-01T00:00:09.990Z', '2026-01-01T00:00:10.004Z'), [noPorts]));
  t.ok(cutByKill(entry('2026-01-01T00:00:10.000Z', '2026-01-01T00:00:10.000Z'), [noPorts]), 'same millisecond');
  t.notOk(
    cutByKill(entry('2026-01-01T00:00:10.300Z', '2026-01-01T00:00:10.310Z'), [noPorts]),
    'accepted 300 ms after: not excused',
  );
  t.notOk(cutByKill(entry('2026-01-01T00:00:09.900Z', '2026-01-01T00:00:09.950Z'), [noPorts]), 'ended before');
  t.notOk(cutByKill(entry(undefined, '2026-01-01T00:00:10.004Z'), [noPorts]), 'no accept time: not excused');
});

t.test('only client-side operator-apid refusals qualify, and only around a kill', async (t) => {
  for (const k of [withPorts, noPorts]) {
    const open = '2026-01-01T00:00:09.990Z';
    const end = '2026-01-01T00:00:10.004Z';
    t.notOk(cutByKill(entry(open, end, { refusedBy: 'server' }), [k]));
    t.notOk(cutByKill(entry(open, end, { edge: 'apid-proxy' }), [k]));
    t.notOk(cutByKill(entry(open, end), []), 'no kill: nothing excused');
  }
});
