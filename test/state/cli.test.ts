/**
 * `rotate state show` and `rotate state unlock` through the built CLI (bin/rotate; `npm run build` first,
 * `npm test` does), and the state summary renderer.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import {
  defaultStatePath,
  openFileStateStore,
  renderStateSummary,
  resolveStatePath,
  statePaths,
  type LockInfo,
} from '../../src/state/index.js';
import { currentIdentity } from '../../src/util/process-identity.js';
import { AFTER_FP, BEFORE_FP, T_NEW, samplePlan, sampleBefore } from './fixtures/plan.js';
import { scratch } from './fixtures/scratch.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ROTATE = path.join(REPO, 'bin', 'rotate');
const BUILT = path.join(REPO, 'dist', 'cli', 'commands', 'state', 'command.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** bin/rotate with NODE_OPTIONS unset: tap's loader there would read the extensionless ESM bin as CommonJS. */
function rotate(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/env', ['-u', 'NODE_OPTIONS', ROTATE, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') return reject(err);
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

t.test('default state path: <dir of FILE>/state/<name of FILE>.state.json; --state wins', async (t) => {
  t.equal(defaultStatePath('/a/b/rotate.yaml'), '/a/b/state/rotate.state.json');
  t.equal(defaultStatePath('/a/b/prod.cluster.yml'), '/a/b/state/prod.cluster.state.json');
  t.equal(defaultStatePath('/a/b/noext'), '/a/b/state/noext.state.json');
  t.equal(defaultStatePath('rotate.yaml'), path.join(process.cwd(), 'state', 'rotate.state.json'));
  t.equal(resolveStatePath({ file: '/a/rotate.yaml', state: 'x/s.json' }), path.resolve('x/s.json'));
  t.same(statePaths('/a/state/r.state.json'), {
    state: '/a/state/r.state.json',
    dir: '/a/state',
    backup: '/a/state/r.state.json.backup',
    lock: '/a/state/r.state.json.lock',
    keysDir: '/a/state/keys',
  });
});

async function sampleState(file: string) {
  const store = openFileStateStore(file, { desiredFile: '/x/rotate.yaml' });
  const plan = samplePlan();
  const run = await store.startRun({ operation: 'apply', plan, before: sampleBefore() });
  const step = plan.steps[0]!;
  const [a, b] = step.nodes;
  await store.markStepStarted(run.id, step.id);
  await store.recordKey(run.id, {
    api: 'talos',
    fingerprint: T_NEW,
    role: 'new-issuing',
    file: '/x/state/keys/talos-key.key',
  });
  await store.markNodeStarted(run.id, step.id, a!.address, BEFORE_FP);
  await store.markNodeDone(run.id, step.id, a!.address, AFTER_FP);
  await store.markNodeStarted(run.id, step.id, b!.address, BEFORE_FP);
  await store.recordOutput(run.id, {
    kind: 'talosconfig',
    path: '/x/talosconfig',
    backupPath: '/x/talosconfig.bak',
    step: step.id,
  });
  store.noteEvent(run.id, {
    time: '2026-03-01T10:00:00.000Z',
    code: 'TR_APPLY_I3001',
    type: 'node-started',
    level: 'info',
    message: `${b!.address}: applying config`,
  });
  await store.finishRun(run.id, 'interrupted', { code: 'APPLY_INTERRUPTED', message: 'interrupted by SIGINT' });
  return { store, run, plan, a: a!, b: b! };
}

t.test('the summary shows runs, steps, nodes in flight, outputs and key files', async (t) => {
  const dir = await scratch(t);
  const file = path.join(dir, 'state', 'rotate.state.json');
  const { store, run, plan, a, b } = await sampleState(file);
  const text = renderStateSummary(await store.read(), file, null);
  t.match(text, `State ${file}`);
  t.match(text, 'Lock: none');
  t.match(text, `Run 1/1: apply interrupted (id ${run.id})`);
  t.match(text, `step 1/${plan.steps.length} ${plan.steps[0]!.id}: ${plan.steps[0]!.title}`);
  t.match(text, new RegExp(`- ${a.address.replace(/\./g, '\\.')} \\(${a.hostname}\\): done`));
  t.match(
    text,
    new RegExp(`- ${b.address.replace(/\./g, '\\.')} \\(${b.hostname}\\): started .*a resumed run verifies it`),
  );
  t.match(text, 'talosconfig /x/talosconfig (previous kept as /x/talosconfig.bak)');
  t.match(text, `talos ${T_NEW.slice(0, 16)} new-issuing: /x/state/keys/talos-key.key`);
  t.match(text, 'error[APPLY_INTERRUPTED]: interrupted by SIGINT');
  t.match(text, 'last events:');
  t.match(renderStateSummary(null, file, null), `No state at ${file}`);
});

