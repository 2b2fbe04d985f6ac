import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';

import { main } from '../../../src/cli/main.js';
import { LAB_FILE_VERSION } from '../../../src/lab/process/contracts.js';
import { writeLabFile } from '../../../src/lab/process/lab-dir.js';
import { currentProcessIdentity } from '../../../src/util/process-identity.js';
import { deadPid, scratch } from './fixtures/helpers.js';

/** Runs the CLI in-process, capturing its output. */
async function rotate(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => (
    (stdout += String(chunk)),
    true
  )) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => (
    (stderr += String(chunk)),
    true
  )) as typeof process.stderr.write;
  const exitCode = process.exitCode;
  try {
    const code = await main(argv);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.exitCode = exitCode;
  }
}

t.test('lab up refuses bad options before starting anything', async (t) => {
  const dir = await scratch(t);
  const r = await rotate('lab', 'up', '--dir', dir, '--control-planes', '0');
  t.equal(r.code, 1);
  t.match(r.stderr, /error\[LAB_BAD_OPTION\]: --control-planes/);
  const style = await rotate('lab', 'up', '--dir', dir, '--kubernetes-ca-style', 'modern');
  t.equal(style.code, 1);
  t.match(style.stderr, /error\[CLI_USAGE\].*kubernetes-ca-style/s);
  const nan = await rotate('lab', 'up', '--dir', dir, '--workers', 'many');
  t.equal(nan.code, 1);
  t.match(nan.stderr, /--workers/);
  t.same(await fs.readdir(dir), [], 'nothing written');
  const missing = await rotate('lab', 'up');
  t.match(missing.stderr, /error\[CLI_USAGE\].*dir/s);
});

t.test('lab up refuses a folder where a lab runs, naming the pid', async (t) => {
  const dir = await scratch(t);
  const me = currentProcessIdentity();
  await fs.writeFile(path.join(dir, 'lab.pid'), JSON.stringify({ ...me, nonce: 'n', acquiredAt: '' }));
  const r = await rotate('lab', 'up', '--dir', dir, '--detach');
  t.equal(r.code, 1);
  t.match(
    r.stderr,
    new RegExp(`error\\[LAB_ALREADY_RUNNING\\]: a lab is already running in .* \\(pid ${process.pid}\\)`),
  );
});

t.test('lab fault flags are checked', async (t) => {
  const dir = await scratch(t);
  const none = await rotate('lab', 'fault', '--dir', dir, '--node', '127.1.1.10');
  t.match(none.stderr, /error\[LAB_BAD_OPTION\].*needs a fault/);
  const both = await rotate('lab', 'fault', '--dir', dir, '--node', '127.1.1.10', '--down', '--up');
  t.equal(both.code, 1);
  t.match(both.stderr, /error\[LAB_BAD_OPTION\]: --down and --up cannot be combined/);
  const notRunning = await rotate('lab', 'fault', '--dir', dir, '--node', '127.1.1.10', '--down');
  t.match(notRunning.stderr, /error\[LAB_NOT_RUNNING\]: no lab is running in/);
});

t.test('inspect and down with nothing running', async (t) => {
  const dir = await scratch(t);
  const inspect = await rotate('lab', 'inspect', '--dir', dir, '--json');
  t.equal(inspect.code, 1);
  t.match(inspect.stderr, /LAB_NOT_RUNNING/);
  const down = await rotate('lab', 'down', '--dir', dir);
  t.equal(down.code, 0);
  t.match(down.stdout, /no lab is running in/);
});

t.test('down cleans up what a killed lab left behind', async (t) => {
  const dir = await scratch(t);
  const pid = deadPid();
  await fs.writeFile(path.join(dir, 'lab.pid'), JSON.stringify({ pid, startTime: null, nonce: 'n', acquiredAt: '' }));
  await writeLabFile(dir, {
    version: LAB_FILE_VERSION,
    nodes: [{ address: '127.9.8.10', role: 'controlplane', hostname: 'cp-1' }],
    pid,
    processStartTime: null,
    control: { address: '127.9.8.1', port: 1, token: 'a'.repeat(64) },
    clusterName: 'lab',
    clusterEndpoint: 'https://127.9.8.3:6443',
    kubernetesCaStyle: 'document',
    block: '127.9.8.0/24',
    timings: {
      nodeGraceMs: 1,
      kubeletRestartMs: 1,
      apiserverRestartMs: 1,
      applyLatencyMs: 0,
      staticPodDelayMs: 1,
      heartbeatIntervalMs: 1,
      probeIntervalMs: 1,
      podCallIntervalMs: 1,
      podCaReloadMs: 1,
    },
    startedAt: '',
    readyAt: '',
    files: {},
  });
  const down = await rotate('lab', 'down', '--dir', dir);
  t.equal(down.code, 0);
  t.match(down.stdout, /no lab is running .*removed what a stopped lab left behind/);
  t.same(await fs.readdir(dir), []);
});

t.test('lab up refuses a DIR that is a file', async (t) => {
  const root = await scratch(t);
  const file = path.join(root, 'not-a-dir');
  await fs.writeFile(file, 'x');
  const r = await rotate('lab', 'up', '--dir', file, '--detach');
  t.equal(r.code, 1);
  t.match(r.stderr, /error\[LAB_DIR\]: cannot use .*not-a-dir as the lab folder/);
});
