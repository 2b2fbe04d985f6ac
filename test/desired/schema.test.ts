/**
 * The JSON Schema itself: a valid draft 2020-12 schema that editors can use (titles and descriptions on
 * every property, closed objects), whose examples pass, and which rejects what it must.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import t from 'tap';
import { parse } from 'yaml';

import { desiredStateSchema, SCHEMA_URL } from '../../src/desired/index.js';
import { schemaErrors } from '../../src/desired/schema.js';
import { REPO } from './fixtures/helpers.js';

type Node = Record<string, unknown>;
const schema = desiredStateSchema();

function isObject(v: unknown): v is Node {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function resolveRef(node: Node): Node {
  if (typeof node.$ref !== 'string') return node;
  const target = node.$ref
    .replace(/^#\//, '')
    .split('/')
    .reduce<unknown>((n, k) => (n as Node)[k], schema);
  return target as Node;
}

/** Every subschema, with its pointer. */
function* subschemas(node: unknown, pointer = ''): Generator<[string, Node]> {
  if (Array.isArray(node)) {
    for (const [i, item] of node.entries()) yield* subschemas(item, `${pointer}/${i}`);
    return;
  }
  if (!isObject(node)) return;
  yield [pointer, node];
  for (const [k, v] of Object.entries(node)) {
    if (k === 'examples' || k === 'enum' || k === 'const' || k === 'required') continue;
    yield* subschemas(v, `${pointer}/${k}`);
  }
}

t.test('the schema file is the one the loader uses, at the documented place', async (t) => {
  t.equal(SCHEMA_URL.pathname, path.join(REPO, 'schemas/rotate.schema.json'));
  const onDisk = JSON.parse(await fs.readFile(path.join(REPO, 'schemas/rotate.schema.json'), 'utf8')) as Node;
  t.same(onDisk, schema);
});