t.test('CLI', async (t) => {
  if (!existsSync(BUILT)) {
    t.fail(
      `the CLI is not built with the state command (${BUILT} is missing): run \`npm run build\` first (npm test does)`,
    );
    return;
  }

  t.test('state show: no state, a human summary, JSON', async (t) => {
    const dir = await scratch(t);
    const desired = path.join(dir, 'rotate.yaml');
    const empty = await rotate('state', 'show', '-f', desired);
    t.equal(empty.code, 0, empty.stderr);
    t.match(empty.stdout, `No state at ${path.join(dir, 'state', 'rotate.state.json')}`);

    const { run } = await sampleState(defaultStatePath(desired));
    const shown = await rotate('state', 'show', '-f', desired);
    t.equal(shown.code, 0, shown.stderr);
    t.match(shown.stdout, `Run 1/1: apply interrupted (id ${run.id})`);
    t.equal(shown.stderr, '');
    const json = await rotate('state', 'show', '--state', defaultStatePath(desired), '--json');
    t.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as {
      path: string;
      lock: unknown;
      state: { serial: number; runs: { id: string }[] };
    };
    t.equal(parsed.path, defaultStatePath(desired));
    t.equal(parsed.lock, null);
    t.equal(parsed.state.runs[0]!.id, run.id);
    t.ok(parsed.state.serial > 1);
  });

  t.test('state unlock: exact id; a live holder only with --force; a stale lock without', async (t) => {
    const dir = await scratch(t);
    const paths = statePaths(path.join(dir, 'state', 'rotate.state.json'));
    await fs.mkdir(paths.dir, { recursive: true });
    // A live holder: this test process (not the CLI's process) on this host.
    const live: LockInfo = {
      id: '3b0d5f58-6a55-4f6e-9d54-2c6f0d7a1e01',
      operation: 'apply',
      who: 'ops@here',
      path: paths.state,
      created: '2026-03-01T10:00:00.000Z',
      toolVersion: '0.1.0',
      ...currentIdentity(),
    };
    await fs.writeFile(paths.lock, JSON.stringify(live), { mode: 0o600 });
    const shown = await rotate('state', 'show', '--state', paths.state);
    t.match(shown.stdout, `Lock: held by ops@here (apply since 2026-03-01T10:00:00.000Z, pid ${process.pid}`);
    t.match(shown.stdout, `process ${process.pid} on this host is still running`);

    const wrong = await rotate('state', 'unlock', '00000000-1111-2222-3333-444444444444', '--state', paths.state);
    t.equal(wrong.code, 1);
    t.match(wrong.stderr, 'error[STATE_LOCK_ID_MISMATCH]');
    t.match(wrong.stderr, '00000000-1111-2222-3333-444444444444');
    t.match(wrong.stderr, live.id);
    t.equal(wrong.stdout, '');

    const alive = await rotate('state', 'unlock', live.id, '--state', paths.state);
    t.equal(alive.code, 1);
    t.match(alive.stderr, 'error[STATE_LOCK_HOLDER_ALIVE]');
    t.match(alive.stderr, /--force/);
    t.ok(existsSync(paths.lock), 'still locked');

    const forced = await rotate('state', 'unlock', live.id, '--state', paths.state, '--force');
    t.equal(forced.code, 0, forced.stderr);
    t.match(forced.stdout, `Unlocked state ${paths.state}: removed lock ${live.id}`);
    t.match(forced.stderr, /warning: broke the lock of a running process/);
    t.notOk(existsSync(paths.lock));

    // A stale holder: a process that has exited.
    const gone = spawnSync(process.execPath, ['-e', '0']);
    const stale: LockInfo = { ...live, id: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d', pid: gone.pid!, processStart: null };
    await fs.writeFile(paths.lock, JSON.stringify(stale), { mode: 0o600 });
    const showStale = await rotate('state', 'show', '--state', paths.state);
    t.match(showStale.stdout, `stale: process ${gone.pid} on this host is no longer running`);
    t.match(showStale.stdout, `break it with: rotate state unlock ${stale.id} --state ${paths.state}`);
    const unlocked = await rotate('state', 'unlock', stale.id, '--state', paths.state);
    t.equal(unlocked.code, 0, unlocked.stderr);
    t.notOk(existsSync(paths.lock));
    const none = await rotate('state', 'unlock', stale.id, '--state', paths.state);
    t.equal(none.code, 1);
    t.match(none.stderr, 'error[STATE_NOT_LOCKED]');
  });
});
