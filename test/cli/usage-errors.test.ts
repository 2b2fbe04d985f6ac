/** Bad flag values and clashing output formats of init, plan and status are usage errors, never "internal error". */
import t from 'tap';
import { requireBuild, rotate } from '../lab/e2e/fixtures/cli.js';

requireBuild(t);

t.test('usage errors name the flag, exit 1', async (t) => {
  for (const [args, message] of [
    [['init', '--parallelism', '0'], /^error\[CLI_USAGE\]: --parallelism 0 is not valid/],
    [['init', '--parallelism', 'abc'], /^error\[CLI_USAGE\]: --parallelism \(not a number\) is not valid/],
    [['plan', '--json', '--summary'], /^error\[CLI_USAGE\]: --json and --summary are two output formats/],
    [['status', '--json', '--prometheus'], /^error\[CLI_USAGE\]: --json and --prometheus are two output formats/],
    [['status', '--warn-days', '-3'], /^error\[CLI_USAGE\]: --warn-days -3 is not valid/],
  ] as const) {
    const r = await rotate(...args);
    t.equal(r.code, 1, args.join(' '));
    t.match(r.stderr, message, args.join(' '));
    t.notMatch(r.stderr, /internal error/, args.join(' '));
  }
});
