/**
 * Lab lifecycle through the built CLI: two labs at once get different address blocks; a foreground lab
 * stops cleanly on SIGTERM; a detached lab exits by itself when its folder is removed.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';

import { blockOf } from '../../../src/lab/process/address-block.js';
import { blockLockPath } from '../../../src/lab/process/address-allocation.js';
import type { LabFile } from '../../../src/lab/process/contracts.js';
import { isAlive } from '../../../src/util/process-identity.js';
import { resolveLabConfig } from '../../../src/lab/process/options.js';
import {
  ROTATE,
  childEnv,
  eventually,
  labDir,
  requireBuild,
  rotate,
  withoutNodeOptions,
  labUp,
} from './fixtures/cli.js';

requireBuild(t);

const readLab = async (dir: string) => JSON.parse(await fs.readFile(path.join(dir, 'lab.json'), 'utf8')) as LabFile;

t.test('two labs brought up in parallel get different address blocks', async (t) => {
  const [a, b] = [await labDir(t, 'a'), await labDir(t, 'b')];
  const small = ['--control-planes', '1', '--workers', '1', '--detach'];
  const [ua, ub] = await Promise.all([
    rotate('lab', 'up', '--dir', a, ...small),
    rotate('lab', 'up', '--dir', b, ...small),
  ]);
  t.equal(ua.code, 0, ua.stderr);
  t.equal(ub.code, 0, ub.stderr);
  const [la, lb] = [await readLab(a), await readLab(b)];
  t.not(la.block, lb.block, `${la.block} vs ${lb.block}`);
  t.not(la.pid, lb.pid);
  const addresses = new Set([...la.nodes, ...lb.nodes].map((n) => n.address));
  t.equal(addresses.size, 4, 'no address shared');
  const [da, db] = await Promise.all([rotate('lab', 'down', '--dir', a), rotate('lab', 'down', '--dir', b)]);
  t.equal(da.code, 0, da.stderr);
  t.equal(db.code, 0, db.stderr);
});

t.test('legacy style with a VIP', async (t) => {
  const dir = await labDir(t);
  const up = await labUp(dir, '--control-planes', '2', '--workers', '1', '--kubernetes-ca-style', 'legacy', '--vip');
  t.equal(up.code, 0, up.stderr);
  const lab = await readLab(dir);
  const block = blockOf(lab.nodes[0]!.address)!;
  t.equal(lab.vip, `127.${block.a}.${block.b}.2`);
  t.equal(lab.kubernetesCaStyle, 'legacy');
  const inspect = JSON.parse((await rotate('lab', 'inspect', '--dir', dir, '--json')).stdout) as {
    nodes: Array<{ role: string; kubernetes: { issuing: string | null } }>;
  };
  t.ok(
    inspect.nodes.every((n) => n.kubernetes.issuing !== null),
    'legacy workers state the Kubernetes CA in .cluster.ca',
  );
});

t.test('a foreground lab runs until SIGTERM and then stops cleanly', async (t) => {
  const dir = await labDir(t);
  const [cmd, argv] = withoutNodeOptions(ROTATE, [
    'lab',
    'up',
    '--dir',
    dir,
    '--control-planes',
    '1',
    '--workers',
    '1',
  ]);
  // exec: env replaces itself with the CLI, so the child's pid is the lab's pid.
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await eventually(120_000, async () => {
    if (child.exitCode !== null) return; // failed: the assertions below say how
    if (!stdout.includes('press Ctrl-C')) throw new Error(`not ready yet; stderr so far:\n${stderr}`);
  });
  t.equal(child.exitCode, null, 'the foreground lab is running', { stderr });
  const lab = await readLab(dir);
  t.equal(lab.pid, child.pid, 'the foreground CLI process is the lab process');
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exit code 0 after a clean stop');
  await t.rejects(fs.stat(path.join(dir, 'lab.json')), { code: 'ENOENT' });
  await t.rejects(fs.stat(path.join(dir, 'lab.pid')), { code: 'ENOENT' });
  await t.rejects(fs.stat(blockLockPath(blockOf(lab.nodes[0]!.address)!)), { code: 'ENOENT' }, 'address lock released');
  t.match(stderr, /stopping: received SIGTERM/);
});

t.test('a detached lab exits when its folder is removed', async (t) => {
  const dir = await labDir(t);
  const up = await labUp(dir, '--control-planes', '1', '--workers', '0');
  t.equal(up.code, 0, up.stderr);
  const lab = await readLab(dir);
  await fs.rm(dir, { recursive: true, force: true });
  await eventually(20_000, async () => {
    if (isAlive({ pid: lab.pid, startTime: lab.processStartTime }))
      throw new Error(`lab process ${lab.pid} still alive`);
  });
  t.pass('the lab process exited');
  await t.rejects(fs.stat(blockLockPath(blockOf(lab.nodes[0]!.address)!)), { code: 'ENOENT' }, 'address lock released');
});

t.test('a lab process that dies while starting: lab up says so and shows the end of lab.log', async (t) => {
  const dir = await labDir(t);
  await fs.mkdir(dir, { recursive: true });
  // The built module (its daemon.js sits beside it), typed as the source.
  const url = new URL('../../../dist/lab/process/daemon-launch.js', import.meta.url).href;
  const { launchDetachedLab } = (await import(url)) as typeof import('../../../src/lab/process/daemon-launch.js');
  // A shape the CLI would refuse: the daemon fails assembling it and exits 1.
  const config = { ...resolveLabConfig({}), controlPlanes: 0 };
  await t.rejects(launchDetachedLab({ dir, config, readyTimeoutMs: 30_000 }), {
    code: 'LAB_START_FAILED',
    message: /exited with code 1 before the cluster was Ready; last lines of .*lab\.log:\n.*failed:/s,
  });
  await t.rejects(fs.stat(path.join(dir, 'lab.pid')), { code: 'ENOENT' }, 'the failed lab released DIR');
  const down = await rotate('lab', 'down', '--dir', dir);
  t.match(down.stdout, /no lab is running/);
});

t.test('rotate --help lists the lab commands', async (t) => {
  const r = await rotate('lab', '--help');
  t.equal(r.code, 0);
  for (const c of ['up', 'down', 'fault', 'inspect']) t.match(r.stdout, new RegExp(`rotate lab ${c}`));
});
