/**
 * `--max-unavailable` on the command line (plan, apply, rollback share it): a number or a percentage of
 * the workers, default 10%; anything else is a usage error naming the flag, exit 1, before any file or
 * node is read.
 */
import t from 'tap';
import yargs from 'yargs';
import { resolveParallelism } from '../../src/domain/parallelism.js';
import { planningOptions, type PlanningArgs } from '../../src/cli/options/planning.js';
import { requireBuild, rotate } from '../lab/e2e/fixtures/cli.js';

requireBuild(t);

/** Parse `argv` with the planning flags alone, in process; a check failure is thrown as it is. */
function parse(argv: string[]): PlanningArgs {
  return planningOptions(
    yargs(argv)
      .exitProcess(false)
      .fail((msg, err) => {
        throw err ?? new Error(msg);
      }),
  ).parseSync() as unknown as PlanningArgs;
}

t.test('a number or a percentage of the workers; default 10%', async (t) => {
  t.equal(parse([])['max-unavailable'], '10%');
  t.equal(parse(['--max-unavailable', '3'])['max-unavailable'], 3, 'a number stays a number of nodes');
  t.equal(parse(['--max-unavailable', '25%'])['max-unavailable'], '25%');
  t.equal(parse(['--max-unavailable', '100%'])['max-unavailable'], '100%');
});

t.test('bad --max-unavailable values are usage errors naming the flag, as a bad --parallelism is', async (t) => {
  for (const value of ['0', '-1', 'abc', '150%', '0%', '12.5%', '']) {
    t.throws(
      () => parse(['--max-unavailable', value]),
      {
        code: 'CLI_USAGE',
        message:
          `--max-unavailable ${value} is not valid: it must be a whole number of at least 1 or a percentage of ` +
          `the workers from 1% to 100%`,
        hint: /^e\.g\. --max-unavailable 10%/,
      },
      JSON.stringify(value),
    );
  }
  t.throws(() => parse(['--max-unavailable', '2', '--max-unavailable', '3']), {
    code: 'CLI_USAGE',
    message: /--max-unavailable 2 3 \(given 2 times\) is not valid/,
  });
});

t.test('through the CLI: exit 1 and one error line, before any file is read', async (t) => {
  const r = await rotate('apply', '--auto-approve', '-f', '/nonexistent/rotate.yaml', '--max-unavailable', '150%');
  t.equal(r.code, 1);
  t.match(
    r.stderr,
    new RegExp(
      /^error\[CLI_USAGE\]: --max-unavailable 150% is not valid: it must be a whole number of at least /.source +
        /1 or a percentage of the workers from 1% to 100%\n\s+hint: e\.g\. --max-unavailable 10%/.source,
    ),
  );
  t.notMatch(r.stderr, /internal error|nonexistent/);
});

t.test('--help shows the 10% default', async (t) => {
  const r = await rotate('plan', '--help');
  t.equal(r.code, 0);
  t.match(
    r.stdout,
    new RegExp(
      /--max-unavailable\s+workers whose kubelet may restart at once: a number, or a percentage /.source +
        /of\s+the workers[\s\S]*?\[default: "10%"\]/.source,
    ),
  );
});

t.test('--parallelism: unset means 10, or 10% of the nodes when that is more', async (t) => {
  t.equal(parse([]).parallelism, undefined, 'left unset: each command sizes it by the cluster');
  t.equal(parse(['--parallelism', '3']).parallelism, 3);
  t.equal(resolveParallelism(undefined, 5), 10);
  t.equal(resolveParallelism(undefined, 109), 10, 'a tenth rounded down, never below 10');
  t.equal(resolveParallelism(undefined, 200), 20);
  t.equal(resolveParallelism(undefined, 1000), 100);
  t.equal(resolveParallelism(3, 1000), 3, 'a number given is kept, whatever the size');
  t.equal(resolveParallelism(50, 5), 50);
  for (const value of ['0', '-2', '1.5', 'abc']) {
    t.throws(
      () => parse(['--parallelism', value]),
      { code: 'CLI_USAGE', message: /^--parallelism .* is not valid/ },
      value,
    );
  }
  const r = await rotate('plan', '--help');
  t.match(r.stdout, /--parallelism\s[\s\S]*?\[number\] \[default: 10, or 10% of the nodes when that is more\]/);
});
