/**
 * Certificate authorities: generating them exactly as Talos does, and reading existing ones.
 *
 * What siderolabs/crypto (x509/certificate_authority.go, options.go, utils.go) and Talos
 * (pkg/machinery/config/generate/secrets/ca.go) do, and we copy:
 * - NotBefore = the current time, with no backdating; NotAfter = NotBefore + 87600h (CAValidityTime).
 * - Subject = Organization only (no CN); issuer = subject (self-signed).
 * - Serial = random integer below 2^128; SubjectKeyId = 20 random bytes (not a key hash, for FIPS).
 * - Extensions, in Go's order: KeyUsage (critical) DigitalSignature+CertSign; ExtKeyUsage ServerAuth+
 *   ClientAuth (not critical); BasicConstraints (critical) CA:TRUE without path length; SubjectKeyId.
 *   No AuthorityKeyId (Go omits it on self-signed certificates).
 * - Talos CA: Ed25519 (library default); Kubernetes CA: ECDSA P-256 signed with SHA-256 (`ECDSA(true)`).
 */
import { randomBytes } from 'node:crypto';
import { RotateError } from '../domain/errors.js';
import { Secret } from '../domain/secret.js';
import {
  parseCertificateBlock,
  certificateBlocks,
  parseSingleCertificate,
  signatureAlgorithmName,
  type ParsedCertificate,
} from './certificate.js';
import { bytesEqual } from './der.js';
import { encodePem } from './pem.js';
import {
  describeKeyType,
  generateKey,
  keyAlgorithmOf,
  keyMismatch,
  parsePrivateKey,
  signerFor,
  spkiDer,
  talosKeyPem,
} from './keys.js';
import { buildName } from './names.js';
import type { CaCertificate, CaMaterial, KeyAlgorithm } from './types.js';
import { x509 } from './x509lib.js';

/** Talos's CAValidityTime: 87600 h (ten 365-day years). */
export const CA_VALIDITY_MS = 87_600 * 3_600_000;

/** A random positive serial below 2^128, as siderolabs/crypto NewSerialNumber (hex for @peculiar/x509). */
export function newSerialNumberHex(): string {
  let bytes = randomBytes(16);
  while (bytes.every((b) => b === 0)) bytes = randomBytes(16);
  return bytes.toString('hex');
}

/** X.509 times have whole seconds; truncate so returned dates equal what the certificate says. */
export function truncateToSeconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

export interface GenerateCaOptions {
  algorithm: KeyAlgorithm;
  organizations?: string[];
  commonName?: string;
  now?: Date;
  validityMs?: number;
  rsaBits?: number;
}

/** A self-signed CA with Talos's layout (see the module comment) for any supported algorithm. */
export async function generateCa(opts: GenerateCaOptions): Promise<CaMaterial> {
  const notBefore = truncateToSeconds(opts.now ?? new Date());
  const notAfter = new Date(notBefore.getTime() + (opts.validityMs ?? CA_VALIDITY_MS));
  const { privateKey } = await generateKey(opts.algorithm, opts.rsaBits ?? 4096);
  // Go signs an ECDSA CA with the hash its option names (SHA-256 for ECDSA(true)) and RSA with SHA-512.
  const signer = await signerFor(privateKey, 'sha256');
  const name = buildName({ organizations: opts.organizations, commonName: opts.commonName });
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: newSerialNumberHex(),
    subject: name,
    issuer: name,
    notBefore,
    notAfter,
    publicKey: spkiDer(privateKey),
    signingKey: signer.privateKey as never,
    signingAlgorithm: signer.algorithm,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.SubjectKeyIdentifierExtension(randomBytes(20).toString('hex'), false),
    ],
  });
  const der = new Uint8Array(cert.rawData);
  const parsed = parseCertificateBlock(
    { label: 'CERTIFICATE', der, pem: encodePem('CERTIFICATE', der) },
    'generated CA certificate',
  );
  return { ...describe(parsed), key: talosKeyPem(privateKey) };
}

/** A new Talos API CA exactly as `talosctl gen secrets` / rotate-ca make one: Ed25519, O=talos, 87600h. */
export async function generateTalosCa(opts: { now?: Date } = {}): Promise<CaMaterial> {
  return generateCa({ algorithm: 'ed25519', organizations: ['talos'], ...opts });
}

