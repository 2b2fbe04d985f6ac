/**
 * Parsing machine configs: one YAML text with one or more documents (the v1alpha1 document and typed
 * documents such as `KubeAPIServerCAConfig`), with errors that name the config and never quote values.
 */
import {
  Composer,
  Pair,
  Parser,
  Scalar,
  isMap,
  isCollection,
  isNode,
  isPair,
  isScalar,
  isSeq,
  parseAllDocuments,
  type Document,
  type Node,
  type Range,
  type YAMLMap,
  type YAMLSeq,
} from 'yaml';

import { mcError, sanitizeParserMessage } from './errors.js';
import { detectNewline, lineColumn, type Newline } from './source-text.js';
import { BoundedMap } from '../util/bounded-map.js';

/**
 * One non-empty document of a (possibly multi-document) machine config. Read-only: a parsed document may be
 * shared with other configs holding the same document text (documentsBySlices' cache); edits are made to the
 * text (ca-patch.ts), never to these nodes.
 */
export interface ConfigDocument {
  doc: Document.Parsed;
  /** 0-based position among the non-empty documents, for messages. */
  index: number;
  root: YAMLMap;
  /** `null` for the v1alpha1 document, which has no `kind`. */
  kind: string | null;
  apiVersion: string | null;
  name: string | null;
}

export interface ParsedMachineConfig {
  src: string;
  nl: Newline;
  source: string | undefined;
  documents: ConfigDocument[];
  v1alpha1: ConfigDocument;
  /** The v1.14 `KubeAPIServerCAConfig` document, whose presence selects the document-style Kubernetes CA. */
  apiServerCa: ConfigDocument | null;
}

export const API_SERVER_CA_KIND = 'KubeAPIServerCAConfig';

/** Top-level keys that make a document the v1alpha1 one (talos-behaviour.md §6.1). */
const V1ALPHA1_KEYS = ['machine', 'cluster', 'debug', 'persist'];

let parses = 0;

/** How many configs this process has parsed (lets a test check that a plan parses each config once). */
export function machineConfigParses(): number {
  return parses;
}

export function parseMachineConfig(src: string, source: string | undefined): ParsedMachineConfig {
  parses++;
  const streamDocs = documentsBySlices(src) ?? parseStream(src);
  const documents: ConfigDocument[] = [];
  for (const doc of streamDocs) {
    const err = doc.errors[0];
    if (err) {
      const { line, column } = lineColumn(src, err.pos[0]);
      throw mcError(
        'MC_PARSE',
        source,
        `YAML syntax error at line ${line}, column ${column}: ${sanitizeParserMessage(err.message)} (${err.code})`,
        'fix the YAML syntax at that position; the config must parse before CAs can be read or patched',
      );
    }
    const contents = doc.contents as Node | null;
    if (contents === null || (isScalar(contents) && (contents.value === null || contents.value === ''))) continue;
    const index = documents.length;
    if (!isMap(contents)) {
      const { line } = lineColumn(src, contents.range?.[0] ?? 0);
      throw mcError(
        'MC_BAD_DOCUMENT',
        source,
        `document ${index + 1} (line ${line}) is not a mapping`,
        'every document of a machine config is a YAML mapping',
      );
    }
    documents.push({
      doc,
      index,
      root: contents,
      kind: stringAt(contents, 'kind'),
      apiVersion: stringAt(contents, 'apiVersion'),
      name: stringAt(contents, 'name'),
    });
  }

  let v1alpha1: ConfigDocument | null = null;
  let apiServerCa: ConfigDocument | null = null;
  const seen = new Set<string>();
  for (const d of documents) {
    if (d.kind === null) {
      if (!V1ALPHA1_KEYS.some((k) => pairOf(d.root, k))) {
        throw mcError(
          'MC_BAD_DOCUMENT',
          source,
          `document ${d.index + 1} has neither a kind nor v1alpha1 keys`,
          'each document needs `apiVersion` and `kind`, except the v1alpha1 one (machine/cluster)',
        );
      }
      if (v1alpha1) {
        throw mcError(
          'MC_DUPLICATE_DOCUMENT',
          source,
          `more than one v1alpha1 document (documents ${v1alpha1.index + 1} and ${d.index + 1})`,
          'a machine config holds exactly one v1alpha1 document; merge them',
        );
      }
      v1alpha1 = d;
      continue;
    }
    const id = `${d.apiVersion ?? ''}/${d.kind}/${d.name ?? ''}`;
    if (seen.has(id)) {
      throw mcError(
        'MC_DUPLICATE_DOCUMENT',
        source,
        `duplicate document ${d.kind}${d.name ? ` named ${JSON.stringify(d.name)}` : ''} (document ${d.index + 1})`,
        'Talos rejects configs with two documents of the same apiVersion/kind/name; remove one',
      );
    }
    seen.add(id);
    if (d.kind === API_SERVER_CA_KIND) apiServerCa = d;
  }
  if (!v1alpha1) {
    throw mcError(
      'MC_NO_V1ALPHA1',
      source,
      'no v1alpha1 document (with `machine:`/`cluster:`) found',
      'pass the full machine config, not a patch; Talos rejects configs without the v1alpha1 document',
    );
  }
  return { src, nl: detectNewline(src), source, documents, v1alpha1, apiServerCa };
}

