/** `rotate plan --json` reports a failure as JSON on stdout too (the human error stays on stderr). */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { requireBuild, rotate, scratch } from '../lab/e2e/fixtures/cli.js';

requireBuild(t);

t.test('a bad desired-state file: exit 1, {"error": {code, message, hint}} on stdout', async (t) => {
  const dir = await scratch(t);
  const file = path.join(dir, 'rotate.yaml');
  await fs.writeFile(file, 'version: 1\ncluster: [\n');
  const r = await rotate('plan', '-f', file, '--json');
  t.equal(r.code, 1);
  const doc = JSON.parse(r.stdout) as { error: { code: string; message: string; hint?: string } };
  t.match(doc.error.code, /^DESIRED_/);
  t.match(doc.error.message, /rotate\.yaml/);
  t.match(r.stderr, /^error\[DESIRED_/m, 'the human error is still on stderr');
  const plain = await rotate('plan', '-f', file);
  t.equal(plain.stdout, '', 'without --json nothing goes to stdout');
});

t.test('an error that is not a RotateError: its JSON code is a registered one', async (t) => {
  const { planJsonError } = await import('../../src/cli/commands/plan/run.js');
  const { ERROR_CODES } = await import('../../src/domain/error-codes.js');
  const doc = planJsonError(new Error('boom'));
  t.ok(doc.error.code in ERROR_CODES, `${doc.error.code} is in the error-code registry`);
  t.notMatch(doc.error.message, /boom/, 'the message of an unexpected error is not echoed');
});
