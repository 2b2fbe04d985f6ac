/**
 * Pure parts: YAML positions, ajv errors turned into one human message each, value quoting that never
 * shows key material, address rules, and the cross-field checks. No files.
 */
import t from 'tap';

import { canonicalAddress, isHostname, isNodeAddress, parseEndpoint, bareHost } from '../../src/desired/addresses.js';
import { formatField, type Finding } from '../../src/desired/diagnostics.js';
import { schemaErrors } from '../../src/desired/schema.js';
import { translateSchemaErrors } from '../../src/desired/schema-errors.js';
import { checkSemantics } from '../../src/desired/semantic.js';
import { describeValue, looksLikePrivateKey, sanitizeParserMessage } from '../../src/desired/sensitive.js';
import { locate, parseSource } from '../../src/desired/source.js';
import { encodeTalosBase64Pem, generateKubernetesCa, generateTalosCa, splitPemBlocks } from '../../src/pki/index.js';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

const BASE = `version: 1
cluster:
  controlPlanes: [10.0.0.11]
  workers: []
talos:
  issuing: a
authorities:
  a:
    certificate: a.crt
    key: { file: a.key }
`;

/** Findings of the YAML and schema stages, each with its line:column. */
function findingsOf(text: string): (Finding & { pos: string })[] {
  const parsed = parseSource(text);
  const out = [...parsed.findings];
  if (parsed.source) {
    const skip = parsed.findings.filter((f) => f.code === 'DESIRED_INLINE_KEY').map((f) => f.at);
    out.push(...translateSchemaErrors(schemaErrors(parsed.source.data), parsed.source.data, skip));
  }
  return out.map((f) => {
    const p = locate(parsed.source, f, text);
    return { ...f, pos: `${p.line}:${p.column}` };
  });
}

function one(t: TapTest, text: string): Finding & { pos: string } {
  const list = findingsOf(text);
  t.equal(list.length, 1, `exactly one finding: ${JSON.stringify(list.map((f) => [f.code, f.message]))}`);
  return list[0]!;
}

t.test('a valid base has no findings', async (t) => {
  t.same(findingsOf(BASE), []);
});

t.test('a key source that fits no form is one message naming the forms', async (t) => {
  const f = one(t, BASE.replace('key: { file: a.key }', 'key: { path: a.key }'));
  t.equal(f.code, 'DESIRED_BAD_KEY_SOURCE');
  t.equal(formatField(f.at), 'authorities.a.key');
  t.equal(f.pos, '10:10');
  t.match(
    f.message,
    /must be one of \{ file: PATH \}, \{ env: VARIABLE \} or \{ secretsBundle: PATH, entry: os \| k8s \}/,
  );
  const typo = one(t, BASE.replace('key: { file: a.key }', 'key: { fille: a.key }'));
  t.match(typo.hint, /did you mean `file`\?/);
});

t.test('a key source of one evident form reports that form only', async (t) => {
  const noEntry = one(t, BASE.replace('key: { file: a.key }', 'key: { secretsBundle: s.yaml }'));
  t.equal(noEntry.code, 'DESIRED_MISSING_FIELD');
  t.equal(formatField(noEntry.field!), 'authorities.a.key.entry');
  t.match(noEntry.hint, /entry: os/);
  const badEntry = one(t, BASE.replace('key: { file: a.key }', 'key: { secretsBundle: s.yaml, entry: etcd }'));
  t.equal(badEntry.code, 'DESIRED_BAD_BUNDLE_ENTRY');
  t.match(badEntry.message, /must be os .* or k8s .* \(got "etcd"\)/);
  const badEnv = one(t, BASE.replace('key: { file: a.key }', 'key: { env: 9LIVES }'));
  t.equal(formatField(badEnv.at), 'authorities.a.key.env');
  const extra = one(t, BASE.replace('key: { file: a.key }', 'key: { file: a.key, mode: 384 }'));
  t.equal(extra.code, 'DESIRED_UNKNOWN_FIELD');
  t.equal(formatField(extra.at), 'authorities.a.key.mode');
});

