/**
 * Talos version tags and the first release that can take part in a declarative rotation: accepted CAs
 * (`.machine.acceptedCAs`, `.cluster.acceptedCAs`) and rotate-ca arrived in v1.7.0 (talos-behaviour.md §1.2).
 */
export const MIN_TALOS_VERSION = { major: 1, minor: 7, patch: 0 } as const;

export interface ParsedTag {
  major: number;
  minor: number;
  patch: number;
}

/** `v1.13.9`, `v1.14.0-rc.1`, `v1.12.3-12-gabcdef` → numbers; null when it is not a release tag. */
export function parseTalosTag(tag: string): ParsedTag | null {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(tag.trim());
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) };
}

export function supportsAcceptedCas(tag: string): boolean {
  const v = parseTalosTag(tag);
  if (!v) return false;
  const min = MIN_TALOS_VERSION;
  if (v.major !== min.major) return v.major > min.major;
  if (v.minor !== min.minor) return v.minor > min.minor;
  return v.patch >= min.patch;
}
