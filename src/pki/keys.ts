/**
 * Private keys: parsing every encoding Talos accepts, generating keys, writing them the way Talos does,
 * and turning them into WebCrypto signers. Error messages name the field (`what`) and the PEM label only;
 * key material never reaches a message or an error cause.
 */
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject, type webcrypto } from 'node:crypto';
import { promisify } from 'node:util';
import { RotateError } from '../domain/errors.js';
import { Secret } from '../domain/secret.js';
import { encodePem, pemBlocksOf } from './pem.js';
import type { KeyAlgorithm } from './types.js';
import { subtle } from './x509lib.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** PEM labels Talos reads a private key from (siderolabs/crypto x509/key.go), with their DER format. */
const KEY_LABELS: Record<string, 'pkcs8' | 'sec1' | 'pkcs1'> = {
  'ED25519 PRIVATE KEY': 'pkcs8',
  'PRIVATE KEY': 'pkcs8',
  'EC PRIVATE KEY': 'sec1',
  'RSA PRIVATE KEY': 'pkcs1',
};

export interface ParsedKey {
  keyObject: KeyObject;
  /** The key's PEM block as given (one block, trailing newline, original label). */
  pem: string;
  label: string;
}

/** Parse a private key PEM in any encoding Talos accepts; PKI_PARSE naming `what` otherwise. */
export function parsePrivateKey(pem: string | Secret, what: string): ParsedKey {
  const text = typeof pem === 'string' ? pem : pem.reveal();
  const blocks = pemBlocksOf(text, what);
  const keyBlocks = blocks.filter((b) => b.label in KEY_LABELS);
  if (keyBlocks.length !== 1) {
    const labels = blocks.map((b) => b.label);
    const found = labels.length ? `found ${labels.map((l) => `"${l}"`).join(', ')}` : 'found no PEM block';
    const encrypted = labels.includes('ENCRYPTED PRIVATE KEY');
    throw new RotateError(
      'PKI_PARSE',
      keyBlocks.length > 1
        ? `${what} holds ${keyBlocks.length} private keys; expected one`
        : `${what} holds no private key (${found})`,
      {
        hint: encrypted
          ? 'decrypt the key first (openssl pkey -in key.pem -out plain.pem); Talos needs an unencrypted key'
          : 'expected one PEM block labelled ED25519 PRIVATE KEY, PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY',
      },
    );
  }
  const block = keyBlocks[0]!;
  const type = KEY_LABELS[block.label]!;
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey({ key: Buffer.from(block.der), format: 'der', type });
  } catch {
    // No cause attached on purpose: the parser's error is of no use to the user and we keep key-related
    // errors free of anything derived from the key.
    throw new RotateError('PKI_PARSE', `${what} is not a valid "${block.label}" private key`, {
      hint: 'the key is corrupted or in another format; copy it again from its source',
    });
  }
  if (block.label === 'ED25519 PRIVATE KEY' && keyObject.asymmetricKeyType !== 'ed25519') {
    throw new RotateError(
      'PKI_PARSE',
      `${what} is labelled ED25519 PRIVATE KEY but holds a ${describeKeyType(keyObject)} key`,
      {
        hint: 'fix the PEM label to match the key type',
      },
    );
  }
  return { keyObject, pem: block.pem, label: block.label };
}

const CURVES: Record<string, KeyAlgorithm> = {
  prime256v1: 'ecdsa-p256',
  secp384r1: 'ecdsa-p384',
  secp521r1: 'ecdsa-p521',
};

/** Our algorithm name for a key (private or public), or undefined if Talos cannot use it. */
export function keyAlgorithmOf(key: KeyObject): KeyAlgorithm | undefined {
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      return 'ed25519';
    case 'rsa':
      return 'rsa';
    case 'ec':
      return CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
    default:
      return undefined;
  }
}

/** Human description of a key type for messages, e.g. `ec secp256k1`, `ed448`, `rsa-pss`. */
export function describeKeyType(key: KeyObject): string {
  const type = key.asymmetricKeyType ?? 'unknown';
  if (type === 'ec') return `ec ${key.asymmetricKeyDetails?.namedCurve ?? 'unknown curve'}`;
  return type;
}

/** DER SubjectPublicKeyInfo of a private or public key (used to compare a key with a certificate). */
export function spkiDer(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'der' });
}

export const DEFAULT_RSA_BITS = 2048;

