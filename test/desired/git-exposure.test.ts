/**
 * DESIRED_KEY_IN_GIT with the real `git`: a desired-state file in a work tree whose key files, secrets
 * bundle, talosconfig or state folder git tracks or `git add -A` would stage gets one warning naming each
 * file and the fix; ignored files, a folder outside any work tree, and no git at all give none.
 */
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';

import { validateDesiredFile } from '../../src/desired/index.js';
import { removeTempDirs, tempDir, writeFile, writeMaterial } from './fixtures/helpers.js';

t.teardown(removeTempDirs);

const DESIRED = `version: 1
cluster:
  talosconfig: talosconfig
  controlPlanes: [10.0.0.11]
  workers: []
  secretsBundle: secrets.yaml
talos:
  issuing: talos-2026
  accepted: [talos-2016]
authorities:
  talos-2026:
    certificate: pki/talos-2026.crt
    key: { file: pki/talos-2026.key }
  talos-2016:
    certificate: { secretsBundle: secrets.pre-rotation.yaml, entry: os }
`;

const git = (dir: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.email=t@example.org', '-c', 'user.name=t', ...args], {
    cwd: dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });

async function repo(): Promise<string> {
  const dir = await tempDir('git-exposure-');
  await writeMaterial(dir);
  await writeFile(path.join(dir, 'rotate.yaml'), DESIRED);
  return dir;
}

const validate = (dir: string, env: NodeJS.ProcessEnv = { HOME: dir }) =>
  validateDesiredFile(path.join(dir, 'rotate.yaml'), { env, home: dir });
const exposures = (r: Awaited<ReturnType<typeof validate>>) =>
  r.warnings.filter((w) => w.code === 'DESIRED_KEY_IN_GIT');

t.test('tracked and would-be-added key files: one warning naming each, with the fix', async (t) => {
  const dir = await repo();
  git(dir, 'init', '-q');
  git(dir, 'add', 'secrets.yaml'); // tracked (staged counts)
  await writeFile(path.join(dir, 'state/keys/talos-0123.key'), 'k', 0o600); // a state folder without our .gitignore
  await writeFile(path.join(dir, 'talosconfig.before-r1'), 'old', 0o600); // left by an older version
  const r = await validate(dir);
  t.equal(r.valid, true, JSON.stringify(r.errors));
  const w = exposures(r);
  t.equal(w.length, 1, 'one warning');
  const msg = w[0]!.message;
  t.match(msg, /secrets\.yaml \(the secrets bundle: CA keys; tracked by git\)/);
  t.match(msg, /pki\/talos-2026\.key \(the key of authority talos-2026; not ignored: `git add -A` would stage it\)/);
  t.match(msg, /secrets\.pre-rotation\.yaml \(a secrets bundle: CA keys; not ignored/);
  t.match(msg, /talosconfig \(the talosconfig: an admin key; not ignored/);
  t.match(msg, /state\/keys\/talos-0123\.key \(the state folder: escrowed keys, backups; not ignored/);
  t.match(msg, /talosconfig\.before-r1 \(a backup an earlier run left beside the file/);
  t.notMatch(msg, /pki\/talos-2026\.crt|rotate\.yaml \(/, 'certificates and the desired state are not keys');
  t.match(w[0]!.hint, /`\/state\/`/);
  t.match(w[0]!.hint, /`\/pki\/talos-2026\.key`/);
  t.match(w[0]!.hint, /git rm --cached -r -- secrets\.yaml/);
  t.match(w[0]!.hint, /treat it as leaked/);
});

t.test('everything ignored or outside the work tree: no warning', async (t) => {
  const dir = await repo();
  git(dir, 'init', '-q');
  await writeFile(path.join(dir, '.gitignore'), '/pki/*.key\n/secrets*.yaml\n/talosconfig\n/state/\n');
  await writeFile(path.join(dir, 'state/keys/talos-0123.key'), 'k', 0o600);
  t.same(exposures(await validate(dir)), [], 'ignored');
  await fs.writeFile(path.join(dir, '.gitignore'), '/pki/*.key\n/secrets*.yaml\n/talosconfig\n');
  await writeFile(path.join(dir, 'state/.gitignore'), '*\n');
  t.same(exposures(await validate(dir)), [], 'a state folder with its own ignore-everything .gitignore');
  git(dir, 'add', '-A');
  t.same(
    git(dir, 'diff', '--cached', '--name-only').split('\n').filter(Boolean).sort(),
    [
      '.gitignore',
      'pki/k8s-2026.crt',
      'pki/leaf.crt',
      'pki/expired.crt',
      'pki/talos-2016.crt',
      'pki/talos-2026.crt',
      'rotate.yaml',
    ].sort(),
    'the check agrees with git add -A',
  );
});

t.test('outside a work tree, or without git: no warning and no error', async (t) => {
  const dir = await repo();
  await writeFile(path.join(dir, 'state/keys/x.key'), 'k', 0o600);
  const outside = await validate(dir);
  t.equal(outside.valid, true);
  t.same(exposures(outside), [], 'not a work tree');
  git(dir, 'init', '-q');
  const saved = process.env.PATH;
  process.env.PATH = path.join(dir, 'no-such-bin');
  try {
    const noGit = await validate(dir);
    t.equal(noGit.valid, true, 'git missing is not an error');
    t.same(exposures(noGit), [], 'and not a warning');
  } finally {
    process.env.PATH = saved;
  }
  t.equal(exposures(await validate(dir)).length, 1, 'with git back: the warning');
});
