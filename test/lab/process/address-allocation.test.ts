import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import t from 'tap';

import {
  APID_PORT,
  MAX_NODES,
  blockOf,
  clusterEndpointAddress,
  controlAddress,
  isValidBlock,
  nodeAddress,
  randomBlock,
  vipAddress,
  type AddressBlock,
} from '../../../src/lab/process/address-block.js';
import {
  allocateAddressBlock,
  blockLockPath,
  readBlockLock,
  releaseBlocksOf,
} from '../../../src/lab/process/address-allocation.js';
import { currentProcessIdentity } from '../../../src/util/process-identity.js';
import { deadPid, scratch } from './fixtures/helpers.js';

const shape = { nodes: 5, controlPlanes: 3, vip: false };

/** Candidates in the given order (then repeating the last one). */
function picks(...blocks: AddressBlock[]): () => AddressBlock {
  let i = 0;
  return () => blocks[Math.min(i++, blocks.length - 1)]!;
}

/** A block in a range unlikely to be used by the real labs of parallel tests. */
function testBlock(b: number): AddressBlock {
  return { a: 251, b };
}

t.test('layout inside a block', async (t) => {
  const block = { a: 12, b: 34 };
  t.equal(controlAddress(block), '127.12.34.1');
  t.equal(vipAddress(block), '127.12.34.2');
  t.equal(clusterEndpointAddress(block), '127.12.34.3');
  t.equal(nodeAddress(block, 0), '127.12.34.10');
  t.equal(nodeAddress(block, MAX_NODES - 1), '127.12.34.254');
  t.throws(() => nodeAddress(block, MAX_NODES));
  t.same(blockOf('127.12.34.77'), block);
  t.equal(blockOf('127.0.0.1'), null, '127.0.x.x is never a lab block');
  t.equal(blockOf('10.0.0.1'), null);
});

t.test('random blocks never use octet 0 or 255 (never 127.0.0.x)', async (t) => {
  for (const r of [0, 1e-9, 0.5, 0.999999999]) {
    const block = randomBlock(() => r);
    t.ok(isValidBlock(block), `random ${r} → 127.${block.a}.${block.b}`);
  }
  for (let i = 0; i < 2000; i += 1) {
    const block = randomBlock();
    if (!isValidBlock(block)) t.fail(`invalid block 127.${block.a}.${block.b}`);
  }
});

t.test('two allocations never get the same block', async (t) => {
  const lockDir = await scratch(t);
  const first = await allocateAddressBlock({ ...shape, lockDir, pick: picks(testBlock(1)) });
  t.teardown(() => first.release());
  // The second is offered the same block first: it must move on.
  const second = await allocateAddressBlock({ ...shape, lockDir, pick: picks(testBlock(1), testBlock(2)) });
  t.teardown(() => second.release());
  t.same(first.block, testBlock(1));
  t.same(second.block, testBlock(2));
  const record = await readBlockLock(first.block, lockDir);
  t.equal(record?.pid, process.pid, 'the lock names the owning process');
});

t.test('parallel allocations over a small pool are all distinct', async (t) => {
  const lockDir = await scratch(t);
  const pool = Array.from({ length: 12 }, (_, i) => testBlock(20 + i));
  const pick = () => pool[Math.floor(Math.random() * pool.length)]!;
  const results = await Promise.all(
    Array.from({ length: 8 }, () => allocateAddressBlock({ ...shape, lockDir, pick, attempts: 200 })),
  );
  t.teardown(() => Promise.all(results.map((r) => r.release())));
  const keys = new Set(results.map((r) => `${r.block.a}.${r.block.b}`));
  t.equal(keys.size, results.length, `8 allocations, ${keys.size} distinct blocks`);
});

