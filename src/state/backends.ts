/**
 * Where a state document is kept: lowdb adapters. lowdb's own JSONFile writes with mode 0644 and no fsync
 * (and its presets switch to memory under NODE_ENV=test), so the file adapter here writes through
 * writeFileAtomic: temp file created 0600 with O_EXCL, written, fsynced, renamed over the state, folder
 * fsynced. Before each write the version being replaced (the last one read and found good) is kept as
 * `<state>.backup`, 0600, the same way. The memory adapter keeps the same texts in memory, so both go
 * through the same parsing, checks and serialisation.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Adapter } from 'lowdb';
import { RotateError } from '../domain/errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { encodeState, parseStateText, serializeState, type StateLocation } from './codec.js';
import { FileLockSlot, MemoryLockSlot, type LockSlot } from './lock.js';
import { statePaths } from './paths.js';
import { ensureIgnoredPrivateDir } from './state-dir.js';
import type { StateDocument } from './types.js';

/** A lowdb adapter that also says where it keeps the document and where its lock is. */
export interface StateBackend extends Adapter<StateDocument> {
  readonly location: StateLocation;
  readonly lockSlot: LockSlot;
  /**
   * Whether the stored text is still exactly the one this backend last read or wrote (so the store may
   * skip parsing it again); false when unsure. Optional: without it the store re-reads before each write.
   */
  unchanged?(): Promise<boolean>;
}

/** An I/O failure on a state file, as a RotateError naming the file (the errno text never holds state content). */
function ioError(code: string, action: string, file: string, err: unknown): RotateError {
  const errno = (err as NodeJS.ErrnoException).code;
  const reason = err instanceof Error ? err.message : String(err);
  return new RotateError(code, `cannot ${action} ${file}: ${reason}`, {
    hint:
      errno === 'EACCES' || errno === 'EPERM'
        ? `check the permissions of ${file} and its folder`
        : errno === 'ENOSPC'
          ? 'free some disk space and run again; the state on disk was not changed'
          : 'the state on disk was not changed; fix the problem and run again',
    cause: err,
  });
}

export class PrivateJsonFile implements StateBackend {
  readonly location: StateLocation;
  readonly lockSlot: LockSlot;
  /** The bytes of the version on disk as last read or written (known good), or null when there is none. */
  #lastGood: Buffer[] | null | undefined;
  /** Where unchanged() reads the file, a block at a time. */
  #block: Buffer | undefined;

  constructor(statePath: string) {
    const paths = statePaths(statePath);
    this.location = { file: paths.state, backup: paths.backup };
    this.lockSlot = new FileLockSlot(paths.lock);
  }

