/**
 * Findings (what a check found, located by a field path) and diagnostics (the same, placed at a line and
 * column of the file), their rendering, and the error that carries them. Pure.
 */
import { RotateError } from '../domain/errors.js';
import type { Diagnostic, DiagnosticSeverity } from './types.js';

/** A step into the parsed document: a mapping key or a sequence index. */
export type Segment = string | number;

/** What a check reports before it is placed in the file. */
export interface Finding {
  severity: DiagnosticSeverity;
  code: string;
  /** Node to point at. */
  at: Segment[];
  /** Point at the mapping key of `at` rather than its value (unknown fields, missing fields, names). */
  onKey?: boolean;
  /** Character offset in the file, for problems found before there is a document to walk (YAML syntax). */
  offset?: number;
  /** The field the message is about, when it is not `at` (e.g. a missing field is reported at its parent). */
  field?: Segment[];
  message: string;
  hint: string;
}

/** A finding maker for one severity: `error(...)` and `warning(...)` below. */
function finding(severity: Finding['severity']) {
  return (code: string, at: Segment[], message: string, hint: string, extra: Partial<Finding> = {}): Finding => ({
    severity,
    code,
    at,
    message,
    hint,
    ...extra,
  });
}

export const error = finding('error');
export const warning = finding('warning');

const PLAIN_SEGMENT = /^[A-Za-z0-9_-]+$/;

/** `cluster.workers[2]`, `authorities["k8s.old"].key` — how fields are named in messages. */
export function formatField(segments: readonly Segment[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (PLAIN_SEGMENT.test(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/** RFC 6901 JSON pointer of a field path. */
export function toPointer(segments: readonly Segment[]): string {
  return segments.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/** The segments of a JSON pointer (all strings; indexes stay strings). */
export function fromPointer(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** One diagnostic as a line (plus its hint line), compiler style: `file:line:col: field: message [CODE]`. */
/** `bare`: without the code and the hint, for a carrier that holds them apart (a warning event). */
export function formatDiagnostic(
  d: Diagnostic,
  opts: { indent?: string; severityPrefix?: boolean; bare?: boolean } = {},
): string {
  const indent = opts.indent ?? '';
  const where = d.line > 0 ? `${d.file}:${d.line}:${d.column}` : d.file;
  const prefix = opts.severityPrefix ? `${d.severity}: ` : '';
  const field = d.path ? `${d.path}: ` : '';
  if (opts.bare) return `${indent}${prefix}${where}: ${field}${d.message}`;
  const lines = [`${indent}${prefix}${where}: ${field}${d.message} [${d.code}]`];
  if (d.hint) lines.push(`${indent}    hint: ${d.hint}`);
  return lines.join('\n');
}

/** Errors first by position, so the output reads top to bottom like the file. */
export function sortDiagnostics(list: Diagnostic[]): Diagnostic[] {
  return [...list].sort(
    (a, b) => a.line - b.line || a.column - b.column || a.path.localeCompare(b.path) || a.code.localeCompare(b.code),
  );
}

const BRAND = Symbol.for('talos-rotate.DesiredStateError');

/**
 * The desired-state file is not valid. A RotateError (code DESIRED_INVALID) whose message lists every
 * error with its position, field and hint; the diagnostics themselves travel with it for `--json`.
 */
export class DesiredStateError extends RotateError {
  readonly diagnostics: Diagnostic[];
  readonly warnings: Diagnostic[];

  constructor(file: string, errors: Diagnostic[], warnings: Diagnostic[]) {
    const count = errors.length === 1 ? '1 error' : `${errors.length} errors`;
    const body = sortDiagnostics(errors)
      .map((d) => formatDiagnostic(d, { indent: '  ' }))
      .join('\n');
    super('DESIRED_INVALID', `${file} is not a valid desired-state file (${count}):\n${body}`, {
      hint:
        `fix the ${errors.length === 1 ? 'error' : 'errors'} above, then check again with \`rotate validate ` +
        `-f ${file}\``,
    });
    this.name = 'DesiredStateError';
    this.diagnostics = errors;
    this.warnings = warnings;
    Object.defineProperty(this, BRAND, { value: true });
  }

  static isDesiredStateError(value: unknown): value is DesiredStateError {
    return RotateError.is(value) && (value as unknown as Record<symbol, unknown>)[BRAND] === true;
  }
}
