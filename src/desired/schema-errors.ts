/**
 * ajv's raw errors → findings a person can act on: one finding per problem (a `oneOf` of key sources is
 * one message naming the allowed forms, not three branch failures), the field in dotted form, the value
 * quoted only when it cannot be key material, and a hint. Pure.
 */
import type { ErrorObject } from 'ajv/dist/2020.js';

import { bareHost } from './addresses.js';
import { error, fromPointer, type Finding, type Segment } from './diagnostics.js';
import { schemaPointerOf, type SchemaNode } from './schema.js';
import { describeValue, looksLikePrivateKey } from './sensitive.js';
import { INLINE_KEY_MESSAGE } from './source.js';

interface Located {
  e: ErrorObject;
  at: Segment[];
  /** JSON pointer of the schema object holding the failed keyword. */
  schemaPtr: string;
  value: unknown;
}

function segmentsOf(pointer: string, data: unknown): Segment[] {
  const out: Segment[] = [];
  let node: unknown = data;
  for (const raw of fromPointer(pointer)) {
    if (Array.isArray(node)) {
      const i = Number(raw);
      out.push(i);
      node = node[i];
    } else {
      out.push(raw);
      node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[raw] : undefined;
    }
  }
  return out;
}

export function valueAt(data: unknown, segments: readonly Segment[]): unknown {
  let node: unknown = data;
  for (const s of segments) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[String(s)];
  }
  return node;
}

function startsWith(at: readonly Segment[], prefix: readonly Segment[]): boolean {
  return prefix.length <= at.length && prefix.every((s, i) => String(s) === String(at[i]));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  array: 'a list',
  object: 'a mapping',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  null: 'empty',
};

/** Code of a finding, by the schema location that failed. */
function codeFor(schemaPtr: string, keyword: string): string {
  if (keyword === 'required') return 'DESIRED_MISSING_FIELD';
  if (keyword === 'additionalProperties') return 'DESIRED_UNKNOWN_FIELD';
  if (schemaPtr.startsWith('/properties/version')) return 'DESIRED_BAD_VERSION';
  if (schemaPtr.startsWith('/$defs/authorityName')) return 'DESIRED_BAD_NAME';
  if (schemaPtr.startsWith('/$defs/nodeAddress')) return 'DESIRED_BAD_ADDRESS';
  if (schemaPtr.startsWith('/$defs/endpoint')) return 'DESIRED_BAD_ENDPOINT';
  if (schemaPtr.startsWith('/$defs/cluster/properties/kubernetesEndpoint')) return 'DESIRED_BAD_URL';
  if (schemaPtr.startsWith('/$defs/keySource')) return 'DESIRED_BAD_KEY_SOURCE';
  if (schemaPtr.startsWith('/$defs/certificateSource')) return 'DESIRED_BAD_CERTIFICATE_SOURCE';
  if (schemaPtr.startsWith('/$defs/bundleEntry')) return 'DESIRED_BAD_BUNDLE_ENTRY';
  if (keyword === 'type') return 'DESIRED_BAD_TYPE';
  return 'DESIRED_BAD_VALUE';
}

const VALUE_HINTS: Record<string, string> = {
  '/properties/version':
    'this talos-rotate reads `version: 1` files; a file written for a newer format needs a newer talos-rotate',
  '/$defs/authorityName': 'use lowercase letters, digits, ".", "_" and "-", e.g. talos-2026',
  '/$defs/endpoint': 'write host or host:port, e.g. 10.0.0.10 or cp.example.com:50000',
  '/$defs/cluster/properties/kubernetesEndpoint': 'write the URL of the Kubernetes API, e.g. https://10.0.0.10:6443',
  '/$defs/bundleEntry': 'use os for the Talos API CA or k8s for the Kubernetes API CA',
  '/$defs/path': 'write one file path; relative paths are resolved against the folder of this file',
  '/$defs/keySource/oneOf/1/properties/env': 'name the variable, e.g. env: TALOS_CA_KEY',
  '/$defs/cluster/properties/context':
    'name a context of the talosconfig, or leave context out to use its current context',
};

