/**
 * The `extension-apiserver-authentication` ConfigMap (kube-system) and the controller every kube-apiserver
 * runs to keep it (talos-behaviour.md §4.5), as Kubernetes writes it:
 * `pkg/controlplane/controller/clusterauthenticationtrust/cluster_authentication_trust_controller.go`
 * (read at kubernetes/kubernetes master; Talos v1.14 ships 1.37).
 *
 * - What it writes (`getConfigMapDataFor`): `client-ca-file` when the combined client CAs are not empty;
 *   when the combined request-header CAs are not empty, also `requestheader-client-ca-file` and, as JSON
 *   string lists, `requestheader-username-headers`, `-uid-headers`, `-group-headers`,
 *   `-extra-headers-prefix`, `-allowed-names`. The data is built afresh: any other key is dropped.
 * - The rule (`combinedClusterAuthenticationInfo`): the union of what the ConfigMap holds (first) and the
 *   apiserver's own values (then), string lists without duplicates; certificates parsed with client-go's
 *   `cert.ParseCertsPEM` (a CERTIFICATE block that does not parse fails the whole sync), those whose NotAfter is
 *   not after now − 5 minutes removed (`filterExpiredCerts`, the ONLY removal), duplicates (same DER) removed,
 *   re-encoded as canonical PEM. So a CA the apiserver stopped trusting stays until it expires.
 * - When (`Run`): at start, then every minute (`PollImmediateUntil(1*time.Minute)`), and on every add, update
 *   or delete of that ConfigMap its informer sees. It writes only when the data differs; with `Update` from
 *   its informer's copy (resourceVersion: a conflict is an error, retried with rate-limited backoff), and
 *   `Create` when the ConfigMap is missing (so a deleted one comes back at once).
 * - So another writer's change triggers a sync: anything the writer removed that this apiserver still has is
 *   written back; what it removed that no apiserver has stays removed.
 *
 * The apiserver's own values come from its flags, which Talos sets (v1.14 `internal/app/machined/pkg/
 * controllers/k8s/control_plane_final.go`): `--client-ca-file` = the Kubernetes CA bundle (issuing + accepted,
 * `ca.crt`), `--requestheader-client-ca-file` = `aggregator-ca.crt` (aggregator issuing + accepted,
 * `render_secrets_static_pod.go`), `--requestheader-allowed-names=front-proxy-client`,
 * `--requestheader-extra-headers-prefix=X-Remote-Extra-`, `--requestheader-group-headers=X-Remote-Group`,
 * `--requestheader-username-headers=X-Remote-User` (no uid headers flag: `[]`). The lab's controller runs
 * while its apiserver listens, with the bundles that apiserver started with.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { certificatePem, goCertificateBlocks, goJoin } from '../core/go-pem.js';
import { configDocuments, readConfigCas } from '../core/roots.js';
import type { ConfigMapStore, ConfigMapView } from './root-ca-publisher.js';

export const EXT_AUTH_NAMESPACE = 'kube-system';
export const EXT_AUTH_CONFIGMAP = 'extension-apiserver-authentication';
/** `filterExpiredCerts`: five minutes of slack for NotAfter. */
export const EXPIRY_SLACK_MS = 5 * 60_000;
/** The real resync period (one minute); the lab's default is shorter (LabTimings.extensionAuthResyncMs). */
export const REAL_RESYNC_MS = 60_000;
export const DEFAULT_LAB_RESYNC_MS = 5_000;
/** How long the lab's informer takes to deliver an event to the controller. */
const INFORMER_DELAY_MS = 20;
/** First retry after a failed sync (the workqueue's rate limiter starts at 5 ms and doubles; capped here). */
const RETRY_MS = 50;
const RETRY_MAX_MS = 2_000;

export const KEYS = {
  clientCa: 'client-ca-file',
  requestHeaderCa: 'requestheader-client-ca-file',
  usernameHeaders: 'requestheader-username-headers',
  uidHeaders: 'requestheader-uid-headers',
  groupHeaders: 'requestheader-group-headers',
  extraHeaderPrefixes: 'requestheader-extra-headers-prefix',
  allowedNames: 'requestheader-allowed-names',
} as const;