t.test('keys are never inline, wherever they are written', async (t) => {
  const ca = await generateTalosCa();
  const k8s = await generateKubernetesCa();
  const pem = ca.key.reveal();
  const block = (indent: string, text: string) =>
    text
      .trimEnd()
      .split('\n')
      .map((l) => indent + l)
      .join('\n');
  const cases = [
    BASE.replace('key: { file: a.key }', `key: |\n${block('      ', pem)}`),
    BASE.replace('key: { file: a.key }', `key: ${encodeTalosBase64Pem(pem)}`),
    BASE.replace('certificate: a.crt', `certificate: |\n${block('      ', k8s.key.reveal())}`),
    BASE.replace('key: { file: a.key }', `key: { file: "${encodeTalosBase64Pem(k8s.key.reveal())}" }`),
    BASE.replace(
      '  workers: []',
      `  workers: []\n  context: ${Buffer.from(splitPemBlocks(pem)[0]!.der).toString('base64')}`,
    ),
  ];
  for (const [i, text] of cases.entries()) {
    const list = findingsOf(text);
    t.same(
      list.map((f) => f.code),
      ['DESIRED_INLINE_KEY'],
      `case ${i}: one inline-key finding, no schema noise`,
    );
    t.match(list[0]!.message, /never inline: this file is meant to be committed to git/);
    t.notMatch(JSON.stringify(list), /PRIVATE KEY-----|MC4CAQ|MHcCAQ/, 'the finding quotes none of it');
  }
  const inComment = findingsOf(`${BASE}# old key, keep for reference:\n${block('# ', pem)}\n`);
  t.same(
    inComment.map((f) => [f.code, f.pos]),
    [['DESIRED_INLINE_KEY', '12:3']],
    'a key pasted into a comment is found too',
  );
  t.equal(looksLikePrivateKey(ca.certPem), false, 'a certificate is not a key');
  t.equal(looksLikePrivateKey(encodeTalosBase64Pem(ca.certPem)), false);
  t.equal(looksLikePrivateKey('pki/talos.key'), false);
});

t.test('a certificate given as { file } is pointed at the right form', async (t) => {
  const f = one(t, BASE.replace('certificate: a.crt', 'certificate: { file: a.crt }'));
  t.equal(f.code, 'DESIRED_BAD_CERTIFICATE_SOURCE');
  t.match(f.hint, /certificate: "a\.crt"/);
  const num = one(t, BASE.replace('certificate: a.crt', 'certificate: 12'));
  t.match(
    num.message,
    /must be a path to a PEM file, inline PEM text, or \{ secretsBundle: PATH, entry: os \| k8s \} \(got 12\)/,
  );
});

t.test('addresses: one message with the value and the fix', async (t) => {
  const port = one(t, BASE.replace('controlPlanes: [10.0.0.11]', 'controlPlanes: [10.0.0.11, "10.0.0.5:50000"]'));
  t.equal(port.code, 'DESIRED_BAD_ADDRESS');
  t.equal(formatField(port.at), 'cluster.controlPlanes[1]');
  t.equal(port.pos, '3:30');
  t.equal(port.message, 'must be an IP address or DNS name without port or scheme (got "10.0.0.5:50000")');
  t.match(port.hint, /write the address alone: 10\.0\.0\.5/);
  const url = one(t, BASE.replace('workers: []', 'workers: ["https://[fd00::5]:50000/"]'));
  t.match(url.hint, /write the address alone: fd00::5/);
  const endpoint = one(t, BASE.replace('workers: []', 'workers: []\n  endpoints: ["https://10.0.0.1"]'));
  t.equal(endpoint.code, 'DESIRED_BAD_ENDPOINT');
});

t.test('unknown and missing fields', async (t) => {
  const unknown = one(t, BASE.replace('  workers: []', '  workers: []\n  worker: []'));
  t.equal(unknown.code, 'DESIRED_UNKNOWN_FIELD');
  t.equal(unknown.pos, '5:3', 'at the key itself');
  t.match(unknown.hint, /did you mean `workers`\?/);
  const apiVersion = one(t, `apiVersion: talos-rotate.dev/v1\n${BASE}`);
  t.match(apiVersion.hint, /starts with `version: 1`/);
  const missing = one(t, BASE.replace('  workers: []\n', ''));
  t.equal(missing.code, 'DESIRED_MISSING_FIELD');
  t.equal(formatField(missing.field!), 'cluster.workers');
  t.equal(missing.pos, '2:1', 'at the parent key');
  t.match(missing.hint, /workers: \[\]/);
});

t.test('a wrong version hides everything else', async (t) => {
  const f = one(
    t,
    BASE.replace('version: 1', 'version: 2')
      .replace('workers: []', 'workers: [1.2.3.4:5]')
      .replace('key: { file: a.key }', 'key: a.key'),
  );
  t.equal(f.code, 'DESIRED_BAD_VERSION');
  t.equal(f.pos, '1:10');
  t.match(f.message, /\(got 2\)$/);
  const str = one(t, BASE.replace('version: 1', 'version: "1"'));
  t.equal(str.code, 'DESIRED_BAD_VERSION');
  t.match(str.message, /\(got "1"\)$/);
});

