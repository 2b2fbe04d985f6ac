/**
 * Machine-config errors. Messages name the config (by node address when known) and the field path; they
 * never quote field values, so no key material can reach a terminal or a log through them.
 */
import { RotateError, type ErrorSource } from '../domain/errors.js';

export type McErrorCode =
  | 'MC_PARSE'
  | 'MC_BAD_DOCUMENT'
  | 'MC_NO_V1ALPHA1'
  | 'MC_DUPLICATE_DOCUMENT'
  | 'MC_CONFLICT'
  | 'MC_BAD_CA'
  | 'MC_REDACTED_KEY'
  | 'MC_BAD_MACHINE_TYPE'
  | 'MC_KEY_REQUIRED'
  | 'MC_ISSUING_REQUIRED'
  | 'MC_NO_TRUSTED_CA'
  | 'MC_UNSUPPORTED_LAYOUT'
  | 'MC_INTERNAL';

export function configLabel(source: string | undefined): string {
  return source ? `machine config of ${source}` : 'machine config';
}

export function mcError(
  code: McErrorCode,
  source: string | undefined,
  message: string,
  hint?: string,
  errorSource?: ErrorSource,
): RotateError {
  return new RotateError(code, `${configLabel(source)}: ${message}`, {
    ...(hint === undefined ? {} : { hint }),
    source: errorSource ?? (code === 'MC_INTERNAL' ? 'internal' : 'user'),
  });
}

/**
 * Parser messages are generic, but some quote source text (alias names, tags). Anything that could be a
 * slice of an encoded key — long base64-like runs, PEM armour — is cut out before it reaches a message.
 */
export function sanitizeParserMessage(message: string): string {
  return message
    .replace(/-----BEGIN[^]*?(-----END[^-]*-----|$)/g, '…')
    .replace(/[A-Za-z0-9+/=_-]{16,}/g, '…')
    .split('\n')[0]!
    .slice(0, 200);
}
