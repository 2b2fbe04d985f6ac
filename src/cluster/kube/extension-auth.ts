/**
 * The `extension-apiserver-authentication` ConfigMap (kube-system; talos-behaviour.md §4.5, plan/model
 * ExtensionAuthStep): the pure bundle computation, the write (optimistic concurrency, retried on conflict, never a
 * delete) and the gate that checks no apiserver writes a removed CA back. Read and written with @kubernetes/client-node
 * from an admin kubeconfig; TLS verification stays on.
 */
import { X509Certificate } from 'node:crypto';
import { RotateError } from '../../domain/errors.js';
import type { Fingerprint } from '../../domain/types.js';
import { encodePem, fingerprintOfDer, splitPemBlocks } from '../../pki/index.js';
import { coreApi, kubeError, withTimeout, type KubeconfigSource } from './nodes.js';

export const EXTENSION_AUTH_NAMESPACE = 'kube-system';
export const EXTENSION_AUTH_NAME = 'extension-apiserver-authentication';
export const CLIENT_CA_KEY = 'client-ca-file';
/** Kubernetes drops a certificate from the ConfigMap once NotAfter is more than five minutes past. */
const EXPIRY_SLACK_MS = 5 * 60_000;

export interface BundleCert {
  fingerprint: Fingerprint;
  der: Uint8Array;
  notAfter: Date;
}

/** The certificates of a PEM bundle (CERTIFICATE blocks), in order; text that is not PEM holds none. */
export function bundleCertificates(pem: string | undefined): { fingerprint: Fingerprint; der: Uint8Array }[] {
  if (!pem) return [];
  return splitPemBlocks(pem)
    .filter((b) => b.label === 'CERTIFICATE')
    .map((b) => ({ fingerprint: fingerprintOfDer(b.der), der: b.der }));
}

/** The certificates of CA PEMs (each may hold several blocks) with their expiry. */
export function bundleCertsFromPems(pems: readonly string[]): BundleCert[] {
  return pems.flatMap((pem) =>
    bundleCertificates(pem).map((c) => ({ ...c, notAfter: new Date(new X509Certificate(c.der).validTo) })),
  );
}

export interface ClientCaReplacement {
  /** The ConfigMap data to write: `client-ca-file` replaced, every other key as it was. */
  data: Record<string, string>;
  /** Certificates the ConfigMap held that the write removes. */
  removed: Fingerprint[];
  /** False when `client-ca-file` already holds exactly these certificates (nothing to write). */
  changed: boolean;
}

/**
 * Pure: `client-ca-file` becomes exactly `trusted` (the Kubernetes CAs every apiserver trusts), as canonical
 * PEM (the form kube-apiserver writes, so its next sync finds nothing to change); every other key is kept.
 * A trusted certificate that Kubernetes would already drop as expired is left out. Refuses to write an
 * empty bundle (consumers would then trust no client certificate at all).
 */
export function replaceClientCa(
  data: Readonly<Record<string, string>>,
  trusted: readonly BundleCert[],
  now: Date,
): ClientCaReplacement {
  const cutoff = now.getTime() - EXPIRY_SLACK_MS;
  const keep: BundleCert[] = [];
  for (const c of trusted)
    if (c.notAfter.getTime() > cutoff && !keep.some((k) => k.fingerprint === c.fingerprint)) keep.push(c);
  if (keep.length === 0) {
    throw new RotateError(
      'EXTAUTH_EMPTY_BUNDLE',
      `${EXTENSION_AUTH_NAMESPACE}/${EXTENSION_AUTH_NAME}: no valid Kubernetes CA to write into ${CLIENT_CA_KEY}`,
      {
        hint: 'the desired Kubernetes CAs have expired; add a valid CA to the desired state',
      },
    );
  }
  const held = bundleCertificates(data[CLIENT_CA_KEY]);
  const wanted = new Set(keep.map((c) => c.fingerprint));
  const removed = [...new Set(held.map((c) => c.fingerprint).filter((fp) => !wanted.has(fp)))];
  const text = keep.map((c) => encodePem('CERTIFICATE', c.der)).join('');
  const changed = data[CLIENT_CA_KEY] !== text;
  return { data: { ...data, [CLIENT_CA_KEY]: text }, removed, changed };
}

export interface ConfigMapRead {
  data: Record<string, string>;
  resourceVersion: string;
  uid: string;
}

const what = `ConfigMap ${EXTENSION_AUTH_NAMESPACE}/${EXTENSION_AUTH_NAME}`;
const statusOf = (err: unknown): number | undefined => {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
};

/** The ConfigMap, or null when it does not exist. */
export async function readExtensionAuth(source: KubeconfigSource, timeoutMs = 15_000): Promise<ConfigMapRead | null> {
  const { api, server } = await coreApi(source);
  try {
    const cm = await withTimeout(
      api.readNamespacedConfigMap({ name: EXTENSION_AUTH_NAME, namespace: EXTENSION_AUTH_NAMESPACE }),
      timeoutMs,
      `reading ${what} at ${server}`,
    );
    return {
      data: { ...(cm.data ?? {}) },
      resourceVersion: cm.metadata?.resourceVersion ?? '',
      uid: cm.metadata?.uid ?? '',
    };
  } catch (err) {
    if (statusOf(err) === 404) return null;
    throw kubeError(err, server, source.origin, `reading ${what}`);
  }
}

