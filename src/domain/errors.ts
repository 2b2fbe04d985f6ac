/**
 * Errors the user can act on. Every failure the tool expects carries a stable code, a one-line message that
 * names the file/field/node, and a hint saying what to do. The CLI's single top-level catch prints
 * `error[CODE]: message` + `hint: ...` and exits non-zero without a stack trace. A RotateError whose
 * `source` is `internal` (an invariant of the tool broke), and anything that is not a RotateError, is a bug:
 * the CLI says so and asks for a report. Every code is listed in src/domain/error-codes.ts (docs/errors.md).
 *
 * Errors are recognised by a Symbol.for brand rather than instanceof, so that copies of this module loaded
 * twice (tests, lazily loaded commands) still agree.
 */

const BRAND = Symbol.for('talos-rotate.RotateError');

/**
 * Who can fix it: `user` (a file, a flag, the desired state: the default), `cluster` (what the cluster or
 * a node answered), `internal` (a bug in talos-rotate: the CLI adds the request to report it).
 */
export type ErrorSource = 'user' | 'cluster' | 'internal';

export interface RotateErrorOptions {
  hint?: string;
  cause?: unknown;
  /** Process exit code used by the CLI (default 1). */
  exitCode?: number;
  source?: ErrorSource;
  /** Another attempt may succeed (a dropped connection, a restarting component); set where the error is classified. */
  transient?: boolean;
}

export class RotateError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly exitCode: number;
  readonly source: ErrorSource;
  readonly transient: boolean;

  constructor(code: string, message: string, options: RotateErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RotateError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 1;
    this.source = options.source ?? 'user';
    this.transient = options.transient ?? false;
    Object.defineProperty(this, BRAND, { value: true });
  }

  static is(value: unknown): value is RotateError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** An error that is a bug in talos-rotate (an invariant broke), not something the user or the cluster did. */
export function internalError(
  code: string,
  message: string,
  options: Omit<RotateErrorOptions, 'source'> = {},
): RotateError {
  return new RotateError(code, message, { ...options, source: 'internal' });
}

/** Whether `err` is a bug: a RotateError marked internal, or anything that is not a RotateError. */
export function isBug(err: unknown): boolean {
  return RotateError.is(err) ? err.source === 'internal' : true;
}

/** The system error code (`ENOENT`, `EACCES`, ...) of the error that caused `err`, if it was one. */
export function causeCode(err: RotateError): string | undefined {
  const cause = err.cause as { code?: unknown } | undefined;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}

/** Render an error for the terminal: one message line plus an optional hint line, never a stack. */
export function formatError(err: RotateError): string {
  const lines = [`error[${err.code}]: ${err.message}`];
  if (err.hint) lines.push(`  hint: ${err.hint}`);
  return lines.join('\n');
}