t.test('draft 2020-12, with an $id, and valid against the meta-schema', async (t) => {
  t.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  t.match(schema.$id, /^https:\/\//);
  const ajv = new Ajv2020({ strict: false });
  t.equal(ajv.validateSchema(schema), true, JSON.stringify(ajv.errors));
});

t.test('editors get a title and a description for every property', async (t) => {
  let count = 0;
  for (const [pointer, node] of subschemas(schema)) {
    if (!isObject(node.properties)) continue;
    for (const [name, prop] of Object.entries(node.properties as Node)) {
      const own = prop as Node;
      const target = resolveRef(own);
      const title = own.title ?? target.title;
      const description = own.description ?? target.description;
      t.ok(typeof title === 'string' && title.length > 0, `${pointer}/properties/${name} has a title`);
      t.ok(
        typeof description === 'string' && description.length > 20,
        `${pointer}/properties/${name} has a description`,
      );
      count++;
    }
  }
  t.ok(count >= 20, `checked ${count} properties`);
});

t.test('every object is closed (additionalProperties: false, or a schema for a map)', async (t) => {
  for (const [pointer, node] of subschemas(schema)) {
    if (node.type !== 'object' && !isObject(node.properties)) continue;
    if (pointer === '/$defs/keySource') continue; // closed in each branch of its oneOf
    t.ok(
      node.additionalProperties === false || isObject(node.additionalProperties),
      `${pointer || '(root)'} is closed`,
    );
  }
});

t.test('the contract keys are there', async (t) => {
  const props = (p: string) =>
    Object.keys(
      (
        p
          .split('/')
          .filter(Boolean)
          .reduce<unknown>((n, k) => (n as Node)[k], schema) as Node
      ).properties as Node,
    );
  t.same(props('/'), ['version', 'cluster', 'talos', 'kubernetes', 'authorities', 'workloads']);
  t.same(props('/$defs/api'), ['issuing', 'accepted']);
  t.same(props('/$defs/authority'), ['certificate', 'key']);
  t.same(props('/$defs/cluster').sort(), [
    'context',
    'controlPlanes',
    'endpoints',
    'kubeconfig',
    'kubernetesEndpoint',
    'secretsBundle',
    'talosconfig',
    'workers',
  ]);
  const keyForms = ((schema.$defs as Node).keySource as Node).oneOf as Node[];
  t.same(
    keyForms.map((b) => b.required),
    [['file'], ['env'], ['secretsBundle', 'entry']],
  );
});

t.test('its examples and the examples/ files pass the schema', async (t) => {
  for (const example of schema.examples as unknown[]) t.same(schemaErrors(example), []);
  for (const name of ['full-rotation', 'intermediate', 'talos-only']) {
    const file = path.join(REPO, 'examples', name, 'rotate.yaml');
    const text = await fs.readFile(file, 'utf8');
    t.same(schemaErrors(parse(text)), [], name);
    // The modeline points at this schema, relative to the example.
    const modeline = /^# yaml-language-server: \$schema=(\S+)$/m.exec(text);
    t.ok(modeline, `${name} has a yaml-language-server modeline`);
    t.equal(path.resolve(path.dirname(file), modeline![1]!), path.join(REPO, 'schemas/rotate.schema.json'));
  }
});

const VALID = {
  version: 1,
  cluster: { controlPlanes: ['10.0.0.11'], workers: [] },
  talos: { issuing: 'a' },
  authorities: { a: { certificate: 'a.crt', key: { file: 'a.key' } } },
};

function withPatch(patch: (v: typeof VALID & Node) => void): unknown {
  const v = structuredClone(VALID) as typeof VALID & Node;
  patch(v);
  return v;
}

t.test('accepts the documented forms', async (t) => {
  t.same(schemaErrors(VALID), []);
  const ok = [
    withPatch((v) => ((v.authorities.a as Node).key = { env: 'TALOS_CA_KEY' })),
    withPatch((v) => ((v.authorities.a as Node).key = { secretsBundle: 's.yaml', entry: 'os' })),
    withPatch((v) => ((v.authorities.a as Node).certificate = { secretsBundle: 's.yaml', entry: 'k8s' })),
    withPatch(
      (v) => ((v.authorities.a as Node).certificate = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'),
    ),
    withPatch(
      (v) =>
        (v.cluster = {
          ...v.cluster,
          controlPlanes: ['cp-1.example.com', 'fd00::1', '10.0.0.1'],
          endpoints: ['10.0.0.1', 'cp.example.com:50000', '[fd00::1]:50000'],
        } as typeof v.cluster),
    ),
    withPatch((v) => (v.cluster = { ...v.cluster, kubernetesEndpoint: 'https://10.0.0.10:6443' } as typeof v.cluster)),
    withPatch((v) => ((v as Node).authorities = { 'old.ca_2016-1': { certificate: 'x.crt' }, a: v.authorities.a })),
  ];
  for (const [i, doc] of ok.entries()) t.same(schemaErrors(doc), [], `form ${i}`);
});

t.test('rejects what it must', async (t) => {
  const bad: [string, unknown][] = [
    ['wrong version', withPatch((v) => ((v as Node).version = 2))],
    ['version as a string', withPatch((v) => ((v as Node).version = '1'))],
    ['missing workers', withPatch((v) => delete (v.cluster as Node).workers)],
    ['no control plane', withPatch((v) => (v.cluster.controlPlanes = []))],
    ['address with port', withPatch((v) => (v.cluster.controlPlanes = ['10.0.0.1:50000']))],
    ['address as URL', withPatch((v) => (v.cluster.controlPlanes = ['https://10.0.0.1']))],
    ['IP typo', withPatch((v) => (v.cluster.controlPlanes = ['10.0.0.300']))],
    ['endpoint URL', withPatch((v) => ((v.cluster as Node).endpoints = ['https://10.0.0.1:50000']))],
    ['http kubernetes endpoint', withPatch((v) => ((v.cluster as Node).kubernetesEndpoint = 'http://10.0.0.1:6443'))],
    ['unknown top-level key', withPatch((v) => ((v as Node).apiVersion = 'v1'))],
    ['unknown cluster key', withPatch((v) => ((v.cluster as Node).nodes = []))],
    ['key as a string', withPatch((v) => ((v.authorities.a as Node).key = 'a.key'))],
    ['key with two sources', withPatch((v) => ((v.authorities.a as Node).key = { file: 'a.key', env: 'X' }))],
    [
      'private key as certificate',
      withPatch(
        (v) =>
          ((v.authorities.a as Node).certificate = '-----BEGIN PRIVATE KEY-----\nMC4\n-----END PRIVATE KEY-----\n'),
      ),
    ],
    ['bundle without entry', withPatch((v) => ((v.authorities.a as Node).key = { secretsBundle: 's.yaml' }))],
    ['bad entry', withPatch((v) => ((v.authorities.a as Node).key = { secretsBundle: 's.yaml', entry: 'etcd' }))],
    ['bad env name', withPatch((v) => ((v.authorities.a as Node).key = { env: '1X' }))],
    ['bad authority name', withPatch((v) => ((v as Node).authorities = { A: v.authorities.a }))],
    ['no authorities', withPatch((v) => (v.authorities = {} as typeof v.authorities))],
    ['issuing missing', withPatch((v) => (v.talos = {} as typeof v.talos))],
  ];
  for (const [what, doc] of bad) t.not(schemaErrors(doc).length, 0, what);
});