// keepSourceTokens: block-sequence dash offsets come from the CST; prettyErrors off: no source excerpts.
const PARSE_OPTIONS = { keepSourceTokens: true, prettyErrors: false } as const;

/** The whole text parsed as one YAML stream. */
function parseStream(src: string): Document.Parsed[] {
  const parsed = parseAllDocuments(src, PARSE_OPTIONS);
  return Array.isArray(parsed) ? parsed : [];
}

/**
 * Parsed slices of config text, keyed by the slice's exact text: the documents of one slice, with node ranges
 * counted from `base` (where the slice started in the text it was parsed from). Most documents of a cluster's
 * configs are byte for byte the same on every node (and a patch leaves all but the edited ones as they were),
 * so they are parsed once. Bounded: least recently used entries go first. Entries are never modified.
 */
const sliceCache = new BoundedMap<string, { base: number; docs: Document.Parsed[] }>(64, 'recent-use');

/** Lines that could start a directive or a document marker other than a bare `---` line. */
const UNSPLITTABLE = /^(?:%|\.\.\.|---[^\r\n])|^\uFEFF/m;
/**
 * A bare `---` line after a line feed (YAML's line start; JavaScript's `^` would also match after a lone
 * carriage return or U+2028, which YAML reads as part of a line).
 */
const DOC_START = /\n---(?=\r?\n|$)/g;

/**
 * The documents of `src`, parsed document by document: the text is cut at its `---` lines and each piece is
 * parsed alone (or taken from the cache). The same documents, with the same ranges, as parsing the whole
 * text (parseStream), because a line that is exactly `---` always starts a document and a document's parse
 * depends on nothing before it when the stream has no directives: so only such texts are cut (no line
 * starting with `%`, `...` or `---` followed by anything, no byte order mark). Null, for parseStream to
 * decide, when the text cannot be cut that way, has a single piece, or any piece has a syntax error (so
 * every error reported is the whole-text parse's own) or a document that is not a mapping.
 */
export function documentsBySlices(src: string): Document.Parsed[] | null {
  if (UNSPLITTABLE.test(src)) return null;
  const cuts = [0];
  for (const m of src.matchAll(DOC_START)) cuts.push(m.index + 1);
  if (cuts.length < 2) return null;
  cuts.push(src.length);
  const out: Document.Parsed[] = [];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const base = cuts[i]!;
    const text = src.slice(base, cuts[i + 1]);
    let hit = sliceCache.get(text);
    if (!hit) {
      const docs = parseSlice(text, base);
      // A syntax error, or a document that is not a mapping: the whole-text parse reports it.
      if (docs.some((d) => d.errors.length > 0 || !(isMap(d.contents) || isEmptyNode(d.contents as Node | null))))
        return null;
      hit = sliceCache.set(text, { base, docs });
    }
    for (const d of hit.docs) out.push(hit.base === base ? d : shiftedDocument(d, base - hit.base));
  }
  return out;
}

/** parseAllDocuments of a slice whose first character is at `base` in the whole text. */
function parseSlice(text: string, base: number): Document.Parsed[] {
  const parser = new Parser();
  parser.offset = base;
  const composer = new Composer(PARSE_OPTIONS);
  return Array.from(composer.compose(parser.parse(text)));
}

/**
 * CST offset corrections of shifted copies: a copy of a block sequence shares the CST token (`srcToken`) of
 * the node it was copied from, whose offsets are the original's; dashOffsets adds this to them.
 */
const tokenShift = new WeakMap<object, number>();

export function srcTokenShift(node: object): number {
  return tokenShift.get(node) ?? 0;
}

