/**
 * examples/staged-rotation/ applied against the lab commit by commit (accept, issue, drop): each commit's
 * file, with the lab's cluster section, is applied; the same file then plans no change.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { parse, parseDocument } from 'yaml';

import { FAST_TIMINGS, labDir, REPO, requireBuild, rotate, labUp } from './fixtures/cli.js';

requireBuild(t);

const COMMITS = ['1-accept.yaml', '2-issue.yaml', '3-drop.yaml'];

interface Status {
  cas: { api: string; name: string | null; issuingOn: string[]; acceptedOn: string[] }[];
}

t.test('the staged example, commit by commit, on a lab', async (t) => {
  const dir = await labDir(t);
  const up = await labUp(
    dir,
    '--control-planes',
    '1',
    '--workers',
    '1',
    // Three applies of both CAs: each kubelet restart, static pod re-creation and Kubernetes gate is waited out.
    ...FAST_TIMINGS,
  );
  t.equal(up.code, 0, up.stderr);
  const lab = parse(await fs.readFile(path.join(dir, 'rotate.yaml'), 'utf8')) as {
    cluster: Record<string, unknown>;
    authorities: Record<string, { certificate: string }>;
  };
  // The old CAs as the example names them; the new ones as the example says to make them.
  await fs.mkdir(path.join(dir, 'pki'), { mode: 0o700 });
  await fs.writeFile(path.join(dir, 'pki', 'talos-2016.crt'), lab.authorities['talos-lab']!.certificate);
  await fs.writeFile(path.join(dir, 'pki', 'k8s-2016.crt'), lab.authorities['kubernetes-lab']!.certificate);
  for (const [api, name] of [
    ['talos', 'talos-2026'],
    ['kubernetes', 'k8s-2026'],
  ])
    t.equal((await rotate('ca', 'new', '--api', api!, '--name', name!, '--dir', path.join(dir, 'pki'))).code, 0);

  const file = path.join(dir, 'rotate.yaml');
  const expected: Record<string, [string, number, number][]> = {
    '1-accept.yaml': [
      ['talos-2016', 2, 0],
      ['talos-2026', 0, 2],
    ],
    '2-issue.yaml': [
      ['talos-2026', 2, 0],
      ['talos-2016', 0, 2],
    ],
    '3-drop.yaml': [['talos-2026', 2, 0]],
  };
  for (const commit of COMMITS) {
    // The commit's file with the lab's cluster section (its paths are the example's: talosconfig, kubeconfig,
    // secrets.yaml).
    const doc = parseDocument(await fs.readFile(path.join(REPO, 'examples', 'staged-rotation', commit), 'utf8'));
    for (const key of ['context', 'endpoints', 'controlPlanes', 'workers'] as const)
      doc.setIn(['cluster', key], doc.createNode(lab.cluster[key]));
    await fs.writeFile(file, doc.toString());
    const validate = await rotate('validate', '-f', file);
    t.equal(validate.code, 0, `${commit} validates\n${validate.stdout}${validate.stderr}`);
    const apply = await rotate('apply', '-f', file, '--auto-approve', '--no-node-dry-run');
    t.equal(apply.code, 0, `${commit} applied\n${apply.stdout}${apply.stderr}`);
    const plan = await rotate('plan', '-f', file, '--detailed-exitcode', '--no-node-dry-run');
    t.equal(plan.code, 0, `${commit}: the applied file plans no change\n${plan.stdout}${plan.stderr}`);
    const status = await rotate('status', '-f', file, '--json');
    t.equal(status.code, 0, status.stderr);
    const cas = (JSON.parse(status.stdout) as Status).cas
      .filter((c) => c.api === 'talos')
      .map((c) => [c.name!, c.issuingOn.length, c.acceptedOn.length]);
    t.same(cas, expected[commit], `${commit}: the Talos CAs on the nodes`);
  }
});
