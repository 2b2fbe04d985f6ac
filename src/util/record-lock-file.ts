/**
 * A lock file: one JSON record, naming its holder and carrying a unique id, created only when no lock
 * exists. The state lock (state/lock.ts) and the lab's folder and loopback-block locks (lab/process/pid-lock.ts)
 * are both this file; they differ only in the record they keep and in when a holder counts as gone.
 *
 * - Created complete or not at all: written to a temp file, fsynced, then link(2)ed to the lock name, which
 *   fails when a lock exists (writeFileAtomic's `exclusive`). A reader never sees a half-written lock.
 * - Removed only by id, and only by the remover that holds that id's removal claim (`<lock>.<hash of id>.removing`,
 *   created exclusively). Holding it, the remover checks that the lock still has the id and unlinks it. Nothing
 *   else can change an existing lock in between: creating needs the name free, and every other remover of
 *   that id waits on the claim. Ids are never reused, so a remover that finds another lock (or none) knows
 *   its lock is gone for good and leaves the file alone. The lock name is never emptied by someone who does
 *   not own what it holds: renaming the lock aside to inspect it did, and let a second creator in.
 * - A claim whose owner died between claiming and unlinking (a kill -9) is passed by claiming the next link,
 *   `<claim>.<its nonce>`; claims are written whole, so an owner is always readable while it lives.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fsyncDir, writeFileAtomic } from './atomic-file.js';
import { currentIdentity, holderLiveness, type HolderIdentity } from './process-identity.js';

export interface LockRecordCodec<R> {
  /** The record, or null when the value is not one (a damaged or foreign file). */
  parse(value: unknown): R | null;
  /** The record's unique id: only a remover that knows it may remove the lock. */
  idOf(record: R): string;
}

/**
 * Who holds a removal claim: enough to tell a live remover (wait for it) from one proven gone (pass it). A
 * remover on another host or in another pid namespace (a shared state folder) cannot be checked: waited for.
 */
interface ClaimRecord extends HolderIdentity {
  nonce: string;
}

/** How long a remover waits for another live remover of the same lock to finish (it takes milliseconds). */
const CLAIM_WAIT_MS = 5_000;
const CLAIM_POLL_MS = 5;
/** Dead claims passed before giving up: each one is a remover killed inside a few system calls. */
const MAX_CLAIM_LINKS = 16;

type Claim = { held: true; path: string; passed: string[] } | { held: false; busy: string | null };

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
    const text = await this.#readText();
    return text === null ? null : this.#parseText(text);
  }

  /**
   * Remove the lock if it still has this id; false when it is gone or is another lock now. When another
   * process is removing the same lock, waits (briefly) for it and returns false: the lock is then gone.
   */
  async remove(id: string): Promise<boolean> {
    const isTheOne = (text: string | null): boolean => text !== null && this.#idOfText(text) === id;
    if (!isTheOne(await this.#readText())) return false;
    return this.#removeClaimed(this.#claimBase(id), isTheOne);
  }

  /** Remove a lock file that is not a record (damaged); false when it is gone or is a readable lock now. */
  async removeUnreadable(): Promise<boolean> {
    const text = await this.#readText();
    if (text === null || this.#parseText(text) !== 'unreadable') return false;
    // A damaged file has no id: its content stands in for one.
    const digest = damagedId(text);
    return this.#removeClaimed(
      this.#claimBase(digest),
      (now) => now !== null && this.#parseText(now) === 'unreadable' && damagedId(now) === digest,
    );
  }

  /** Synchronous `remove`, for exit handlers: it never waits, and leaves a lock another remover is taking. */
  removeSync(id: string): boolean {
    const isTheOne = (text: string | null): boolean => text !== null && this.#idOfText(text) === id;
    if (!isTheOne(readTextSync(this.path))) return false;
    const claimPath = this.#claimBase(id);
    const claim = newClaim();
    try {
      linkWholeSync(claimPath, claim);
    } catch {
      return false; // another remover has it (or a dead one did: the next start takes it over)
    }
    try {
      if (!isTheOne(readTextSync(this.path))) return false;
      unlinkSync(this.path);
      return true;
    } finally {
      tryUnlinkSync(claimPath);
    }
  }

  /** The id is hashed into the name: it is read from the lock file, so it must not choose the path. */
  #claimBase(id: string): string {
    return `${this.path}.${createHash('sha256').update(id).digest('hex').slice(0, 24)}.removing`;
  }

  async #readText(): Promise<string | null> {
    try {
      return await fs.readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  #idOfText(text: string): string | null {
    const record = this.#parseText(text);
    return record === 'unreadable' ? null : this.#codec.idOf(record);
  }

  #parseText(text: string): R | 'unreadable' {
    try {
      return this.#codec.parse(JSON.parse(text)) ?? 'unreadable';
    } catch {
      return 'unreadable';
    }
  }

  async #removeClaimed(base: string, isTheOne: (text: string | null) => boolean): Promise<boolean> {
    const claim = await claimRemoval(base);
    if (!claim.held) {
      if (claim.busy !== null) await waitUntilGone(claim.busy, CLAIM_WAIT_MS);
      return false;
    }
    const dir = path.dirname(this.path);
    try {
      if (!isTheOne(await this.#readText())) return false;
      await fs.unlink(this.path);
      await fsyncDir(dir);
      return true;
    } finally {
      // Our claim, and the dead ones passed on the way: the id is gone for good now, so a late remover
      // that claims it afresh finds another lock (or none) and leaves it.
      for (const p of [claim.path, ...claim.passed.reverse()]) await fs.unlink(p).catch(() => undefined);
    }
  }
}

