/**
 * `rotate apply` sets a V8 flag at run time (src/cli/heap.ts). V8 prints "Error: unrecognized flag" on stderr
 * for a flag it does not know, on every run, so the Node line the tool runs on must still have it: this fails
 * on the first Node line that drops it, before users see that line.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import t from 'tap';
import { APPLY_HEAP_GROWING_PERCENT } from '../../src/cli/heap.js';

t.test("the V8 flag apply sets is one this Node's V8 knows", async (t) => {
  const options = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
  t.match(options, /^\s+--heap-growing-percent\b/m, `--heap-growing-percent on Node ${process.version}`);
  t.ok(Number.isInteger(APPLY_HEAP_GROWING_PERCENT) && APPLY_HEAP_GROWING_PERCENT > 0);
});

t.test('setting it prints nothing', async (t) => {
  const script = "import('./src/cli/heap.ts').then((m) => { m.keepHeapTight(); process.stdout.write('set'); })";
  const r = spawnSync(process.execPath, ['--import=tsx', '-e', script], {
    encoding: 'utf8',
    cwd: new URL('../..', import.meta.url).pathname,
  });
  t.equal(r.stderr, '', 'nothing on stderr');
  t.equal(r.stdout, 'set');
});