t.test('YAML syntax errors and duplicate keys carry positions', async (t) => {
  const dup = findingsOf(BASE.replace('  workers: []\n', '  workers: []\n  workers: [10.0.0.21]\n'));
  t.same(
    dup.map((f) => [f.code, f.pos]),
    [['DESIRED_DUPLICATE_KEY', '5:3']],
  );
  t.match(dup[0]!.message, /first on line 4/);
  const broken = findingsOf('version: 1\ncluster:\n  controlPlanes: [10.0.0.11\n');
  t.same(
    broken.map((f) => f.code),
    ['DESIRED_YAML'],
  );
  t.equal(broken[0]!.pos.split(':')[0], '4');
});

t.test('value quoting', async (t) => {
  t.equal(describeValue('10.0.0.5:50000'), '"10.0.0.5:50000"');
  t.equal(describeValue('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----'), 'PEM text (not shown)');
  t.match(describeValue('QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkw'), /encoded value \(not shown\)/);
  t.equal(describeValue({ a: 1, b: 2 }), 'a mapping with a, b');
  t.equal(describeValue([1, 2]), 'a list of 2');
  t.equal(describeValue(null), 'an empty value');
  t.equal(
    sanitizeParserMessage('Unexpected scalar token in YAML stream: "MC4CAQAwBQYDK2VwBCIEI"'),
    'Unexpected scalar token in YAML stream: "..."',
  );
  t.equal(sanitizeParserMessage('Unexpected token: "1"'), 'Unexpected token: "1"');
});

t.test('address rules', async (t) => {
  for (const ok of ['10.0.0.1', 'fd00::1', 'cp-1', 'cp-1.example.com', 'cp-1.example.com.'])
    t.ok(isNodeAddress(ok), ok);
  for (const bad of ['10.0.0.1:50000', 'https://cp', '10.0.0.256', '-cp', 'cp_1', '[fd00::1]', '', 'a'.repeat(64)])
    t.notOk(isNodeAddress(bad), bad);
  t.notOk(isHostname('10.0.0'), 'an all-numeric last label is an IP typo');
  t.equal(canonicalAddress('FD00:0:0::1'), canonicalAddress('fd00::1'));
  t.equal(canonicalAddress('CP.Example.COM.'), 'cp.example.com');
  t.same(parseEndpoint('[fd00::1]:50000'), { host: 'fd00::1', port: 50000 });
  t.same(parseEndpoint('cp:50000'), { host: 'cp', port: 50000 });
  t.equal(parseEndpoint('cp:0'), undefined);
  t.equal(parseEndpoint('https://cp'), undefined);
  t.equal(bareHost('https://10.0.0.1:6443/x'), '10.0.0.1');
  t.equal(bareHost('not an address'), undefined);
});

t.test('cross-field checks (pure)', async (t) => {
  const data = {
    version: 1,
    cluster: { controlPlanes: ['10.0.0.1', '10.0.0.2'], workers: ['10.0.0.2'] },
    talos: { issuing: 'a', accepted: ['b', 'a', 'zz'] },
    kubernetes: { issuing: 'b' },
    authorities: {
      a: { certificate: 'a.crt' },
      b: { certificate: 'b.crt', key: { file: 'b.key' } },
      c: { certificate: 'c.crt' },
    },
  };
  const { findings, model } = checkSemantics(data, []);
  t.same(
    findings.map((f) => [f.severity, f.code, formatField(f.field ?? f.at)]),
    [
      ['warning', 'DESIRED_ISSUING_ALSO_ACCEPTED', 'talos.accepted[1]'],
      ['error', 'DESIRED_UNKNOWN_AUTHORITY', 'talos.accepted[2]'],
      ['warning', 'DESIRED_ISSUING_NO_KEY', 'authorities.a'],
      ['error', 'DESIRED_AUTHORITY_SHARED', 'kubernetes.issuing'],
      ['warning', 'DESIRED_UNUSED_AUTHORITY', 'authorities.c'],
      ['error', 'DESIRED_KUBECONFIG_REQUIRED', 'cluster.kubeconfig'],
      ['error', 'DESIRED_DUPLICATE_NODE', 'cluster.workers[0]'],
    ],
  );
  t.same(model.apis.talos, { issuing: 'a', accepted: ['b'] });
  const none = checkSemantics({ version: 1, cluster: { controlPlanes: ['x'], workers: [] }, authorities: {} }, []);
  t.same(
    none.findings.map((f) => f.code),
    ['DESIRED_NOTHING_MANAGED'],
  );
  // Fields with schema errors are not reported twice.
  const skipped = checkSemantics(data, [
    ['talos', 'accepted', 2],
    ['cluster', 'workers'],
  ]);
  t.notOk(skipped.findings.some((f) => f.code === 'DESIRED_UNKNOWN_AUTHORITY' || f.code === 'DESIRED_DUPLICATE_NODE'));
});