  async read(): Promise<StateDocument | null> {
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(this.location.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#lastGood = null;
        return null;
      }
      throw ioError('STATE_READ_FAILED', 'read the state file', this.location.file, err);
    }
    const doc = parseStateText(bytes.toString('utf8'), this.location);
    this.#lastGood = [bytes];
    return doc;
  }

  async unchanged(): Promise<boolean> {
    if (this.#lastGood === undefined) return false;
    try {
      // Bytes against bytes: decoding a large state to compare it cost as much as parsing it, and reading
      // it whole into a new buffer on every write cost more than the write (a state with past runs is large).
      return this.#lastGood !== null && (await this.#fileHolds(this.#lastGood));
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT' && this.#lastGood === null;
    }
  }

  /** Whether the file holds exactly `chunks`, read a block at a time into one buffer. */
  async #fileHolds(chunks: readonly Buffer[]): Promise<boolean> {
    const handle = await fs.open(this.location.file, 'r');
    try {
      const total = chunks.reduce((n, c) => n + c.byteLength, 0);
      if ((await handle.stat()).size !== total) return false;
      const block = (this.#block ??= Buffer.allocUnsafe(1 << 20));
      let chunk = 0;
      let inChunk = 0;
      for (let pos = 0; pos < total;) {
        const { bytesRead } = await handle.read(block, 0, block.byteLength, pos);
        if (bytesRead === 0) return false;
        for (let k = 0; k < bytesRead;) {
          const c = chunks[chunk]!;
          const n = Math.min(c.byteLength - inChunk, bytesRead - k);
          if (!block.subarray(k, k + n).equals(c.subarray(inChunk, inChunk + n))) return false;
          k += n;
          inChunk += n;
          if (inChunk === c.byteLength) {
            chunk += 1;
            inChunk = 0;
          }
        }
        pos += bytesRead;
      }
      return true;
    } finally {
      await handle.close();
    }
  }

  async write(doc: StateDocument): Promise<void> {
    const bytes = encodeState(doc, this.location);
    if (this.#lastGood === undefined) await this.read();
    try {
      await ensureIgnoredPrivateDir(path.dirname(this.location.file));
      if (this.#lastGood) await this.#keepBackup(this.#lastGood);
    } catch (err) {
      throw ioError('STATE_WRITE_FAILED', 'write the state backup', this.location.backup!, err);
    }
    try {
      await writeFileAtomic(this.location.file, bytes, { mode: 0o600 });
    } catch (err) {
      throw ioError('STATE_WRITE_FAILED', 'write the state file', this.location.file, err);
    }
    this.#lastGood = bytes;
  }

  /**
   * `<state>.backup` := the version about to be replaced. That version is on disk and already durable (it
   * was fsynced when written), so the backup is a hard link to it, made under a temp name and renamed
   * over the backup (atomic; the state write's folder fsync makes both renames durable): no second copy of
   * a large document written and fsynced on every write. Where hard links are not supported, the text
   * is written as before.
   */
  async #keepBackup(lastGood: readonly Buffer[]): Promise<void> {
    const backup = this.location.backup!;
    const tmp = path.join(path.dirname(backup), `.${path.basename(backup)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await fs.link(this.location.file, tmp);
      // Same inode as the state being replaced: a state someone loosened must not leave a loose backup.
      await fs.chmod(tmp, 0o600);
      await fs.rename(tmp, backup);
    } catch (err) {
      await fs.unlink(tmp).catch(() => undefined);
      if (!LINK_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
      await writeFileAtomic(backup, lastGood, { mode: 0o600 });
    }
  }
}

/** link(2) errors meaning "this filesystem has no hard links here" (not a failure of the state folder). */
const LINK_UNSUPPORTED = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EMLINK', 'ENOSYS']);

/** The texts a memory state keeps; share one between stores to play two processes on one state. */
export class MemoryStateBacking {
  text: string | null = null;
  backupText: string | null = null;
  readonly lockSlot = new MemoryLockSlot();
}

export class MemoryStateAdapter implements StateBackend {
  readonly location: StateLocation = { file: '(memory)', backup: '(memory backup)' };
  readonly backing: MemoryStateBacking;

  constructor(backing: MemoryStateBacking = new MemoryStateBacking()) {
    this.backing = backing;
  }

  get lockSlot(): LockSlot {
    return this.backing.lockSlot;
  }

  /** The text last read or written by this adapter (undefined: none yet). */
  #last: string | null | undefined;

  async read(): Promise<StateDocument | null> {
    const text = this.backing.text;
    const doc = text === null ? null : parseStateText(text, this.location);
    this.#last = text;
    return doc;
  }

  async unchanged(): Promise<boolean> {
    return this.#last !== undefined && this.backing.text === this.#last;
  }

  async write(doc: StateDocument): Promise<void> {
    const text = serializeState(doc, this.location);
    if (this.backing.text !== null) {
      // Keep only a version that reads back (as the file adapter keeps the last good version).
      try {
        parseStateText(this.backing.text, this.location);
        this.backing.backupText = this.backing.text;
      } catch {
        // damaged: keep the older backup
      }
    }
    this.backing.text = text;
    this.#last = text;
  }
}
