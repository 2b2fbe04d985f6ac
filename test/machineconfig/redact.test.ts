import t from 'tap';
import { parseAllDocuments } from 'yaml';

import { isSecretName, isSecretPath, REDACTED, redactSecrets } from '../../src/machineconfig/index.js';
import { changedLines, FIXTURES, loadFixture, type FixtureName } from '../fixtures/machineconfig/helpers.js';

type Path = (string | number)[];

/**
 * The secret fields of each fixture, written out by hand (document, path). Each must be covered by the
 * explicit SECRET_PATHS list, not only by the name heuristic.
 */
const SECRETS: Record<FixtureName, Array<[string, Path]>> = {
  'legacy-controlplane': [
    ['v1alpha1', ['machine', 'token']],
    ['v1alpha1', ['machine', 'ca', 'key']],
    ['v1alpha1', ['machine', 'registries', 'config', 'registry.example.test', 'auth', 'password']],
    ['v1alpha1', ['cluster', 'secret']],
    ['v1alpha1', ['cluster', 'token']],
    ['v1alpha1', ['cluster', 'secretboxEncryptionSecret']],
    ['v1alpha1', ['cluster', 'ca', 'key']],
    ['v1alpha1', ['cluster', 'aggregatorCA', 'key']],
    ['v1alpha1', ['cluster', 'serviceAccount', 'key']],
    ['v1alpha1', ['cluster', 'etcd', 'ca', 'key']],
  ],
  'legacy-worker': [
    ['v1alpha1', ['machine', 'token']],
    ['v1alpha1', ['machine', 'network', 'interfaces', 0, 'wireguard', 'privateKey']],
    ['v1alpha1', ['cluster', 'secret']],
    ['v1alpha1', ['cluster', 'token']],
  ],
  'document-controlplane': [
    ['v1alpha1', ['machine', 'token']],
    ['v1alpha1', ['machine', 'ca', 'key']],
    ['v1alpha1', ['cluster', 'token']],
    ['v1alpha1', ['cluster', 'etcd', 'ca', 'key']],
    ['DiscoveryIdentityConfig', ['clusterSecret']],
    ['KubeAPIServerCAConfig', ['issuingCA', 'key']],
    ['KubeAggregatorCAConfig', ['issuingCA', 'key']],
    ['KubeEtcdEncryptionConfig', ['config', 'resources', 0, 'providers', 0, 'secretbox', 'keys', 0, 'secret']],
    ['KubeServiceAccountConfig', ['issuer', 'privateKey']],
  ],
  'document-worker': [
    ['v1alpha1', ['machine', 'token']],
    ['v1alpha1', ['cluster', 'token']],
    ['DiscoveryIdentityConfig', ['clusterSecret']],
  ],
};

function docs(src: string): Array<{ name: string; js: Record<string, unknown> }> {
  return parseAllDocuments(src)
    .map((d) => d.toJS() as Record<string, unknown> | null)
    .filter((js): js is Record<string, unknown> => js !== null)
    .map((js) => ({ name: typeof js['kind'] === 'string' ? js['kind'] : 'v1alpha1', js }));
}

function getIn(obj: unknown, path: Path): unknown {
  return path.reduce<unknown>((o, k) => (o as Record<string | number, unknown> | undefined)?.[k], obj);
}

function setIn(obj: unknown, path: Path, value: unknown): void {
  const parent = getIn(obj, path.slice(0, -1)) as Record<string | number, unknown>;
  parent[path[path.length - 1]!] = value;
}

