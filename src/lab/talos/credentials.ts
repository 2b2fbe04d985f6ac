/**
 * The certificates a node's apid (and trustd) use, generated as Talos's secrets.APIController does
 * (internal/app/machined/pkg/controllers/secrets/api.go):
 * - control plane: server cert (EKU ServerAuth, CN = FQDN, SANs = certSANs + node addresses + 127.0.0.1 +
 *   hostname) and the proxy client cert (CN = FQDN, O = os:impersonator, EKU ClientAuth), both signed by the
 *   node's issuing Talos CA, 24 h; ApiCertificates `accepted_c_as` = the OSRoot accepted entries
 *   (`.machine.acceptedCAs` + `.machine.ca.crt`), one per CA as configured. trustd serves a certificate
 *   from the same CA.
 * - worker: a CSR (key type following the last accepted CA) signed by a control plane's trustd;
 *   `accepted_c_as` = ONE entry holding the bundle trustd returned (generateWorker); no client certificate
 *   (workers cannot forward).
 * apid trusts what Go's `AppendCertsFromPEM` keeps of those entries joined with no separator
 * (internal/app/apid/pkg/provider/provider.go; see ../core/go-pem.ts).
 * Generation failing (a broken CA) leaves the previous credentials in place, as Talos keeps its old API
 * resource.
 */
import {
  createCsr,
  issueLeafCert,
  keyPemForTls,
  leafAlgorithmFor,
  type CaCertificate,
  type CaMaterial,
} from '../../pki/index.js';
import type { Secret } from '../../domain/secret.js';
import type { LabNode } from '../core/model.js';
import { readConfigCas, splitSans } from '../core/roots.js';
import { goTrustedCertificates } from '../core/go-pem.js';

/** x509.DefaultCertificateValidityDuration (siderolabs/crypto): 24 h. */
export const API_CERT_VALIDITY_MS = 24 * 3_600_000;

export interface CertAndKey {
  certPem: string;
  key: Secret;
}

export interface NodeCredentials {
  /** What apid serves. */
  server: CertAndKey;
  /** The ApiCertificates `accepted_c_as` entries, byte for byte (a worker has one: trustd's bundle). */
  acceptedEntries: string[];
  /** Client certificates must chain to one of these: Go's cert pool of the entries joined (one PEM per certificate). */
  clientCas: string[];
  /** The proxy client certificate (control planes only). */
  impersonator: CertAndKey | null;
  /** CAs a control plane verifies other apids against when it proxies (its OSRoot accepted list). */
  peerCas: string[];
  /** trustd's serving certificate (control planes only). */
  trustd: CertAndKey | null;
  /** Fingerprint-ish label of the issuing CA for logs. */
  issuer: string;
}

/** SANs of a node's API certificate (api_cert_sans.go): certSANs + the node address + 127.0.0.1; DNS: + hostname. */
export function apiCertNames(node: LabNode): { ipAddresses: string[]; dnsNames: string[]; commonName: string } {
  const view = readConfigCas(node.config);
  const sans = splitSans(view.certSans);
  return {
    ipAddresses: [...new Set([...sans.ips, node.address, '127.0.0.1'])],
    dnsNames: [...new Set([...sans.dnsNames, node.hostname])],
    commonName: node.hostname,
  };
}

const pems = (cas: readonly CaCertificate[]) => cas.map((c) => c.certPem);

/** Control-plane credentials from its issuing CA; throws if the CA cannot sign (the caller keeps the old ones). */
export async function issueControlPlaneCredentials(
  node: LabNode,
  issuing: CaMaterial,
  trusted: readonly CaCertificate[],
  acceptedEntries: readonly string[] = pems(trusted),
): Promise<NodeCredentials> {
  const names = apiCertNames(node);
  const [server, impersonator, trustd] = await Promise.all([
    issueLeafCert(issuing, { ...names, usages: ['serverAuth'], validityMs: API_CERT_VALIDITY_MS }),
    issueLeafCert(issuing, {
      commonName: names.commonName,
      organizations: ['os:impersonator'],
      usages: ['clientAuth'],
      validityMs: API_CERT_VALIDITY_MS,
    }),
    issueLeafCert(issuing, { ...names, usages: ['serverAuth'], validityMs: API_CERT_VALIDITY_MS }),
  ]);
  // The proxy verifies other apids against the same pool (provider.go caCertPool).
  const pool = goTrustedCertificates(acceptedEntries);
  return {
    server,
    acceptedEntries: [...acceptedEntries],
    clientCas: pool,
    impersonator,
    peerCas: pool,
    trustd,
    issuer: issuing.fingerprint,
  };
}

/** A worker's CSR for its apid server certificate (x509.NewCSRAndIdentityFromCA with the last accepted CA). */
export async function workerCsr(node: LabNode, template: CaCertificate): Promise<{ csrPem: string; key: Secret }> {
  const names = apiCertNames(node);
  return createCsr({ algorithm: leafAlgorithmFor(template.algorithm), ...names });
}

/** Certificates of a PEM bundle as trustd returns it, as Go's cert pool reads it (bad blocks skipped). */
export function bundleCertificates(bundle: string): string[] {
  return goTrustedCertificates([bundle]);
}

/** Key text for node:tls (Talos's `ED25519 PRIVATE KEY` label relabelled). */
export function tlsKey(c: CertAndKey): string {
  return keyPemForTls(c.key);
}
