/** Public surface of the PKI module. */
export type { PemBlock } from './pem.js';
export {
  splitPemBlocks,
  bundleBlocks,
  encodePem,
  decodeTalosBase64Pem,
  encodeTalosBase64Pem,
  ensureTrailingNewline,
  terminatePemLines,
  concatPem,
  privateKeyPemForNode,
} from './pem.js';
export { fingerprintOfDer, fingerprintOfPem } from './fingerprint.js';
export type { KeyAlgorithm, CaCertificate, CaMaterial, IssuedCert, SignedCert, LeafUsage } from './types.js';
export { KEY_ALGORITHMS } from './types.js';
export {
  generateTalosCa,
  generateKubernetesCa,
  generateCa,
  parseCaCertificate,
  parseCaBundle,
  loadCa,
  CA_VALIDITY_MS,
  type GenerateCaOptions,
} from './ca.js';
export {
  assertIsCa,
  assertValidNow,
  assertKeyMatches,
  assertSupportedAlgorithm,
  isSignedBy,
  signerIndex,
  verifiesAgainst,
  DEFAULT_SKEW_MS,
  MIN_RSA_BITS,
  type ValidityOptions,
} from './checks.js';
export {
  issueTalosClientCert,
  issueKubernetesAdminCert,
  issueLeafCert,
  createCsr,
  signCsr,
  leafAlgorithmFor,
  DEFAULT_LEAF_VALIDITY_MS,
  DEFAULT_BACKDATE_MS,
  type LeafOptions,
  type LeafTimingOptions,
  type KeyUsageName,
} from './issue.js';
export { keyPemForTls } from './tls.js';
export { summarizeCertificateValue, type CertificateSummary } from './summary.js';
