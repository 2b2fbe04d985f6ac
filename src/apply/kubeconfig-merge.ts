/**
 * The admin kubeconfig a run fetched (Talos's `Kubeconfig` API: one cluster, one user, one context) merged
 * into the operator's kubeconfig file the way the talosconfig is updated: entries of other clusters,
 * users and contexts are kept, entries with the fetched names are replaced, the current context becomes
 * the fetched one (as `talosctl kubeconfig --force` merges: Talos cmd/talosctl/cmd/talos/kubeconfig.go,
 * `MergeOptions{ActivateContext: true}`, same-named entries overwritten rather than renamed, since they
 * are this cluster's own admin entries). Pure.
 *
 * Talos mints a new client certificate on every `Kubeconfig` call, so "changed" ignores the client
 * credentials as long as the file's certificate is still valid and signed by the CA that signed the new
 * one: the file is rewritten only when what it trusts, where it points or who signs its client changes.
 */
import { isDeepStrictEqual } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { bundleBlocks, encodePem, isSignedBy, verifiesAgainst } from '../pki/index.js';

interface Named {
  name: string;
  [k: string]: unknown;
}

interface KubeconfigDoc {
  [k: string]: unknown;
  clusters?: Named[];
  users?: Named[];
  contexts?: Named[];
  'current-context'?: string;
}

function asDoc(text: string): KubeconfigDoc | null {
  try {
    const doc = parseYaml(text) as unknown;
    return doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc as KubeconfigDoc) : null;
  } catch {
    return null;
  }
}

function list(doc: KubeconfigDoc, key: 'clusters' | 'users' | 'contexts'): Named[] {
  const v = doc[key];
  return Array.isArray(v)
    ? v.filter((e): e is Named => e !== null && typeof e === 'object' && typeof (e as Named).name === 'string')
    : [];
}

function mergeList(existing: Named[], fetched: Named[]): Named[] {
  const out = existing.map((e) => fetched.find((f) => f.name === e.name) ?? e);
  for (const f of fetched) if (!existing.some((e) => e.name === f.name)) out.push(f);
  return out;
}

function decode(b64: unknown): string | null {
  return typeof b64 === 'string' ? Buffer.from(b64, 'base64').toString('utf8') : null;
}

/** The fetched user's client still counts as the file's when its certificate is valid and from the same CA. */
function sameClient(existing: Named, fetched: Named, caData: unknown, now: Date): boolean {
  const e = (existing.user ?? {}) as Record<string, unknown>;
  const f = (fetched.user ?? {}) as Record<string, unknown>;
  const strip = (u: Record<string, unknown>) => {
    const { 'client-certificate-data': _c, 'client-key-data': _k, ...rest } = u;
    return rest;
  };
  if (!isDeepStrictEqual(strip(e), strip(f)) || typeof e['client-key-data'] !== 'string') return false;
  const oldCert = decode(e['client-certificate-data']);
  const newCert = decode(f['client-certificate-data']);
  const bundle = decode(caData);
  if (!oldCert || !newCert || !bundle) return false;
  for (const block of bundleBlocks(bundle).filter((b) => b.label === 'CERTIFICATE')) {
    const caPem = encodePem('CERTIFICATE', block.der);
    if (isSignedBy(newCert, caPem)) return verifiesAgainst(oldCert, [caPem], { now });
  }
  return false;
}

export interface MergedKubeconfig {
  text: string;
  /** False when the file already says what the fetched kubeconfig says: nothing needs writing. */
  changed: boolean;
}

export function mergeKubeconfig(
  existingText: string | null,
  fetchedText: string,
  now: Date = new Date(),
): MergedKubeconfig {
  const fetched = asDoc(fetchedText);
  const existing = existingText === null ? null : asDoc(existingText);
  // Nothing to merge into (no file, or not a kubeconfig): the fetched one as it came.
  if (!fetched || !existing || (existingText !== null && existingText.trim() === '')) {
    return { text: fetchedText, changed: existingText !== fetchedText };
  }
  const merged: KubeconfigDoc = { ...existing };
  for (const key of ['clusters', 'users', 'contexts'] as const)
    merged[key] = mergeList(list(existing, key), list(fetched, key));
  for (const [k, v] of Object.entries(fetched)) if (!(k in merged)) merged[k] = v;
  if (typeof fetched['current-context'] === 'string') merged['current-context'] = fetched['current-context'];

  let changed = merged['current-context'] !== existing['current-context'];
  for (const key of ['clusters', 'contexts'] as const) {
    for (const f of list(fetched, key))
      if (
        !isDeepStrictEqual(
          list(existing, key).find((e) => e.name === f.name),
          f,
        )
      )
        changed = true;
  }
  const fetchedContext = list(fetched, 'contexts').find((c) => c.name === fetched['current-context']);
  const clusterName = (fetchedContext?.context as Record<string, unknown> | undefined)?.cluster;
  const caData = (
    list(fetched, 'clusters').find((c) => c.name === clusterName)?.cluster as Record<string, unknown> | undefined
  )?.['certificate-authority-data'];
  for (const f of list(fetched, 'users')) {
    const e = list(existing, 'users').find((u) => u.name === f.name);
    if (!e || !sameClient(e, f, caData, now)) changed = true;
  }
  return { text: changed ? stringifyYaml(merged) : existingText!, changed };
}
