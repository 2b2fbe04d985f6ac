/**
 * Key escrow: before apply touches the first node, every private key the rotation introduces or that a
 * rollback would need (the current issuing keys included) is written to the state folder, so no later
 * write (a secrets bundle, a machine config) can lose a key a rollback needs.
 *
 *   <state dir>/keys/            0700
 *     <api>-<fingerprint16>.key  0600, the key as obtained (PEM), written once and never replaced
 *     <api>-<fingerprint16>.crt  0600, its certificate, so a person can pair them by hand
 *
 * Each file is written through writeFileAtomic (O_EXCL temp file, fsync, link/rename, folder fsync).
 * Escrow is idempotent: a key file that is already there and belongs to the certificate is kept; one that
 * does not is an error and is never overwritten. Keys are held as Secret and never printed; errors name
 * the authority, the fingerprint, the file and where the key was looked for.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { RotateError } from '../../domain/errors.js';
import { Secret } from '../../domain/secret.js';
import { shortFingerprint, type ApiKind, type Fingerprint } from '../../domain/types.js';
import { assertKeyMatches, fingerprintOfPem } from '../../pki/index.js';
import { containsKeyMaterial } from '../../state/key-material.js';
import type { KeyRole } from '../../state/types.js';
import { ensureIgnoredPrivateDir } from '../../state/state-dir.js';
import { openIfSealed, sealIfConfigured } from '../../state/encryption.js';
import { fsyncDir, writeFileAtomic, pathExists } from '../../util/atomic-file.js';

export const KEYS_DIR_NAME = 'keys';

export interface EscrowItem {
  api: ApiKind;
  fingerprint: Fingerprint;
  role: KeyRole;
  /** The certificate the key belongs to (PEM): the key is checked against it. */
  certPem: string;
  /** The authority's name for messages (`talos-2026`), or null when it has none. */
  name: string | null;
  /** Where obtain() looks, for messages: `key file /x/ca.key`, `machine config of 127.0.0.10`, … */
  source: string;
  /** Fetch the key; only called when no escrowed copy exists yet. */
  obtain: () => Promise<Secret>;
}

/** What was escrowed (or found escrowed): the state records it with StateStore.recordKey. */
export interface EscrowedKey {
  api: ApiKind;
  fingerprint: Fingerprint;
  role: KeyRole;
  /** Absolute path of the key file. */
  file: string;
  /** Absolute path of the certificate beside it. */
  certificateFile: string;
  /** Already escrowed by an earlier run (kept as it was). */
  kept: boolean;
}

const API_TITLE: Record<ApiKind, string> = { talos: 'Talos API', kubernetes: 'Kubernetes API' };

export function escrowDir(stateDir: string): string {
  return path.join(path.resolve(stateDir), KEYS_DIR_NAME);
}

export function escrowKeyPath(stateDir: string, api: ApiKind, fingerprint: Fingerprint): string {
  return path.join(escrowDir(stateDir), `${api}-${shortFingerprint(fingerprint)}.key`);
}

export function escrowCertificatePath(stateDir: string, api: ApiKind, fingerprint: Fingerprint): string {
  return path.join(escrowDir(stateDir), `${api}-${shortFingerprint(fingerprint)}.crt`);
}

function describeKey(item: { api: ApiKind; fingerprint: Fingerprint; name?: string | null; role?: KeyRole }): string {
  const name = item.name ? `${item.name} ` : '';
  const what = item.role === 'client' ? 'client certificate' : 'CA';
  return `the ${API_TITLE[item.api]} ${what} ${name}(${shortFingerprint(item.fingerprint)})`;
}

/** An error's text without key material (a key could only get there through a bug elsewhere). */
function safeText(err: unknown): string {
  const text = RotateError.is(err)
    ? `${err.message}${err.hint ? ` (${err.hint})` : ''}`
    : err instanceof Error
      ? err.message
      : String(err);
  return containsKeyMaterial(text) ? '(message withheld: it held key material)' : text;
}

