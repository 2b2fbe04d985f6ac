/**
 * The documented examples pass `rotate validate` (the real CLI) once the material they name exists, and
 * load into the state the planner expects.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';

import { loadDesiredState } from '../../src/desired/index.js';
import {
  builtCli,
  keyFileText,
  leakNeedles,
  REPO,
  runCli,
  snapshot,
  tempDir,
  writeMaterial,
  removeTempDirs,
} from './fixtures/helpers.js';

t.teardown(removeTempDirs);

const EXAMPLES = ['full-rotation', 'intermediate', 'talos-only'];

async function prepare(name: string) {
  const dir = await tempDir(`example-${name}-`);
  const material = await writeMaterial(dir);
  await fs.copyFile(path.join(REPO, 'examples', name, 'rotate.yaml'), path.join(dir, 'rotate.yaml'));
  return { dir, material };
}

t.test('every example folder is covered', async (t) => {
  const folders = (await fs.readdir(path.join(REPO, 'examples'), { withFileTypes: true }))
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
  // staged-rotation/ (three commits) is validated and applied against the lab by test/lab/e2e/staged-rotation.test.ts;
  // pipelines/ is checked by test/lab/e2e/pipelines.test.ts (actionlint; the GitLab jobs run against the lab).
  t.same(folders.sort(), [...EXAMPLES, 'pipelines', 'staged-rotation'].sort());
});

t.test('examples pass rotate validate', { skip: !(await builtCli()) && 'run `npm run build` first' }, async (t) => {
  for (const name of EXAMPLES) {
    await t.test(name, async (t) => {
      const { dir, material } = await prepare(name);
      const env = { K8S_CA_KEY: keyFileText(material.k8sNew) };
      const before = await snapshot(dir);
      const run = await runCli(['validate'], dir, env);
      t.equal(run.code, 0, `exit 0\n${run.stderr}`);
      t.match(run.stdout, /rotate\.yaml is valid/);
      const json = await runCli(['validate', '-f', 'rotate.yaml', '--json'], dir, env);
      t.equal(json.code, 0);
      const report = JSON.parse(json.stdout) as { valid: boolean; errors: unknown[]; warnings: { code: string }[] };
      t.equal(report.valid, true);
      t.same(report.errors, []);
      const expectedWarnings = name === 'full-rotation' ? ['DESIRED_UNUSED_AUTHORITY', 'DESIRED_UNUSED_AUTHORITY'] : [];
      t.same(
        report.warnings.map((w) => w.code),
        expectedWarnings,
        'warnings',
      );
      for (const needle of leakNeedles(material.keyPems)) {
        t.notOk(
          run.stdout.includes(needle) || run.stderr.includes(needle) || json.stdout.includes(needle),
          'no key material in the output',
        );
      }
      t.same(await snapshot(dir), before, 'nothing written');
    });
  }
});

t.test('full rotation loads into the planner model', async (t) => {
  const { dir, material } = await prepare('full-rotation');
  const { state, warnings } = await loadDesiredState(path.join(dir, 'rotate.yaml'), { env: {} });
  t.equal(state.version, 1);
  t.equal(state.dir, dir);
  t.match(state.digest, /^[0-9a-f]{64}$/);
  t.equal(state.talos?.issuing.name, 'talos-2026');
  t.equal(state.talos?.issuing.certificate.fingerprint, material.talosNew.fingerprint);
  t.same(state.talos?.accepted, []);
  t.equal(state.kubernetes?.issuing.certificate.fingerprint, material.k8sNew.fingerprint);
  t.same(state.cluster.controlPlanes, ['10.0.0.11', '10.0.0.12', '10.0.0.13']);
  t.same(state.cluster.workers, ['10.0.0.21', '10.0.0.22']);
  t.equal(state.cluster.talosconfig, path.join(dir, 'talosconfig'));
  t.equal(state.cluster.kubeconfig, path.join(dir, 'kubeconfig'));
  t.equal(state.cluster.secretsBundle, path.join(dir, 'secrets.yaml'));
  t.equal(state.cluster.context, 'prod');
  t.same(state.authorities['talos-2016']?.certificateSource, {
    kind: 'secretsBundle',
    path: path.join(dir, 'secrets.pre-rotation.yaml'),
    entry: 'os',
  });
  t.equal(state.authorities['talos-2016']?.certificate.fingerprint, material.talosOld.fingerprint);
  t.same(
    warnings.map((w) => [w.code, w.path]),
    [
      ['DESIRED_UNUSED_AUTHORITY', 'authorities.talos-2016'],
      ['DESIRED_UNUSED_AUTHORITY', 'authorities.k8s-2016'],
    ],
  );
});

t.test('intermediate loads with the old CAs accepted and the env key', async (t) => {
  const { dir, material } = await prepare('intermediate');
  const { state } = await loadDesiredState(path.join(dir, 'rotate.yaml'), {
    env: { K8S_CA_KEY: keyFileText(material.k8sNew) },
  });
  t.same(
    state.talos?.accepted.map((a) => a.certificate.fingerprint),
    [material.talosOld.fingerprint],
  );
  t.same(
    state.kubernetes?.accepted.map((a) => a.certificate.fingerprint),
    [material.k8sOld.fingerprint],
  );
  t.same(state.kubernetes?.issuing.keySource, { kind: 'env', variable: 'K8S_CA_KEY' });
  t.equal(state.cluster.kubernetesEndpoint, 'https://k8s.prod.example.com:6443');
  t.equal(state.cluster.context, undefined);
});
