/**
 * Recognising private keys where they must not be, and quoting user values in messages without ever
 * quoting key material. Pure.
 */
import { createPrivateKey } from 'node:crypto';

const PEM_PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const DER_KEY_TYPES = ['pkcs8', 'sec1', 'pkcs1'] as const;

function isDerPrivateKey(der: Buffer): boolean {
  for (const type of DER_KEY_TYPES) {
    try {
      createPrivateKey({ key: der, format: 'der', type });
      return true;
    } catch {
      // not this encoding
    }
  }
  return false;
}

/**
 * True for a PEM private key (any label, OpenSSH and encrypted ones included), for base64 of such PEM
 * (Talos's encoding), and for base64 of a bare DER private key.
 */
export function looksLikePrivateKey(value: string): boolean {
  if (PEM_PRIVATE_KEY.test(value)) return true;
  const compact = value.replace(/\s+/g, '');
  if (compact.length < 40 || !BASE64.test(compact)) return false;
  const bytes = Buffer.from(compact, 'base64');
  return PEM_PRIVATE_KEY.test(bytes.toString('latin1')) || isDerPrivateKey(bytes);
}

/** Long base64 or PEM: not quoted back, whatever it holds. */
function isOpaque(value: string): boolean {
  if (value.includes('-----BEGIN')) return true;
  const compact = value.replace(/\s+/g, '');
  return compact.length >= 32 && BASE64.test(compact);
}

/** A user value for a message: short strings quoted, anything that may be key material described only. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    if (value === '') return 'an empty string';
    if (isOpaque(value))
      return value.includes('-----BEGIN')
        ? 'PEM text (not shown)'
        : `a ${value.length}-character encoded value (not shown)`;
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(shown);
  }
  if (value === null || value === undefined) return 'an empty value';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : `a list of ${value.length}`;
  if (typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 0) return 'an empty mapping';
    const names = keys.slice(0, 5).map((k) => (isOpaque(k) ? '(not shown)' : k));
    return `a mapping with ${names.join(', ')}${keys.length > 5 ? ', ...' : ''}`;
  }
  return typeof value;
}

/**
 * Strip anything quoted from a YAML parser message (the `yaml` package quotes source tokens, which could
 * be key material), keeping the message itself.
 */
export function sanitizeParserMessage(message: string): string {
  return message.replace(/"(?:[^"\\]|\\.)*"/g, (quoted) =>
    quoted.length <= 12 && !isOpaque(quoted) ? quoted : '"..."',
  );
}
