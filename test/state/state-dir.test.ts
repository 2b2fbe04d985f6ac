import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { openFileStateStore } from '../../src/state/index.js';
import { ensureIgnoredPrivateDir, GITIGNORE_TEXT, removeIfOnlyIgnore } from '../../src/state/state-dir.js';

t.test('a state folder the tool creates ignores everything in git', async (t) => {
  const root = t.testdir();
  const store = openFileStateStore(path.join(root, 'state', 'rotate.state.json'), { desiredFile: null });
  const lock = await store.lock({ operation: 'apply' }, { timeoutMs: 0 });
  t.equal(
    await fs.readFile(path.join(root, 'state', '.gitignore'), 'utf8'),
    GITIGNORE_TEXT,
    'written with the lock, the first file there',
  );
  t.match(GITIGNORE_TEXT, /^\*$/m);
  t.equal((await fs.stat(path.join(root, 'state'))).mode & 0o777, 0o700);
  await store.release(lock.id);
});

t.test("an existing folder is the operator's: no .gitignore added; an empty one is treated as new", async (t) => {
  const root = t.testdir({ mine: { 'notes.txt': 'x' }, empty: {} });
  await ensureIgnoredPrivateDir(path.join(root, 'mine'));
  t.same(await fs.readdir(path.join(root, 'mine')), ['notes.txt']);
  await ensureIgnoredPrivateDir(path.join(root, 'empty'));
  t.same(await fs.readdir(path.join(root, 'empty')), ['.gitignore']);
});

t.test('removeIfOnlyIgnore: removes a folder holding only our .gitignore, never anything else', async (t) => {
  const root = t.testdir({
    ours: { '.gitignore': GITIGNORE_TEXT },
    theirs: { '.gitignore': 'foo\n' },
    more: { '.gitignore': GITIGNORE_TEXT, 'a.key': 'k' },
  });
  await removeIfOnlyIgnore(path.join(root, 'ours'));
  await removeIfOnlyIgnore(path.join(root, 'theirs'));
  await removeIfOnlyIgnore(path.join(root, 'more'));
  t.same((await fs.readdir(root)).sort(), ['more', 'theirs']);
  t.same((await fs.readdir(path.join(root, 'more'))).sort(), ['.gitignore', 'a.key']);
});
