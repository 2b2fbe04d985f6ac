import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { parse } from 'yaml';

import { issueTalosClientCert } from '../../../src/pki/index.js';
import { getContext, parseTalosconfig } from '../../../src/talos/talosconfig.js';
import { generateLabSecrets } from '../../../src/lab/setup/secrets.js';
import { LAB_DIR_FILES, renderLabTalosconfig } from '../../../src/lab/process/dir-files.js';
import { DESIRED_SCHEMA_PATH, renderLabDesiredState } from '../../../src/lab/process/desired-file.js';

t.test(
  'talosconfig: one context named after the cluster, endpoints = control planes, nodes = all, os:admin cert',
  async (t) => {
    const secrets = await generateLabSecrets({ serviceAccountKey: 'ecdsa-p256' });
    const admin = await issueTalosClientCert(secrets.os, { roles: ['os:admin'] });
    const text = renderLabTalosconfig({
      context: 'lab',
      endpoints: ['127.8.8.10', '127.8.8.11'],
      nodes: ['127.8.8.10', '127.8.8.11', '127.8.8.12'],
      caPem: secrets.os.certPem,
      certPem: admin.certPem,
      key: admin.key,
    });
    t.match(text, /^context: lab\ncontexts:\n {4}lab:\n {8}endpoints:\n/, 'talosctl layout (4-space indent)');
    const ctx = getContext(parseTalosconfig(text));
    t.equal(ctx.name, 'lab');
    t.same(ctx.endpoints, ['127.8.8.10', '127.8.8.11']);
    t.same(ctx.nodes, ['127.8.8.10', '127.8.8.11', '127.8.8.12']);
    t.equal(ctx.caPem, secrets.os.certPem);
    const cert = new X509Certificate(ctx.certPem);
    t.match(cert.subject, /O=os:admin/);
    t.ok(cert.verify(new X509Certificate(secrets.os.certPem).publicKey), 'issued by the lab Talos CA');
    t.equal(ctx.key.reveal(), admin.key.reveal());
  },
);

t.test('every file holding a secret is private; every file has a distinct name', async (t) => {
  const names = LAB_DIR_FILES.map((f) => f.name);
  t.same(new Set(names).size, names.length);
  for (const f of LAB_DIR_FILES) {
    if (f.kind === 'desired') t.equal(f.mode, 0o644, `${f.name} holds no secret (keys are only referenced)`);
    else t.equal(f.mode, 0o600, `${f.name} is 0600`);
  }
  t.same(names.sort(), ['kubeconfig', 'rotate.yaml', 'secrets.yaml', 'talosconfig']);
  t.notOk(names.includes('lab.json'), 'lab.json is written apart, last');
});

t.test("rotate.yaml: schema modeline, the lab's nodes and CAs, keys only referenced", async (t) => {
  const secrets = await generateLabSecrets({ serviceAccountKey: 'ecdsa-p256' });
  const text = renderLabDesiredState({
    context: 'my lab',
    controlPlanes: ['127.8.8.10', '127.8.8.11'],
    workers: ['127.8.8.12'],
    talosCaPem: secrets.os.certPem,
    kubernetesCaPem: secrets.k8s.certPem,
  });
  const first = text.split('\n')[0]!;
  t.equal(first, `# yaml-language-server: $schema=${DESIRED_SCHEMA_PATH}`);
  t.ok(
    path.isAbsolute(DESIRED_SCHEMA_PATH) && existsSync(DESIRED_SCHEMA_PATH),
    `the modeline names the repository's schema (${DESIRED_SCHEMA_PATH})`,
  );
  const doc = parse(text) as {
    cluster: unknown;
    talos: unknown;
    kubernetes: unknown;
    authorities: Record<'talos-lab' | 'kubernetes-lab', { certificate: string; key: unknown }>;
  };
  t.same(doc.cluster, {
    talosconfig: './talosconfig',
    context: 'my lab',
    kubeconfig: './kubeconfig',
    endpoints: ['127.8.8.10', '127.8.8.11'],
    controlPlanes: ['127.8.8.10', '127.8.8.11'],
    workers: ['127.8.8.12'],
    secretsBundle: './secrets.yaml',
  });
  t.same(doc.talos, { issuing: 'talos-lab', accepted: [] });
  t.same(doc.kubernetes, { issuing: 'kubernetes-lab', accepted: [] });
  t.equal(doc.authorities['talos-lab'].certificate, secrets.os.certPem, 'inline certificate, byte for byte');
  t.equal(doc.authorities['kubernetes-lab'].certificate, secrets.k8s.certPem);
  t.same(doc.authorities['talos-lab'].key, { secretsBundle: './secrets.yaml', entry: 'os' });
  t.same(doc.authorities['kubernetes-lab'].key, { secretsBundle: './secrets.yaml', entry: 'k8s' });
  t.notMatch(text, /PRIVATE KEY/, 'no key material');
});
