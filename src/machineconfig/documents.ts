/**
 * Parsing machine configs: one YAML text with one or more documents (the v1alpha1 document and typed
 * documents such as `KubeAPIServerCAConfig`), with errors that name the config and never quote values.
 */
import { isMap, isScalar, parseAllDocuments, type Document, type Node, type Pair, type YAMLMap } from 'yaml';

import { mcError, sanitizeParserMessage } from './errors.js';
import { detectNewline, lineColumn, type Newline } from './source-text.js';

/** One non-empty document of a (possibly multi-document) machine config. */
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
  // keepSourceTokens: block-sequence dash offsets come from the CST; prettyErrors off: no source excerpts.
  const parsed = parseAllDocuments(src, { keepSourceTokens: true, prettyErrors: false });
  const streamDocs = Array.isArray(parsed) ? parsed : [];
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
