/**
 * The CLI sets V8 flags on itself at run time (src/cli/v8-flags.ts: the compiler budget for every command,
 * src/cli/heap.ts: the heap's growth for apply and rollback). V8 prints "Error: unrecognized flag" on stderr
 * for a name it does not know, on every run, so a flag is set only on the V8 the build checked. These tests
 * fail on the first Node line that drops one of the flags (before its users lose the tuning), and check that
 * a record made on another V8, or none, sets nothing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { APPLY_HEAP_GROWING_PERCENT } from '../../src/cli/heap.js';
import {
  allowedFlags,
  CLI_INTERRUPT_BUDGET,
  v8FlagRecord,
  V8_FLAG_NAMES,
  V8_FLAGS_URL,
} from '../../src/cli/v8-flags.js';

const options = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8', maxBuffer: 16 << 20 });

t.test("every flag the CLI sets is one this Node's V8 knows", async (t) => {
  for (const name of V8_FLAG_NAMES)
    t.match(options, new RegExp(`^\\s+--${name}\\s`, 'm'), `--${name} on ${process.version}`);
  t.same(v8FlagRecord(options, 'v').known, [...V8_FLAG_NAMES], 'the record lists them all');
  t.ok(Number.isInteger(APPLY_HEAP_GROWING_PERCENT) && APPLY_HEAP_GROWING_PERCENT > 0);
  t.ok(Number.isInteger(CLI_INTERRUPT_BUDGET) && CLI_INTERRUPT_BUDGET > 0);
});

t.test('the build recorded this V8 and the flags it knows', async (t) => {
  const record = JSON.parse(readFileSync(V8_FLAGS_URL, 'utf8')) as unknown;
  t.same(record, { v8: process.versions.v8, known: [...V8_FLAG_NAMES] });
  t.same([...allowedFlags(record, process.versions.v8)], [...V8_FLAG_NAMES]);
});

t.test('a record allows only the names it lists, and only on its own V8', async (t) => {
  const listing = '  --interrupt-budget (interrupt budget)\n        type: int  default: --interrupt-budget=67584\n';
  const record = v8FlagRecord(listing, '11.3.244.8-node.38');
  t.same(record, { v8: '11.3.244.8-node.38', known: ['interrupt-budget'] }, 'a listing without the heap flag');
  t.same([...allowedFlags(record, '11.3.244.8-node.38')], ['interrupt-budget']);
  t.same([...allowedFlags(record, '12.4.254.21-node.33')], [], 'another V8: nothing');
  t.same([...allowedFlags(undefined, '11.3.244.8-node.38')], [], 'no record (a tsc-only build): nothing');
  t.same([...allowedFlags({ v8: '11.3.244.8-node.38', known: 'interrupt-budget' }, '11.3.244.8-node.38')], []);
  t.same([...allowedFlags({ v8: '1', known: ['interrupt-budget', 'no-such-flag'] }, '1')], ['interrupt-budget']);
});

t.test('setting them prints nothing', async (t) => {
  const script =
    "Promise.all([import('./src/cli/heap.ts'), import('./src/cli/v8-flags.ts')]).then(([h, f]) => " +
    'process.stdout.write(`${h.keepHeapTight()} ${f.tuneCompilerForCli()}`))';
  const r = spawnSync(process.execPath, ['--import=tsx', '-e', script], {
    encoding: 'utf8',
    cwd: new URL('../..', import.meta.url).pathname,
  });
  t.equal(r.stderr, '', 'nothing on stderr');
  t.equal(r.stdout, 'true true', 'both set');
});
