/**
 * The JSON Schema of the desired-state file (`schemas/rotate.schema.json`, draft 2020-12), compiled once
 * with ajv. The schema file is the single source of truth for the shape: editors read it through the
 * yaml-language-server modeline, and this module validates with it. Formats are our own (ajv-formats is
 * not a dependency, and these need Talos's rules: no port on node addresses, host:port on endpoints).
 */
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';

import { RotateError } from '../domain/errors.js';
import { packageUrl } from '../package-root.js';
import { isHostname, parseEndpoint } from './addresses.js';

/** Where the schema ships: `schemas/` at the package root. */
export const SCHEMA_URL = packageUrl('schemas/rotate.schema.json');

export type SchemaNode = Record<string, unknown>;

interface Compiled {
  schema: SchemaNode;
  validate: ValidateFunction;
  /** Every object of the schema → its JSON pointer inside the schema, to recognise ajv's `parentSchema`. */
  pointers: WeakMap<object, string>;
}

let compiled: Compiled | undefined;

function indexSchema(node: unknown, pointer: string, into: WeakMap<object, string>): void {
  if (node === null || typeof node !== 'object') return;
  into.set(node, pointer);
  if (Array.isArray(node)) {
    node.forEach((item, i) => indexSchema(item, `${pointer}/${i}`, into));
    return;
  }
  for (const [k, v] of Object.entries(node))
    indexSchema(v, `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, into);
}

function compile(): Compiled {
  let schema: SchemaNode;
  try {
    schema = JSON.parse(readFileSync(SCHEMA_URL, 'utf8')) as SchemaNode;
  } catch (err) {
    throw new RotateError(
      'DESIRED_SCHEMA_MISSING',
      `cannot read the desired-state schema ${SCHEMA_URL.pathname}: ${(err as Error).message}`,
      {
        hint: 'the installation is incomplete; reinstall talos-rotate',
      },
    );
  }
  // allErrors: report every problem of the file at once; verbose: errors carry parentSchema and data.
  // validateSchema off: the schema ships with the package and test/desired/schema.test.ts checks it against
  // the meta-schema; checking it again cost every plan, apply and validate about 50 ms (strict stays on).
  const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true, validateSchema: false });
  // A human message for editors (VS Code and yaml-language-server show it) and for our own errors.
  ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' });
  ajv.addFormat('ipv4', (s: string) => isIPv4(s));
  ajv.addFormat('ipv6', (s: string) => isIPv6(s));
  ajv.addFormat('hostname', isHostname);
  ajv.addFormat('talos-endpoint', (s: string) => parseEndpoint(s) !== undefined);
  ajv.addFormat('uri', (s: string) => URL.canParse(s));
  const validate = ajv.compile(schema);
  const pointers = new WeakMap<object, string>();
  indexSchema(schema, '', pointers);
  return { schema, validate, pointers };
}

function get(): Compiled {
  compiled ??= compile();
  return compiled;
}

/** The schema document (parsed JSON). */
export function desiredStateSchema(): SchemaNode {
  return get().schema;
}

/** ajv's errors for `data` (empty when valid). */
export function schemaErrors(data: unknown): ErrorObject[] {
  const { validate } = get();
  return validate(data) ? [] : [...(validate.errors ?? [])];
}

/** The JSON pointer (inside the schema) of a schema object ajv hands back as `parentSchema`. */
export function schemaPointerOf(node: unknown): string | undefined {
  return node !== null && typeof node === 'object' ? get().pointers.get(node) : undefined;
}
