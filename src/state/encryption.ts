/**
 * Optional encryption at rest of what the state folder holds: the state file (and its backup), the escrowed
 * CA keys (`keys/*.key`) and the backups of replaced talosconfig, kubeconfig and secrets bundle files. With
 * it, a pipeline can keep `state/` as an artifact or cache between runs.
 *
 * The key is 32 random bytes (base64 or hex), from `ROTATE_STATE_KEY` or from the file `ROTATE_STATE_KEY_FILE`
 * names (mode 0600 or stricter); e.g. `openssl rand -base64 32`. Encryption is AES-256-GCM from Node's own
 * crypto, a fresh 96-bit IV per write, the kind of content as additional authenticated data (a key file
 * cannot be passed off as the state). A sealed file is one JSON object naming the format, so a reader knows
 * it is sealed, and an id derived from the key (not the key), so a wrong key is told apart from damage.
 * With a key configured every write is sealed; a plain file is still read (that is how a state becomes
 * encrypted: `rotate state encrypt`, or simply its next write).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { RotateError, internalError } from '../domain/errors.js';

export const STATE_KEY_ENV = 'ROTATE_STATE_KEY';
export const STATE_KEY_FILE_ENV = 'ROTATE_STATE_KEY_FILE';
const FORMAT = 'talos-rotate-sealed';

/** What a sealed file holds; bound into the ciphertext as additional authenticated data. */
export type SealedPurpose = 'state' | 'escrowed-key' | 'output-backup';

interface Envelope {
  format: typeof FORMAT;
  version: 1;
  purpose: SealedPurpose;
  cipher: 'aes-256-gcm';
  keyId: string;
  iv: string;
  tag: string;
  data: string;
}

const KEY_HINT =
  `set ${STATE_KEY_ENV} to 32 random bytes in base64 or hex (e.g. ` +
  `\`openssl rand -base64 32\`), or ${STATE_KEY_FILE_ENV} to a 0600 file holding them`;

export class StateCipher {
  readonly #key: Buffer;
  /** Names the key without revealing it (a truncated hash under a fixed label). */
  readonly keyId: string;

  constructor(key: Buffer) {
    if (key.length !== 32) throw internalError('STATE_INTERNAL', 'a state key is 32 bytes');
    this.#key = Buffer.from(key);
    this.keyId = createHash('sha256')
      .update('talos-rotate state key id\0')
      .update(this.#key)
      .digest('hex')
      .slice(0, 16);
  }

  seal(plain: string | Uint8Array, purpose: SealedPurpose): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(`${FORMAT}:${purpose}`));
    const data = Buffer.concat([
      cipher.update(typeof plain === 'string' ? Buffer.from(plain, 'utf8') : plain),
      cipher.final(),
    ]);
    const envelope: Envelope = {
      format: FORMAT,
      version: 1,
      purpose,
      cipher: 'aes-256-gcm',
      keyId: this.keyId,
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      data: data.toString('base64'),
    };
    return `${JSON.stringify(envelope)}\n`;
  }

  /** The plain bytes of a sealed text; `what` names the file in errors. */
  open(text: string, purpose: SealedPurpose, what: string): Buffer {
    const e = envelopeOf(text);
    if (!e || e.version !== 1 || e.cipher !== 'aes-256-gcm') {
      throw new RotateError(
        'STATE_SEALED_UNREADABLE',
        `${what} is not a sealed file this version of talos-rotate reads`,
        { hint: 'restore it from a backup' },
      );
    }
    if (e.purpose !== purpose) {
      throw new RotateError('STATE_SEALED_UNREADABLE', `${what} holds a sealed ${e.purpose}, not a sealed ${purpose}`, {
        hint: 'put the right file back (a file was moved or copied over this one)',
      });
    }
    if (e.keyId !== this.keyId) {
      throw new RotateError(
        'STATE_KEY_WRONG',
        `${what} is encrypted with another key (key id ${e.keyId}; the key given has id ${this.keyId})`,
        {
          hint:
            `set ${STATE_KEY_ENV} (or ${STATE_KEY_FILE_ENV}) to the key this state was encrypted with; ` +
            'nothing was changed',
        },
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(e.iv, 'base64'));
      decipher.setAAD(Buffer.from(`${FORMAT}:${purpose}`));
      decipher.setAuthTag(Buffer.from(e.tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(e.data, 'base64')), decipher.final()]);
    } catch {
      throw new RotateError(
        'STATE_SEALED_DAMAGED',
        `${what} does not decrypt with the right key: it was damaged or altered`,
        {
          hint: 'restore it from a backup (the state file has one beside it, `.backup`)',
        },
      );
    }
  }
}

