/**
 * A one-line description of a certificate value as machine configs hold it (Talos's base64 of PEM, or PEM),
 * for people reading a plan: fingerprint, subject, not-after. Never describes anything holding a key.
 */
import { parseSingleCertificate } from './certificate.js';
import { decodeTalosBase64Pem } from './pem.js';
import type { Fingerprint } from '../domain/types.js';
import { BoundedMap } from '../util/bounded-map.js';

export interface CertificateSummary {
  fingerprint: Fingerprint;
  /** RFC 4514-style, e.g. `O=talos`. */
  subject: string;
  /** ISO 8601, seconds precision, UTC. */
  notAfter: string;
}

/** Summaries by value: a plan's diffs show the same few certificates on every node (bounded, oldest out). */
const summaryMemo = new BoundedMap<string, Readonly<CertificateSummary> | null>(256);

/** The summary of `value` when it is exactly one certificate (base64 of PEM, or PEM); null otherwise. */
export function summarizeCertificateValue(value: string): CertificateSummary | null {
  const hit = summaryMemo.get(value);
  if (hit !== undefined) return hit === null ? null : { ...hit };
  const summary = summarizeOnce(value);
  summaryMemo.set(value, summary === null ? null : Object.freeze({ ...summary }));
  return summary;
}

function summarizeOnce(value: string): CertificateSummary | null {
  try {
    const pem = value.includes('-----BEGIN') ? value : decodeTalosBase64Pem(value, 'value');
    if (pem.includes('PRIVATE KEY')) return null;
    const cert = parseSingleCertificate(pem, 'value');
    return {
      fingerprint: cert.fingerprint,
      subject: cert.peculiar.subject,
      notAfter: cert.peculiar.notAfter.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
  } catch {
    return null;
  }
}