function damagedId(text: string): string {
  return `damaged-${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
}

function newClaim(): string {
  const record: ClaimRecord = { ...currentIdentity(), nonce: randomBytes(12).toString('hex') };
  return JSON.stringify(record);
}

function parseClaim(text: string | null): ClaimRecord | 'unreadable' | null {
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as Partial<ClaimRecord>;
    if (
      typeof v.pid === 'number' &&
      typeof v.host === 'string' &&
      typeof v.nonce === 'string' &&
      /^[0-9a-f]+$/.test(v.nonce)
    ) {
      const orNull = (x: unknown): string | null => (typeof x === 'string' ? x : null);
      return {
        host: v.host,
        bootId: orNull(v.bootId),
        pidNamespace: orNull(v.pidNamespace),
        pid: v.pid,
        processStart: orNull(v.processStart),
        nonce: v.nonce,
      };
    }
  } catch {
    // not a claim
  }
  return 'unreadable';
}

/**
 * Take the removal claim at `base`, passing claims whose owners are dead. Not held: `busy` names the claim
 * of a live remover (wait for it), or null when the chain ends without one (it was finished meanwhile).
 */
async function claimRemoval(base: string): Promise<Claim> {
  const mine = newClaim();
  const passed: string[] = [];
  let link = base;
  for (let i = 0; i < MAX_CLAIM_LINKS; i++) {
    if (await linkWhole(link, mine)) return { held: true, path: link, passed };
    const other = parseClaim(await fs.readFile(link, 'utf8').catch(() => null));
    if (other === null) return { held: false, busy: null }; // that remover finished: its lock is gone
    // A claim is linked whole, so an unreadable one was cut by a crash (power loss): its owner is gone.
    if (other !== 'unreadable' && holderLiveness(other).state !== 'gone') return { held: false, busy: link };
    passed.push(link);
    link = `${link}.${other === 'unreadable' ? 'x' : other.nonce}`;
  }
  return { held: false, busy: null };
}

/** Create `target` holding `text`, whole, only if it does not exist (a temp file link(2)ed into place). */
async function linkWhole(target: string, text: string): Promise<boolean> {
  const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
  await fs.writeFile(tmp, text, { mode: 0o600 });
  try {
    await fs.link(tmp, target);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await fs.unlink(tmp).catch(() => undefined);
  }
}

function linkWholeSync(target: string, text: string): void {
  const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  try {
    linkSync(tmp, target);
  } finally {
    tryUnlinkSync(tmp);
  }
}

async function waitUntilGone(file: string, maxMs: number): Promise<void> {
  const until = Date.now() + maxMs;
  while (Date.now() < until) {
    try {
      await fs.lstat(file);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, CLAIM_POLL_MS));
  }
}

function readTextSync(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function tryUnlinkSync(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}