const SEALED_PREFIX = `{"format":"${FORMAT}"`;

function envelopeOf(text: string): Envelope | null {
  if (!isSealed(text)) return null;
  try {
    return JSON.parse(text) as Envelope;
  } catch {
    return null;
  }
}

/** A sealed file (whatever the key), as opposed to plain text: told by its opening alone (open checks the rest). */
export function isSealed(text: string): boolean {
  return text.trimStart().startsWith(SEALED_PREFIX);
}

function parseKey(value: string, where: string): Buffer {
  const v = value.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(v)
    ? Buffer.from(v, 'hex')
    : /^[A-Za-z0-9+/]{43}=?$/.test(v)
      ? Buffer.from(v, 'base64')
      : null;
  if (!key || key.length !== 32) {
    throw new RotateError(
      'STATE_KEY_INVALID',
      `${where} is not a state key: it must be 32 random bytes, base64 (44 characters) or hex (64)`,
      { hint: KEY_HINT },
    );
  }
  return key;
}

/**
 * The cipher the environment configures, or null (state kept in plain text). Errors name the variable, never its value.
 */
export function stateCipherFromEnv(env: NodeJS.ProcessEnv = process.env): StateCipher | null {
  const inline = env[STATE_KEY_ENV];
  const file = env[STATE_KEY_FILE_ENV];
  if (inline && file) {
    throw new RotateError('STATE_KEY_INVALID', `both ${STATE_KEY_ENV} and ${STATE_KEY_FILE_ENV} are set`, {
      hint: 'set one of them',
    });
  }
  if (inline) return new StateCipher(parseKey(inline, `$${STATE_KEY_ENV}`));
  if (!file) return null;
  let text: string;
  try {
    const mode = statSync(file).mode;
    if ((mode & 0o077) !== 0) {
      throw new RotateError(
        'STATE_KEY_INVALID',
        `the state key file ${file} (${STATE_KEY_FILE_ENV}) ` +
          `is readable by others (mode ${(mode & 0o777).toString(8).padStart(4, '0')})`,
        {
          hint: `chmod 600 ${file}`,
        },
      );
    }
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (RotateError.is(err)) throw err;
    throw new RotateError(
      'STATE_KEY_INVALID',
      `cannot read the state key file ${file} ` +
        `(${STATE_KEY_FILE_ENV}): ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      { hint: KEY_HINT },
    );
  }
  return new StateCipher(parseKey(text, `the state key file ${file}`));
}

let configured: { cipher: StateCipher | null } | null = null;

/** The process's state cipher (from the environment, read once). */
export function configuredStateCipher(): StateCipher | null {
  configured ??= { cipher: stateCipherFromEnv() };
  return configured.cipher;
}

/** For tests in one process: use this cipher (or none) instead of the environment's; undefined re-reads it. */
export function setStateCipherForTests(cipher: StateCipher | null | undefined): void {
  configured = cipher === undefined ? null : { cipher };
}

/** Seal when a key is configured; the text as it is otherwise. */
export function sealIfConfigured(plain: string, purpose: SealedPurpose): string {
  const cipher = configuredStateCipher();
  return cipher ? cipher.seal(plain, purpose) : plain;
}

/** The plain content of a file that may be sealed; a sealed one needs the key. */
export function openIfSealed(text: string, purpose: SealedPurpose, what: string): string {
  if (!isSealed(text)) return text;
  const cipher = configuredStateCipher();
  if (!cipher) {
    throw new RotateError('STATE_KEY_REQUIRED', `${what} is encrypted, and no state key is given`, {
      hint:
        `set ${STATE_KEY_ENV} (or ${STATE_KEY_FILE_ENV}) to the key the state was encrypted with; ` +
        'nothing was changed',
    });
  }
  return cipher.open(text, purpose, what).toString('utf8');
}
