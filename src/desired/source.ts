/**
 * The desired-state file as YAML: parsed with node ranges kept, so that every finding can be placed at
 * the line and column of the field it is about. Syntax errors, duplicate keys and private keys written
 * anywhere in the file are found here, before the schema sees the data.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';

import { error, type Finding, type Segment } from './diagnostics.js';
import { looksLikePrivateKey, sanitizeParserMessage } from './sensitive.js';

export interface ParsedSource {
  text: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
  /** The document as plain data (what the schema validates). */
  data: unknown;
}

export interface ParseResult {
  /** Undefined when the file is not usable YAML (then `findings` says why). */
  source?: ParsedSource;
  findings: Finding[];
}

const SYNTAX_HINTS: Record<string, string> = {
  TAB_AS_INDENT: 'indent with spaces; YAML does not allow tabs for indentation',
  BAD_INDENT: 'keys of one mapping must start in the same column; indent nested values with spaces',
  MISSING_CHAR: 'close the quote or bracket that was opened before this position',
  MULTIPLE_DOCS: 'keep a single YAML document in the file (remove the `---` separator and what follows it)',
  BLOCK_AS_IMPLICIT_KEY: 'put a space after each `:` and nested mappings on their own indented lines',
  MULTILINE_IMPLICIT_KEY: 'a key must fit on one line; quote values that contain `: `',
  DUPLICATE_KEY: 'remove one of the two entries',
};

function syntaxHint(code: string, message: string): string {
  if (/^Flow (sequence|mapping)/.test(message))
    return (
      'close the [ ... ] or { ... } opened before this line, and indent its continuation lines deeper than its ' + 'key'
    );
  return SYNTAX_HINTS[code] ?? 'fix the YAML syntax at this position';
}

const KEY_INLINE_HINT =
  'put the key in a file readable only by you (chmod 600) and write `key: { file: PATH }`, ' +
  'or pass it in an environment variable with `key: { env: VARIABLE }`; ' +
  'if this key was ever committed, treat it as leaked and rotate away from it';

export const INLINE_KEY_MESSAGE =
  'holds a private key; keys are never inline: this file is meant to be committed to git, ' +
  'where a key is readable by everyone with access to the repository and stays in its history';

/** Parse the file text. Only the first syntax error is reported: later ones are usually its echoes. */
export function parseSource(text: string): ParseResult {
  const lineCounter = new LineCounter();
  // prettyErrors off: the pretty form quotes the source line, which could be key material.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false, strict: true });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) {
    return {
      findings: [
        error(
          'DESIRED_YAML',
          [],
          `not valid YAML: ${sanitizeParserMessage(problem.message)}`,
          syntaxHint(problem.code, problem.message),
          {
            offset: problem.pos[0],
          },
        ),
      ],
    };
  }
  if (doc.contents === null || (isScalar(doc.contents) && (doc.contents.value === null || doc.contents.value === ''))) {
    return {
      findings: [
        error(
          'DESIRED_EMPTY',
          [],
          'the file is empty',
          'start from one of the examples/ files; it needs version: 1, cluster and authorities',
          { offset: 0 },
        ),
      ],
    };
  }
  const findings: Finding[] = [];
  const seenAliases: { path: Segment[]; offset: number }[] = [];
  const flagged: [number, number][] = [];
  walk(doc.contents, [], {
    duplicateKey(path, key, first) {
      findings.push(
        error(
          'DESIRED_DUPLICATE_KEY',
          path,
          `is defined twice in the same mapping (first on line ${lineCounter.linePos(first).line})`,
          SYNTAX_HINTS.DUPLICATE_KEY!,
          {
            onKey: true,
            offset: key,
          },
        ),
      );
    },
    scalar(path, value, range) {
      if (typeof value === 'string' && looksLikePrivateKey(value)) {
        findings.push(error('DESIRED_INLINE_KEY', path, INLINE_KEY_MESSAGE, KEY_INLINE_HINT));
        flagged.push(range);
      }
    },
    alias(path, offset) {
      seenAliases.push({ path, offset });
    },
  });
  // A PEM key outside any value (pasted into a comment) is committed all the same.
  for (const m of text.matchAll(/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/g)) {
    const at = m.index ?? 0;
    if (flagged.some(([start, end]) => at >= start && at < end)) continue;
    findings.push(
      error(
        'DESIRED_INLINE_KEY',
        [],
        'a private key is written in this file (outside any field)',
        `delete it from the file; ${KEY_INLINE_HINT}`,
        { offset: at },
      ),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const where = seenAliases[0];
    findings.push(
      error(
        'DESIRED_YAML',
        where?.path ?? [],
        `not valid YAML: ${sanitizeParserMessage((err as Error).message)}`,
        'define each anchor (&name) before the alias (*name) that uses it, or write the value out',
        {
          ...(where ? { offset: where.offset } : { offset: 0 }),
        },
      ),
    );
    return { findings };
  }
  return { source: { text, doc, lineCounter, data }, findings };
}