/** One apiserver's authentication settings, as its flags give them. */
export interface OwnAuthentication {
  /** `--client-ca-file` content. */
  clientCaPem: string;
  /** `--requestheader-client-ca-file` content ('' when not set). */
  requestHeaderCaPem: string;
  usernameHeaders: string[];
  uidHeaders: string[];
  groupHeaders: string[];
  extraHeaderPrefixes: string[];
  allowedNames: string[];
}

/** The request-header flags Talos passes to kube-apiserver (control_plane_final.go). */
export const TALOS_REQUEST_HEADER_FLAGS = {
  usernameHeaders: ['X-Remote-User'],
  uidHeaders: [] as string[],
  groupHeaders: ['X-Remote-Group'],
  extraHeaderPrefixes: ['X-Remote-Extra-'],
  allowedNames: ['front-proxy-client'],
};

/**
 * client-go `cert.ParseCertsPEM`: every CERTIFICATE block without headers; one that does not parse, or none at all, is
 * an error.
 */
export function parseCertsPem(pem: string): Buffer[] {
  const out = goCertificateBlocks(pem, (err) => {
    throw new Error(`a CERTIFICATE block does not parse: ${err.message}`);
  });
  if (out.length === 0) throw new Error('data does not contain any valid RSA or ECDSA certificates');
  return out;
}

/** `jsonDeserializeStringSlice`: '' is absent; anything else must be a JSON list of strings. */
function readList(value: string | undefined): string[] | null {
  if (value === undefined || value === '') return null;
  const parsed: unknown = JSON.parse(value);
  if (parsed === null) return [];
  if (!Array.isArray(parsed) || parsed.some((x) => typeof x !== 'string'))
    throw new Error(`not a JSON list of strings: ${value}`);
  return parsed as string[];
}

function unionStrings(a: readonly string[] | null, b: readonly string[]): string[] {
  return [...new Set([...(a ?? []), ...b])];
}

/** `combineCertLists`: existing then own, expired removed, duplicates (same DER) removed, canonical PEM. */
function combineCerts(existing: string | undefined, own: string, now: Date): string {
  const certs: Buffer[] = [];
  if (existing !== undefined && existing !== '') certs.push(...parseCertsPem(existing));
  if (own !== '') certs.push(...parseCertsPem(own));
  const cutoff = now.getTime() - EXPIRY_SLACK_MS;
  const kept: Buffer[] = [];
  for (const der of certs) {
    if (new Date(new X509Certificate(der).validTo).getTime() <= cutoff) continue;
    if (kept.some((k) => k.equals(der))) continue;
    kept.push(der);
  }
  return kept.map(certificatePem).join('');
}

/**
 * One sync's result: the data the controller writes for `existing` and `own` (the real controller's rule,
 * see the module comment). Throws where the real sync fails (a bundle or list that does not parse).
 */
export function combinedAuthenticationData(
  existing: Readonly<Record<string, string>>,
  own: OwnAuthentication,
  now: Date,
): Record<string, string> {
  const lists = {
    usernameHeaders: unionStrings(readList(existing[KEYS.usernameHeaders]), own.usernameHeaders),
    uidHeaders: unionStrings(readList(existing[KEYS.uidHeaders]), own.uidHeaders),
    groupHeaders: unionStrings(readList(existing[KEYS.groupHeaders]), own.groupHeaders),
    extraHeaderPrefixes: unionStrings(readList(existing[KEYS.extraHeaderPrefixes]), own.extraHeaderPrefixes),
    allowedNames: unionStrings(readList(existing[KEYS.allowedNames]), own.allowedNames),
  };
  const clientCa = combineCerts(existing[KEYS.clientCa], own.clientCaPem, now);
  const requestHeaderCa = combineCerts(existing[KEYS.requestHeaderCa], own.requestHeaderCaPem, now);
  const data: Record<string, string> = {};
  if (clientCa !== '') data[KEYS.clientCa] = clientCa;
  if (requestHeaderCa === '') return data;
  data[KEYS.usernameHeaders] = JSON.stringify(lists.usernameHeaders);
  data[KEYS.uidHeaders] = JSON.stringify(lists.uidHeaders);
  data[KEYS.groupHeaders] = JSON.stringify(lists.groupHeaders);
  data[KEYS.extraHeaderPrefixes] = JSON.stringify(lists.extraHeaderPrefixes);
  data[KEYS.requestHeaderCa] = requestHeaderCa;
  data[KEYS.allowedNames] = JSON.stringify(lists.allowedNames);
  return data;
}

