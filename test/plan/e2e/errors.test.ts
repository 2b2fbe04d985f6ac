/**
 * `rotate plan` refuses what it cannot plan safely, against a lab with a VIP (`rotate lab up --vip`): each
 * case exits 1 with one clear error naming the node or file, no stack trace, no plan written (`--out`)
 * and no node config changed.
 * - the lab's VIP listed as a node (a control plane, or a worker): both addresses named as one machine;
 * - a node listed under the wrong role;
 * - a cluster member missing from the lists;
 * - an authority whose key does not match its certificate (a desired-state file error, also from
 *   `rotate validate`);
 * - an unreachable node (`rotate lab fault --down`).
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';

import {
  assertCleanError,
  configDigests,
  expectExit,
  fullRotation,
  labClient,
  newCa,
  nextCas,
  requireBuild,
  rotate,
  startLab,
  writeDesired,
  type DesiredEdit,
  type TapTest,
} from './fixtures/plan-lab.js';

requireBuild(t);

const esc = (s: string) => s.replace(/\./g, '\\.');

t.test('rotate plan errors against a document-style lab with a VIP', async (t) => {
  const lab = await startLab(t, { style: 'document', vip: true });
  const vip = lab.file.vip;
  if (!vip) throw new Error('lab.json has no vip although the lab was started with --vip');
  const client = await labClient(t, lab);
  const cas = await nextCas(lab);
  const rotation = fullRotation(cas);
  const digests = await configDigests(client, lab.nodes);
  const [w1, w2] = lab.workers as [string, string];

  /** Plans `edit` with --out; checks the error, that no plan was written and that no config changed. */
  const refused = async (
    t: TapTest,
    name: string,
    edit: DesiredEdit,
    code: string,
    mentions: (file: string) => string[],
    nodes = lab.nodes,
  ) => {
    const file = await writeDesired(lab, name, edit);
    const out = path.join(lab.dir, `${name}.plan.json`);
    const run = await rotate('plan', '-f', file, '--out', out, '--detailed-exitcode');
    assertCleanError(t, run, code, mentions(file), name);
    t.notOk(existsSync(out), `${name}: no plan written`);
    const now = await configDigests(client, nodes);
    t.same(now, Object.fromEntries(nodes.map((n) => [n, digests[n]])), `${name}: no node config changed`);
    return run;
  };

  await t.test('the VIP listed as a control plane', async (t) => {
    const run = await refused(
      t,
      'vip-controlplane',
      { ...rotation, cluster: { controlPlanes: [...lab.cps, vip] } },
      'OBSERVE_FAILED',
      () => [vip, 'reach the same machine'],
    );
    t.match(
      run.stderr,
      new RegExp(
        `(${lab.cps.map(esc).join('|')}) and ${esc(vip)} reach the same machine \\(node id \\S+, hostname ` +
          `cp-\\d\\); one of them is a VIP`,
      ),
      'names the control plane behind the VIP and the VIP',
    );
    t.match(run.stderr, /hint: list each machine once/);
  });

  await t.test(
    'the VIP as the only endpoint is fine (the control: it is refused as a node, not as a VIP)',
    async (t) => {
      const file = await writeDesired(lab, 'vip-endpoint', { cluster: { endpoints: [vip] } });
      const run = await rotate('plan', '-f', file, '--detailed-exitcode');
      expectExit(t, run, 0, 'rotate plan with the VIP as endpoint');
      t.match(run.stdout, /No changes/);
      t.match(run.stdout, /An endpoint is not a node address/, 'noticed as a VIP-like endpoint');
    },
  );

  await t.test('the VIP listed as a worker', async (t) => {
    const run = await refused(
      t,
      'vip-worker',
      { ...rotation, cluster: { workers: [...lab.workers, vip] } },
      'OBSERVE_FAILED',
      () => [vip, 'reach the same machine'],
    );
    t.match(
      run.stderr,
      new RegExp(`(${lab.cps.map(esc).join('|')}) and ${esc(vip)} reach the same machine`),
      'names both addresses as one machine',
    );
    t.match(
      run.stderr,
      new RegExp(`node ${esc(vip)} is listed under cluster\\.workers but its machine config says type controlplane`),
      'and the role it really has',
    );
  });

  await t.test('a worker listed as a control plane', async (t) => {
    const run = await refused(
      t,
      'wrong-role',
      { ...rotation, cluster: { controlPlanes: [...lab.cps, w1], workers: [w2] } },
      'OBSERVE_FAILED',
      () => [`node ${w1} is listed under cluster.controlPlanes but its machine config says type worker`],
    );
    t.match(run.stderr, `hint: move ${w1} to cluster.workers`);
    t.match(run.stderr, /\(1 problem\)/, 'that one problem only');
  });

  await t.test('a cluster member missing from the lists', async (t) => {
    const run = await refused(
      t,
      'missing-member',
      { ...rotation, cluster: { workers: [w1] } },
      'OBSERVE_FAILED',
      () => [`cluster member worker-2 (${w2}, worker) is not listed in the desired state`],
    );
    t.match(run.stderr, 'hint: add its address to cluster.workers');
    t.match(run.stderr, /\(1 problem\)/, 'that one problem only');
  });

  await t.test('an authority whose key does not match its certificate', async (t) => {
    const other = await newCa(lab, 'talos', 'talos-other');
    const edit: DesiredEdit = { ...rotation, add: [{ ...cas.talos, key: other.key }, cas.kubernetes] };
    const run = await refused(t, 'key-mismatch', edit, 'DESIRED_INVALID', (file) => [
      file,
      'authorities.talos-next.key.file',
      other.key,
      "is not the private key of this authority's certificate",
      'DESIRED_KEY_MISMATCH',
    ]);
    t.match(run.stderr, /\(1 error\)/, 'that one error only');
    const validate = await rotate('validate', '-f', path.join(lab.dir, 'key-mismatch.yaml'));
    expectExit(t, validate, 1, 'rotate validate');
    t.match(validate.stderr, /^error\[DESIRED_INVALID\]: .*key-mismatch\.yaml is not a valid desired-state file/m);
    t.match(
      validate.stderr,
      /authorities\.talos-next\.key\.file: key file .*talos-other\.key.* \[DESIRED_KEY_MISMATCH\]/,
    );
  });

  await t.test("another cluster's talosconfig: one trust problem, not one per node", async (t) => {
    // The lab's talosconfig with its `ca` swapped for a Talos CA the nodes never used.
    const other = await newCa(lab, 'talos', 'talos-elsewhere');
    const text = await fs.readFile(path.join(lab.dir, 'talosconfig'), 'utf8');
    const caB64 = Buffer.from(await fs.readFile(path.join(lab.dir, other.certificate), 'utf8')).toString('base64');
    const swapped = text.replace(/(\n\s+ca: )\S+/, (_m, head: string) => `${head}${caB64}`);
    t.not(swapped, text, 'the ca line was swapped');
    await fs.writeFile(path.join(lab.dir, 'talosconfig.elsewhere'), swapped, { mode: 0o600 });
    const run = await refused(
      t,
      'wrong-talosconfig',
      { ...rotation, cluster: { talosconfig: './talosconfig.elsewhere' } },
      'OBSERVE_FAILED',
      () => [
        "no endpoint's server certificate is signed by a CA of talosconfig",
        'talosconfig.elsewhere',
        'is this the talosconfig of this cluster?',
      ],
    );
    t.match(run.stderr, /\(1 problem\)/, 'reported once');
    t.notMatch(run.stderr, /check that the node is up/, 'not called a reachability problem');
  });

  await t.test('an unreachable node', async (t) => {
    const down = await rotate('lab', 'fault', '--dir', lab.dir, '--node', w2, '--down');
    expectExit(t, down, 0, 'rotate lab fault --down');
    const others = lab.nodes.filter((n) => n !== w2);
    const run = await refused(
      t,
      'unreachable',
      rotation,
      'OBSERVE_FAILED',
      () => [`on node ${w2}`, `check that the node is up and reachable`],
      others,
    );
    t.match(run.stderr, /\(1 problem\)/, 'that one node only');
    // The lab's own rotate.yaml (no change planned) fails the same way: every node must be read.
    const noChange = await rotate('plan', '-f', lab.desired, '--detailed-exitcode');
    assertCleanError(t, noChange, 'OBSERVE_FAILED', [w2], 'rotate.yaml with a node down');
    expectExit(t, await rotate('lab', 'fault', '--dir', lab.dir, '--node', w2, '--up'), 0, 'rotate lab fault --up');
    t.same(await configDigests(client, lab.nodes), digests, 'no node config changed');
  });
});
