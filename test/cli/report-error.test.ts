/**
 * How the CLI prints an error (issue 11 item 2): an expected failure (a RotateError from the user's files or
 * the cluster) as `error[CODE]` with its hint and never the bug-report hint; a bug — a RotateError marked
 * internal (`internalError`), or anything that is not a RotateError — with the request to report it.
 */
import t from 'tap';
import { RotateError, internalError, isBug } from '../../src/domain/errors.js';
import { BUG_HINT, reportError } from '../../src/cli/main.js';

function printed(err: unknown): { text: string; code: number } {
  let text = '';
  const code = reportError(err, (s) => void (text += s));
  return { text, code };
}

t.test('a user or cluster error: its code and hint, no bug-report hint', async (t) => {
  for (const source of ['user', 'cluster'] as const) {
    const r = printed(
      new RotateError('SESSION_NO_ENDPOINTS', 'talosconfig context lab has no endpoints', {
        hint: 'list them',
        source,
        exitCode: 3,
      }),
    );
    t.equal(
      r.text,
      'error[SESSION_NO_ENDPOINTS]: talosconfig context lab has no endpoints\n  hint: list them\n',
      source,
    );
    t.equal(r.code, 3);
    t.notOk(isBug(new RotateError('X', 'y', { source })));
  }
});

t.test('an internal RotateError is a bug: its code, then the bug-report hint', async (t) => {
  const err = internalError('APPLY_INTERNAL', 'the plan has no new Talos client');
  t.ok(isBug(err));
  const r = printed(err);
  t.equal(r.text, `error[APPLY_INTERNAL]: the plan has no new Talos client\n  ${BUG_HINT}\n`);
  t.equal(r.code, 1);
});

t.test('anything else is a bug too', async (t) => {
  const r = printed(new TypeError('x is undefined'));
  t.equal(r.text, `internal error: x is undefined\n  hint: ${BUG_HINT}\n`);
  t.equal(r.code, 1);
  t.ok(isBug('a string'));
});