const MISSING_HINTS: Record<string, string> = {
  version: 'add `version: 1` as the first line of the file',
  cluster: 'add a `cluster:` section with controlPlanes and workers (see examples/)',
  authorities: 'add an `authorities:` section defining the CAs that talos/kubernetes name',
  controlPlanes: 'list every control-plane node: `controlPlanes: [10.0.0.11, 10.0.0.12, 10.0.0.13]`',
  workers:
    'list every worker node, or write `workers: []` when there are none; it is required so that no worker is forgotten',
  issuing: 'name the authority that issues certificates for this API: `issuing: <name>`',
  certificate: 'add `certificate: <path to a PEM file>` (or inline PEM, or { secretsBundle: PATH, entry: os | k8s })',
  entry: 'add `entry: os` (Talos API CA) or `entry: k8s` (Kubernetes API CA)',
  secretsBundle: 'add `secretsBundle: <path to secrets.yaml>`',
};

function errorMessageOf(node: unknown): string | undefined {
  return isObject(node) && typeof node.errorMessage === 'string' ? node.errorMessage : undefined;
}

function firstSentence(text: unknown): string {
  if (typeof text !== 'string') return '';
  const m = /^(.*?\.)(\s|$)/.exec(text);
  return (m ? m[1]! : text).replace(/`/g, '');
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(
        dp[j]! + 1,
        dp[j - 1]! + 1,
        prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1),
      );
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

export function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(name, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** Translate one error that is not part of a combinator. */
function translateOne(l: Located): Finding | undefined {
  const { e, at, schemaPtr, value } = l;
  const parent = e.parentSchema as SchemaNode | undefined;
  const custom = errorMessageOf(parent);
  const got = `(got ${describeValue(value)})`;
  const code = codeFor(schemaPtr, e.keyword);
  const valueHint = VALUE_HINTS[schemaPtr] ?? 'see the description of this field in schemas/rotate.schema.json';
  switch (e.keyword) {
    case 'required': {
      const missing = String((e.params as { missingProperty: string }).missingProperty);
      const description = isObject(parent?.properties)
        ? (parent.properties as Record<string, unknown>)[missing]
        : undefined;
      const hint =
        MISSING_HINTS[missing] ??
        `add \`${missing}:\`; ${firstSentence(isObject(description) ? description.description : undefined)}`;
      return error(code, at, 'is required but missing', hint, { field: [...at, missing], onKey: at.length > 0 });
    }
    case 'additionalProperties': {
      const extra = String((e.params as { additionalProperty: string }).additionalProperty);
      const allowed = isObject(parent?.properties) ? Object.keys(parent.properties as object) : [];
      const guess = closest(extra, allowed);
      let hint = `${guess ? `did you mean \`${guess}\`? ` : ''}fields allowed here: ${allowed.join(', ')}`;
      if (at.length === 0 && (extra === 'apiVersion' || extra === 'kind'))
        hint = 'this file format has no apiVersion/kind; it starts with `version: 1`';
      return error(code, [...at, extra], 'is not a known field', hint, { onKey: true });
    }
    case 'type': {
      const want = String((e.params as { type: string }).type);
      return error(code, at, `${custom ?? `must be ${TYPE_WORDS[want] ?? want}`} ${got}`, valueHint);
    }
    case 'const':
    case 'enum':
    case 'pattern':
    case 'format':
    case 'not':
      return error(code, at, `${custom ?? e.message ?? 'is not valid'} ${got}`, valueHint);
    case 'minItems': {
      const limit = Number((e.params as { limit: number }).limit);
      const field = String(at[at.length - 1] ?? '');
      const hint =
        field === 'controlPlanes'
          ? MISSING_HINTS.controlPlanes!
          : field === 'endpoints'
            ? 'list at least one endpoint, or leave `endpoints` out to use those of the talosconfig context'
            : valueHint;
      return error(code, at, `must list at least ${limit} ${limit === 1 ? 'entry' : 'entries'}`, hint);
    }
    case 'minLength':
      return error(code, at, 'must not be empty', valueHint);
    case 'minProperties':
      return error(
        code,
        at,
        'must define at least one authority',
        'define the CAs under authorities, e.g. ' +
          '`talos-2026: { certificate: pki/talos-2026.crt, key: { file: pki/talos-2026.key } }`',
      );
    case 'propertyNames': {
      const name = String((e.params as { propertyName: string }).propertyName);
      const suggestion = name
        .toLowerCase()
        .replace(/[^a-z0-9._-]+/g, '-')
        .replace(/^[^a-z0-9]+/, '');
      return error(
        'DESIRED_BAD_NAME',
        [...at, name],
        `authority name ${describeValue(name)} is not valid: names use lowercase letters, digits, '.', '_' and '-', ` +
          'starting with a letter or digit',
        suggestion
          ? `rename it, e.g. ${suggestion}, and update the references to it`
          : VALUE_HINTS['/$defs/authorityName']!,
        {
          onKey: true,
        },
      );
    }
    default:
      return error(code, at, `${custom ?? e.message ?? 'is not valid'} ${got}`, valueHint);
  }
}

const KEY_FORMS = '{ file: PATH }, { env: VARIABLE } or { secretsBundle: PATH, entry: os | k8s }';
const NEVER_INLINE = 'keys are never inline, because this file is meant to be committed to git';

/** One finding for a whole `oneOf`/`anyOf`, or the errors of the branch the value was evidently meant for. */
function translateCombinator(c: Located, members: Located[]): { findings: Finding[]; redo: Located[] } {
  const { at, value, schemaPtr } = c;
  const parent = c.e.parentSchema as SchemaNode;
  const branches = (parent[c.e.keyword] as SchemaNode[] | undefined) ?? [];
  const custom = errorMessageOf(parent) ?? 'is not valid';
  const code = codeFor(schemaPtr, c.e.keyword);
  const branchErrors = (i: number) => members.filter((m) => m.schemaPtr.startsWith(`${schemaPtr}/${c.e.keyword}/${i}`));

  if (schemaPtr === '/$defs/nodeAddress') {
    const host = typeof value === 'string' ? bareHost(value) : undefined;
    const hint = host
      ? `write the address alone: ${host}; nodes are listed by address, ports and schemes are not part of it`
      : 'use the IP address or DNS name of the node, e.g. 10.0.0.11 or cp-1.example.com';
    return { findings: [error(code, at, `${custom} (got ${describeValue(value)})`, hint)], redo: [] };
  }

  if (schemaPtr === '/$defs/keySource') {
    if (typeof value === 'string') {
      if (looksLikePrivateKey(value))
        return {
          findings: [
            error(
              'DESIRED_INLINE_KEY',
              at,
              INLINE_KEY_MESSAGE,
              'put the key in a 0600 file and write `key: { file: PATH }`',
            ),
          ],
          redo: [],
        };
      return {
        findings: [
          error(
            code,
            at,
            `must be one of ${KEY_FORMS}, not a string; ${NEVER_INLINE}`,
            `if ${describeValue(value)} is the key file, write \`key: { file: ${JSON.stringify(value)} }\``,
          ),
        ],
        redo: [],
      };
    }
    if (isObject(value)) {
      const kinds = branches
        .map((b) => (Array.isArray(b.required) ? String(b.required[0]) : ''))
        .filter((k) => k !== '');
      const present = kinds.filter((k) => k in value);
      if (present.length > 1) {
        return {
          findings: [
            error(
              code,
              at,
              `combines ${present.join(' and ')}; a key has exactly one source`,
              `keep one of ${present.map((p) => `\`${p}\``).join(', ')}`,
            ),
          ],
          redo: [],
        };
      }
      if (present.length === 1) return { findings: [], redo: branchErrors(kinds.indexOf(present[0]!)) };
      const guess = Object.keys(value)
        .map((k) => closest(k, kinds))
        .find((k) => k !== undefined);
      return {
        findings: [
          error(
            code,
            at,
            `must be one of ${KEY_FORMS} (got ${describeValue(value)})`,
            guess ? `did you mean \`${guess}\`?` : `use exactly one of the forms; ${NEVER_INLINE}`,
          ),
        ],
        redo: [],
      };
    }
    return {
      findings: [error(code, at, `must be one of ${KEY_FORMS} (got ${describeValue(value)})`, NEVER_INLINE)],
      redo: [],
    };
  }

  if (schemaPtr === '/$defs/certificateSource') {
    if (typeof value === 'string') return { findings: [], redo: branchErrors(0) };
    if (isObject(value)) {
      if (!('secretsBundle' in value) && typeof value.file === 'string') {
        return {
          findings: [
            error(
              code,
              at,
              'takes the path itself, not { file: PATH }',
              `write \`certificate: ${JSON.stringify(value.file)}\``,
            ),
          ],
          redo: [],
        };
      }
      return { findings: [], redo: branchErrors(1) };
    }
    return {
      findings: [error(code, at, `${custom} (got ${describeValue(value)})`, 'e.g. `certificate: pki/talos-2026.crt`')],
      redo: [],
    };
  }

  // Any other combinator: pick the branch whose type fits, else one message.
  const fitting = branches
    .map((b, i) => ({ b, i }))
    .filter(
      ({ b }) =>
        b.type === undefined || b.type === (Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value),
    );
  if (fitting.length === 1) return { findings: [], redo: branchErrors(fitting[0]!.i) };
  return {
    findings: [
      error(
        code,
        at,
        `${custom} (got ${describeValue(value)})`,
        VALUE_HINTS[schemaPtr] ?? 'see schemas/rotate.schema.json',
      ),
    ],
    redo: [],
  };
}

