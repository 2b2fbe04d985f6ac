/**
 * Geometry of block YAML as the parser saw it: where a pair ends, where a sequence's dashes are, which
 * indentation the file uses. Everything here reads positions; nothing renders YAML.
 */
import { isMap, isScalar, isSeq, visit, type Node, type Pair, type Scalar, type YAMLMap, type YAMLSeq } from 'yaml';

import { srcTokenShift, type ConfigDocument } from './documents.js';
import { columnOf, nodeLineEnd, startsLine } from './source-text.js';

export type AnyPair = Pair<Node, Node | null>;

export interface IndentStyle {
  /** Columns a nested mapping is indented by (Talos writes 4). */
  unit: number;
  /** Columns a block sequence's dash sits right of its key (Talos: 4; a common k8s style: 0). */
  seqIndent: number;
}

export function isBlockMap(node: unknown): node is YAMLMap {
  return isMap(node) && (node as YAMLMap).srcToken?.type === 'block-map';
}

export function isBlockSeq(node: unknown): node is YAMLSeq {
  return isSeq(node) && (node as YAMLSeq).srcToken?.type === 'block-seq';
}

export function isBlockScalar(node: unknown): node is Scalar {
  return isScalar(node) && (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED');
}

export function keyStart(pair: AnyPair): number {
  return (pair.key as Node).range![0];
}

/** Offset just past a pair's value (or its key when the value is empty). */
export function valueEnd(pair: AnyPair): number {
  return pair.value?.range?.[1] ?? (pair.key as Node).range![1];
}

/** End of the last source line a pair occupies (after its trailing comment and line break). */
export function pairEnd(src: string, pair: AnyPair): number {
  return nodeLineEnd(src, valueEnd(pair));
}

/** Offsets of the `-` indicators of a block sequence, or null when the CST is not available. */
export function dashOffsets(seq: YAMLSeq): number[] | null {
  const tok = seq.srcToken;
  if (!tok || tok.type !== 'block-seq') return null;
  const out: number[] = [];
  const shift = srcTokenShift(seq);
  for (const item of tok.items) {
    const dash = item.start.find((t) => t.type === 'seq-item-ind');
    if (!dash) return null;
    out.push(dash.offset + shift);
  }
  return out;
}

/** Column of the first content line of a block scalar, or null if it has none. */
export function blockScalarContentColumn(src: string, node: Scalar): number | null {
  const [start, end] = node.range!;
  const headerEnd = src.indexOf('\n', start);
  if (headerEnd < 0 || headerEnd >= end) return null;
  const m = /^( *)\S/m.exec(src.slice(headerEnd + 1, end));
  return m ? m[1]!.length : null;
}

/**
 * Indentation used by the file: the first nested block mapping and the first block sequence under a key
 * decide, looking at `preferred` first. Defaults are Talos's own (4 and 4).
 */
export function detectIndentStyle(
  src: string,
  documents: readonly ConfigDocument[],
  preferred: ConfigDocument,
): IndentStyle {
  let unit: number | undefined;
  let seqIndent: number | undefined;
  for (const d of [preferred, ...documents.filter((x) => x !== preferred)]) {
    visit(d.doc, {
      Pair(_, pair) {
        const key = pair.key as Node | null;
        const value = pair.value as Node | null;
        if (!isScalar(key) || !key.range || !startsLine(src, key.range[0])) return;
        const keyCol = columnOf(src, key.range[0]);
        if (unit === undefined && isBlockMap(value)) {
          const first = value.items[0]?.key as Node | undefined;
          if (first?.range && startsLine(src, first.range[0])) {
            const c = columnOf(src, first.range[0]);
            if (c > keyCol) unit = c - keyCol;
          }
        }
        if (seqIndent === undefined && isBlockSeq(value) && value.range) {
          const c = columnOf(src, value.range[0]);
          if (c >= keyCol) seqIndent = c - keyCol;
        }
        if (unit !== undefined && seqIndent !== undefined) return visit.BREAK;
        return undefined;
      },
    });
    if (unit !== undefined && seqIndent !== undefined) break;
  }
  return { unit: unit ?? 4, seqIndent: seqIndent ?? unit ?? 4 };
}
