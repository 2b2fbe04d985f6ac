import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';

import { LAB_FILE_VERSION, labFileProblems, type LabFile } from '../../../src/lab/process/contracts.js';
import {
  assertNoLabRunning,
  claimLabDir,
  labDirStatus,
  pidFilePath,
  readLabFile,
  writeLabFile,
} from '../../../src/lab/process/lab-dir.js';
import { currentProcessIdentity } from '../../../src/util/process-identity.js';
import { deadPid, scratch } from './fixtures/helpers.js';

function sampleLabFile(pid = process.pid): LabFile {
  return {
    version: LAB_FILE_VERSION,
    nodes: [
      { address: '127.9.9.10', role: 'controlplane', hostname: 'cp-1' },
      { address: '127.9.9.11', role: 'worker', hostname: 'worker-1' },
    ],
    pid,
    processStartTime: currentProcessIdentity().startTime,
    control: { address: '127.9.9.1', port: 40000, token: 'a'.repeat(64) },
    clusterName: 'lab',
    clusterEndpoint: 'https://127.9.9.3:6443',
    kubernetesCaStyle: 'document',
    block: '127.9.9.0/24',
    timings: {
      nodeGraceMs: 40000,
      kubeletRestartMs: 1000,
      apiserverRestartMs: 500,
      applyLatencyMs: 0,
      staticPodDelayMs: 2000,
      heartbeatIntervalMs: 2000,
      probeIntervalMs: 10000,
      podCallIntervalMs: 4000,
      podCaReloadMs: 300000,
    },
    startedAt: new Date().toISOString(),
    readyAt: new Date().toISOString(),
    files: { talosconfig: 'talosconfig', kubeconfig: 'kubeconfig', secrets: 'secrets.yaml' },
  };
}

t.test('lab.json: contract shape, mode 0600, read back validated', async (t) => {
  const dir = await scratch(t);
  const lab = sampleLabFile();
  t.same(labFileProblems(lab), []);
  t.same(labFileProblems({ ...lab, vip: '127.9.9.2' }), [], 'vip is optional');
  t.not(
    labFileProblems({ ...lab, nodes: [{ address: 'cp-1', role: 'controlplane' }] }).length,
    0,
    'addresses are loopback IPs',
  );
  t.not(
    labFileProblems({ ...lab, nodes: [{ address: '127.9.9.10', role: 'master' }] }).length,
    0,
    'roles are controlplane|worker',
  );
  t.not(labFileProblems({ ...lab, control: { ...lab.control, token: 'short' } }).length, 0, 'a real token');
  const { pid: _pid, ...noPid } = lab;
  t.not(labFileProblems(noPid).length, 0, 'pid required');
  await writeLabFile(dir, lab);
  t.equal((await fs.stat(path.join(dir, 'lab.json'))).mode & 0o777, 0o600);
  t.same(await readLabFile(dir), lab);
  await fs.writeFile(path.join(dir, 'lab.json'), '{"nodes": []}');
  await t.rejects(readLabFile(dir), { code: 'LAB_FILE_INVALID' });
  await fs.writeFile(path.join(dir, 'lab.json'), 'nope');
  await t.rejects(readLabFile(dir), { code: 'LAB_FILE_INVALID' });
});

t.test('a folder is claimed by one lab at a time; the refusal names the pid', async (t) => {
  const dir = path.join(await scratch(t), 'lab');
  const lock = await claimLabDir(dir);
  t.equal((await fs.stat(dir)).mode & 0o777, 0o700, 'DIR created private');
  await t.rejects(claimLabDir(dir), { code: 'LAB_ALREADY_RUNNING', message: new RegExp(`pid ${process.pid}`) });
  await t.rejects(assertNoLabRunning(dir), { code: 'LAB_ALREADY_RUNNING', message: new RegExp(`pid ${process.pid}`) });
  const status = await labDirStatus(dir);
  t.equal(status.running, true);
  t.equal(status.pid, process.pid);
  t.equal(status.labFile, null, 'starting: no lab.json yet');
  await lock.release();
  t.equal((await labDirStatus(dir)).running, false);
  const again = await claimLabDir(dir);
  await again.release();
});

t.test('a claim left by a dead lab is stale', async (t) => {
  const dir = await scratch(t);
  const pid = deadPid();
  await fs.writeFile(pidFilePath(dir), JSON.stringify({ pid, startTime: null, nonce: 'old', acquiredAt: '' }));
  await writeLabFile(dir, sampleLabFile(pid));
  const status = await labDirStatus(dir);
  t.equal(status.running, false);
  t.equal(status.pid, pid);
  await assertNoLabRunning(dir);
  const lock = await claimLabDir(dir);
  t.teardown(() => lock.release());
  t.equal(lock.record.pid, process.pid);
});

t.test('a pid reused by another process does not count as the lab (start time differs)', async (t) => {
  const dir = await scratch(t);
  const me = currentProcessIdentity();
  t.ok(me.startTime !== null, 'Linux: the start time is known');
  await fs.writeFile(
    pidFilePath(dir),
    JSON.stringify({ pid: process.pid, startTime: '1', nonce: 'old', acquiredAt: '' }),
  );
  t.equal((await labDirStatus(dir)).running, false);
});
