/**
 * `rotate state encrypt` / `rotate state decrypt`: bring everything secret in a state folder to one form,
 * under the state's lock: the state file and its backup, the escrowed keys (`keys/*.key`) and the backups
 * of replaced output files (`backups/<run>/*`). Each file is rewritten atomically (0600) and only when its
 * form changes, so a run interrupted halfway is simply run again. Certificates (`keys/*.crt`) and the lock
 * are not secret and stay as they are.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { RotateError } from '../domain/errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { parseStateText } from './codec.js';
import {
  configuredStateCipher,
  isSealed,
  openIfSealed,
  STATE_KEY_ENV,
  STATE_KEY_FILE_ENV,
  type SealedPurpose,
} from './encryption.js';
import { statePaths } from './paths.js';

export type SealDirection = 'encrypt' | 'decrypt';

export interface SealReport {
  changed: string[];
  unchanged: number;
}

async function listFiles(dir: string, keep: (name: string) => boolean): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  const out: string[] = [];
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p, keep)));
    else if (e.isFile() && keep(e.name) && !e.name.startsWith('.')) out.push(p);
  }
  return out;
}

/** The secret files of the state at `statePath`, with what each holds. */
export async function secretFilesOf(statePath: string): Promise<{ file: string; purpose: SealedPurpose }[]> {
  const paths = statePaths(statePath);
  const files: { file: string; purpose: SealedPurpose }[] = [];
  for (const f of [paths.state, paths.backup]) {
    if (
      await fs.stat(f).then(
        () => true,
        () => false,
      )
    )
      files.push({ file: f, purpose: 'state' });
  }
  for (const f of await listFiles(paths.keysDir, (n) => n.endsWith('.key')))
    files.push({ file: f, purpose: 'escrowed-key' });
  for (const f of await listFiles(path.join(paths.dir, 'backups'), () => true))
    files.push({ file: f, purpose: 'output-backup' });
  return files;
}

export async function sealStateFolder(statePath: string, direction: SealDirection): Promise<SealReport> {
  const cipher = configuredStateCipher();
  if (!cipher) {
    throw new RotateError('STATE_KEY_REQUIRED', `\`rotate state ${direction}\` needs the state key`, {
      hint:
        `set ${STATE_KEY_ENV} (32 random bytes, base64 or hex; e.g. ` +
        `\`openssl rand -base64 32\`) or ${STATE_KEY_FILE_ENV}; nothing was changed`,
    });
  }
  const files = await secretFilesOf(statePath);
  // Read and check everything first: a wrong key or a damaged file stops before anything is rewritten.
  const plan: { file: string; content: string | Buffer }[] = [];
  let unchanged = 0;
  for (const { file, purpose } of files) {
    const stored = await fs.readFile(file);
    const text = stored.toString('utf8');
    const sealed = isSealed(text);
    const plain = sealed ? openIfSealed(text, purpose, file) : null;
    if (purpose === 'state') parseStateText(plain ?? text, { file, backup: null });
    if (direction === 'encrypt' && !sealed) plan.push({ file, content: cipher.seal(stored, purpose) });
    else if (direction === 'decrypt' && sealed) plan.push({ file, content: plain! });
    else unchanged++;
  }
  for (const { file, content } of plan) await writeFileAtomic(file, content, { mode: 0o600 });
  return { changed: plan.map((p) => p.file), unchanged };
}
