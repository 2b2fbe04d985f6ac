/**
 * Subject names built the way Go's crypto/x509 (pkix.Name.ToRDNSequence) builds them, so that our
 * certificates look like the ones Talos issues: one RDN holding every Organization value (a DER SET,
 * sorted), then one RDN with the CommonName; PrintableString where possible, UTF8String otherwise.
 */
import { x509 } from './x509lib.js';

const PRINTABLE_RE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** DER length octets. */
function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  while (n > 0) {
    out.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return [0x80 | out.length, ...out];
}

/** DER of AttributeTypeAndValue for id-at-organizationName (2.5.4.10) with the string type Go picks. */
function organizationAttributeDer(value: string): Buffer {
  const tag = PRINTABLE_RE.test(value) ? 0x13 : 0x0c;
  const bytes = Buffer.from(value, 'utf8');
  const inner = Buffer.concat([Buffer.from([0x06, 0x03, 0x55, 0x04, 0x0a, tag, ...derLength(bytes.length)]), bytes]);
  return Buffer.concat([Buffer.from([0x30, ...derLength(inner.length)]), inner]);
}

/** DER requires the members of a SET OF in ascending order of their encodings. */
export function sortForDerSet(organizations: readonly string[]): string[] {
  return [...organizations].sort((a, b) => Buffer.compare(organizationAttributeDer(a), organizationAttributeDer(b)));
}

export function buildName(opts: {
  commonName?: string | undefined;
  organizations?: readonly string[] | undefined;
}): x509.Name {
  const json: x509.JsonName = [];
  if (opts.organizations && opts.organizations.length > 0) json.push({ O: sortForDerSet(opts.organizations) });
  if (opts.commonName) json.push({ CN: [opts.commonName] });
  return new x509.Name(json);
}
