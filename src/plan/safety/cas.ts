/**
 * CA identities as small integers so that trust sets are bit masks: every edge check is a few integer
 * operations, which keeps a 200-node plan in milliseconds. A plan rarely sees more than four CAs per API.
 */
import { RotateError } from '../../domain/errors.js';
import { shortFingerprint, type Fingerprint } from '../../domain/types.js';

/** "No CA" (a worker without an issuing CA, a kubelet without a certificate). */
export const NO_CA = -1;
export const MAX_CAS = 30;

export class CaIndex {
  readonly #ids = new Map<string, number>();
  readonly #fps: Fingerprint[] = [];
  readonly #names = new Map<string, string>();

  id(fp: Fingerprint): number {
    let id = this.#ids.get(fp);
    if (id === undefined) {
      id = this.#fps.length;
      if (id >= MAX_CAS) {
        throw new RotateError(
          'PLAN_TOO_MANY_CAS',
          `the plan input names more than ${MAX_CAS} distinct CA certificates`,
          {
            hint: 'drop stale accepted CAs from the node configs by hand, or plan one API at a time',
          },
        );
      }
      this.#ids.set(fp, id);
      this.#fps.push(fp);
    }
    return id;
  }

  idOrNone(fp: Fingerprint | null): number {
    return fp === null ? NO_CA : this.id(fp);
  }

  mask(fps: Iterable<Fingerprint | null>): number {
    let m = 0;
    for (const fp of fps) if (fp !== null) m |= 1 << this.id(fp);
    return m;
  }

  fingerprint(id: number): Fingerprint | null {
    return id >= 0 ? (this.#fps[id] ?? null) : null;
  }

  fingerprints(mask: number): Fingerprint[] {
    return this.#fps.filter((_, i) => (mask & (1 << i)) !== 0);
  }

  setName(fp: Fingerprint, name: string): void {
    this.#names.set(fp, name);
  }

  /** `name (0123456789abcdef)` or the short fingerprint alone. */
  describe(id: number): string {
    const fp = this.fingerprint(id);
    if (fp === null) return 'no CA';
    const name = this.#names.get(fp);
    return name ? `${name} (${shortFingerprint(fp)})` : shortFingerprint(fp);
  }

  describeMask(mask: number): string {
    const ids = bitsOf(mask);
    return ids.length === 0 ? '{}' : `{${ids.map((i) => this.describe(i)).join(', ')}}`;
  }
}

export function bit(id: number): number {
  return id < 0 ? 0 : 1 << id;
}

export function has(mask: number, id: number): boolean {
  return id >= 0 && (mask & (1 << id)) !== 0;
}

export function bitsOf(mask: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < MAX_CAS; i++) if ((mask & (1 << i)) !== 0) out.push(i);
  return out;
}
