/**
 * Files holding private keys that a git repository would publish: when the desired-state file is in a git
 * work tree, every file the desired state names that holds a key (key files, the secrets bundle, the
 * talosconfig and kubeconfig with their admin keys), the state folder (escrowed keys, backups) and backups
 * an older talos-rotate left beside the files (`<file>.before-<run>`) are checked with the real `git`:
 * tracked (`git ls-files --cached`), or untracked and not ignored, so that `git add -A` would stage it
 * (`git ls-files --others --exclude-standard`). Outside a work tree, or without git, nothing is reported.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { warning, type Finding } from './diagnostics.js';

export const GIT_KEY_EXPOSED = 'DESIRED_KEY_IN_GIT';

export interface KeyHoldingFile {
  path: string;
  /** What it is, for the message ("key of authority talos-2026", "secrets bundle"). */
  what: string;
}

const MAX_LISTED = 20;

function git(cwd: string, args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    // --literal-pathspecs: a file name is a name, never a pattern. No shell.
    execFile(
      'git',
      ['--literal-pathspecs', ...args],
      { cwd, timeout: 15_000, maxBuffer: 16 << 20, encoding: 'utf8' },
      (err, stdout) => resolve(err ? null : stdout),
    );
  });
}

async function realpathOrNull(p: string): Promise<string | null> {
  return fs.realpath(p).catch(() => null);
}

/** Backups an older talos-rotate wrote beside the file it replaced: `<file>.before-<run id>`. */
async function legacyBackups(file: string): Promise<string[]> {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.before-`;
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith(prefix)).map((n) => path.join(dir, n));
}

/**
 * One warning (code DESIRED_KEY_IN_GIT) naming each exposed file and the fix, or null. `outputs` are the
 * files apply rewrites (their old backups are looked for too); `stateDir` the state folder of the file.
 */
export async function gitKeyExposure(
  desiredFile: string,
  files: KeyHoldingFile[],
  outputs: string[],
  stateDir: string,
): Promise<Finding | null> {
  const topOut = await git(path.dirname(path.resolve(desiredFile)), ['rev-parse', '--show-toplevel']);
  if (topOut === null) return null;
  const top = await realpathOrNull(topOut.trim());
  if (!top) return null;

  const candidates = new Map<string, { what: string; dir: boolean }>(); // path relative to top
  const add = async (p: string, what: string): Promise<void> => {
    const real = await realpathOrNull(p);
    if (!real) return;
    const rel = path.relative(top, real);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return;
    const dir = (await fs.stat(real).catch(() => null))?.isDirectory() ?? false;
    if (!candidates.has(rel)) candidates.set(rel, { what, dir });
  };
  for (const f of files) await add(f.path, f.what);
  for (const o of outputs)
    for (const b of await legacyBackups(o)) await add(b, 'a backup an earlier run left beside the file');
  await add(stateDir, 'the state folder: escrowed keys, backups');
  if (candidates.size === 0) return null;

  const rels = [...candidates.keys()];
  const tracked = await git(top, ['ls-files', '-z', '--cached', '--', ...rels]);
  const addable = await git(top, ['ls-files', '-z', '--others', '--exclude-standard', '--', ...rels]);
  if (tracked === null || addable === null) return null;
  const ownerOf = (file: string): string => rels.find((rel) => file === rel || file.startsWith(`${rel}/`)) ?? file;
  const found: { file: string; how: 'tracked' | 'addable'; owner: string }[] = [];
  for (const f of tracked.split('\0').filter(Boolean)) found.push({ file: f, how: 'tracked', owner: ownerOf(f) });
  for (const f of addable.split('\0').filter(Boolean)) found.push({ file: f, how: 'addable', owner: ownerOf(f) });
  if (found.length === 0) return null;

  const listed = found
    .slice(0, MAX_LISTED)
    .map(
      (f) =>
        `${f.file} (${candidates.get(f.owner)?.what ?? 'holds a private key'}; ` +
        `${f.how === 'tracked' ? 'tracked by git' : 'not ignored: `git add -A` would stage it'})`,
    );
  if (found.length > MAX_LISTED) listed.push(`and ${found.length - MAX_LISTED} more`);
  const ignoreLines = [...new Set(found.map((f) => (candidates.get(f.owner)?.dir ? `/${f.owner}/` : `/${f.owner}`)))];
  const trackedFiles = found.filter((f) => f.how === 'tracked').map((f) => f.file);
  const hint = [
    `add ${ignoreLines.map((l) => `\`${l}\``).join(', ')} to ${path.join(top, '.gitignore')}`,
    trackedFiles.length > 0
      ? `, then stop tracking with \`git rm --cached -r -- ${trackedFiles.join(' ')}\`; ` +
        'a key that was ever committed or pushed is in the history: treat it as leaked and rotate it'
      : '',
    '; better, keep keys outside the repository (key: { env }, or a path outside it)',
  ].join('');
  return warning(
    GIT_KEY_EXPOSED,
    [],
    `files holding private keys are in the git work tree ${top}: ${listed.join(', ')}`,
    hint,
  );
}