/**
 * Findings for ajv's errors on `data`. Errors at or under `skip` fields (already reported, e.g. an inline
 * private key) are dropped. A wrong `version` hides every other schema error: the rest of a file written
 * for another format would only be noise.
 */
export function translateSchemaErrors(errors: ErrorObject[], data: unknown, skip: Segment[][] = []): Finding[] {
  let pool: Located[] = errors
    .map((e) => ({
      e,
      at: segmentsOf(e.instancePath, data),
      schemaPtr: schemaPointerOf(e.parentSchema) ?? '',
      value: undefined as unknown,
    }))
    .map((l) => ({ ...l, value: valueAt(data, l.at) }))
    .filter((l) => !skip.some((s) => startsWith(l.at, s)))
    // Errors from inside `propertyNames` repeat the `propertyNames` error itself.
    .filter((l) => l.e.propertyName === undefined);

  const version = pool.find((l) => l.schemaPtr === '/properties/version' && l.at.length === 1);
  if (version) pool = [version];

  const findings: Finding[] = [];
  // Combinators, outermost first, swallow their branch errors (and sibling errors of the same schema).
  const combinators = pool
    .filter((l) => l.e.keyword === 'oneOf' || l.e.keyword === 'anyOf')
    .sort((a, b) => a.schemaPtr.length - b.schemaPtr.length);
  const consumed = new Set<Located>();
  const redo: Located[] = [];
  for (const c of combinators) {
    if (consumed.has(c)) continue;
    consumed.add(c);
    const members = pool.filter(
      (l) =>
        l !== c &&
        !consumed.has(l) &&
        startsWith(l.at, c.at) &&
        (l.schemaPtr.startsWith(`${c.schemaPtr}/${c.e.keyword}/`) ||
          (l.schemaPtr === c.schemaPtr && String(l.at) === String(c.at))),
    );
    members.forEach((m) => consumed.add(m));
    const result = translateCombinator(c, members);
    findings.push(...result.findings);
    redo.push(...result.redo);
  }
  for (const l of [...pool.filter((l) => !consumed.has(l)), ...redo]) {
    const f = translateOne(l);
    if (f) findings.push(f);
  }
  // One finding per field and code (ajv can report the same failure twice through $ref).
  const seen = new Set<string>();
  return findings.filter((f) => {
    const k = `${f.code}|${String(f.field ?? f.at)}|${f.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