/** Each shifted copy's original (the cached parse it was copied from) and how far its ranges were moved. */
const shiftOrigin = new WeakMap<Document.Parsed, { doc: Document.Parsed; delta: number }>();

/**
 * The parse a document was copied from, and by how much every range of the copy was moved (`{ doc, 0 }` for
 * a document that is no copy). Documents with the same origin come from the same text, so whatever is
 * derived from one document alone (its plain data, where its secrets are) can be derived once per origin
 * and moved by `delta`.
 */
export function documentOrigin(doc: Document.Parsed): { doc: Document.Parsed; delta: number } {
  return shiftOrigin.get(doc) ?? { doc, delta: 0 };
}

/** yaml's own tag of its node classes (a non-enumerable property, so Object.assign does not copy it). */
const NODE_TYPE = Symbol.for('yaml.node.type');

/** A plain copy of a yaml node, pair or document: same prototype, tag and own properties. */
function copyOf<T extends object>(x: T): T {
  const c = Object.create(Object.getPrototypeOf(x) as object) as T;
  Object.defineProperty(c, NODE_TYPE, { value: (x as Record<symbol, unknown>)[NODE_TYPE] });
  // Collections hold their schema in a non-enumerable property too.
  if (isCollection(x)) Object.defineProperty(c, 'schema', { value: x.schema, configurable: true, writable: true });
  return Object.assign(c, x);
}

/** A node's `[start, valueEnd, nodeEnd]` range moved by `delta`. */
function shiftRange(range: Range, delta: number): Range {
  return [range[0] + delta, range[1] + delta, range[2] + delta];
}

/** A copy of a node (and everything under it) with every range moved by `delta`. */
function shiftedNode<T>(x: T, delta: number): T {
  if (isScalar(x)) {
    const c = Object.assign(new Scalar(x.value), x);
    if (x.range) c.range = shiftRange(x.range, delta);
    return c as T;
  }
  if (isPair(x)) {
    const c = Object.assign(new Pair<unknown, unknown>(null), x);
    c.key = shiftedNode(x.key, delta);
    c.value = shiftedNode(x.value, delta);
    return c as T;
  }
  if (isMap(x) || isSeq(x)) {
    const Ctor = (x as YAMLMap | YAMLSeq).constructor as new (schema: unknown) => YAMLMap | YAMLSeq;
    const c = Object.assign(new Ctor(x.schema), x as YAMLMap | YAMLSeq);
    if (x.range) c.range = shiftRange(x.range, delta);
    c.items = (x.items as unknown[]).map((item) => shiftedNode(item, delta)) as typeof c.items;
    if (isSeq(x) && x.srcToken) tokenShift.set(c, delta);
    return c as unknown as T;
  }
  if (!isNode(x)) return x;
  const c = copyOf(x);
  if (x.range) c.range = shiftRange(x.range, delta);
  return c;
}

/**
 * A copy of a parsed document with every range moved by `delta`; the original is left as it is (the schema,
 * options, directives and CST tokens, never modified, are shared). Only documents without errors are
 * copied; warnings (never read) are copied with their positions moved.
 */
function shiftedDocument(doc: Document.Parsed, delta: number): Document.Parsed {
  const copy = copyOf(doc);
  shiftOrigin.set(copy, { doc, delta });
  copy.range = shiftRange(doc.range, delta);
  copy.contents = shiftedNode(doc.contents, delta);
  copy.errors = doc.errors.slice();
  copy.warnings = doc.warnings.map((w) =>
    Object.assign(Object.create(Object.getPrototypeOf(w) as object) as typeof w, w, {
      pos: [w.pos[0] + delta, w.pos[1] + delta] as [number, number],
    }),
  );
  return copy;
}

/** The pair with a plain scalar key `key` in a mapping. */
export function pairOf(map: YAMLMap, key: string): Pair<Node, Node | null> | undefined {
  for (const p of map.items as Pair<Node, Node | null>[]) {
    if (isScalar(p.key) && p.key.value === key) return p;
  }
  return undefined;
}

/** A string scalar value under `key`, or null when absent/not a string. */
export function stringAt(map: YAMLMap, key: string): string | null {
  const v = pairOf(map, key)?.value;
  return isScalar(v) && typeof v.value === 'string' ? v.value : null;
}

/** Is this node "nothing": absent, `~`/`null` or an empty plain value. */
export function isEmptyNode(node: Node | null | undefined): boolean {
  return node === null || node === undefined || (isScalar(node) && (node.value === null || node.value === ''));
}
