/**
 * Position arithmetic and splicing on YAML source text. The patcher never re-serialises a document: it
 * computes byte ranges from the parser's node ranges and replaces exactly those, so everything else in the
 * file (comments, quoting, key order, other documents) stays byte-for-byte as it was.
 */
import { internalError } from '../domain/errors.js';

export interface Edit {
  /** Start offset in the original text (inclusive). */
  start: number;
  /** End offset in the original text (exclusive); equal to `start` for a pure insertion. */
  end: number;
  text: string;
}

/**
 * Apply non-overlapping edits given in original-text offsets. Edits at the same offset are applied in the
 * order given, so "insert `ca:` then `acceptedCAs:` after `token:`" keeps that order.
 */
export function applyEdits(src: string, edits: readonly Edit[]): string {
  const ordered = edits.map((e, i) => ({ e, i })).sort((a, b) => a.e.start - b.e.start || a.i - b.i);
  let out = '';
  let cursor = 0;
  for (const { e } of ordered) {
    if (e.start < cursor || e.end < e.start || e.end > src.length) {
      throw internalError('MC_INTERNAL', `overlapping or invalid source edit [${e.start}, ${e.end}) after ${cursor}`);
    }
    out += src.slice(cursor, e.start) + e.text;
    cursor = e.end;
  }
  return out + src.slice(cursor);
}

export type Newline = '\n' | '\r\n';

/** The file's line break: CRLF only if the first line break is CRLF. */
export function detectNewline(src: string): Newline {
  const i = src.indexOf('\n');
  return i > 0 && src[i - 1] === '\r' ? '\r\n' : '\n';
}

/** Offset of the first character of the line containing `pos`. */
export function lineStartOf(src: string, pos: number): number {
  return src.lastIndexOf('\n', pos - 1) + 1;
}

/** Offset just after the line break ending the line that contains `pos` (or the end of the text). */
export function lineEndOf(src: string, pos: number): number {
  const i = src.indexOf('\n', pos);
  return i < 0 ? src.length : i + 1;
}

export function columnOf(src: string, pos: number): number {
  return pos - lineStartOf(src, pos);
}

/** Offset of the last character before `end` that is not a space, tab or line break; -1 if none. */
export function lastContentPos(src: string, end: number): number {
  let i = end - 1;
  while (i >= 0 && (src[i] === ' ' || src[i] === '\t' || src[i] === '\n' || src[i] === '\r')) i--;
  return i;
}

/**
 * End of the line holding the last content character before `end`: the natural end of a node's source,
 * including a trailing comment on its last line and that line's break.
 */
export function endOfLastLine(src: string, end: number): number {
  return lineEndOf(src, Math.max(0, lastContentPos(src, end)));
}

/**
 * Where the source of a node ending at `end` (a parser range end) stops, as a line boundary: block
 * scalars and block collections already end after a line break (keeping `|+` blank lines); inline values
 * end mid-line, so the rest of that line (a trailing comment) is included.
 */
export function nodeLineEnd(src: string, end: number): number {
  return end > 0 && src[end - 1] === '\n' ? end : endOfLastLine(src, end);
}

/** True when only spaces precede `pos` on its line (the node starts its line). */
export function startsLine(src: string, pos: number): boolean {
  return /^[ ]*$/.test(src.slice(lineStartOf(src, pos), pos));
}

export function spaces(n: number): string {
  return ' '.repeat(Math.max(0, n));
}

/**
 * Text that inserts whole lines at `pos`, a line start (or the end of a text that may lack a final line
 * break). Each line is given without its break.
 */
export function insertLinesText(src: string, pos: number, lines: readonly string[], nl: Newline): string {
  if (lines.length === 0) return '';
  const atUnterminatedEnd = pos === src.length && src.length > 0 && !src.endsWith('\n');
  return atUnterminatedEnd ? nl + lines.join(nl) : lines.join(nl) + nl;
}

/** 1-based line and column of an offset, for error messages. */
export function lineColumn(src: string, pos: number): { line: number; column: number } {
  const before = src.slice(0, Math.max(0, Math.min(pos, src.length)));
  const line = before.split('\n').length;
  return { line, column: pos - lineStartOf(src, pos) + 1 };
}