function modeText(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

type Existing = { state: 'missing' } | { state: 'matches' } | { state: 'problem'; error: RotateError };

/** Is there an escrowed key for this certificate, and is it sound? */
async function inspectEscrowed(file: string, certPem: string, what: string): Promise<Existing> {
  let stat;
  try {
    stat = await fs.lstat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
    throw err;
  }
  if (!stat.isFile()) {
    return {
      state: 'problem',
      error: new RotateError('KEYS_ESCROW_NOT_FILE', `escrowed key ${file} of ${what} is not a regular file`, {
        hint: `move ${file} away (it was not written by talos-rotate) and run again`,
      }),
    };
  }
  if ((stat.mode & 0o077) !== 0) {
    return {
      state: 'problem',
      error: new RotateError(
        'KEYS_ESCROW_MODE',
        `escrowed key ${file} of ${what} can be read by others (mode ${modeText(stat.mode)})`,
        {
          hint: `run \`chmod 600 ${file}\`; if other users could read it, treat the key as exposed and plan a new CA`,
        },
      ),
    };
  }
  const key = new Secret(openIfSealed(await fs.readFile(file, 'utf8'), 'escrowed-key', `escrowed key ${file}`));
  try {
    assertKeyMatches(certPem, key, what);
  } catch (err) {
    if (!RotateError.is(err)) throw err;
    const mismatch = err.code === 'PKI_KEY_MISMATCH';
    return {
      state: 'problem',
      error: new RotateError(
        mismatch ? 'KEYS_ESCROW_MISMATCH' : 'KEYS_ESCROW_UNREADABLE',
        mismatch
          ? `escrowed key ${file} does not belong to ${what}`
          : `escrowed key ${file} of ${what} cannot be read: ${safeText(err)}`,
        {
          hint:
            `talos-rotate never overwrites an escrowed key: find out where ${file} came from, ` +
            'move it aside if it is not needed, and run again',
        },
      ),
    };
  }
  return { state: 'matches' };
}

/** Create `<state dir>/keys` 0700 (tightened if it exists looser) and make its entry durable. */
async function preparePrivateDir(dir: string): Promise<void> {
  // Its own ignore-everything .gitignore too: with `--state` inside a repository, the state folder may be
  // the operator's (no .gitignore of ours), but keys/ never is.
  await ensureIgnoredPrivateDir(dir);
  await fs.chmod(dir, 0o700);
  await fsyncDir(path.dirname(dir));
}

/**
 * Escrow every key in `items` (see the module comment). All keys are obtained and checked before anything
 * is written; if any cannot be, KEYS_UNAVAILABLE lists each (authority, fingerprint, where it looked) and
 * nothing new is written.
 */
export async function escrowKeys(stateDir: string, items: EscrowItem[]): Promise<EscrowedKey[]> {
  const unique: EscrowItem[] = [];
  for (const item of items) {
    if (fingerprintOfPem(item.certPem) !== item.fingerprint) {
      throw new RotateError(
        'KEYS_CERT_MISMATCH',
        `the certificate given for ${describeKey(item)} has another fingerprint`,
        {
          hint: 'nothing was written',
          source: 'internal',
        },
      );
    }
    if (!unique.some((u) => u.api === item.api && u.fingerprint === item.fingerprint)) unique.push(item);
  }

  const toWrite: { item: EscrowItem; key: Secret }[] = [];
  const kept: EscrowItem[] = [];
  const problems: string[] = [];
  const hard: RotateError[] = [];
  for (const item of unique) {
    const what = describeKey(item);
    const file = escrowKeyPath(stateDir, item.api, item.fingerprint);
    const existing = await inspectEscrowed(file, item.certPem, what);
    if (existing.state === 'matches') {
      kept.push(item);
      continue;
    }
    if (existing.state === 'problem') {
      hard.push(existing.error);
      continue;
    }
    let key: Secret;
    try {
      key = await item.obtain();
    } catch (err) {
      problems.push(`${what}, ${item.role}: ${safeText(err)} (looked in ${item.source})`);
      continue;
    }
    try {
      assertKeyMatches(item.certPem, key, what);
    } catch (err) {
      if (!RotateError.is(err)) throw err;
      problems.push(
        `${what}, ${item.role}: the key found in ${item.source} does not belong to its certificate (${err.code})`,
      );
      continue;
    }
    toWrite.push({ item, key });
  }
  if (hard.length > 0) {
    if (hard.length === 1) throw hard[0]!;
    throw new RotateError(
      'KEYS_ESCROW_PROBLEMS',
      `escrowed keys in ${escrowDir(stateDir)} need ` +
        `attention: ${hard.map((e) => `${e.code}: ${e.message}`).join('; ')}`,
      {
        hint: 'talos-rotate never overwrites an escrowed key; resolve each file named and run again',
      },
    );
  }
  if (problems.length > 0) {
    throw new RotateError(
      'KEYS_UNAVAILABLE',
      `cannot escrow ${problems.length === 1 ? 'a key' : `${problems.length} keys`} a rollback would ` +
        `need: ${problems.join('; ')}`,
      {
        hint:
          'no node is touched until every such key is saved in the state folder; ' +
          'make each key available where it was looked for (the desired-state file names new keys; ' +
          "current issuing keys come from a control plane's machine config) and run again",
      },
    );
  }

  const dir = escrowDir(stateDir);
  await preparePrivateDir(dir);
  for (const { item, key } of toWrite) {
    const file = escrowKeyPath(stateDir, item.api, item.fingerprint);
    await writeFileAtomic(escrowCertificatePath(stateDir, item.api, item.fingerprint), ensureNewline(item.certPem), {
      mode: 0o600,
    });
    try {
      // Sealed when a state key is configured (state/encryption.ts).
      await writeFileAtomic(file, sealIfConfigured(ensureNewline(key.reveal()), 'escrowed-key'), {
        mode: 0o600,
        exclusive: true,
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Another process escrowed it meanwhile: keep theirs if it is the same key.
      const again = await inspectEscrowed(file, item.certPem, describeKey(item));
      if (again.state === 'problem') throw again.error;
    }
  }
  for (const item of kept) {
    // An older escrow may predate the certificate file.
    const cert = escrowCertificatePath(stateDir, item.api, item.fingerprint);
    if (!(await pathExists(cert))) await writeFileAtomic(cert, ensureNewline(item.certPem), { mode: 0o600 });
  }
  return unique.map((item) => ({
    api: item.api,
    fingerprint: item.fingerprint,
    role: item.role,
    file: escrowKeyPath(stateDir, item.api, item.fingerprint),
    certificateFile: escrowCertificatePath(stateDir, item.api, item.fingerprint),
    kept: kept.includes(item),
  }));
}

/** The escrowed key of the certificate `certPem` (fingerprint `fingerprint`), checked to match it. */
export async function loadEscrowedKey(
  stateDir: string,
  api: ApiKind,
  fingerprint: Fingerprint,
  certPem: string,
): Promise<Secret> {
  const what = describeKey({ api, fingerprint });
  if (fingerprintOfPem(certPem) !== fingerprint) {
    throw new RotateError('KEYS_CERT_MISMATCH', `the certificate given for ${what} has another fingerprint`, {
      source: 'internal',
    });
  }
  const file = escrowKeyPath(stateDir, api, fingerprint);
  const existing = await inspectEscrowed(file, certPem, what);
  if (existing.state === 'missing') {
    throw new RotateError('KEYS_ESCROW_MISSING', `no escrowed key for ${what}: ${file} does not exist`, {
      hint:
        'keys are escrowed by the run that introduced them; restore the state folder (with its keys/) ' +
        'from a backup, or name the key in the desired-state file',
    });
  }
  if (existing.state === 'problem') throw existing.error;
  return new Secret(openIfSealed(await fs.readFile(file, 'utf8'), 'escrowed-key', `escrowed key ${file}`));
}

function ensureNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}