/** A new Kubernetes API CA as Talos makes one: ECDSA P-256 with SHA-256, O=kubernetes, 87600h. */
export async function generateKubernetesCa(opts: { now?: Date } = {}): Promise<CaMaterial> {
  return generateCa({ algorithm: 'ecdsa-p256', organizations: ['kubernetes'], ...opts });
}

function describe(parsed: ParsedCertificate): CaCertificate {
  const { node, peculiar, fields, block, fingerprint } = parsed;
  return {
    certPem: block.pem,
    fingerprint,
    subject: peculiar.subject,
    notBefore: peculiar.notBefore,
    notAfter: peculiar.notAfter,
    algorithm: certificateKeyAlgorithm(parsed),
    // Not node's X509Certificate.ca: OpenSSL's check also folds in KeyUsage, which assertIsCa reports separately.
    isCa: peculiar.getExtension(x509.BasicConstraintsExtension)?.ca === true,
    signatureAlgorithm: signatureAlgorithmName(fields.signatureAlgorithmOid),
    serialNumber: peculiar.serialNumber.toLowerCase(),
    ...(node.publicKey.asymmetricKeyType === 'rsa'
      ? { rsaBits: node.publicKey.asymmetricKeyDetails?.modulusLength }
      : {}),
  };
}

function certificateKeyAlgorithm(parsed: ParsedCertificate, what = 'certificate'): KeyAlgorithm {
  const alg = keyAlgorithmOf(parsed.node.publicKey);
  if (!alg) {
    throw new RotateError(
      'PKI_UNSUPPORTED_ALG',
      `${what} has a ${describeKeyType(parsed.node.publicKey)} key, which Talos does not support`,
      {
        hint: 'Talos CAs must use Ed25519, ECDSA (P-256, P-384, P-521) or RSA keys; generate a new CA',
      },
    );
  }
  return alg;
}

/**
 * Parse and describe one CA certificate (exactly one CERTIFICATE block). PKI_PARSE if unparseable;
 * PKI_UNSUPPORTED_ALG if its key type is not one a Talos CA can have (the type has no name for it).
 * Does not require the certificate to be a CA: use assertIsCa.
 */
export function parseCaCertificate(pem: string, what: string): CaCertificate {
  const parsed = parseSingleCertificate(pem, what);
  certificateKeyAlgorithm(parsed, what);
  return describe(parsed);
}

/** Every certificate of a PEM bundle, described (e.g. a trust bundle); same errors as parseCaCertificate. */
export function parseCaBundle(pem: string, what: string): CaCertificate[] {
  return certificateBlocks(pem, what).map((block, i) => {
    const label = `${what} (certificate ${i + 1})`;
    const parsed = parseCertificateBlock(block, label);
    certificateKeyAlgorithm(parsed, label);
    return describe(parsed);
  });
}

/**
 * A CA with its key, from PEM texts (decode Talos's base64 first). Accepts the key labels Talos reads:
 * ED25519 PRIVATE KEY, PRIVATE KEY, EC PRIVATE KEY, RSA PRIVATE KEY. PKI_PARSE if either does not parse,
 * PKI_UNSUPPORTED_ALG for a key type Talos cannot use, PKI_KEY_MISMATCH if the key is not the
 * certificate's. The returned `key` is the key block as given (one block, newline-terminated).
 */
export async function loadCa(certPem: string, keyPem: string | Secret, what: string): Promise<CaMaterial> {
  const cert = parseSingleCertificate(certPem, `${what} certificate`);
  certificateKeyAlgorithm(cert, `${what} certificate`);
  const key = parsePrivateKey(keyPem, `${what} key`);
  if (!keyAlgorithmOf(key.keyObject)) {
    throw new RotateError(
      'PKI_UNSUPPORTED_ALG',
      `${what} key is a ${describeKeyType(key.keyObject)} key, which Talos does not support`,
      {
        hint: 'Talos CAs must use Ed25519, ECDSA (P-256, P-384, P-521) or RSA keys',
      },
    );
  }
  if (!bytesEqual(spkiDer(key.keyObject), spkiDer(cert.node.publicKey))) throw keyMismatch(what);
  return { ...describe(cert), key: new Secret(key.pem) };
}
