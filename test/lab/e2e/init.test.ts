/**
 * `rotate init` against the lab, as day one on a real cluster: the lab's own rotate.yaml is deleted, init
 * reads the cluster and writes one; `rotate plan` with it plans no change, and still none after a rotation
 * applied with that file (the file stays valid). Refusals change nothing.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { parse } from 'yaml';

import { FAST_TIMINGS, labDir, requireBuild, rotate, scratch, labUp } from './fixtures/cli.js';

requireBuild(t);

async function listing(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).sort();
}

t.test(
  'init on a live lab (document style, with a VIP): no changes, refusals, a rotation, still no changes',
  async (t) => {
    const dir = await labDir(t);
    const up = await labUp(
      dir,
      '--control-planes',
      '1',
      '--workers',
      '1',
      '--kubernetes-ca-style',
      'document',
      '--vip',
    );
    t.equal(up.code, 0, up.stderr);
    const inspect = JSON.parse((await rotate('lab', 'inspect', '--dir', dir, '--json')).stdout) as {
      cluster: { vip: string };
      nodes: { address: string; role: string }[];
    };
    const vip = inspect.cluster.vip;
    const cp = inspect.nodes.find((n) => n.role === 'controlplane')!.address;
    await fs.rm(path.join(dir, 'rotate.yaml'));
    const file = path.join(dir, 'rotate.yaml');
    const talosconfig = path.join(dir, 'talosconfig');
    const secrets = path.join(dir, 'secrets.yaml');
    const before = await listing(dir);

    // Refusals first: each leaves the folder as it was.
    const context = await rotate(
      'init',
      '-f',
      file,
      '--talosconfig',
      talosconfig,
      '--context',
      'nope',
      '--secrets',
      secrets,
    );
    t.equal(context.code, 1);
    t.match(
      context.stderr,
      /^error\[TALOSCONFIG_UNKNOWN_CONTEXT\]: talosconfig .* has no context "nope" \(available: "lab"\)/,
    );
    const other = await scratch(t);
    t.equal((await rotate('ca', 'new', '--api', 'talos', '--name', 'stranger', '--dir', other)).code, 0);
    const wrongKey = await rotate(
      'init',
      '-f',
      file,
      '--talosconfig',
      talosconfig,
      '--key',
      path.join(other, 'stranger.key'),
    );
    t.equal(wrongKey.code, 1);
    t.match(
      wrongKey.stderr,
      /^error\[INIT_KEY_MATCHES_NOTHING\]: --key .*stranger\.key is not the key of any CA the nodes trust/,
    );
    t.notMatch(wrongKey.stderr, /PRIVATE KEY/);
    const viaVip = await rotate(
      'init',
      '-f',
      file,
      '--talosconfig',
      talosconfig,
      '--secrets',
      secrets,
      '--control-planes',
      `${cp},${vip}`,
    );
    t.equal(viaVip.code, 1);
    t.match(
      viaVip.stderr,
      new RegExp(
        `${cp.replace(/\./g, '\\.')} and ${vip.replace(/\./g, '\\.')} reach the same machine .*one of them is a VIP`,
      ),
    );
    t.same(await listing(dir), before, 'no refusal wrote anything');

    // Discovery, a VIP as the endpoint: the VIP is kept as an endpoint only. No key source: the issuing CAs
    // are declared without keys (fine while the cluster issues from them).
    const init = await rotate('init', '-f', file, '--talosconfig', talosconfig, '-e', vip, '--json');
    t.equal(init.code, 0, init.stderr);
    const made = JSON.parse(init.stdout) as {
      discovered: boolean;
      skippedVips: string[];
      controlPlanes: string[];
      workers: string[];
      endpointsNotNodes: string[];
      authorities: { name: string; role: string; key: unknown }[];
    };
    t.equal(made.discovered, true);
    t.same(
      made.skippedVips,
      [vip],
      "discovery lists the VIP among its holder's addresses; the config declares it, so it is skipped",
    );
    t.same(made.controlPlanes, [cp]);
    t.same(
      made.workers,
      inspect.nodes.filter((n) => n.role === 'worker').map((n) => n.address),
    );
    t.same(made.endpointsNotNodes, [vip]);
    t.same(
      made.authorities.map((a) => [a.role, a.key]),
      [
        ['issuing', null],
        ['issuing', null],
      ],
    );
    const text = await fs.readFile(file, 'utf8');
    t.notMatch(text, /PRIVATE KEY/, 'no key in the file');
    t.match(text, new RegExp(`${vip.replace(/\./g, '\\.')} is not a node address`));
    const data = parse(text) as {
      cluster: Record<string, unknown>;
      authorities: Record<string, { certificate: string; key: unknown }>;
    };
    t.same(data.cluster.endpoints, [vip]);
    for (const a of Object.values(data.authorities)) t.match(a.certificate, /^\.\/pki\/.*\.crt$/);
    t.equal((await fs.stat(path.join(dir, 'pki'))).isDirectory(), true);

    const plan = await rotate('plan', '-f', file, '--detailed-exitcode', '--no-node-dry-run');
    t.equal(plan.code, 0, `no changes\n${plan.stdout}${plan.stderr}`);
    t.match(plan.stdout, /No changes/);
    t.notMatch(plan.stderr, /DESIRED_ISSUING_NO_KEY/, 'no warning: the whole cluster issues from the keyless CAs');
    t.match(
      (await rotate('validate', '-f', file)).stderr,
      /warning.*DESIRED_ISSUING_NO_KEY/,
      'validate (offline) says what a keyless issuing CA means',
    );

    // With the secrets bundle the cluster was made from: its entries become the key sources.
    const bundled = path.join(dir, 'with-bundle.yaml');
    const withBundle = await rotate(
      'init',
      '-f',
      bundled,
      '--talosconfig',
      talosconfig,
      '--secrets',
      secrets,
      '--json',
    );
    t.equal(withBundle.code, 0, withBundle.stderr);
    t.same(
      (JSON.parse(withBundle.stdout) as { authorities: { key: unknown }[] }).authorities.map((a) => a.key),
      [
        { secretsBundle: './secrets.yaml', entry: 'os' },
        { secretsBundle: './secrets.yaml', entry: 'k8s' },
      ],
    );
    t.equal((await rotate('plan', '-f', bundled, '--detailed-exitcode', '--no-node-dry-run')).code, 0);

    const again = await rotate('init', '-f', file, '--talosconfig', talosconfig, '--secrets', secrets);
    t.equal(again.code, 1);
    t.match(again.stderr, /^error\[INIT_FILE_EXISTS\]/);
    t.equal(await fs.readFile(file, 'utf8'), text, 'the file is untouched');

    // A full Talos rotation asked for in one command, applied; the same file then plans no change.
    const caNew = await rotate('ca', 'new', '-f', file, '--api', 'talos', '--name', 'talos-next', '--make-issuing');
    t.equal(caNew.code, 0, caNew.stderr);
    const apply = await rotate('apply', '-f', file, '--auto-approve', '--no-node-dry-run');
    t.equal(apply.code, 0, apply.stdout + apply.stderr);
    const after = await rotate('plan', '-f', file, '--detailed-exitcode', '--no-node-dry-run');
    t.equal(after.code, 0, `the applied file plans no change\n${after.stdout}${after.stderr}`);

    // Back to the old, keyless CA: that needs its key, and the plan says so.
    const oldName = made.authorities[0]!.name;
    await fs.writeFile(
      file,
      (await fs.readFile(file, 'utf8')).replace(/^ {2}issuing: talos-next$/m, `  issuing: ${oldName}`),
    );
    const back = await rotate('plan', '-f', file, '--no-node-dry-run');
    t.equal(back.code, 1);
    t.match(
      back.stderr,
      new RegExp(
        `error\\[PLAN_NO_KEY\\]: the plan makes ${oldName} the issuing talos CA on nodes that do not issue from it yet`,
      ),
    );
  },
);

t.test(
  'init on a legacy-style lab, listing the nodes, keys copied from the cluster: no changes, before and after ' +
    'a rotation',
  async (t) => {
    const dir = await labDir(t);
    const up = await labUp(
      dir,
      '--control-planes',
      '1',
      '--workers',
      '1',
      '--kubernetes-ca-style',
      'legacy',
      ...FAST_TIMINGS,
    );
    t.equal(up.code, 0, up.stderr);
    const inspect = JSON.parse((await rotate('lab', 'inspect', '--dir', dir, '--json')).stdout) as {
      nodes: { address: string; role: string }[];
    };
    const cps = inspect.nodes.filter((n) => n.role === 'controlplane').map((n) => n.address);
    const workers = inspect.nodes.filter((n) => n.role === 'worker').map((n) => n.address);
    const file = path.join(dir, 'init.yaml');
    const init = await rotate(
      'init',
      '-f',
      file,
      '--talosconfig',
      path.join(dir, 'talosconfig'),
      '--control-planes',
      cps.join(','),
      '--workers',
      workers.join(','),
      '--extract-keys',
    );
    t.equal(init.code, 0, init.stderr);
    t.notMatch(init.stdout, /Discovered/);
    t.notMatch(init.stdout, /PRIVATE KEY/);
    for (const f of (await fs.readdir(path.join(dir, 'pki'))).filter((f) => f.endsWith('.key'))) {
      t.equal((await fs.stat(path.join(dir, 'pki', f))).mode & 0o777, 0o600, `${f} is 0600`);
    }
    const plan = await rotate('plan', '-f', file, '--detailed-exitcode', '--no-node-dry-run');
    t.equal(plan.code, 0, `no changes\n${plan.stdout}${plan.stderr}`);

    // A Kubernetes CA rotation asked for and applied with the init-written file: it then plans no change.
    t.equal(
      (await rotate('ca', 'new', '-f', file, '--api', 'kubernetes', '--name', 'k8s-next', '--make-issuing')).code,
      0,
    );
    const apply = await rotate('apply', '-f', file, '--auto-approve', '--no-node-dry-run');
    t.equal(apply.code, 0, apply.stdout + apply.stderr);
    const after = await rotate('plan', '-f', file, '--detailed-exitcode', '--no-node-dry-run');
    t.equal(after.code, 0, `the applied file plans no change\n${after.stdout}${after.stderr}`);

    // talosctl-style overrides win over the file's cluster section, on every command that reaches the cluster.
    const moved = path.join(dir, 'elsewhere.talosconfig');
    await fs.rename(path.join(dir, 'talosconfig'), moved);
    const lost = await rotate('plan', '-f', file, '--no-node-dry-run');
    t.equal(lost.code, 1);
    t.match(
      lost.stderr,
      /^error\[TALOSCONFIG_READ\]: cannot read talosconfig .*talosconfig \(ENOENT\)\n {2}hint: pass --talosconfig/,
    );
    const found = await rotate(
      'plan',
      '-f',
      file,
      '--detailed-exitcode',
      '--no-node-dry-run',
      '--talosconfig',
      moved,
      '-e',
      cps[0]!,
      '--context',
      'lab',
    );
    t.equal(found.code, 0, found.stderr);
    const status = await rotate('status', '-f', file, '--talosconfig', moved, '--endpoints', cps.join(','));
    t.equal(status.code, 0, status.stdout + status.stderr);
    t.match(
      status.stdout,
      new RegExp(`talosconfig  ${moved.replace(/[.]/g, '\\.')} \\(context lab\\)`),
      'status reports the talosconfig in use',
    );
    const context = await rotate('plan', '-f', file, '--talosconfig', moved, '--context', 'nope');
    t.equal(context.code, 1);
    t.match(context.stderr, /^error\[TALOSCONFIG_UNKNOWN_CONTEXT\]/);
  },
);
