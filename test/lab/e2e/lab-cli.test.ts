/**
 * `rotate lab` end to end, through the built CLI: a 3 + 2 lab comes up detached, writes its files, answers
 * inspect, serves the Talos API to our client and the Kubernetes API to the machine's real kubectl, takes
 * faults, and goes down.
 */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import t from 'tap';

import { TalosClient } from '../../../src/talos/client.js';
import { getBundleCa, loadSecretsBundle } from '../../../src/talos/secrets-bundle.js';
import { getContext, loadTalosconfig } from '../../../src/talos/talosconfig.js';
import { blockOf } from '../../../src/lab/process/address-block.js';
import { blockLockPath } from '../../../src/lab/process/address-allocation.js';
import {
  inspectReportProblems,
  labFileProblems,
  type InspectReport,
  type LabFile,
} from '../../../src/lab/process/contracts.js';
import { isAlive } from '../../../src/util/process-identity.js';
import { childEnv, eventually, labDir, requireBuild, rotate, run, serviceAccountKeyType } from './fixtures/cli.js';

requireBuild(t);

t.test('a 3 + 2 lab through the CLI', async (t) => {
  const dir = await labDir(t);
  const up = await rotate('lab', 'up', '--dir', dir, '--detach');
  t.equal(up.code, 0, 'lab up --detach succeeds', { stderr: up.stderr });
  if (up.code !== 0) return;
  t.match(up.stdout, /5 nodes \(3 control planes, 2 workers\).*all Ready/);
  const lab = JSON.parse(await fs.readFile(path.join(dir, 'lab.json'), 'utf8')) as LabFile;
  const controlPlanes = lab.nodes.filter((n) => n.role === 'controlplane');
  const workers = lab.nodes.filter((n) => n.role === 'worker');

  await t.test('files in DIR: talosconfig, kubeconfig, secrets.yaml, lab.json, all 0600', async (t) => {
    for (const name of ['talosconfig', 'kubeconfig', 'secrets.yaml', 'lab.json']) {
      const st = await fs.stat(path.join(dir, name));
      t.equal(st.mode & 0o777, 0o600, `${name} is 0600`);
    }
    t.same(labFileProblems(lab), [], 'lab.json has the contract shape');
    t.equal(lab.nodes.length, 5);
    t.same(
      lab.nodes.map((n) => n.role),
      ['controlplane', 'controlplane', 'controlplane', 'worker', 'worker'],
    );
    t.notOk('vip' in lab, 'no vip without --vip');
    t.ok(isAlive({ pid: lab.pid, startTime: lab.processStartTime }), 'one lab process, alive');
    const block = blockOf(lab.nodes[0]!.address)!;
    t.ok(block, 'nodes live in a 127.A.B.0/24 block');
    for (const n of lab.nodes) t.same(blockOf(n.address), block, `${n.address} in the block`);
    t.equal(lab.clusterEndpoint, `https://127.${block.a}.${block.b}.3:6443`);
    const lock = JSON.parse(await fs.readFile(blockLockPath(block), 'utf8')) as { pid: number };
    t.equal(lock.pid, lab.pid, 'the address block is held by the lab process');
    const ctx = getContext(await loadTalosconfig(path.join(dir, 'talosconfig')));
    t.equal(ctx.name, lab.clusterName, 'context named after the cluster');
    t.same(
      ctx.endpoints,
      controlPlanes.map((n) => n.address),
      'endpoints = control planes',
    );
    t.same(
      ctx.nodes,
      lab.nodes.map((n) => n.address),
      'nodes = every node',
    );
    const kubeconfig = await fs.readFile(path.join(dir, 'kubeconfig'), 'utf8');
    t.match(
      kubeconfig,
      new RegExp(`server: ${lab.clusterEndpoint.replace(/\./g, '\\.')}`),
      'kubeconfig server = cluster endpoint',
    );
  });

  await t.test('a second lab up into the same DIR is refused, naming the pid', async (t) => {
    const again = await rotate('lab', 'up', '--dir', dir, '--detach');
    t.equal(again.code, 1);
    t.match(again.stderr, new RegExp(`LAB_ALREADY_RUNNING.*pid ${lab.pid}`));
  });

  await t.test('inspect --json: contract shape, 5 nodes Ready, no trust failures, the lab CAs', async (t) => {
    const r = await rotate('lab', 'inspect', '--dir', dir, '--json');
    t.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as InspectReport;
    t.same(inspectReportProblems(report), []);
    t.equal(report.nodes.length, 5);
    t.ok(
      report.nodes.every((n) => n.ready),
      'every node Ready',
    );
    t.same(report.trustFailures, {
      'operator-apid': 0,
      'apid-proxy': 0,
      'worker-trustd': 0,
      'kubelet-apiserver': 0,
      'client-apiserver': 0,
      'pod-apiserver': 0,
    });
    t.equal(report.notReadyEvents, 0);
    const bundle = await loadSecretsBundle(path.join(dir, 'secrets.yaml'));
    t.equal(await serviceAccountKeyType(dir), 'rsa-4096', 'the service-account key Talos generates today');
    const os = getBundleCa(bundle, 'os').fingerprint;
    const k8s = getBundleCa(bundle, 'k8s').fingerprint;
    for (const n of report.nodes) {
      t.equal(n.talos.issuing, os, `${n.address}: Talos CA from secrets.yaml`);
      if (n.role === 'controlplane')
        t.equal(n.kubernetes.issuing, k8s, `${n.address}: Kubernetes CA from secrets.yaml`);
      else
        t.same(
          n.kubernetes,
          { issuing: null, accepted: [k8s] },
          `${n.address}: document-style worker accepts the Kubernetes CA`,
        );
    }
    t.same(report.pods.rootCaConfigMap, [k8s], 'kube-root-ca.crt holds the issuing Kubernetes CA alone');
    t.equal(report.pods.clients.length, 10, 'two in-cluster clients per node by default');
    t.same(report.pods.clients.map((p) => p.reloads).filter(Boolean).length, 5, 'one of each kind per node');
    t.same(
      (report.pods.workloads ?? []).map((w) => [w.kind, `${w.namespace}/${w.name}`, w.updateStrategy, w.pods.length]),
      [
        ['DaemonSet', 'kube-system/holding-0', 'RollingUpdate', 5],
        ['DaemonSet', 'kube-system/reloading-1', 'RollingUpdate', 5],
      ],
      'the clients are the pods of one DaemonSet per slot (no other workloads by default)',
    );
    const human = await rotate('lab', 'inspect', '--dir', dir);
    t.equal(human.code, 0);
    t.match(human.stdout, /ADDRESS\s+ROLE\s+HOSTNAME\s+READY/);
    for (const n of lab.nodes)
      t.match(human.stdout, new RegExp(`${n.address.replace(/\./g, '\\.')}\\s+${n.role}\\s+${n.hostname}\\s+yes`));
    t.match(human.stdout, /NotReady events: 0/);
  });

  async function talosClient(): Promise<TalosClient> {
    const ctx = getContext(await loadTalosconfig(path.join(dir, 'talosconfig')));
    return new TalosClient(ctx, { defaultTimeoutMs: 10_000 });
  }

  await t.test('our Talos client with DIR/talosconfig calls Version on every node', async (t) => {
    const client = await talosClient();
    t.teardown(() => client.close());
    for (const n of lab.nodes) {
      const v = await client.version(n.address);
      t.equal(v.tag, 'v1.14.0', `${n.address} answers Version`);
    }
  });

  await t.test('the real kubectl lists every node Ready', async (t) => {
    const home = await fs.mkdtemp(path.join(tmpdir(), 'lab-e2e-home-'));
    t.teardown(() => fs.rm(home, { recursive: true, force: true }));
    const env = childEnv({ HOME: home, KUBECONFIG: '' });
    const kubectl = (...args: string[]) =>
      run('kubectl', ['--kubeconfig', path.join(dir, 'kubeconfig'), ...args], { env, timeoutMs: 60_000 });
    let json;
    try {
      json = await kubectl('get', 'nodes', '-o', 'json');
    } catch (err) {
      t.fail(`kubectl could not run (${(err as Error).message}); install it (Debian: kubernetes-client)`);
      return;
    }
    t.equal(json.code, 0, json.stderr);
    const list = JSON.parse(json.stdout) as {
      items: Array<{ metadata: { name: string }; status: { conditions: Array<{ type: string; status: string }> } }>;
    };
    t.same(list.items.map((i) => i.metadata.name).sort(), lab.nodes.map((n) => n.hostname).sort());
    for (const item of list.items) {
      t.equal(item.status.conditions.find((c) => c.type === 'Ready')?.status, 'True', `${item.metadata.name} Ready`);
    }
    const table = await kubectl('get', 'nodes');
    t.equal(table.code, 0, table.stderr);
    for (const n of lab.nodes) t.match(table.stdout, new RegExp(`^${n.hostname}\\s+Ready\\b`, 'm'));
  });

  await t.test("the real kubectl manages a user's ConfigMap: apply, label, patch, apply again, delete", async (t) => {
    const home = await fs.mkdtemp(path.join(tmpdir(), 'lab-e2e-home-'));
    t.teardown(() => fs.rm(home, { recursive: true, force: true }));
    const env = childEnv({ HOME: home, KUBECONFIG: '' });
    const kubectl = (...args: string[]) =>
      run('kubectl', ['--kubeconfig', path.join(dir, 'kubeconfig'), '-n', 'default', ...args], {
        env,
        timeoutMs: 60_000,
      });
    const manifest = path.join(home, 'settings.yaml');
    const write = (data: string) =>
      fs.writeFile(manifest, `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n${data}`);
    const get = async () => {
      const r = await kubectl('get', 'configmap', 'settings', '-o', 'json');
      t.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as {
        data: Record<string, string>;
        metadata: { resourceVersion: string; labels?: Record<string, string> };
      };
    };
    // The lab serves no OpenAPI, so no client-side validation (--validate=false).
    await write('  a: "1"\n  b: "2"\n');
    t.match((await kubectl('apply', '--validate=false', '-f', manifest)).stdout, /configmap\/settings created/);
    t.equal((await kubectl('label', 'configmap', 'settings', 'team=platform')).code, 0);
    const patched = await kubectl('patch', 'configmap', 'settings', '-p', '{"data":{"c":"3"}}');
    t.equal(patched.code, 0, patched.stderr);
    t.same((await get()).data, { a: '1', b: '2', c: '3' }, 'a strategic merge patch adds a key');
    // apply's three-way merge reads its last-applied annotation back: b leaves, c (not applied) stays.
    await write('  a: "1"\n');
    t.match((await kubectl('apply', '--validate=false', '-f', manifest)).stdout, /configured/);
    const applied = await get();
    t.same(applied.data, { a: '1', c: '3' });
    t.same(applied.metadata.labels, { team: 'platform' }, 'the label kept');
    t.match((await kubectl('apply', '--validate=false', '-f', manifest)).stdout, /unchanged/);
    t.equal((await get()).metadata.resourceVersion, applied.metadata.resourceVersion, 'no change, no new version');
    const labelled = await kubectl('get', 'configmaps', '-l', 'team=platform', '-o', 'name');
    t.equal(labelled.stdout.trim(), 'configmap/settings', 'a label selector picks it alone');
    // A watch from a resourceVersion reports the changes after it (the server ends it at timeoutSeconds).
    t.equal((await kubectl('label', 'configmap', 'settings', 'tier=web')).code, 0);
    const watched = await kubectl(
      'get',
      '--raw',
      `/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${applied.metadata.resourceVersion}` +
        '&fieldSelector=metadata.name%3Dsettings&timeoutSeconds=1',
    );
    t.equal(watched.code, 0, watched.stderr);
    const events = watched.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; object: { metadata: { labels?: Record<string, string> } } });
    t.same(
      events.map((e) => [e.type, e.object.metadata.labels]),
      [['MODIFIED', { team: 'platform', tier: 'web' }]],
      'the watch reported the change after that version',
    );
    // The generators send protobuf, which the lab does not decode: a 415 that says so, not a wrong object.
    const generated = await kubectl('create', 'configmap', 'other', '--from-literal=a=1');
    t.not(generated.code, 0);
    t.match(generated.stderr, /unknown format - accepted media types include: application\/json/);
    t.equal((await kubectl('delete', 'configmap', 'settings')).code, 0);
    t.equal((await kubectl('get', 'configmap', 'settings')).code, 1, 'gone');
  });

  await t.test('lab fault: a worker down is unreachable through the proxy, up again reachable', async (t) => {
    const worker = workers[0]!.address;
    const client = await talosClient();
    t.teardown(() => client.close());
    const down = await rotate('lab', 'fault', '--dir', dir, '--node', worker, '--down');
    t.equal(down.code, 0, down.stderr);
    t.match(down.stdout, new RegExp(`node ${worker.replace(/\./g, '\\.')}: down`));
    await t.rejects(
      client.version(worker, { timeoutMs: 5_000 }),
      'Version through a control plane to the downed worker fails',
    );
    t.equal((await client.version(workers[1]!.address)).tag, 'v1.14.0', 'the other worker still answers');
    const upAgain = await rotate('lab', 'fault', '--dir', dir, '--node', worker, '--up');
    t.equal(upAgain.code, 0, upAgain.stderr);
    const v = await eventually(15_000, () => client.version(worker, { timeoutMs: 3_000 }));
    t.equal(v.tag, 'v1.14.0', 'reachable again');
  });

  await t.test('lab fault: other faults and an unknown node', async (t) => {
    const worker = workers[1]!.address;
    const set = await rotate(
      'lab',
      'fault',
      '--dir',
      dir,
      '--node',
      worker,
      '--delay-ms',
      '0',
      '--fail-apply',
      '1',
      '--drop-apply-reply',
      '0',
      '--kubelet-restart-ms',
      '1500',
    );
    t.equal(set.code, 0, set.stderr);
    t.match(set.stdout, /fail next 1 apply.*kubelet restart 1500 ms/);
    const report = JSON.parse((await rotate('lab', 'inspect', '--dir', dir, '--json')).stdout) as InspectReport;
    t.match(report.nodes.find((n) => n.address === worker)!.faults, { failApply: 1, kubeletRestartMs: 1500 });
    await rotate('lab', 'fault', '--dir', dir, '--node', worker, '--fail-apply', '0');
    const unknown = await rotate('lab', 'fault', '--dir', dir, '--node', '127.0.0.1', '--down');
    t.equal(unknown.code, 1);
    t.match(unknown.stderr, /LAB_UNKNOWN_NODE.*127\.0\.0\.1/);
    for (const n of lab.nodes) t.match(unknown.stderr, n.address, `lists ${n.address}`);
  });

  await t.test('lab down stops the process and releases the addresses; a second down says nothing runs', async (t) => {
    const down = await rotate('lab', 'down', '--dir', dir);
    t.equal(down.code, 0, down.stderr);
    t.match(down.stdout, new RegExp(`stopped \\(pid ${lab.pid}`));
    t.notOk(isAlive({ pid: lab.pid, startTime: lab.processStartTime }), 'the lab process is gone');
    const block = blockOf(lab.nodes[0]!.address)!;
    await t.rejects(fs.stat(blockLockPath(block)), { code: 'ENOENT' }, 'address lock released');
    await t.rejects(fs.stat(path.join(dir, 'lab.json')), { code: 'ENOENT' }, 'lab.json removed');
    const second = await rotate('lab', 'down', '--dir', dir);
    t.equal(second.code, 0);
    t.match(second.stdout, /no lab is running in/);
    const inspect = await rotate('lab', 'inspect', '--dir', dir);
    t.match(inspect.stderr, /LAB_NOT_RUNNING/);
  });
});
