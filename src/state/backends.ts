/**
 * Where a state document is kept: lowdb adapters. lowdb's own JSONFile writes with mode 0644 and no fsync
 * (and its presets switch to memory under NODE_ENV=test), so the file adapter here writes through
 * writeFileAtomic: temp file created 0600 with O_EXCL, written, fsynced, renamed over the state, folder
 * fsynced. Before each write the version being replaced (the last one read and found good) is kept as
 * `<state>.backup`, 0600, the same way. The memory adapter keeps the same texts in memory, so both go
 * through the same parsing, checks and serialisation.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Adapter } from 'lowdb';
import { RotateError } from '../domain/errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { parseStateText, serializeState, type StateLocation } from './codec.js';
import { FileLockSlot, MemoryLockSlot, type LockSlot } from './lock.js';
import { statePaths } from './paths.js';
import { ensureIgnoredPrivateDir } from './state-dir.js';
import type { StateDocument } from './types.js';

/** A lowdb adapter that also says where it keeps the document and where its lock is. */
export interface StateBackend extends Adapter<StateDocument> {
  readonly location: StateLocation;
  readonly lockSlot: LockSlot;
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
  /** The text of the version on disk as last read or written (known good), or null when there is none. */
  #lastGood: string | null | undefined;

  constructor(statePath: string) {
    const paths = statePaths(statePath);
    this.location = { file: paths.state, backup: paths.backup };
    this.lockSlot = new FileLockSlot(paths.lock);
  }

  async read(): Promise<StateDocument | null> {
    let text: string;
    try {
      text = await fs.readFile(this.location.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#lastGood = null;
        return null;
      }
      throw ioError('STATE_READ_FAILED', 'read the state file', this.location.file, err);
    }
    const doc = parseStateText(text, this.location);
    this.#lastGood = text;
    return doc;
  }

  async write(doc: StateDocument): Promise<void> {
    const text = serializeState(doc, this.location);
    if (this.#lastGood === undefined) await this.read();
    try {
      await ensureIgnoredPrivateDir(path.dirname(this.location.file));
      if (this.#lastGood) await writeFileAtomic(this.location.backup!, this.#lastGood, { mode: 0o600 });
    } catch (err) {
      throw ioError('STATE_WRITE_FAILED', 'write the state backup', this.location.backup!, err);
    }
    try {
      await writeFileAtomic(this.location.file, text, { mode: 0o600 });
    } catch (err) {
      throw ioError('STATE_WRITE_FAILED', 'write the state file', this.location.file, err);
    }
    this.#lastGood = text;
  }
}

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

  async read(): Promise<StateDocument | null> {
    return this.backing.text === null ? null : parseStateText(this.backing.text, this.location);
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
  }
}
