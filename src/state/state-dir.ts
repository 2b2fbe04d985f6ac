/**
 * The folders that hold key material (the state folder, its `keys/` and `backups/`) are created 0700 with
 * a `.gitignore` that ignores everything, so that a desired-state file kept in a git repository does not
 * get the escrowed keys or backed-up files staged by `git add -A` (whatever the repository's own
 * .gitignore says). Only folders the tool creates get one: an existing folder is the operator's.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ensurePrivateDir, fsyncDir, writeFileAtomic } from '../util/atomic-file.js';

export const GITIGNORE_NAME = '.gitignore';
export const GITIGNORE_TEXT = '# Written by talos-rotate: this folder holds private keys; never commit it.\n*\n';

async function entries(dir: string): Promise<string[] | null> {
  return fs.readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
}

/**
 * Create `dir` (and its parents) 0700 if it does not exist, with the ignore-everything `.gitignore`. A
 * folder found empty is treated as just created (a process that stopped between the two), so it gets one.
 */
export async function ensureIgnoredPrivateDir(dir: string): Promise<void> {
  const before = await entries(dir);
  if (before !== null && before.length > 0) return;
  await ensurePrivateDir(dir);
  // The .gitignore holds no secret; 0644 as git expects, written atomically like every other file.
  await writeFileAtomic(path.join(dir, GITIGNORE_NAME), GITIGNORE_TEXT, { mode: 0o644 }).catch(
    async (err: NodeJS.ErrnoException) => {
      // Another process created the folder and its .gitignore in between.
      if (err.code !== 'EEXIST') throw err;
    },
  );
  await fsyncDir(path.dirname(dir));
}

/**
 * Remove `dir` if it holds nothing but the `.gitignore` this module wrote (a run that recorded nothing
 * leaves no folder behind). rmdir only succeeds on an empty folder, so nothing else is ever removed.
 */
export async function removeIfOnlyIgnore(dir: string): Promise<void> {
  const found = await entries(dir).catch(() => null);
  if (found === null) return;
  if (found.length === 1 && found[0] === GITIGNORE_NAME) {
    const text = await fs.readFile(path.join(dir, GITIGNORE_NAME), 'utf8').catch(() => null);
    if (text !== GITIGNORE_TEXT) return;
    await fs.unlink(path.join(dir, GITIGNORE_NAME)).catch(() => undefined);
  }
  await fs.rmdir(dir).catch(() => undefined);
}