for (const name of FIXTURES) {
  t.test(`${name}: every secret redacted, nothing else changed`, async (t) => {
    const src = loadFixture(name);
    const out = redactSecrets(src);
    const before = docs(src);
    const after = docs(out);

    const expected = structuredClone(before);
    for (const [doc, path] of SECRETS[name]) {
      t.ok(isSecretPath(doc, path), `${doc} ${path.join('.')} is in the explicit list`);
      const target = expected.find((d) => d.name === doc);
      const value = getIn(target?.js, path);
      t.type(value, 'string', `${doc} ${path.join('.')} exists in the fixture`);
      t.ok((value as string).length > 0);
      t.notOk(
        out.includes((value as string).trim().split('\n')[1] ?? (value as string)),
        `${path.join('.')} value is gone from the text`,
      );
      setIn(target!.js, path, REDACTED);
    }
    t.same(after, expected, 'same documents and keys; only the listed values became (sensitive)');

    // Layout: every added line is a redacted one, and removed lines are the secret values (PEM bodies too).
    for (const c of changedLines(src, out).filter((c) => c.kind === 'added'))
      t.match(c.text, /: \(sensitive\)( #.*)?$/, 'one value per line');
    t.ok(out.split('\n').length <= src.split('\n').length);
    t.notMatch(out, /PRIVATE KEY/, 'no key block remains');
    t.equal(redactSecrets(out), out, 'redacting twice changes nothing');
  });
}

t.test('empty values and public material stay; keys in unexpected places are caught', async (t) => {
  const src = loadFixture('legacy-worker');
  const out = redactSecrets(src);
  t.match(out, /\n {4}key: ""\n/, "a worker's empty key is kept");
  t.match(out, /publicKey: [A-Za-z0-9+/=]{40,}/, 'publicKey is not secret');
  t.match(out, /\n {2}id: [A-Za-z0-9+/=]{40,}/, '.cluster.id is not redacted (as Talos does)');
  t.match(out, /crt: "LS0t/, 'certificates are public');

  const pemKey = /-----BEGIN ED25519 PRIVATE KEY-----[^]*?-----END ED25519 PRIVATE KEY-----\n/.exec(
    Buffer.from(/\n {8}key: (\S+)/.exec(loadFixture('legacy-controlplane'))![1]!, 'base64').toString(),
  )![0];
  const files = `machine:\n  type: worker\n  files:\n    - path: /var/lib/x.pem\n      content: |\n${pemKey
    .trimEnd()
    .split('\n')
    .map((l) => `        ${l}`)
    .join(
      '\n',
    )}\n      op: create\n  someApiToken: abc123\n  kubelet:\n    extraArgs:\n      rotate-certificates: "true"\n`;
  const red = redactSecrets(files);
  t.equal(
    red,
    files.replace(/content: \|\n[^]*?(?= {6}op:)/, 'content: (sensitive)\n').replace('abc123', '(sensitive)'),
  );
});

t.test('secret names', async (t) => {
  for (const n of [
    'key',
    'privateKey',
    'token',
    'bootstrapToken',
    'secret',
    'clusterSecret',
    'password',
    'passphrase',
    'apiToken',
    'secretboxEncryptionSecret',
  ]) {
    t.ok(isSecretName(n), n);
  }
  for (const n of ['publicKey', 'crt', 'cert', 'keys', 'id', 'clusterID', 'tokenTTL', 'endpoint', 'issuerURL'])
    t.notOk(isSecretName(n), n);
  t.ok(
    isSecretPath('KubeEtcdEncryptionConfig', ['config', 'resources', 3, 'providers', 0, 'aescbc', 'keys', 1, 'secret']),
  );
  t.notOk(isSecretPath('v1alpha1', ['cluster', 'ca', 'crt']));
  t.notOk(isSecretPath('KubeAPIServerCAConfig', ['issuingCA', 'cert']));
});

t.test('a document shared by several configs is redacted right wherever it sits', async (t) => {
  // The second and third configs hold the first one's secret document at other offsets: its parse comes
  // from the slice cache as a shifted copy, and its redaction edits from the first config's walk.
  const shared =
    'apiVersion: v1alpha1\nkind: KubeAPIServerCAConfig\nissuingCA:\n    cert: Y2VydA==\n    key: |\n' +
    '        -----BEGIN EC PRIVATE KEY-----\n        c2VjcmV0\n        -----END EC PRIVATE KEY-----\n' +
    '---\napiVersion: v1alpha1\nkind: DiscoveryIdentityConfig\nclusterID: id-1\nclusterSecret: c2VjcmV0LTI=\n';
  const redactedShared =
    'apiVersion: v1alpha1\nkind: KubeAPIServerCAConfig\nissuingCA:\n    cert: Y2VydA==\n    key: (sensitive)\n' +
    '---\napiVersion: v1alpha1\nkind: DiscoveryIdentityConfig\nclusterID: id-1\nclusterSecret: (sensitive)\n';
  for (const head of ['a', 'a-much-longer-machine-token', 'b']) {
    const cfg = `machine:\n    type: worker\n    token: ${head}\n---\n${shared}`;
    t.equal(redactSecrets(cfg), `machine:\n    type: worker\n    token: (sensitive)\n---\n${redactedShared}`, head);
  }
  const first = `machine:\n    type: worker\n    token: x\n---\n${shared}`;
  // The shared documents first, then a config whose first document grew: every edit moves with its document.
  const moved = `${shared}---\nmachine:\n    type: worker\n    token: x\n`;
  t.equal(redactSecrets(first).includes('c2VjcmV0'), false);
  t.equal(redactSecrets(moved), `${redactedShared}---\nmachine:\n    type: worker\n    token: (sensitive)\n`);
});