export async function generateKey(
  algorithm: KeyAlgorithm,
  rsaBits = DEFAULT_RSA_BITS,
): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  switch (algorithm) {
    case 'ed25519':
      return generateKeyPairAsync('ed25519');
    case 'ecdsa-p256':
      return generateKeyPairAsync('ec', { namedCurve: 'P-256' });
    case 'ecdsa-p384':
      return generateKeyPairAsync('ec', { namedCurve: 'P-384' });
    case 'ecdsa-p521':
      return generateKeyPairAsync('ec', { namedCurve: 'P-521' });
    case 'rsa':
      return generateKeyPairAsync('rsa', { modulusLength: rsaBits, publicExponent: 0x10001 });
  }
}

/**
 * PEM of a private key exactly as Talos writes it (siderolabs/crypto x509/key.go): Ed25519 = PKCS#8
 * under `ED25519 PRIVATE KEY`; ECDSA = SEC1 `EC PRIVATE KEY`; RSA = PKCS#1 `RSA PRIVATE KEY`.
 */
export function talosKeyPem(privateKey: KeyObject): Secret {
  switch (privateKey.asymmetricKeyType) {
    case 'ed25519':
      return new Secret(encodePem('ED25519 PRIVATE KEY', privateKey.export({ type: 'pkcs8', format: 'der' })));
    case 'ec':
      return new Secret(privateKey.export({ type: 'sec1', format: 'pem' }) as string);
    case 'rsa':
      return new Secret(privateKey.export({ type: 'pkcs1', format: 'pem' }) as string);
    default:
      throw new RotateError('PKI_UNSUPPORTED_ALG', `cannot encode a ${describeKeyType(privateKey)} key for Talos`, {
        hint: 'use an Ed25519, ECDSA or RSA key',
      });
  }
}

const NAMED_CURVE: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };
const CURVE_HASH: Record<string, string> = { 'P-256': 'SHA-256', 'P-384': 'SHA-384', 'P-521': 'SHA-512' };

type CryptoKey = webcrypto.CryptoKey;
type SignAlgorithm = webcrypto.Algorithm | webcrypto.EcdsaParams;

export interface Signer {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** WebCrypto signing parameters as @peculiar/x509 expects them. */
  algorithm: SignAlgorithm;
}

/**
 * A WebCrypto signer for a key. ECDSA hash: `'sha256'` always (what Go uses when a CA signs a P-256
 * leaf, whatever the CA curve), or `'curve'` (SHA-256/384/512 by curve, as Go signs a CSR). RSA signs
 * with SHA-512 (Go's SHA512WithRSA, the algorithm siderolabs/crypto uses for RSA).
 */
export async function signerFor(privateKey: KeyObject, ecdsaHash: 'sha256' | 'curve' = 'sha256'): Promise<Signer> {
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  const spki = spkiDer(privateKey);
  let importAlg: webcrypto.AlgorithmIdentifier | webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;
  let algorithm: SignAlgorithm;
  switch (privateKey.asymmetricKeyType) {
    case 'ed25519':
      importAlg = { name: 'Ed25519' };
      algorithm = { name: 'Ed25519' };
      break;
    case 'ec': {
      const namedCurve = NAMED_CURVE[privateKey.asymmetricKeyDetails?.namedCurve ?? ''];
      if (!namedCurve) throw unsupportedKey(privateKey);
      importAlg = { name: 'ECDSA', namedCurve };
      algorithm = { name: 'ECDSA', hash: ecdsaHash === 'curve' ? CURVE_HASH[namedCurve]! : 'SHA-256' };
      break;
    }
    case 'rsa':
      importAlg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512' };
      algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512' } as SignAlgorithm;
      break;
    default:
      throw unsupportedKey(privateKey);
  }
  const [priv, pub] = await Promise.all([
    subtle.importKey('pkcs8', pkcs8, importAlg, false, ['sign']),
    subtle.importKey('spki', spki, importAlg, true, ['verify']),
  ]);
  return { privateKey: priv, publicKey: pub, algorithm };
}

function unsupportedKey(key: KeyObject): RotateError {
  return new RotateError('PKI_UNSUPPORTED_ALG', `cannot sign with a ${describeKeyType(key)} key`, {
    hint: 'Talos CAs use Ed25519, ECDSA (P-256/P-384/P-521) or RSA keys',
  });
}

export function keyMismatch(what: string): RotateError {
  return new RotateError('PKI_KEY_MISMATCH', `${what}: the private key does not belong to the certificate`, {
    hint: 'use the key that was generated together with this certificate (same crt/key pair)',
  });
}
