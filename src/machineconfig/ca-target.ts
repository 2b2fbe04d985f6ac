/**
 * What a machine config's CA fields must hold after a change: the target computed from the request and the
 * fields as they are (which accepted entries stay byte for byte, which are rebuilt, which key is written),
 * before any text is edited (ca-patch.ts edits the text to it).
 */

import { RotateError } from '../domain/errors.js';
import type { Secret } from '../domain/secret.js';
import { type Fingerprint, type NodeRole } from '../domain/types.js';
import { assertKeyMatches } from '../pki/index.js';
import { ensureTrailingNewline, readCertField, readKeyField } from './ca-pem.js';
import { type CaSite, type SiteContents } from './ca-sites.js';
import { mcError } from './errors.js';

/** The desired CAs of one API on one node. */
export interface CaWrite {
  /**
   * The issuing CA. On control planes `key` is required unless the certificate is the one already
   * issuing and its key is in the config. Workers never get a key: one passed here is ignored.
   */
  issuing: { certPem: string; key?: Secret } | null;
  /** Accepted CA certificates (PEM). Deduplicated by fingerprint; the issuing CA is not repeated. */
  accepted: string[];
}

export interface CaChange {
  talos?: CaWrite;
  kubernetes?: CaWrite;
}

interface TargetCa {
  certPem: string;
  fingerprint: Fingerprint;
}

type KeyTarget = { kind: 'key'; pem: string } | { kind: 'empty' };

/** One acceptedCAs item to write; it may hold several certificates (talos-behaviour.md §5.2). */
export interface AcceptedTarget {
  /** Index of the current entry it comes from, or null if new. */
  from: number | null;
  /**
   * Render it from `certs` (some of its blocks are dropped, or its text lacks a final newline and is
   * repaired); false keeps the source text of entry `from` byte for byte.
   */
  rewrite: boolean;
  certs: TargetCa[];
}

export interface Target {
  issuing: (TargetCa & { key: KeyTarget }) | null;
  accepted: AcceptedTarget[];
}

export const acceptedFingerprints = (entries: readonly AcceptedTarget[]): Fingerprint[] =>
  entries.flatMap((e) => e.certs.map((c) => c.fingerprint));
/** Every block ends with "\n": Talos joins entries with no separator (talos-behaviour.md §5.1). */
export const entryPem = (e: AcceptedTarget): string => e.certs.map((c) => ensureTrailingNewline(c.certPem)).join('');

export function planTarget(
  site: CaSite,
  contents: SiteContents,
  write: CaWrite,
  role: NodeRole,
  source: string | undefined,
): Target {
  const issuingPath = `${site.path}.${site.issuingKey}`;
  let issuing: Target['issuing'] = null;
  if (write.issuing) {
    const cert = readCertField(write.issuing.certPem, 'pem', `new ${issuingPath}.${site.certField}`, source);
    let key: KeyTarget = { kind: 'empty' };
    if (role === 'controlplane') {
      let secret: Secret | null = write.issuing.key ?? null;
      if (!secret && contents.issuing?.fingerprint === cert.fingerprint) secret = contents.issuingKey;
      const pem = secret ? readKeyField(secret.reveal(), 'pem', `new ${issuingPath}.key`, source) : null;
      if (!pem) {
        throw mcError(
          'MC_KEY_REQUIRED',
          source,
          `a control plane needs the private key of its issuing CA (${issuingPath}.key), and none was given`,
          'pass the CA key along with the certificate; control planes sign with it',
        );
      }
      if (write.issuing.key) assertKeyFitsCert(cert.certPem, pem, issuingPath, source);
      key = { kind: 'key', pem: pem.reveal() };
    }
    issuing = { ...cert, key };
  } else if (role === 'controlplane') {
    throw mcError(
      'MC_ISSUING_REQUIRED',
      source,
      `a control plane must keep an issuing CA (${issuingPath})`,
      'Talos rejects control-plane configs without an issuing CA and key; pass one',
    );
  }

  const wanted: TargetCa[] = [];
  const seen = new Set<Fingerprint>();
  write.accepted.forEach((pem, i) => {
    const ca = readCertField(pem, 'pem', `new ${site.path}.acceptedCAs entry ${i}`, source);
    if (!seen.has(ca.fingerprint)) {
      seen.add(ca.fingerprint);
      wanted.push(ca);
    }
  });
  // The issuing CA is never repeated among the accepted ones, except where it *is* the list head.
  if (issuing) seen.delete(issuing.fingerprint);

  // Existing entries keep their place and the blocks that stay, in their order; an entry that loses a block
  // is rewritten with the rest, one that loses all goes, one lacking its final newline is repaired. New CAs
  // are appended one per entry.
  const accepted: AcceptedTarget[] = [];
  const taken = new Set<Fingerprint>();
  contents.entries.forEach((entry, i) => {
    const kept: TargetCa[] = [];
    for (const ca of entry.certs) {
      if (seen.has(ca.fingerprint) && !taken.has(ca.fingerprint)) {
        taken.add(ca.fingerprint);
        kept.push({ certPem: ca.certPem, fingerprint: ca.fingerprint });
      }
    }
    if (kept.length > 0)
      accepted.push({ from: i, rewrite: kept.length !== entry.certs.length || !entry.terminated, certs: kept });
  });
  for (const ca of wanted) {
    if (seen.has(ca.fingerprint) && !taken.has(ca.fingerprint)) {
      taken.add(ca.fingerprint);
      accepted.push({ from: null, rewrite: true, certs: [ca] });
    }
  }

  let target: Target = { issuing, accepted };
  if (site.issuingInAccepted) {
    // Document-style worker: no issuingCA; the current CA is position 0 of acceptedCAs (rotatepatcher).
    if (issuing) {
      const fp = issuing.fingerprint;
      const from = contents.entries.findIndex((e) => e.certs.some((ca) => ca.fingerprint === fp));
      const alone = from >= 0 && contents.entries[from]!.certs.length === 1;
      const keep = alone && contents.entries[from]!.terminated;
      accepted.unshift({
        from: alone ? from : null,
        rewrite: !keep,
        certs: [{ certPem: issuing.certPem, fingerprint: fp }],
      });
    }
    target = { issuing: null, accepted };
  }
  if (!target.issuing && target.accepted.length === 0) {
    // Talos: "issuing CA or some accepted CAs are required"; a node trusting nothing cannot be reached.
    throw mcError(
      'MC_NO_TRUSTED_CA',
      source,
      `the change would leave ${site.path} without any CA (no issuing and no accepted CA)`,
      'keep at least the CA the node currently trusts',
    );
  }
  return target;
}

/** A control plane signs with this key: writing one that does not belong to the certificate breaks apid/trustd. */
function assertKeyFitsCert(certPem: string, key: Secret, what: string, source: string | undefined): void {
  try {
    assertKeyMatches(certPem, key, what);
  } catch (err) {
    if (!RotateError.is(err)) throw err;
    throw mcError(
      'MC_BAD_CA',
      source,
      `the key given for ${what} does not belong to the certificate given with it`,
      'pass the key that was generated with this CA certificate',
    );
  }
}
