import { X509Certificate } from 'node:crypto';
import t from 'tap';

import { issueTalosClientCert } from '../../../src/pki/index.js';
import { getContext, parseTalosconfig } from '../../../src/talos/talosconfig.js';
import { generateLabSecrets } from '../../../src/lab/setup/secrets.js';
import { LAB_DIR_FILES, renderLabTalosconfig } from '../../../src/lab/process/dir-files.js';

t.test('talosconfig: one context named after the cluster, endpoints = control planes, nodes = all, os:admin cert', async (t) => {
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
  t.match(text, /^context: lab\ncontexts:\n    lab:\n        endpoints:\n/, 'talosctl layout (4-space indent)');
  const ctx = getContext(parseTalosconfig(text));
  t.equal(ctx.name, 'lab');
  t.same(ctx.endpoints, ['127.8.8.10', '127.8.8.11']);
  t.same(ctx.nodes, ['127.8.8.10', '127.8.8.11', '127.8.8.12']);
  t.equal(ctx.caPem, secrets.os.certPem);
  const cert = new X509Certificate(ctx.certPem);
  t.match(cert.subject, /O=os:admin/);
  t.ok(cert.verify(new X509Certificate(secrets.os.certPem).publicKey), 'issued by the lab Talos CA');
  t.equal(ctx.key.reveal(), admin.key.reveal());
});

t.test('every file the lab writes into DIR is private and has a distinct name', async (t) => {
  const names = LAB_DIR_FILES.map((f) => f.name);
  t.same(new Set(names).size, names.length);
  for (const f of LAB_DIR_FILES) t.equal(f.mode, 0o600, `${f.name} is 0600`);
  t.same(names.sort(), ['kubeconfig', 'secrets.yaml', 'talosconfig']);
  t.notOk(names.includes('lab.json'), 'lab.json is written apart, last');
});
