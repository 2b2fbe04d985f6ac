/**
 * scripts/build-talosctl.mjs: the parts that decide what gets built (wrapper directives, substitutions of
 * refused module versions) and the prerequisite message, without building anything.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

interface ModRef {
  Path: string;
  Version?: string;
}
interface GoMod {
  Go?: string;
  Require?: ModRef[];
  Replace?: { Old: ModRef; New: ModRef }[];
  Exclude?: ModRef[];
}
interface Entry {
  kind: string;
  module?: string;
  old?: string;
  pinned: string;
  use: string | null;
  why: string;
}
interface BuildScript {
  refusedModules(stderr: string): string[];
  wrapperEditArgs(tag: string, talos: GoMod, machinery: GoMod): string[];
  substitutionsFor(tag: string): Entry[];
  checkSubstitution(tag: string, entry: Entry, talos: GoMod, machinery: GoMod): void;
  substitutionEditArgs(entry: Entry): string[];
  pinnedRef(entry: Entry): string;
}

const scriptUrl = new URL('../../scripts/build-talosctl.mjs', import.meta.url);
const script = (await import(scriptUrl.href)) as BuildScript;

const talosMod: GoMod = {
  Go: '1.26.6',
  Require: [
    { Path: 'github.com/siderolabs/go-kubernetes', Version: 'v0.2.38' },
    { Path: 'github.com/siderolabs/talos/pkg/machinery', Version: 'v1.13.9' },
  ],
  Replace: [
    { Old: { Path: 'github.com/siderolabs/talos/pkg/machinery' }, New: { Path: './pkg/machinery' } },
    {
      Old: { Path: 'github.com/containerd/containerd/v2' },
      New: { Path: 'github.com/smira/containerd/v2', Version: 'v2.2.3-0.1' },
    },
  ],
  Exclude: [{ Path: 'example.com/x', Version: 'v1.0.0' }],
};

t.test('the wrapper repeats Talos directives and drops the relative machinery replace', async (t) => {
  const args = script.wrapperEditArgs('v1.13.9', talosMod, { Require: [] });
  t.ok(args.includes('-go=1.26.6'));
  t.ok(args.includes('-require=github.com/siderolabs/talos@v1.13.9'));
  t.ok(args.includes('-require=github.com/siderolabs/talos/pkg/machinery@v1.13.9'));
  t.ok(args.includes('-replace=github.com/containerd/containerd/v2=github.com/smira/containerd/v2@v2.2.3-0.1'));
  t.ok(args.includes('-exclude=example.com/x@v1.0.0'));
  t.notOk(
    args.some((a) => a.includes('./pkg/machinery')),
    'no relative replace',
  );
});

t.test('refused module versions are read from go error output', async (t) => {
  const stderr =
    'go: github.com/siderolabs/go-kubernetes@v0.2.38: reading https://proxy.example/github.com/siderolabs/go-kubernetes/@v/v0.2.38.info: 403 Forbidden\n' +
    'go: downloading github.com/x/y v1.0.0\n';
  t.same(script.refusedModules(stderr), ['github.com/siderolabs/go-kubernetes@v0.2.38']);
});

t.test('substitutions are applied as replace directives that win over Talos pins', async (t) => {
  t.same(script.substitutionEditArgs({ kind: 'require', module: 'm', pinned: 'v1.0.0', use: 'v1.0.1', why: '' }), [
    '-replace=m=m@v1.0.1',
  ]);
  t.same(script.substitutionEditArgs({ kind: 'replace', old: 'o', pinned: 'f@v1', use: null, why: '' }), [
    '-dropreplace=o',
  ]);
  t.same(script.substitutionEditArgs({ kind: 'replace', old: 'o', pinned: 'f@v1', use: 'f@v0', why: '' }), [
    '-replace=o=f@v0',
  ]);
});

t.test('a stale substitution entry fails the build instead of silently changing it', async (t) => {
  const ok: Entry = {
    kind: 'require',
    module: 'github.com/siderolabs/go-kubernetes',
    pinned: 'v0.2.38',
    use: 'v0.2.41',
    why: 'x',
  };
  t.doesNotThrow(() => script.checkSubstitution('v1.13.9', ok, talosMod, {}));
  t.throws(
    () => script.checkSubstitution('v1.13.9', { ...ok, pinned: 'v0.2.37' }, talosMod, {}),
    /requires no github.com\/siderolabs\/go-kubernetes@v0.2.37/,
  );
  const fork: Entry = {
    kind: 'replace',
    old: 'github.com/containerd/containerd/v2',
    pinned: 'github.com/smira/containerd/v2@v2.2.3-0.1',
    use: null,
    why: 'x',
  };
  t.doesNotThrow(() => script.checkSubstitution('v1.13.9', fork, talosMod, {}));
  t.throws(
    () => script.checkSubstitution('v1.13.9', { ...fork, pinned: 'github.com/smira/containerd/v2@v9' }, talosMod, {}),
    /has no replace/,
  );
});

t.test('every committed substitution names a reason and a served substitute', async (t) => {
  for (const tag of ['v1.13.9', 'v1.14.1']) {
    const entries = script.substitutionsFor(tag);
    t.ok(entries.length > 0, `${tag} has entries`);
    for (const e of entries) {
      t.ok(e.why.length > 20, `${script.pinnedRef(e)} says why`);
      t.ok(
        e.kind === 'require' ? typeof e.use === 'string' : e.use === null || /@v/.test(e.use),
        `${script.pinnedRef(e)} names a substitute`,
      );
    }
  }
});

t.test('without Go the build fails with a message naming the prerequisite (never a skip)', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'talos-rotate-nogo-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const r = spawnSync(process.execPath, [scriptUrl.pathname, '--paths'], {
    encoding: 'utf8',
    env: { PATH: '/nonexistent', HOME: home, XDG_CACHE_HOME: join(home, 'cache') },
  });
  t.equal(r.status, 1);
  t.match(r.stderr, /Go 1\.26\+ is required to run the test suite/);
  t.match(r.stderr, /needs only Node\.js/);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
});
