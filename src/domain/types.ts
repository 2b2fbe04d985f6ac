/**
 * Domain vocabulary shared by every layer. Kept free of I/O imports so that the pure planner and the
 * safety model can depend on it.
 */

/** Lowercase hex SHA-256 of a certificate's DER encoding: the identity of a CA everywhere in the tool. */
export type Fingerprint = string & { readonly __brand: 'Fingerprint' };

const FINGERPRINT_RE = /^[0-9a-f]{64}$/;

export function asFingerprint(value: string): Fingerprint {
  const v = value.toLowerCase();
  if (!FINGERPRINT_RE.test(v)) throw new TypeError(`not a SHA-256 fingerprint: ${JSON.stringify(value)}`);
  return v as Fingerprint;
}

export function isFingerprint(value: unknown): value is Fingerprint {
  return typeof value === 'string' && FINGERPRINT_RE.test(value);
}

/** Short form for human output (first 16 hex digits), never used as an identity. */
export function shortFingerprint(fp: Fingerprint): string {
  return fp.slice(0, 16);
}

/** The two PKIs the tool rotates. */
export type ApiKind = 'talos' | 'kubernetes';
export const API_KINDS: readonly ApiKind[] = ['talos', 'kubernetes'];

/**
 * Role of a node as its machine config states it. Talos's legacy `init` type behaves as a control plane
 * for everything the CA rotation touches, so it is folded into `controlplane` where trust is concerned.
 */
export type NodeRole = 'controlplane' | 'worker';

/** Where the Kubernetes API CA lives in a node's machine config (talos-behaviour.md §2.3, §6.1). */
export type KubernetesCaStyle = 'legacy' | 'document';

/** A node address as the operator and the Talos API see it (IP or DNS name, no port). */
export type NodeAddress = string & { readonly __brand: 'NodeAddress' };

export function asNodeAddress(value: string): NodeAddress {
  return value as NodeAddress;
}
