/**
 * `rotate ca new -f FILE --make-issuing [--keep-previous]` on the lab's own rotate.yaml: the one-command way
 * to ask for a rotation. The plan that follows is the rotation asked for; refusals leave the file and the
 * pki folder as they were.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { parse } from 'yaml';

import { labDir, requireBuild, rotate } from './fixtures/cli.js';

requireBuild(t);

interface PlanJson {
  steps: { id: string }[];
}

t.test('full and staged rotations in one command each; refusals change nothing', async (t) => {
  const dir = await labDir(t);
  const up = await rotate('lab', 'up', '--dir', dir, '--control-planes', '1', '--workers', '1', '--kubernetes-ca-style', 'document', '--detach');
  t.equal(up.code, 0, up.stderr);
  const file = path.join(dir, 'rotate.yaml');
  const original = await fs.readFile(file, 'utf8');

  const talos = await rotate('ca', 'new', '-f', file, '--api', 'talos', '--name', 'talos-next', '--make-issuing', '--json');
  t.equal(talos.code, 0, talos.stderr);
  const made = JSON.parse(talos.stdout) as Record<string, unknown>;
  t.match(made, { use: 'issuing', previousIssuing: 'talos-lab', certificate: path.join(dir, 'pki', 'talos-next.crt') }, 'pki beside the file by default');
  t.notMatch(talos.stdout, /PRIVATE KEY/, 'no key printed');
  t.equal((await fs.stat(path.join(dir, 'pki', 'talos-next.key'))).mode & 0o777, 0o600);
  const k8s = await rotate('ca', 'new', '-f', file, '--api', 'kubernetes', '--name', 'k8s-next', '--make-issuing', '--keep-previous');
  t.equal(k8s.code, 0, k8s.stderr);
  t.match(k8s.stdout, /kubernetes: k8s-next issues, kubernetes-lab stays accepted/);

  const edited = await fs.readFile(file, 'utf8');
  const data = parse(edited) as { talos: unknown; kubernetes: unknown; authorities: Record<string, unknown> };
  t.same(data.talos, { issuing: 'talos-next', accepted: [] });
  t.same(data.kubernetes, { issuing: 'k8s-next', accepted: ['kubernetes-lab'] });
  t.same(data.authorities['talos-next'], { certificate: 'pki/talos-next.crt', key: { file: 'pki/talos-next.key' } }, 'relative references, never the key');
  t.ok(edited.startsWith(original.slice(0, original.indexOf('talos:\n'))), 'the file above the API sections is byte for byte what it was (comments included)');

  const validate = await rotate('validate', '-f', file);
  t.equal(validate.code, 0, validate.stdout + validate.stderr);
  const plan = await rotate('plan', '-f', file, '--json', '--detailed-exitcode', '--no-node-dry-run');
  t.equal(plan.code, 2, `changes planned\n${plan.stderr}`);
  const steps = (JSON.parse(plan.stdout) as { plan: PlanJson }).plan.steps.map((s) => s.id);
  t.same(steps, ['talos-kubernetes-accept', 'talos-kubernetes-issue', 'talos-drop'], 'Talos: accept, issue, drop; Kubernetes: accept, issue (old kept)');

  // Refusals: the name exists; a desired file that is not valid. Nothing written, file unchanged.
  const before = await fs.readFile(file, 'utf8');
  const pkiBefore = (await fs.readdir(path.join(dir, 'pki'))).sort();
  const exists = await rotate('ca', 'new', '-f', file, '--api', 'talos', '--name', 'talos-lab', '--dir', path.join(dir, 'other'), '--make-issuing');
  t.equal(exists.code, 1);
  t.match(exists.stderr, /error\[CA_DESIRED_EDIT\]: .*authorities\.talos-lab is already defined/);
  await t.rejects(fs.stat(path.join(dir, 'other')), 'no CA written for a refused edit');
  const broken = path.join(dir, 'broken.yaml');
  await fs.writeFile(broken, before.replace('version: 1', 'version: 7'));
  const invalid = await rotate('ca', 'new', '-f', broken, '--api', 'talos', '--name', 'talos-x', '--make-issuing');
  t.equal(invalid.code, 1);
  t.match(invalid.stderr, /broken\.yaml/);
  t.notMatch(invalid.stderr, /\n\s+at /, 'no stack trace');
  const flagOnly = await rotate('ca', 'new', '--api', 'talos', '--name', 'talos-y', '--make-issuing');
  t.equal(flagOnly.code, 1);
  t.match(flagOnly.stderr, /--make-issuing edits a desired-state file: name it with -f FILE/);
  t.equal(await fs.readFile(file, 'utf8'), before, 'rotate.yaml unchanged by the refusals');
  t.same((await fs.readdir(path.join(dir, 'pki'))).sort(), pkiBefore, 'pki unchanged by the refusals');
});
