/**
 * toErrorRecord: what a run's or a node's `error` in the state file holds for anything thrown. A RotateError
 * keeps its code, message and hint; a system error its code; anything else is recorded as the bug it is
 * (CLI_INTERNAL, a code docs/errors.md lists); key material never reaches the file.
 */
import t from 'tap';

import { RotateError } from '../../src/domain/errors.js';
import { ERROR_CODES } from '../../src/domain/error-codes.js';
import { encodeTalosBase64Pem, generateTalosCa } from '../../src/pki/index.js';
import { toErrorRecord } from '../../src/state/runs.js';

t.test('a RotateError keeps its code, message and hint', async (t) => {
  const err = new RotateError('APPLY_NODE_FAILED', 'node 10.0.0.2 did not answer', { hint: 'check the node' });
  t.same(toErrorRecord(err), {
    code: 'APPLY_NODE_FAILED',
    message: 'node 10.0.0.2 did not answer',
    hint: 'check the node',
  });
});

t.test('a system error keeps its code', async (t) => {
  const err = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
  t.same(toErrorRecord(err), { code: 'ECONNRESET', message: 'read ECONNRESET' });
});

t.test('anything else is recorded as a bug, under a code the registry lists', async (t) => {
  for (const thrown of [new TypeError('x is undefined'), 'a string', 42, null, { code: 'not a code' }]) {
    const record = toErrorRecord(thrown);
    t.equal(record.code, 'CLI_INTERNAL', String(thrown));
    t.ok(record.code in ERROR_CODES, 'a registered code');
  }
  t.equal(toErrorRecord(new TypeError('x is undefined')).message, 'x is undefined');
});

t.test('a message or hint holding key material is withheld', async (t) => {
  const ca = await generateTalosCa();
  const pem = ca.key.reveal();
  for (const leak of [pem, encodeTalosBase64Pem(pem)]) {
    const record = toErrorRecord(new RotateError('APPLY_NODE_FAILED', `bad input: ${leak}`, { hint: `not ${leak}` }));
    t.equal(record.message, '(message withheld: it held key material)');
    t.equal(record.hint, undefined);
    t.notOk(JSON.stringify(record).includes(leak.slice(40, 80)), 'nothing of the key');
  }
});