function sameData(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}

export interface TrustControllerStats {
  /** Writes (updates and creates) this controller made. */
  writes: number;
  /** Syncs that failed (conflict, unparseable content); each is retried. */
  errors: number;
  /**
   * Syncs run (on start, on an informer event, on the periodic resync, or retried), whatever their outcome: lets a
   * test wait for the controller to have looked again instead of sleeping through resync periods.
   */
  syncs: number;
}

/**
 * One apiserver's controller. `start(own)` when the apiserver listens (with the bundles it started with),
 * `stop()` when it closes. The informer's copy of the ConfigMap lags the store by INFORMER_DELAY_MS, so a
 * write can meet a newer object (409 Conflict) and is retried, as in Kubernetes.
 */
export class ClusterAuthenticationTrust {
  readonly #store: ConfigMapStore;
  readonly #resyncMs: number;
  readonly #now: () => Date;
  #own: OwnAuthentication | null = null;
  /** The informer's copy (null: absent). */
  #cached: ConfigMapView | null = null;
  #timers = new Set<NodeJS.Timeout>();
  #interval: NodeJS.Timeout | null = null;
  #off: Array<() => void> = [];
  #retryMs = RETRY_MS;
  #queued = false;
  readonly stats: TrustControllerStats = { writes: 0, errors: 0, syncs: 0 };

  constructor(store: ConfigMapStore, opts: { resyncMs?: number; now?: () => Date } = {}) {
    this.#store = store;
    this.#resyncMs = opts.resyncMs ?? DEFAULT_LAB_RESYNC_MS;
    this.#now = opts.now ?? (() => new Date());
  }

  get running(): boolean {
    return this.#own !== null;
  }

  start(own: OwnAuthentication): void {
    this.stop();
    this.#own = own;
    this.#cached = this.#store.get(EXT_AUTH_NAMESPACE, EXT_AUTH_CONFIGMAP) ?? null;
    const onEvent = (cm: ConfigMapView, deleted: boolean): void => {
      if (cm.namespace !== EXT_AUTH_NAMESPACE || cm.name !== EXT_AUTH_CONFIGMAP) return;
      this.#later(INFORMER_DELAY_MS, () => {
        this.#cached = deleted ? null : cm;
        this.#enqueue();
      });
    };
    this.#off.push(
      this.#store.subscribe((cm) => onEvent(cm, false)),
      this.#store.subscribeDeletes((cm) => onEvent(cm, true)),
    );
    this.#enqueue();
    this.#interval = setInterval(() => this.#enqueue(), this.#resyncMs);
    this.#interval.unref();
  }

  stop(): void {
    this.#own = null;
    for (const off of this.#off) off();
    this.#off = [];
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    if (this.#interval) clearInterval(this.#interval);
    this.#interval = null;
    this.#queued = false;
  }

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.#timers.add(t);
  }

  /** The workqueue holds one key: several events before a sync make one sync. */
  #enqueue(delayMs = 0): void {
    if (this.#queued || !this.#own) return;
    this.#queued = true;
    this.#later(delayMs, () => {
      this.#queued = false;
      if (!this.#own) return;
      if (this.syncOnce()) this.#retryMs = RETRY_MS;
      else {
        this.#enqueue(this.#retryMs);
        this.#retryMs = Math.min(RETRY_MAX_MS, this.#retryMs * 2);
      }
    });
  }

  /** `syncConfigMap` against the informer's copy; true on success (written or nothing to write). */
  syncOnce(): boolean {
    const own = this.#own;
    if (!own) return true;
    this.stats.syncs += 1;
    const cached = this.#cached;
    let data: Record<string, string>;
    try {
      data = combinedAuthenticationData(cached?.data ?? {}, own, this.#now());
    } catch {
      this.stats.errors += 1;
      return false;
    }
    if (cached && sameData(cached.data, data)) return true;
    const r = cached
      ? this.#store.update(EXT_AUTH_NAMESPACE, EXT_AUTH_CONFIGMAP, data, cached.resourceVersion)
      : 'not-found';
    if (r === 'conflict') {
      this.stats.errors += 1;
      return false;
    }
    if (r === 'not-found') {
      const created = this.#store.create(EXT_AUTH_NAMESPACE, EXT_AUTH_CONFIGMAP, data);
      if (created === 'exists') {
        this.stats.errors += 1;
        return false;
      }
    }
    this.stats.writes += 1;
    return true;
  }
}

