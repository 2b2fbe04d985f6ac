/**
 * `rotate lab up` writes DIR/rotate.yaml, a desired-state file matching the lab as it starts: the built
 * CLI's `rotate validate` accepts it as written (both Kubernetes CA styles), lab.json lists it, and it
 * names the lab's nodes and CAs.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { parse } from 'yaml';

import type { LabFile } from '../../../src/lab/process/contracts.js';
import { parseSecretsBundle, getBundleCa } from '../../../src/talos/secrets-bundle.js';
import { labDir, requireBuild, rotate, serviceAccountKeyType, type TapTest, labUp } from './fixtures/cli.js';

requireBuild(t);

for (const style of ['legacy', 'document'] as const) {
  t.test(`${style}: rotate validate accepts DIR/rotate.yaml as the lab wrote it`, async (t) => {
    const dir = await labDir(t);
    const up = await labUp(dir, '--control-planes', '2', '--workers', '1', '--kubernetes-ca-style', style);
    t.equal(up.code, 0, up.stderr);
    t.match(up.stdout, /desired\s+\S*rotate\.yaml/, 'lab up names the file');
    const lab = JSON.parse(await fs.readFile(path.join(dir, 'lab.json'), 'utf8')) as LabFile;
    t.equal(lab.files.desired, 'rotate.yaml', 'listed in lab.json files');
    const file = path.join(dir, 'rotate.yaml');
    t.equal((await fs.stat(file)).mode & 0o777, 0o644, 'no secret in it: 0644');

    const validate = await rotate('validate', '-f', file);
    t.equal(validate.code, 0, `rotate validate exits 0\n${validate.stdout}${validate.stderr}`);
    t.match(validate.stdout, /is valid/);
    t.equal(validate.stderr, '', 'not even a warning');

    const doc = parse(await fs.readFile(file, 'utf8')) as {
      cluster: Record<string, unknown>;
      authorities: Record<string, { certificate: string }>;
    };
    const cps = lab.nodes.filter((n) => n.role === 'controlplane').map((n) => n.address);
    t.same(doc.cluster.controlPlanes, cps);
    t.same(doc.cluster.endpoints, cps);
    t.same(
      doc.cluster.workers,
      lab.nodes.filter((n) => n.role === 'worker').map((n) => n.address),
    );
    t.equal(doc.cluster.context, lab.clusterName);
    const bundle = parseSecretsBundle(await fs.readFile(path.join(dir, 'secrets.yaml'), 'utf8'));
    t.equal(await serviceAccountKeyType(dir), 'ec-prime256v1', '--service-account-key ecdsa-p256: an old cluster');
    t.equal(
      doc.authorities['talos-lab']!.certificate,
      getBundleCa(bundle, 'os').certPem,
      "talos-lab is the bundle's Talos CA",
    );
    t.equal(
      doc.authorities['kubernetes-lab']!.certificate,
      getBundleCa(bundle, 'k8s').certPem,
      "kubernetes-lab is the bundle's Kubernetes CA",
    );

    const json = JSON.parse((await rotate('validate', '-f', file, '--json')).stdout) as {
      valid: boolean;
      warnings: unknown[];
    };
    t.same({ valid: json.valid, warnings: json.warnings }, { valid: true, warnings: [] });

    if (style === 'legacy') await rotationEdit(t, dir, file);
  });
}

/**
 * The edit the file's closing comment describes: a new Talos CA issues, talos-lab stays accepted, its key
 * line left as it was (read from the bundle apply rewrites). Valid: an accepted CA needs no key. With the
 * bundle's os entry rewritten to the new CA (what apply does), still valid, with talos-lab's key called
 * not available (DESIRED_KEY_NOT_AVAILABLE, a warning), and the name still means the lab's certificate.
 */
async function rotationEdit(t: TapTest, dir: string, file: string): Promise<void> {
  const made = await rotate('ca', 'new', '--api', 'talos', '--name', 'talos-next', '--dir', path.join(dir, 'pki'));
  t.equal(made.code, 0, made.stderr);
  const text = await fs.readFile(file, 'utf8');
  const edited = text
    .replace('  issuing: talos-lab\n  accepted: []', '  issuing: talos-next\n  accepted: [talos-lab]')
    .replace(
      'authorities:\n',
      'authorities:\n  talos-next: { certificate: pki/talos-next.crt, key: { file: pki/talos-next.key } }\n',
    );
  t.not(edited, text);
  const next = path.join(dir, 'rotate-next.yaml');
  await fs.writeFile(next, edited);
  const ok = await rotate('validate', '-f', next);
  t.equal(ok.code, 0, `valid with talos-lab's key line kept\n${ok.stdout}${ok.stderr}`);
  t.match(ok.stdout, /issuing talos-next .*also accepted: talos-lab/);
  t.notMatch(
    ok.stdout + ok.stderr,
    /DESIRED_KEY_NOT_AVAILABLE/,
    'the key still matches before the bundle is rewritten',
  );

  // What apply does to the bundle: the os entry now holds talos-next (certificate and key, base64 of PEM).
  const bundlePath = path.join(dir, 'secrets.yaml');
  const bundle = await fs.readFile(bundlePath, 'utf8');
  const b64 = async (f: string) => Buffer.from(await fs.readFile(path.join(dir, 'pki', f), 'utf8')).toString('base64');
  const os = /(\n {4}os:\n {8}crt: )(\S+)(\n {8}key: )(\S+)/.exec(bundle);
  t.ok(os, 'the bundle has an os entry');
  if (!os) return;
  await fs.writeFile(
    bundlePath,
    bundle.replace(os[0], `${os[1]}${await b64('talos-next.crt')}${os[3]}${await b64('talos-next.key')}`),
    { mode: 0o600 },
  );
  const after = await rotate('validate', '-f', next, '--json');
  t.equal(after.code, 0, `still valid once the bundle holds the next CA\n${after.stdout}${after.stderr}`);
  const report = JSON.parse(after.stdout) as { warnings: Array<{ code: string; path: string }> };
  t.same(
    report.warnings.filter((w) => w.code === 'DESIRED_KEY_NOT_AVAILABLE').map((w) => w.path),
    ['authorities.talos-lab.key.secretsBundle'],
    "talos-lab's key: not available",
  );
}
