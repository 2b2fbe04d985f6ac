/**
 * Leaf certificates signed by a CA we hold, and CSRs.
 *
 * Layout copied from siderolabs/crypto NewCertificateFromCSR (x509/certificate.go), which every Talos
 * leaf goes through: no BasicConstraints extension; KeyUsage (critical) as requested, DigitalSignature
 * by default; ExtKeyUsage as requested; AuthorityKeyId = the CA's SubjectKeyId; no SubjectKeyId; SAN
 * with the DNS names then IP addresses (critical only when the subject is empty, as Go does); subject
 * O values in one RDN, then CN; random 128-bit serial. The leaf key type follows the CA (NewKeyPair):
 * Ed25519 CA -> Ed25519 leaf, any ECDSA CA -> ECDSA P-256 leaf signed with SHA-256, RSA CA -> RSA leaf
 * signed with SHA-512 (Talos makes 4096-bit RSA leaves; we default to 2048 bits, see `rsaBits`).
 *
 * Deliberate difference: Talos sets NotBefore = now for its admin certificates; we backdate by
 * `backdateMs` (default 5 minutes) so that a node whose clock is slightly behind accepts the cert at once.
 */
import type { KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { RotateError } from '../domain/errors.js';
import type { Secret } from '../domain/secret.js';
import { parseSingleCertificate, type ParsedCertificate } from './certificate.js';
import { encodeCsr } from './csr.js';
import { bytesEqual } from './der.js';
import { fingerprintOfDer } from './fingerprint.js';
import {
  DEFAULT_RSA_BITS,
  generateKey,
  keyAlgorithmOf,
  keyMismatch,
  parsePrivateKey,
  spkiDer,
  talosKeyPem,
} from './keys.js';
import { encodeLeafCertificate, readCsr, withoutOrganization } from './leaf-der.js';
import { buildName } from './names.js';
import { encodePem, splitPemBlocks } from './pem.js';
import { newSerialNumberHex, truncateToSeconds } from './ca.js';
import type { CaMaterial, IssuedCert, KeyAlgorithm, LeafUsage, SignedCert } from './types.js';
import { x509 } from './x509lib.js';

export const DEFAULT_LEAF_VALIDITY_MS = 365 * 24 * 3_600_000;
export const DEFAULT_BACKDATE_MS = 5 * 60_000;

export interface LeafTimingOptions {
  now?: Date;
  /** Lifetime counted from `now` (default 1 year = 365 days, Talos's TalosAPIDefaultCertificateValidityDuration). */
  validityMs?: number;
  /** NotBefore = now - backdateMs (default 5 minutes, for clock skew). */
  backdateMs?: number;
}

export type KeyUsageName = 'digitalSignature' | 'keyEncipherment';

export interface LeafOptions extends LeafTimingOptions {
  commonName?: string;
  organizations?: string[];
  usages: LeafUsage[];
  ipAddresses?: string[];
  dnsNames?: string[];
  /** KeyUsage bits (default ['digitalSignature'], as Talos). */
  keyUsages?: KeyUsageName[];
  /** Modulus size when the CA is RSA (default 2048). */
  rsaBits?: number;
}

const EKU: Record<LeafUsage, string> = {
  serverAuth: x509.ExtendedKeyUsage.serverAuth,
  clientAuth: x509.ExtendedKeyUsage.clientAuth,
};

const KEY_USAGE: Record<KeyUsageName, number> = {
  digitalSignature: x509.KeyUsageFlags.digitalSignature,
  keyEncipherment: x509.KeyUsageFlags.keyEncipherment,
};

function invalid(message: string, hint: string): RotateError {
  return new RotateError('PKI_INVALID_REQUEST', message, { hint, source: 'internal' });
}

function validateCommon(
  opts: LeafTimingOptions & {
    usages: LeafUsage[];
    ipAddresses?: string[] | undefined;
    dnsNames?: string[] | undefined;
  },
): void {
  if (opts.usages.length === 0 || opts.usages.some((u) => !(u in EKU))) {
    throw invalid('a certificate needs at least one extended key usage (serverAuth, clientAuth)', 'pass usages');
  }
  if (opts.validityMs !== undefined && !(Number.isFinite(opts.validityMs) && opts.validityMs > 0)) {
    throw invalid(`certificate lifetime must be positive (got ${opts.validityMs} ms)`, 'pass a positive validityMs');
  }
  if (opts.backdateMs !== undefined && !(Number.isFinite(opts.backdateMs) && opts.backdateMs >= 0)) {
    throw invalid(`backdate must be zero or positive (got ${opts.backdateMs} ms)`, 'pass a non-negative backdateMs');
  }
  validateNames(opts);
}

function validateNames(opts: { ipAddresses?: string[] | undefined; dnsNames?: string[] | undefined }): void {
  for (const ip of opts.ipAddresses ?? []) {
    if (isIP(ip) === 0)
      throw invalid(`"${ip}" is not an IP address`, 'put host names in dnsNames, addresses in ipAddresses');
  }
  for (const dns of opts.dnsNames ?? []) {
    if (dns === '' || /\s/.test(dns)) throw invalid(`"${dns}" is not a DNS name`, 'pass host names without spaces');
  }
}

interface CaSigner {
  cert: ParsedCertificate;
  keyAlgorithm: KeyAlgorithm;
  keyObject: KeyObject;
  /** The CA's SubjectKeyId (each leaf's AuthorityKeyId), read once. */
  keyId: Uint8Array | null;
}

/**
 * Parsing a key costs milliseconds with OpenSSL 3, and callers issue many certificates from one CA, so
 * the checked signer is cached per key Secret (immutable) and certificate text.
 */
const signerCache = new WeakMap<Secret, { certPem: string; signer: Promise<CaSigner> }>();

function caSigner(ca: CaMaterial): Promise<CaSigner> {
  const hit = signerCache.get(ca.key);
  if (hit && hit.certPem === ca.certPem) return hit.signer;
  const signer = loadCaSigner(ca);
  signerCache.set(ca.key, { certPem: ca.certPem, signer });
  // A failed load is not cached: the next call reports the error again.
  signer.catch(() => {
    if (signerCache.get(ca.key)?.signer === signer) signerCache.delete(ca.key);
  });
  return signer;
}

async function loadCaSigner(ca: CaMaterial): Promise<CaSigner> {
  const cert = parseSingleCertificate(ca.certPem, 'CA certificate');
  const key = parsePrivateKey(ca.key, 'CA key');
  if (!bytesEqual(spkiDer(key.keyObject), spkiDer(cert.node.publicKey))) throw keyMismatch('CA');
  const keyAlgorithm = keyAlgorithmOf(key.keyObject);
  if (!keyAlgorithm) {
    throw new RotateError('PKI_UNSUPPORTED_ALG', 'the CA key type is not supported for signing', {
      hint: 'Talos CAs use Ed25519, ECDSA or RSA keys',
    });
  }
  const ski = cert.peculiar.getExtension(x509.SubjectKeyIdentifierExtension);
  return {
    cert,
    keyAlgorithm,
    keyObject: key.keyObject,
    keyId: ski ? new Uint8Array(Buffer.from(ski.keyId, 'hex')) : null,
  };
}

/** The leaf key algorithm siderolabs/crypto NewKeyPair picks for a CA. */
export function leafAlgorithmFor(caAlgorithm: KeyAlgorithm): KeyAlgorithm {
  if (caAlgorithm === 'ed25519' || caAlgorithm === 'rsa') return caAlgorithm;
  return 'ecdsa-p256';
}

interface LeafSpec extends LeafTimingOptions {
  publicKeySpki: Uint8Array;
  subjectDer: Uint8Array;
  subjectIsEmpty: boolean;
  usages: LeafUsage[];
  keyUsage: number;
  ipAddresses: string[];
  dnsNames: string[];
}

async function signLeaf(ca: CaSigner, spec: LeafSpec): Promise<SignedCert> {
  const now = (spec.now ?? new Date()).getTime();
  const notBefore = truncateToSeconds(new Date(now - (spec.backdateMs ?? DEFAULT_BACKDATE_MS)));
  const notAfter = truncateToSeconds(new Date(now + (spec.validityMs ?? DEFAULT_LEAF_VALIDITY_MS)));
  const der = new Uint8Array(
    encodeLeafCertificate(
      {
        serialHex: newSerialNumberHex(),
        // The CA's subject exactly as encoded, so Go's byte-wise issuer lookup finds it.
        issuerDer: ca.cert.fields.subject,
        subjectDer: spec.subjectDer,
        notBefore,
        notAfter,
        spki: spec.publicKeySpki,
        keyUsage: spec.keyUsage,
        ekuOids: spec.usages.map((u) => EKU[u]),
        authorityKeyId: ca.keyId,
        dnsNames: spec.dnsNames,
        ipAddresses: spec.ipAddresses,
        sanCritical: spec.subjectIsEmpty,
      },
      ca.keyObject,
    ),
  );
  return { certPem: encodePem('CERTIFICATE', der), fingerprint: fingerprintOfDer(der), notBefore, notAfter };
}

/** Generic leaf: apid server certs, impersonator client certs, kube-apiserver serving, kubelet client certs. */
export async function issueLeafCert(ca: CaMaterial, opts: LeafOptions): Promise<IssuedCert> {
  validateCommon(opts);
  const signer = await caSigner(ca);
  const { privateKey, publicKey } = await generateKey(
    leafAlgorithmFor(signer.keyAlgorithm),
    opts.rsaBits ?? DEFAULT_RSA_BITS,
  );
  const subjectIsEmpty = !opts.commonName && !opts.organizations?.length;
  const signed = await signLeaf(signer, {
    ...opts,
    publicKeySpki: spkiDer(publicKey),
    subjectDer: new Uint8Array(buildName(opts).toArrayBuffer()),
    subjectIsEmpty,
    keyUsage: (opts.keyUsages ?? ['digitalSignature']).reduce((acc, u) => acc | KEY_USAGE[u], 0),
    ipAddresses: opts.ipAddresses ?? [],
    dnsNames: opts.dnsNames ?? [],
  });
  return { ...signed, key: talosKeyPem(privateKey) };
}

/**
 * A Talos API client certificate as talosctl makes one (secrets.NewAdminCertificateAndKey): subject
 * O = each role, no CN, KeyUsage DigitalSignature, ExtKeyUsage exactly [ClientAuth], 1 year.
 */
export async function issueTalosClientCert(
  ca: CaMaterial,
  opts: LeafTimingOptions & { roles: string[]; rsaBits?: number },
): Promise<IssuedCert> {
  if (opts.roles.length === 0 || opts.roles.some((r) => r.trim() === '')) {
    throw invalid('a Talos client certificate needs at least one non-empty role (e.g. os:admin)', 'pass roles');
  }
  return issueLeafCert(ca, { ...opts, organizations: [...new Set(opts.roles)], usages: ['clientAuth'] });
}

/**
 * A Kubernetes admin client certificate as Talos's kubeconfig generator makes one: CN=admin,
 * O=system:masters, KeyUsage DigitalSignature+KeyEncipherment, ExtKeyUsage [ClientAuth], 1 year.
 */
export async function issueKubernetesAdminCert(
  ca: CaMaterial,
  opts: LeafTimingOptions & { rsaBits?: number } = {},
): Promise<IssuedCert> {
  return issueLeafCert(ca, {
    ...opts,
    commonName: 'admin',
    organizations: ['system:masters'],
    usages: ['clientAuth'],
    keyUsages: ['digitalSignature', 'keyEncipherment'],
  });
}

/**
 * A CSR as siderolabs/crypto NewCertificateSigningRequest makes one: subject CN + O, SAN (DNS, IP) in an
 * extensionRequest; signed with Ed25519, ECDSA with the curve's hash, or RSA SHA-512.
 */
export async function createCsr(opts: {
  algorithm: KeyAlgorithm;
  commonName?: string;
  organizations?: string[];
  ipAddresses?: string[];
  dnsNames?: string[];
  rsaBits?: number;
}): Promise<{ csrPem: string; key: Secret }> {
  validateNames(opts);
  const { privateKey } = await generateKey(opts.algorithm, opts.rsaBits ?? DEFAULT_RSA_BITS);
  const der = encodeCsr({
    subjectDer: Buffer.from(buildName(opts).toArrayBuffer()),
    spki: spkiDer(privateKey),
    privateKey,
    dnsNames: opts.dnsNames ?? [],
    ipAddresses: opts.ipAddresses ?? [],
  });
  return { csrPem: encodePem('CERTIFICATE REQUEST', new Uint8Array(der)), key: talosKeyPem(privateKey) };
}

const CSR_LABELS = new Set(['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']);

/**
 * Sign a CSR as trustd does (siderolabs/crypto NewCertificateFromCSR): the CSR signature must verify
 * (PKI_CSR_SIGNATURE otherwise); subject, DNS and IP SANs and public key come from the CSR; the
 * Organization is removed with `stripOrganization` (trustd does this so a worker cannot ask for roles).
 * Returns no key: the requester holds it.
 */
export async function signCsr(
  ca: CaMaterial,
  csrPem: string,
  opts: LeafTimingOptions & { usages: LeafUsage[]; stripOrganization?: boolean; keyUsages?: KeyUsageName[] },
): Promise<SignedCert> {
  validateCommon(opts);
  const block = splitPemBlocks(csrPem).find((b) => CSR_LABELS.has(b.label));
  if (!block) {
    throw new RotateError('PKI_PARSE', 'no CERTIFICATE REQUEST block found in the CSR text', {
      hint: 'pass a PEM-encoded PKCS#10 CSR',
    });
  }
  const keyUsage = (opts.keyUsages ?? ['digitalSignature']).reduce((acc, u) => acc | KEY_USAGE[u], 0);
  // Read in DER and verified with node:crypto (leaf-der.ts); a signature algorithm that reader does not
  // know goes through the ASN.1 library below, as before.
  let read: ReturnType<typeof readCsr>;
  let readSubject: { der: Uint8Array; empty: boolean } | null = null;
  try {
    read = readCsr(block.der);
    if (read?.verified)
      readSubject = opts.stripOrganization
        ? withoutOrganization(read.subjectDer)
        : { der: read.subjectDer, empty: isEmptyName(read.subjectDer) };
  } catch (err) {
    throw new RotateError('PKI_PARSE', `the CSR does not parse (${(err as Error).message})`, {
      hint: 'pass a valid PKCS#10 CSR',
    });
  }
  if (read) {
    if (!read.verified || !readSubject) throw csrSignatureError();
    return signLeaf(await caSigner(ca), {
      ...opts,
      publicKeySpki: read.spki,
      subjectDer: readSubject.der,
      subjectIsEmpty: readSubject.empty,
      keyUsage,
      ipAddresses: read.ipAddresses,
      dnsNames: read.dnsNames,
    });
  }
  let csr: x509.Pkcs10CertificateRequest;
  let verified: boolean;
  try {
    csr = new x509.Pkcs10CertificateRequest(block.der);
    verified = await csr.verify();
  } catch (err) {
    throw new RotateError('PKI_PARSE', `the CSR does not parse (${(err as Error).message})`, {
      hint: 'pass a valid PKCS#10 CSR',
    });
  }
  if (!verified) throw csrSignatureError();
  const subjectJson = csr.subjectName
    .toJSON()
    .map((rdn) =>
      opts.stripOrganization ? Object.fromEntries(Object.entries(rdn).filter(([type]) => type !== 'O')) : rdn,
    )
    .filter((rdn) => Object.keys(rdn).length > 0);
  const subject = opts.stripOrganization ? new x509.Name(subjectJson) : csr.subjectName;
  const san = csr.getExtension('2.5.29.17') as x509.SubjectAlternativeNameExtension | null;
  const names = san ? new x509.SubjectAlternativeNameExtension(san.rawData).names.items : [];
  const signer = await caSigner(ca);
  return signLeaf(signer, {
    ...opts,
    publicKeySpki: new Uint8Array(csr.publicKey.rawData),
    subjectDer: new Uint8Array(subject.toArrayBuffer()),
    subjectIsEmpty: subjectJson.length === 0,
    keyUsage,
    ipAddresses: names.filter((n) => n.type === 'ip').map((n) => n.value),
    dnsNames: names.filter((n) => n.type === 'dns').map((n) => n.value),
  });
}

function csrSignatureError(): RotateError {
  return new RotateError('PKI_CSR_SIGNATURE', 'the CSR signature does not verify', {
    hint: 'the CSR was altered or signed with another key; create it again',
  });
}

/** Whether a DER Name has no RDN (an empty SEQUENCE). */
function isEmptyName(der: Uint8Array): boolean {
  return der.length === 2 && der[0] === 0x30 && der[1] === 0;
}