export interface ReplaceOutcome {
  /** The ConfigMap did not exist: nothing written (each apiserver creates it with what it trusts). */
  absent: boolean;
  written: boolean;
  removed: Fingerprint[];
  /** Writes refused with 409 Conflict (another writer in between) and retried. */
  conflicts: number;
  resourceVersion: string | null;
  uid: string | null;
}

/**
 * Read, replace `client-ca-file`, write with the read resourceVersion (a PUT: other keys as read, never a
 * delete); on 409 Conflict read again and recompute, up to `attempts` times.
 */
export async function replaceExtensionAuthClientCa(
  source: KubeconfigSource,
  trusted: readonly BundleCert[],
  opts: { now?: () => Date; attempts?: number; timeoutMs?: number } = {},
): Promise<ReplaceOutcome> {
  const attempts = opts.attempts ?? 8;
  const now = opts.now ?? (() => new Date());
  let conflicts = 0;
  for (let attempt = 1; ; attempt++) {
    const current = await readExtensionAuth(source, opts.timeoutMs);
    if (!current) return { absent: true, written: false, removed: [], conflicts, resourceVersion: null, uid: null };
    const next = replaceClientCa(current.data, trusted, now());
    if (!next.changed)
      return {
        absent: false,
        written: false,
        removed: next.removed,
        conflicts,
        resourceVersion: current.resourceVersion,
        uid: current.uid,
      };
    const { api, server } = await coreApi(source);
    try {
      const written = await withTimeout(
        api.replaceNamespacedConfigMap({
          name: EXTENSION_AUTH_NAME,
          namespace: EXTENSION_AUTH_NAMESPACE,
          body: {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: {
              name: EXTENSION_AUTH_NAME,
              namespace: EXTENSION_AUTH_NAMESPACE,
              resourceVersion: current.resourceVersion,
            },
            data: next.data,
          },
        }),
        opts.timeoutMs ?? 15_000,
        `writing ${what} at ${server}`,
      );
      return {
        absent: false,
        written: true,
        removed: next.removed,
        conflicts,
        resourceVersion: written.metadata?.resourceVersion ?? null,
        uid: written.metadata?.uid ?? current.uid,
      };
    } catch (err) {
      const status = statusOf(err);
      if (status === 409 && attempt < attempts) {
        conflicts += 1;
        continue;
      }
      if (status === 409) {
        throw new RotateError(
          'EXTAUTH_CONFLICT',
          `${what}: ${attempts} writes in a row met a newer version (409 Conflict)`,
          {
            hint: 'another writer keeps changing it; run `rotate apply` again to resume',
            source: 'cluster',
          },
        );
      }
      throw kubeError(err, server, source.origin, `writing ${what}`);
    }
  }
}

export interface ExtensionAuthGateOptions {
  /** How long to watch after the write before passing (at least one apiserver re-sync). */
  settleMs: number;
  /** Pause between reads while watching. */
  tickMs?: number;
  onAttempt?: (attempt: number, problem: string) => void;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * The gate: reads the ConfigMap until `settleMs` passed since it started (and once more at the end), and
 * fails as soon as it holds one of `removed` again (an apiserver still trusts it and wrote it back) or is
 * gone (nothing of ours deletes it; a deleted one loses every consumer's trust until an apiserver re-creates
 * it). Transient read errors are retried inside the window.
 */
export async function extensionAuthGate(
  source: () => Promise<KubeconfigSource>,
  removed: readonly Fingerprint[],
  opts: ExtensionAuthGateOptions,
): Promise<void> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = Date.now() + opts.settleMs;
  const gone = new Set(removed);
  for (let attempt = 1; ; attempt++) {
    const last = Date.now() >= deadline;
    try {
      const cm = await readExtensionAuth(await source());
      if (!cm) {
        throw new RotateError('GATE_EXTENSION_AUTH_FAILED', `${what} no longer exists`, {
          hint:
            'something deleted it; every kube-apiserver re-creates it with the CAs it trusts within a minute: ' +
            'check it with `kubectl -n kube-system get cm extension-apiserver-authentication`, ' +
            'then run `rotate apply` again',
          source: 'cluster',
        });
      }
      const back = bundleCertificates(cm.data[CLIENT_CA_KEY]).filter((c) => gone.has(c.fingerprint));
      if (back.length > 0) {
        throw new RotateError(
          'GATE_EXTENSION_AUTH_FAILED',
          `${what}: ${CLIENT_CA_KEY} holds the dropped Kubernetes ` +
            `CA ${back.map((c) => c.fingerprint.slice(0, 16)).join(', ')} again: a kube-apiserver still trusts it ` +
            'and wrote it back',
          {
            hint:
              'check that every control plane runs kube-apiserver from its new config ' +
              '(`kubectl -n kube-system get pods -l component=kube-apiserver`, ' +
              'the talos.dev/secrets-version annotation), then run `rotate apply` again',
            source: 'cluster',
          },
        );
      }
      if (last) return;
    } catch (err) {
      if (RotateError.is(err) && err.code === 'GATE_EXTENSION_AUTH_FAILED') throw err;
      if (last) {
        throw new RotateError(
          'GATE_EXTENSION_AUTH_FAILED',
          `${what} could not be read: ${RotateError.is(err) ? err.message : String(err)}`,
          {
            hint: 'check that the Kubernetes API answers; then run `rotate apply` again',
            source: 'cluster',
          },
        );
      }
      opts.onAttempt?.(attempt, RotateError.is(err) ? err.message : String(err));
    }
    await sleep(Math.max(0, Math.min(opts.tickMs ?? 1_000, deadline - Date.now())));
  }
}