/**
 * `--requestheader-client-ca-file` (`aggregator-ca.crt`) of a control plane as Talos renders it from its
 * config: the aggregator CAs joined with no separator, issuing first (v1.14 `types/k8s/aggregator_ca.go`
 * `AcceptedCAs`; the legacy `.cluster.aggregatorCA` is the issuing one alone).
 */
export function requestHeaderBundleOf(configYaml: string): string {
  const view = readConfigCas(configYaml);
  const doc = configDocuments(configYaml).find((d) => d.kind === 'KubeAggregatorCAConfig');
  const accepted =
    doc && Array.isArray(doc.acceptedCAs) ? doc.acceptedCAs.filter((x): x is string => typeof x === 'string') : [];
  const issuing = view.aggregatorCa && view.aggregatorCa.crt !== '' ? [view.aggregatorCa.crt] : [];
  return goJoin([...issuing, ...accepted]);
}

/** What a control plane's kube-apiserver passes to the controller: its two bundles and Talos's header flags. */
export function ownAuthentication(clientCaPem: string, requestHeaderCaPem: string): OwnAuthentication {
  return { clientCaPem, requestHeaderCaPem, ...TALOS_REQUEST_HEADER_FLAGS };
}

/** What `lab inspect --json` shows of the ConfigMap (fingerprints only) and of each apiserver's controller. */
export interface ExtensionAuthView {
  present: boolean;
  resourceVersion: string | null;
  /** Fingerprints of the certificates in `client-ca-file` / `requestheader-client-ca-file`, in order. */
  clientCa: string[];
  requestHeaderCa: string[];
  keys: string[];
  /** How many times it was deleted since the lab started (the tool must never delete it). */
  deletions: number;
  controllers: { apiserver: string; running: boolean; writes: number; errors: number; syncs: number }[];
}

export function extensionAuthView(
  store: ConfigMapStore,
  controllers: readonly { address: string; controller: ClusterAuthenticationTrust }[],
): ExtensionAuthView {
  const cm = store.get(EXT_AUTH_NAMESPACE, EXT_AUTH_CONFIGMAP);
  const fps = (pem: string | undefined): string[] => {
    if (!pem) return [];
    try {
      return parseCertsPem(pem).map((der) => createHash('sha256').update(der).digest('hex'));
    } catch {
      return [];
    }
  };
  return {
    present: cm !== undefined,
    resourceVersion: cm?.resourceVersion ?? null,
    clientCa: fps(cm?.data[KEYS.clientCa]),
    requestHeaderCa: fps(cm?.data[KEYS.requestHeaderCa]),
    keys: cm ? Object.keys(cm.data).sort() : [],
    deletions: store.deletions(EXT_AUTH_NAMESPACE, EXT_AUTH_CONFIGMAP),
    controllers: controllers.map((c) => ({
      apiserver: c.address,
      running: c.controller.running,
      ...c.controller.stats,
    })),
  };
}
