/**
 * A last line of defence for documents and messages that must never hold a private key (the state file,
 * progress events): recognise key material in text, as PEM, as Talos's base64-of-PEM, or as the bare
 * base64 DER of the key types Talos uses. Callers refuse or redact; they never print what was found.
 */

/** A PEM private key header, in any of the labels Talos and OpenSSL write (also seen inside JSON strings). */
const PEM_PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** Base64 of `-----BEGIN` at a 3-byte boundary: how Talos stores PEM in machine configs and bundles. */
const BASE64_PEM = /LS0tLS1CRUdJTi[A-Za-z0-9+/]*={0,2}/g;

/**
 * Base64 DER prefixes of unencrypted private keys: Ed25519 PKCS#8, EC SEC1 (P-256/P-384/P-521), EC
 * PKCS#8 (P-256). Long enough not to occur by chance in the short texts this checks.
 */
const BASE64_DER_PREFIXES = [
  'MC4CAQAwBQYDK2VwBCIEI',
  'MHcCAQEEI',
  'MIGkAgEBBDA',
  'MIHcAgEBBEI',
  'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg',
];

export function containsKeyMaterial(text: string): boolean {
  if (PEM_PRIVATE_KEY.test(text)) return true;
  for (const match of text.matchAll(BASE64_PEM)) {
    const decoded = Buffer.from(match[0], 'base64').toString('latin1');
    if (PEM_PRIVATE_KEY.test(decoded)) return true;
  }
  return BASE64_DER_PREFIXES.some((prefix) => text.includes(prefix));
}
