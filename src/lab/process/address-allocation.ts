/**
 * Claim a free loopback /24 for a lab. Several labs run at once (tests run in parallel), so a block is
 * (1) picked at random, (2) claimed with a lock file under the OS temp folder keyed by the block and
 * owned by the lab process (stale when that process is dead), and (3) checked by binding the fixed-port
 * sockets the lab will bind, so that a block used by something outside our locks is skipped too
 * (EADDRINUSE → next block). The lock is held until the lab stops.
 */
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { RotateError } from '../../domain/errors.js';
import { blockKey, blockName, probeSockets, randomBlock, type AddressBlock } from './address-block.js';
import { readLockRecord, removeLockRecord, tryAcquireLock, type HeldLock, type LockRecord } from './pid-lock.js';
import type { ProcessIdentity } from '../../util/process-identity.js';

export interface AllocationOptions {
  nodes: number;
  controlPlanes: number;
  vip: boolean;
  /** What the lock records as the owner's lab folder (for humans reading the lock). */
  labDir?: string;
  /** Folder of the lock files (default: `<tmpdir>/talos-rotate-lab-<uid>`). */
  lockDir?: string;
  /** Next candidate block (default: a random one; tests inject their own). */
  pick?: () => AddressBlock;
  /** Blocks tried before giving up. */
  attempts?: number;
  /** Whose lock it is (default: this process). */
  owner?: ProcessIdentity;
}

export interface AllocatedBlock {
  block: AddressBlock;
  lock: HeldLock;
  release(): Promise<void>;
}

export function defaultLockDir(): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  return path.join(tmpdir(), `talos-rotate-lab-${uid}`);
}

export function blockLockPath(block: AddressBlock, lockDir: string = defaultLockDir()): string {
  return path.join(lockDir, `${blockKey(block)}.lock`);
}

/** The lock record of a block, or null when nobody holds it. */
export async function readBlockLock(
  block: AddressBlock,
  lockDir: string = defaultLockDir(),
): Promise<LockRecord | null> {
  return readLockRecord(blockLockPath(block, lockDir));
}

/**
 * Remove the block locks left by a lab process that is gone (killed before it could clean up): those
 * owned by `pid` and recorded for `labDir`. Returns how many were removed.
 */
export async function releaseBlocksOf(
  pid: number,
  labDir: string,
  lockDir: string = defaultLockDir(),
): Promise<number> {
  let names: string[];
  try {
    names = await fs.readdir(lockDir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names.filter((n) => n.endsWith('.lock'))) {
    const file = path.join(lockDir, name);
    const record = await readLockRecord(file);
    if (
      record &&
      record.pid === pid &&
      record.labDir === labDir &&
      (await removeLockRecord(file, record).catch(() => false))
    )
      removed += 1;
  }
  return removed;
}

export async function allocateAddressBlock(opts: AllocationOptions): Promise<AllocatedBlock> {
  const lockDir = opts.lockDir ?? defaultLockDir();
  await fs.mkdir(lockDir, { recursive: true, mode: 0o700 });
  const attempts = opts.attempts ?? 64;
  const tried = new Set<string>();
  const busy: string[] = [];
  for (let i = 0; i < attempts; i += 1) {
    const block = opts.pick ? opts.pick() : randomBlock();
    const key = blockKey(block);
    if (tried.has(key)) continue;
    tried.add(key);
    const result = await tryAcquireLock(
      blockLockPath(block, lockDir),
      { block: blockName(block), ...(opts.labDir ? { labDir: opts.labDir } : {}) },
      opts.owner,
    );
    if (!result.acquired) continue;
    const inUse = await firstBusySocket(probeSockets(block, opts));
    if (inUse) {
      busy.push(`${inUse.address}:${inUse.port}`);
      await result.lock.release();
      continue;
    }
    const lock = result.lock;
    return { block, lock, release: () => lock.release() };
  }
  throw new RotateError(
    'LAB_NO_ADDRESS_BLOCK',
    `no free loopback block found after ${tried.size} ` +
      `tries${busy.length ? ` (in use: ${busy.slice(0, 5).join(', ')})` : ''}`,
    {
      hint: `stop labs you no longer need (rotate lab down --dir DIR) or remove stale locks in ${lockDir}`,
      source: 'internal',
    },
  );
}

/** Binds each socket briefly; returns the first one that is taken (EADDRINUSE) or unusable. */
async function firstBusySocket(
  sockets: Array<{ address: string; port: number }>,
): Promise<{ address: string; port: number } | null> {
  for (const s of sockets) {
    const code = await tryBind(s.address, s.port);
    if (code === 'EADDRINUSE' || code === 'EACCES') return s;
    if (code !== null) {
      throw new RotateError('LAB_LOOPBACK_UNUSABLE', `cannot bind ${s.address}:${s.port} (${code})`, {
        hint:
          'the lab needs the whole 127.0.0.0/8 on the loopback interface (standard on Linux); on macOS add ' +
          'aliases with `ifconfig lo0 alias`',
        source: 'internal',
      });
    }
  }
  return null;
}

function tryBind(address: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'EUNKNOWN'));
    server.listen({ host: address, port, exclusive: true }, () => server.close(() => resolve(null)));
  });
}
