import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { openFileStateStore, statePaths } from '../../src/state/index.js';
import { describeStateStore } from './fixtures/conformance.js';
import { AFTER_FP, BEFORE_FP, samplePlan, sampleBefore } from './fixtures/plan.js';
import { modeOf, readOrNull, scratch } from './fixtures/scratch.js';
import { spawnChild } from './fixtures/spawn.js';

t.test('conformance', async (t) => {
  describeStateStore(t, async (tt) => {
    const dir = await scratch(tt);
    const paths = statePaths(path.join(dir, 'state', 'rotate.state.json'));
    return {
      open: (options = {}) => openFileStateStore(paths.state, options),
      damage: (text) => fs.writeFile(paths.state, text),
      raw: () => readOrNull(paths.state),
      rawBackup: () => readOrNull(paths.backup),
      file: paths.state,
      backup: paths.backup,
    };
  });
});

t.test('state and backup are 0600 after every write, the folder 0700, whatever the umask', async (t) => {
  for (const umask of [0o022, 0o000]) {
    const old = process.umask(umask);
    t.teardown(() => void process.umask(old));
    const dir = await scratch(t);
    const paths = statePaths(path.join(dir, 'state', 'rotate.state.json'));
    const store = openFileStateStore(paths.state);
    const plan = samplePlan();
    const run = await store.startRun({ operation: 'apply', plan, before: sampleBefore() });
    t.equal(await modeOf(paths.dir), 0o700, `umask ${umask.toString(8)}: state folder`);
    t.equal(await modeOf(paths.state), 0o600, 'state after the first write');
    const step = plan.steps[0]!;
    await store.markStepStarted(run.id, step.id);
    for (const node of step.nodes) {
      await store.markNodeStarted(run.id, step.id, node.address, BEFORE_FP);
      t.equal(await modeOf(paths.state), 0o600, 'state');
      t.equal(await modeOf(paths.backup), 0o600, 'backup');
      await store.markNodeDone(run.id, step.id, node.address, AFTER_FP);
      t.equal(await modeOf(paths.state), 0o600, 'state');
      t.equal(await modeOf(paths.backup), 0o600, 'backup');
    }
    // Even a state someone loosened is written back 0600.
    await fs.chmod(paths.state, 0o644);
    await store.markGatePassed(run.id, step.id);
    t.equal(await modeOf(paths.state), 0o600, 'a loosened state file is written 0600 again');
    const leftovers = (await fs.readdir(paths.dir)).filter((f) => f.endsWith('.tmp'));
    t.same(leftovers, [], 'no temp files left behind');
    process.umask(old);
  }
});

t.test(
  'each write fsyncs the state and its folder; the backup is the replaced version, a hard link to it',
  async (t) => {
    const dir = await scratch(t);
    const file = path.join(dir, 'rotate.state.json');
    const store = openFileStateStore(file);
    await store.write(() => undefined);
    const replaced = await readOrNull(file);
    const replacedInode = (await fs.stat(file)).ino;
    const probe = await fs.open(process.execPath, 'r');
    const proto = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
    await probe.close();
    const sync = proto.sync;
    let syncs = 0;
    proto.sync = function (this: unknown) {
      syncs++;
      return sync.call(this);
    };
    try {
      await store.write((d) => void (d.desiredFile = '/x'));
    } finally {
      proto.sync = sync;
    }
    t.ok(syncs >= 2, `state file + folder: ${syncs} fsyncs`);
    t.equal(await readOrNull(`${file}.backup`), replaced, 'the backup holds the replaced version');
    t.equal(
      (await fs.stat(`${file}.backup`)).ino,
      replacedInode,
      'as a link to its (already fsynced) file: no second copy written',
    );
    t.not((await fs.stat(file)).ino, replacedInode);
  },
);