t.test('a lock whose owner is dead is reclaimed', async (t) => {
  const lockDir = await scratch(t);
  const block = testBlock(40);
  const stale = {
    pid: deadPid(),
    startTime: null,
    nonce: 'stale',
    acquiredAt: new Date(0).toISOString(),
    labDir: '/gone',
  };
  await fs.writeFile(blockLockPath(block, lockDir), JSON.stringify(stale));
  const got = await allocateAddressBlock({ ...shape, lockDir, pick: picks(block) });
  t.teardown(() => got.release());
  t.same(got.block, block);
  const record = await readBlockLock(block, lockDir);
  t.equal(record?.pid, process.pid);
  t.not(record?.nonce, 'stale');
});

t.test('a lock whose owner is alive is respected', async (t) => {
  const lockDir = await scratch(t);
  const block = testBlock(41);
  const me = currentProcessIdentity();
  await fs.writeFile(
    blockLockPath(block, lockDir),
    JSON.stringify({ ...me, nonce: 'someone-else', acquiredAt: new Date().toISOString() }),
  );
  const got = await allocateAddressBlock({ ...shape, lockDir, pick: picks(block, testBlock(42)) });
  t.teardown(() => got.release());
  t.same(got.block, testBlock(42));
  t.equal((await readBlockLock(block, lockDir))?.nonce, 'someone-else', 'the live lock is untouched');
});

t.test('a block whose fixed ports are taken is skipped (EADDRINUSE) and not left locked', async (t) => {
  const lockDir = await scratch(t);
  const busy = testBlock(43);
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: nodeAddress(busy, 0), port: APID_PORT }, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const got = await allocateAddressBlock({ ...shape, lockDir, pick: picks(busy, testBlock(44)) });
  t.teardown(() => got.release());
  t.same(got.block, testBlock(44));
  t.equal(await readBlockLock(busy, lockDir), null, 'no lock left on the busy block');
});

t.test('gives up with a clear error when every candidate is taken', async (t) => {
  const lockDir = await scratch(t);
  const held = await allocateAddressBlock({ ...shape, lockDir, pick: picks(testBlock(45)) });
  t.teardown(() => held.release());
  await t.rejects(allocateAddressBlock({ ...shape, lockDir, pick: picks(testBlock(45)), attempts: 5 }), {
    code: 'LAB_NO_ADDRESS_BLOCK',
  });
});

t.test('release removes only our own lock', async (t) => {
  const lockDir = await scratch(t);
  const block = testBlock(46);
  const got = await allocateAddressBlock({ ...shape, lockDir, pick: picks(block) });
  // Someone took the lock over (e.g. after we were thought dead): our release must not remove theirs.
  await fs.writeFile(
    blockLockPath(block, lockDir),
    JSON.stringify({ pid: process.pid, startTime: null, nonce: 'theirs', acquiredAt: '' }),
  );
  await got.release();
  t.equal((await readBlockLock(block, lockDir))?.nonce, 'theirs');
  await fs.unlink(blockLockPath(block, lockDir));
  const again = await allocateAddressBlock({ ...shape, lockDir, pick: picks(block) });
  await again.release();
  t.equal(await readBlockLock(block, lockDir), null, 'released');
});

t.test('releaseBlocksOf removes the locks a dead lab left for its folder only', async (t) => {
  const lockDir = await scratch(t);
  const pid = deadPid();
  const write = (b: number, labDir: string, p = pid) =>
    fs.writeFile(
      blockLockPath(testBlock(b), lockDir),
      JSON.stringify({ pid: p, startTime: null, nonce: `n${b}`, acquiredAt: '', labDir }),
    );
  await write(50, '/labs/a');
  await write(51, '/labs/b');
  await write(52, '/labs/a', pid + 1);
  t.equal(await releaseBlocksOf(pid, '/labs/a', lockDir), 1);
  t.equal(await readBlockLock(testBlock(50), lockDir), null);
  t.ok(await readBlockLock(testBlock(51), lockDir), 'another folder: kept');
  t.ok(await readBlockLock(testBlock(52), lockDir), 'another pid: kept');
});