interface Visitor {
  duplicateKey(path: Segment[], keyOffset: number, firstOffset: number): void;
  scalar(path: Segment[], value: unknown, range: [number, number]): void;
  alias(path: Segment[], offset: number): void;
}

function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  return String(key);
}

function walk(node: unknown, path: Segment[], visitor: Visitor): void {
  if (isAlias(node)) {
    visitor.alias(path, node.range?.[0] ?? 0);
    return; // its target is walked where it is defined
  }
  if (isMap(node)) {
    const seen = new Map<string, number>();
    for (const pair of node.items) {
      const name = keyText(pair.key);
      const keyOffset = (pair.key as Node | null)?.range?.[0] ?? 0;
      const first = seen.get(name);
      if (first !== undefined) visitor.duplicateKey([...path, name], keyOffset, first);
      else seen.set(name, keyOffset);
      walk(pair.value, [...path, name], visitor);
    }
    return;
  }
  if (isSeq(node)) {
    node.items.forEach((item, i) => walk(item, [...path, i], visitor));
    return;
  }
  if (isScalar(node)) visitor.scalar(path, node.value, [node.range?.[0] ?? 0, node.range?.[2] ?? node.range?.[1] ?? 0]);
}

export interface Position {
  line: number;
  column: number;
}

/**
 * The node a field path points at, or the deepest node of it that exists (a missing field is reported
 * at its parent). With `onKey`, the mapping key of the last segment.
 */
function findNode(source: ParsedSource, segments: readonly Segment[], onKey: boolean): Node | null {
  let node: unknown = source.doc.contents;
  let found: Node | null = (node as Node | null) ?? null;
  for (let i = 0; i < segments.length; i++) {
    if (isAlias(node)) node = node.resolve(source.doc);
    const seg = segments[i]!;
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p.key) === String(seg));
      if (!pair) break;
      const last = i === segments.length - 1;
      if (last && onKey) return (pair.key as Node | null) ?? found;
      if (pair.value === null || pair.value === undefined) return (pair.key as Node | null) ?? found;
      node = pair.value;
      found = pair.value as Node;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)];
      if (item === undefined || item === null) break;
      node = item;
      found = item as Node;
    } else {
      break;
    }
  }
  return found;
}

/** 1-based line and column of a finding. */
export function locate(
  source: ParsedSource | undefined,
  finding: Pick<Finding, 'at' | 'onKey' | 'offset'>,
  text?: string,
): Position {
  if (finding.offset !== undefined) {
    if (source) return toPosition(source.lineCounter.linePos(finding.offset));
    if (text !== undefined) return offsetPosition(text, finding.offset);
  }
  if (!source) return { line: 1, column: 1 };
  const node = findNode(source, finding.at, finding.onKey === true);
  const offset = node?.range?.[0] ?? 0;
  return toPosition(source.lineCounter.linePos(offset));
}

function toPosition(p: { line: number; col: number }): Position {
  return { line: p.line, column: p.col };
}

/** Position of an offset without a parsed document (syntax errors). */
export function offsetPosition(text: string, offset: number): Position {
  const before = text.slice(0, Math.max(0, offset));
  const line = before.split('\n').length;
  const column = offset - (before.lastIndexOf('\n') + 1) + 1;
  return { line, column };
}