t.test('writes go to disk under NODE_ENV=test (no lowdb preset switching to memory)', async (t) => {
  const old = process.env.NODE_ENV;
  process.env.NODE_ENV = 'test';
  t.teardown(() => {
    if (old === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = old;
  });
  const dir = await scratch(t);
  const file = path.join(dir, 'x.state.json');
  await openFileStateStore(file).write(() => undefined);
  t.match(JSON.parse((await readOrNull(file))!), { stateVersion: 1, serial: 1 });
});

t.test('a write interrupted before the rename leaves the previous state readable', async (t) => {
  const dir = await scratch(t);
  const file = path.join(dir, 'state', 'rotate.state.json');
  const store = openFileStateStore(file);
  await store.write((d) => void (d.desiredFile = '/first'));
  const before = await readOrNull(file);
  const rename = fs.rename;
  fs.rename = async () => {
    throw Object.assign(new Error('simulated crash before rename'), { code: 'EIO' });
  };
  try {
    await t.rejects(
      store.write((d) => void (d.desiredFile = '/second')),
      /simulated crash/,
    );
  } finally {
    fs.rename = rename;
  }
  t.equal(await readOrNull(file), before, 'the state on disk is the previous version');
  const reread = await openFileStateStore(file).read();
  t.equal(reread?.serial, 1);
  t.equal(reread?.desiredFile, '/first');
  t.equal((await store.write((d) => void (d.desiredFile = '/second'))).serial, 2, 'the same store carries on');
});

t.test(
  'SIGKILL between the temp write and the rename, in a loop of writes, never leaves an unreadable state',
  async (t) => {
    const rounds = 4;
    const results = await Promise.all(
      Array.from({ length: rounds }, async (_, i) => {
        const dir = await scratch(t);
        const paths = statePaths(path.join(dir, 'state', 'rotate.state.json'));
        const child = spawnChild(t, ['write-loop', paths.state]);
        await child.line(new RegExp(`^wrote ${3 + 5 * i}$`));
        // Kill the moment a temp file of the state (not of its backup) exists: mid-write, before the rename.
        const temp = /^\.rotate\.state\.json\.[0-9a-f]+\.tmp$/;
        const deadline = Date.now() + 30_000;
        while (child.proc.exitCode === null) {
          if ((await fs.readdir(paths.dir)).some((f) => temp.test(f))) {
            child.proc.kill('SIGKILL');
            break;
          }
          if (Date.now() > deadline) throw new Error('never saw the state written through a temp file');
        }
        await child.exited;
        const leftover = (await fs.readdir(paths.dir)).some((f) => temp.test(f));
        const last = Number(child.lines.at(-1)!.split(' ')[1]);
        return { file: paths.state, last, leftover };
      }),
    );
    t.ok(
      results.some((r) => r.leftover),
      `killed before the rename in ${results.filter((r) => r.leftover).length}/${rounds} rounds (a temp file ` +
        `was left behind)`,
    );
    for (const { file, last } of results) {
      const store = openFileStateStore(file);
      const doc = await store.read();
      t.ok(doc, 'the state reads back');
      t.ok(
        doc!.serial === last || doc!.serial === last + 1,
        `serial ${doc!.serial} is the last reported write (${last}) or the one after it`,
      );
      const backup = JSON.parse((await readOrNull(`${file}.backup`))!) as { serial: number };
      // Killed between the backup and the state write, the backup already equals the state.
      t.ok(
        backup.serial === doc!.serial - 1 || backup.serial === doc!.serial,
        `the backup (serial ${backup.serial}) is the version before or the same`,
      );
      t.equal(await modeOf(file), 0o600);
      t.equal(
        (await store.write((d) => void (d.desiredFile = '/after-crash'))).serial,
        doc!.serial + 1,
        'the next process carries on',
      );
    }
  },
);

t.test('a change of one byte anywhere in a large state is seen, whatever its size stays', async (t) => {
  const dir = await scratch(t);
  const paths = statePaths(path.join(dir, 'state', 'rotate.state.json'));
  const store = openFileStateStore(paths.state);
  // Over a megabyte (the comparison reads a block at a time), most of it the plan, written in chunks.
  const plan = samplePlan();
  (plan as unknown as Record<string, unknown>).padding = 'x'.repeat(1_500_000);
  await store.startRun({ operation: 'apply', plan, before: sampleBefore() });
  await store.write((d) => void (d.desiredFile = '/a'));
  t.equal(
    await fs.readFile(paths.state, 'utf8'),
    `${JSON.stringify(await store.read(), null, 2)}\n`,
    'written whole from its chunks',
  );
  await store.write((d) => void (d.desiredFile = '/c')); // the store's last version is its chunks again
  const text = await fs.readFile(paths.state, 'utf8');
  t.ok(text.length > 1 << 20, 'the state is larger than a block');
  // Another writer flips one byte past the first block, keeping the size (and the serial): the next write must
  // see that the file is not what it wrote, read it again and build on that, not on its own copy.
  const at = text.indexOf('x'.repeat(10), (1 << 20) + 10);
  await fs.writeFile(paths.state, `${text.slice(0, at)}y${text.slice(at + 1)}`);
  await store.write((d) => void (d.desiredFile = '/b'));
  const after = await fs.readFile(paths.state, 'utf8');
  t.ok(after.includes(`y${'x'.repeat(10)}`), "the other writer's byte is kept: the file was read again");
  t.match(after, /"desiredFile": "\/b"/);
});
