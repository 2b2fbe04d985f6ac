/**
 * scripts/tap-failures.mjs: the digest `.ci/run` prints at the end of its log names each failed assertion with
 * its path of subtests, and a subtest that failed with nothing failed inside (a crashed file) itself.
 */
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import t from 'tap';

import { REPO, type TapTest } from '../lab/e2e/fixtures/cli.js';

const SCRIPT = path.join(REPO, 'scripts', 'tap-failures.mjs');

// The shape tap 21 prints (reporter `tap`): nested subtests four columns deeper, YAML diagnostics two deeper.
const STREAM = `TAP version 14
1..3
# Subtest: test/a.test.ts
    # Subtest: outer
        # Subtest: inner
            not ok 1 - one is two
              ---
              compare: ===
              at:
                fileName: test/a.test.ts
                lineNumber: 3
              source: |
                t.equal(1, 2, 'one is two');
                --^
              diff: |
                -2
                +1
              ...
            ok 2 - should be equal
            1..2
        not ok 1 - inner # time=20.889ms
          ---
          at:
            lineNumber: 3
          ...
        ok 2 - fine
        1..2
    not ok 1 - outer # time=27.74ms
    # Subtest: passes
        ok 1 - yes
        1..1
    ok 2 - passes
    1..2
not ok 1 - test/a.test.ts # time=48.589ms
  ---
  exitCode: 1
  ...
# Subtest: test/b.test.ts
    1..0 # no tests found
not ok 2 - test/b.test.ts # time=1138.223ms
  ---
  command: /usr/bin/node
  exitCode: 1
  ...
# Subtest: test/c.test.ts
    ok 1 - fine
    1..1
ok 3 - test/c.test.ts
# { total: 5, pass: 3, fail: 2 }
`;

async function digest(t: TapTest, stream: string) {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'tap-failures-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tap.log');
  await fs.writeFile(file, stream);
  return spawnSync(process.execPath, [SCRIPT, file], { encoding: 'utf8' });
}

t.test('each failed assertion with its path; a crashed file by itself; passing ones left out', async (t) => {
  const r = await digest(t, STREAM);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^Failed \(2\):$/m);
  t.match(r.stdout, '- test/a.test.ts\n  > outer\n  > inner\n  > not ok 1 - one is two\n');
  t.match(r.stdout, /diff: \|\n\s+-2\n\s+\+1/, 'its diagnostics');
  t.notMatch(r.stdout, /one is two', 2\)/, 'but not the source excerpt');
  t.match(r.stdout, /^- not ok 2 - test\/b\.test\.ts.*\n\s+command: \/usr\/bin\/node\n\s+exitCode: 1$/m);
  t.notMatch(
    r.stdout,
    /not ok 1 - (inner|outer)|- not ok 1 - test\/a/,
    'a subtest with the failure inside is not repeated',
  );
  t.notMatch(r.stdout, /passes|c\.test/);
});

t.test('nothing failed: nothing printed', async (t) => {
  const r = await digest(t, 'TAP version 14\n1..1\nok 1 - test/c.test.ts\n# { total: 1, pass: 1 }\n');
  t.equal(r.status, 0);
  t.equal(r.stdout, '');
});
