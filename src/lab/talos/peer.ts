/**
 * What apid reads from a verified client certificate: the roles (subject Organization values,
 * pkg/grpc/middleware/authz/injector.go) and whether its EKU, as Go reads it, is exactly [ClientAuth]
 * (internal/app/apid/service.go verifyExtKeyUsage, since v1.3.0).
 */
import type { PeerCertificate } from 'node:tls';
import { x509 } from '../../pki/x509lib.js';
import { BoundedMap } from '../../util/bounded-map.js';

export const ROLE_ADMIN = 'os:admin';
export const ROLE_IMPERSONATOR = 'os:impersonator';
/** pkg/machinery/role/role.go: roles Talos knows; others in a certificate are ignored. */
export const KNOWN_ROLES = new Set([
  'os:admin',
  'os:operator',
  'os:reader',
  'os:etcd:backup',
  'os:image:verifier',
  'os:meta:writer',
  ROLE_IMPERSONATOR,
]);

const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
/**
 * The extended key usages Go's crypto/x509 knows (x509.go extKeyUsageOIDs): only these land in
 * `cert.ExtKeyUsage`, which apid compares with [ClientAuth]; any other OID goes to `UnknownExtKeyUsage` and
 * is not looked at, so [ClientAuth, some private OID] passes.
 */
const GO_KNOWN_EKUS = new Set([
  '2.5.29.37.0',
  '1.3.6.1.5.5.7.3.1',
  EKU_CLIENT_AUTH,
  '1.3.6.1.5.5.7.3.3',
  '1.3.6.1.5.5.7.3.4',
  '1.3.6.1.5.5.7.3.5',
  '1.3.6.1.5.5.7.3.6',
  '1.3.6.1.5.5.7.3.7',
  '1.3.6.1.5.5.7.3.8',
  '1.3.6.1.5.5.7.3.9',
  '1.3.6.1.4.1.311.10.3.3',
  '2.16.840.1.113730.4.1',
  '1.3.6.1.4.1.311.2.1.22',
  '1.3.6.1.4.1.311.61.1.1',
]);

export interface PeerIdentity {
  roles: Set<string>;
  /** EKU exactly [ClientAuth] (CA certificates are skipped by Talos; a CA as client leaf passes). */
  clientAuthOnly: boolean;
  subject: string;
}

const cache = new BoundedMap<string, PeerIdentity>(1024);

/** The identity in a verified client certificate (cached by fingerprint: the same few certificates come back). */
export function peerIdentity(
  cert: Pick<PeerCertificate, 'fingerprint256' | 'raw' | 'ca' | 'ext_key_usage'>,
): PeerIdentity {
  const fp = cert.fingerprint256;
  const hit = cache.get(fp);
  if (hit) return hit;
  const peculiar = new x509.X509Certificate(new Uint8Array(cert.raw));
  const orgs = peculiar.subjectName.getField('O');
  const eku = (cert.ext_key_usage ?? []).filter((oid) => GO_KNOWN_EKUS.has(oid));
  const identity: PeerIdentity = {
    roles: new Set(orgs.filter((o) => KNOWN_ROLES.has(o))),
    clientAuthOnly: cert.ca || (eku.length === 1 && eku[0] === EKU_CLIENT_AUTH),
    subject: peculiar.subject,
  };
  return cache.set(fp, identity);
}

/** Role strings parsed from `talos-role` metadata (unknown ones dropped, as role.Parse does). */
export function parseRoles(values: readonly string[]): Set<string> {
  return new Set(
    values
      .flatMap((v) => v.split(','))
      .map((v) => v.trim())
      .filter((v) => KNOWN_ROLES.has(v)),
  );
}
