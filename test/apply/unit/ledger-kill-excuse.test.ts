/**
 * The e2e judge's only excuse around a SIGKILL: an operator → apid refusal on a connection the lab accepted
 * before the kill and saw end after it (the killed client's own handshake). No wall-clock window: a refusal
 * on a connection opened after the kill is never excused, however close to it.
 */
import t from 'tap';
import type { LedgerEntry } from '../../../src/lab/core/ledger.js';
import { cutByKill } from '../e2e/fixtures/ledger.js';

const kill = Date.parse('2026-01-01T00:00:10.000Z');
const entry = (openedAt: string | undefined, at: string, over: Partial<LedgerEntry> = {}): LedgerEntry => ({
  edge: 'operator-apid',
  from: '127.0.0.1',
  to: '127.9.0.10',
  reason: 'bad-certificate',
  refusedBy: 'client',
  at,
  seq: 1,
  ...(openedAt ? { openedAt } : {}),
  ...over,
});

t.test('a handshake open across the kill is the killed client hanging up', async (t) => {
  t.ok(cutByKill(entry('2026-01-01T00:00:09.990Z', '2026-01-01T00:00:10.004Z'), [kill]));
  t.ok(cutByKill(entry('2026-01-01T00:00:10.000Z', '2026-01-01T00:00:10.000Z'), [kill]), 'same millisecond');
});

t.test('a refusal on a connection opened after the kill is a real refusal', async (t) => {
  t.notOk(
    cutByKill(entry('2026-01-01T00:00:10.300Z', '2026-01-01T00:00:10.310Z'), [kill]),
    '300 ms after: not excused',
  );
  t.notOk(cutByKill(entry('2026-01-01T00:00:11.000Z', '2026-01-01T00:00:11.500Z'), [kill]));
});

t.test('a refusal that ended before the kill is a real refusal', async (t) => {
  t.notOk(cutByKill(entry('2026-01-01T00:00:09.900Z', '2026-01-01T00:00:09.950Z'), [kill]));
});

t.test('only client-side operator-apid refusals with a known accept time qualify', async (t) => {
  t.notOk(cutByKill(entry(undefined, '2026-01-01T00:00:10.004Z'), [kill]), 'no accept time: not excused');
  t.notOk(cutByKill(entry('2026-01-01T00:00:09.990Z', '2026-01-01T00:00:10.004Z', { refusedBy: 'server' }), [kill]));
  t.notOk(cutByKill(entry('2026-01-01T00:00:09.990Z', '2026-01-01T00:00:10.004Z', { edge: 'apid-proxy' }), [kill]));
  t.notOk(cutByKill(entry('2026-01-01T00:00:09.990Z', '2026-01-01T00:00:10.004Z'), []), 'no kill: nothing excused');
});
