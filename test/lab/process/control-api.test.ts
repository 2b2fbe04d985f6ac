import * as http from 'node:http';
import t from 'tap';

import { assembleLabCluster } from '../../../src/lab/setup/cluster.js';
import { generateLabSecrets } from '../../../src/lab/setup/secrets.js';
import { inspectReportProblems } from '../../../src/lab/process/contracts.js';
import { applyFault, startControlApi } from '../../../src/lab/process/control-api.js';
import {
  controlRequest,
  labFault,
  labInspect,
  labReady,
  labShutdown,
} from '../../../src/lab/process/control-client.js';
import { buildInspectReport } from '../../../src/lab/process/inspect.js';
import type { TapTest } from './fixtures/helpers.js';

const secrets = await generateLabSecrets({ serviceAccountKey: 'ecdsa-p256' });
const TOKEN = 'f'.repeat(64);

async function setup(t: TapTest) {
  const { cluster } = await assembleLabCluster({
    block: '127.250.2',
    controlPlanes: 1,
    workers: 2,
    style: 'document',
    secrets,
  });
  let shutdowns = 0;
  const server = await startControlApi('127.0.0.1', TOKEN, {
    cluster,
    ready: () => ({ ready: true, readyNodes: 3, nodes: 3 }),
    inspect: () => buildInspectReport(cluster, () => true),
    shutdown: () => {
      shutdowns += 1;
    },
  });
  t.teardown(() => server.close());
  const lab = { control: { address: server.address, port: server.port, token: TOKEN } };
  return { cluster, server, lab, shutdowns: () => shutdowns };
}

function rawRequest(
  port: number,
  headers: Record<string, string>,
  path = '/v1/ready',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('every request needs the bearer token', async (t) => {
  const { server } = await setup(t);
  t.equal((await rawRequest(server.port, {})).status, 401);
  t.equal((await rawRequest(server.port, { authorization: `Bearer ${'0'.repeat(64)}` })).status, 401);
  t.equal(
    (await rawRequest(server.port, { authorization: `Bearer ${TOKEN.slice(1)}` })).status,
    401,
    'a prefix of the token is not the token',
  );
  const ok = await rawRequest(server.port, { authorization: `Bearer ${TOKEN}` });
  t.equal(ok.status, 200);
  t.same(JSON.parse(ok.body), { ready: true, readyNodes: 3, nodes: 3 });
  const wrongToken = { control: { address: server.address, port: server.port, token: 'x'.repeat(64) } };
  await t.rejects(labReady(wrongToken), { code: 'LAB_CONTROL_UNAUTHORIZED' });
});

t.test('inspect answers the contract shape', async (t) => {
  const { lab } = await setup(t);
  const report = await labInspect(lab);
  t.same(inspectReportProblems(report), []);
  t.equal(report.nodes.length, 3);
});

t.test('fault sets node.faults and powers nodes down and up', async (t) => {
  const { lab, cluster } = await setup(t);
  const worker = cluster.workers[0]!;
  const events: string[] = [];
  worker.on('down', () => events.push('down'));
  worker.on('up', () => events.push('up'));
  const r = await labFault(lab, {
    node: worker.address,
    down: true,
    delayMs: 25,
    failApply: 2,
    dropApplyReply: 1,
    kubeletRestartMs: 3000,
  });
  t.same(r, {
    node: worker.address,
    faults: { down: true, delayMs: 25, failApply: 2, dropApplyReply: 1, kubeletRestartMs: 3000 },
  });
  t.equal(worker.isDown, true);
  await labFault(lab, { node: worker.address, down: false, kubeletRestartMs: null });
  t.equal(worker.isDown, false);
  t.equal(worker.faults.kubeletRestartMs, null);
  t.equal(worker.faults.delayMs, 25, 'fields not named are left as they are');
  t.same(events, ['down', 'up']);
  t.equal(cluster.nodes[0]!.faults.down, false, 'other nodes untouched');
});

t.test('fault errors: unknown node lists the nodes; bad values are refused without changing anything', async (t) => {
  const { lab, cluster } = await setup(t);
  await t.rejects(labFault(lab, { node: '127.250.2.99', down: true }), {
    code: 'LAB_UNKNOWN_NODE',
    message: /127\.250\.2\.99.*127\.250\.2\.10, 127\.250\.2\.11, 127\.250\.2\.12/,
  });
  const worker = cluster.workers[1]!;
  await t.rejects(labFault(lab, { node: worker.address, down: true, failApply: -1 }), {
    code: 'LAB_BAD_FAULT',
    message: /failApply/,
  });
  t.equal(worker.isDown, false, 'nothing applied when one field is bad');
  t.throws(() => applyFault(cluster, { node: worker.address, reboot: true }), {
    code: 'LAB_BAD_FAULT',
    message: /reboot/,
  });
  t.throws(() => applyFault(cluster, [1]), { code: 'LAB_BAD_FAULT' });
  await t.rejects(controlRequest(lab, 'GET', '/nope'), { code: 'LAB_CONTROL_NOT_FOUND' });
});

t.test('shutdown replies first, then calls the handler once', async (t) => {
  const { lab, shutdowns } = await setup(t);
  t.same(await labShutdown(lab), { stopping: true });
  await labShutdown(lab);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(shutdowns(), 1);
});

t.test('an unreachable control API is a clear error', async (t) => {
  const { server, lab } = await setup(t);
  await server.close();
  await t.rejects(labReady(lab), { code: 'LAB_CONTROL_UNREACHABLE', message: /127\.0\.0\.1/ });
});
