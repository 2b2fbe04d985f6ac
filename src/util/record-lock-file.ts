/**
 * A lock file: one JSON record, naming its holder and carrying a unique id, created only when no lock
 * exists. The state lock (state/lock.ts) and the lab's folder and loopback-block locks (lab/process/pid-lock.ts)
 * are both this file; they differ only in the record they keep and in when a holder counts as gone.
 *
 * - Created complete or not at all: written to a temp file, fsynced, then link(2)ed to the lock name, which
 *   fails when a lock exists (writeFileAtomic's `exclusive`). A reader never sees a half-written lock.
 * - Removed only by id: the file is first renamed aside (of two removers only one gets it), then checked; a
 *   lock that turns out to be another one (taken between the remover's read and its rename) is linked back
 *   under the lock name. Reading then unlinking would delete a lock taken in between.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs, linkSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import * as path from 'node:path';
import { fsyncDir, writeFileAtomic } from './atomic-file.js';

export interface LockRecordCodec<R> {
  /** The record, or null when the value is not one (a damaged or foreign file). */
  parse(value: unknown): R | null;
  /** The record's unique id: only a remover that knows it may remove the lock. */
  idOf(record: R): string;
}

export class RecordLockFile<R> {
  readonly path: string;
  readonly #codec: LockRecordCodec<R>;

  constructor(lockPath: string, codec: LockRecordCodec<R>) {
    this.path = lockPath;
    this.#codec = codec;
  }

  /** True when the lock was created with this record; false when a lock already exists. */
  async tryCreate(record: R, mode = 0o600): Promise<boolean> {
    try {
      await writeFileAtomic(this.path, `${JSON.stringify(record, null, 2)}\n`, { mode, exclusive: true });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  }

  /** The record; null when there is no lock; `unreadable` when the file is not a record of this kind. */
  async read(): Promise<R | 'unreadable' | null> {
    let text: string;
    try {
      text = await fs.readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    return this.#parseText(text);
  }

  /** Remove the lock if it still has this id; false when it is gone or is another lock now. */
  async remove(id: string): Promise<boolean> {
    const current = await this.read();
    if (current === null || current === 'unreadable' || this.#codec.idOf(current) !== id) return false;
    return this.#removeIf((moved) => moved !== 'unreadable' && this.#codec.idOf(moved) === id);
  }

  /** Remove a lock file that is not a record (damaged); false when it is gone or is a readable lock now. */
  async removeUnreadable(): Promise<boolean> {
    return this.#removeIf((moved) => moved === 'unreadable');
  }

  /** Synchronous `remove`, for exit handlers. */
  removeSync(id: string): boolean {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return false;
    }
    const current = this.#parseText(text);
    if (current === 'unreadable' || this.#codec.idOf(current) !== id) return false;
    const aside = this.#asideName();
    try {
      renameSync(this.path, aside);
    } catch {
      return false;
    }
    const moved = this.#readAsideSync(aside);
    if (moved === 'unreadable' || this.#codec.idOf(moved) !== id) {
      try {
        linkSync(aside, this.path);
      } catch {
        // another lock was created in that instant: it stays
      }
      unlinkSync(aside);
      return false;
    }
    unlinkSync(aside);
    return true;
  }

  #parseText(text: string): R | 'unreadable' {
    try {
      return this.#codec.parse(JSON.parse(text)) ?? 'unreadable';
    } catch {
      return 'unreadable';
    }
  }

  #asideName(): string {
    return `${this.path}.${randomUUID()}.removing`;
  }

  #readAsideSync(aside: string): R | 'unreadable' {
    try {
      return this.#parseText(readFileSync(aside, 'utf8'));
    } catch {
      return 'unreadable';
    }
  }

  async #removeIf(isTheOne: (moved: R | 'unreadable') => boolean): Promise<boolean> {
    const aside = this.#asideName();
    try {
      await fs.rename(this.path, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    let moved: R | 'unreadable';
    try {
      moved = this.#parseText(await fs.readFile(aside, 'utf8'));
    } catch {
      moved = 'unreadable';
    }
    const dir = path.dirname(this.path);
    if (!isTheOne(moved)) {
      try {
        await fs.link(aside, this.path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      await fs.unlink(aside);
      await fsyncDir(dir);
      return false;
    }
    await fs.unlink(aside);
    await fsyncDir(dir);
    return true;
  }
}
