/**
 * ConfigMaps as kube-apiserver serves them (writes: configmap-write.ts):
 * `GET /api/v1/namespaces/<ns>/configmaps[/<name>]` and `GET /api/v1/configmaps`, as objects, lists, or
 * the `meta.k8s.io/v1` Table kubectl asks for (columns NAME, DATA, AGE as kube-apiserver prints them);
 * lists take `labelSelector` and `fieldSelector` (metadata.name, metadata.namespace) and `watch=true`.
 */
import { keyOf, paginate, selectedChange, selectorFilter } from './list-paging.js';
import {
  badRequest,
  statusFailure,
  storedMetadata,
  storedObjectTable,
  type KubeObject,
  type TableObjectMode,
} from './objects.js';
import type { ConfigMapEvent, ConfigMapStore, ConfigMapView } from './root-ca-publisher.js';
import { watchStream, type WatchStream } from './watch-stream.js';

/** The fields a ConfigMap list or watch can select on (the generic ones: ConfigMaps add none). */
const CONFIGMAP_FIELDS = ['metadata.name', 'metadata.namespace'] as const;

/** The request's selectors as a filter on stored ConfigMaps, or the 400 of an unsupported field. */
export function configMapFilter(query: URLSearchParams): ((c: ConfigMapView) => boolean) | { status: KubeObject } {
  const filter = selectorFilter(query, CONFIGMAP_FIELDS);
  if (typeof filter !== 'function') return { status: badRequest(filter.error) };
  return (c) => filter(configMapObject(c));
}

/**
 * A watch on the ConfigMaps of `namespace` (every namespace when undefined) that `filter` selects: from
 * `resourceVersion`, the changes after it (410 Expired once they have left the store's history); without
 * one or with "0", the current objects as ADDED first. An object that starts or stops matching the selector
 * is ADDED or DELETED for this watch (selectedChange), as kube-apiserver's watch cache sends it.
 */
export function configMapWatch(
  store: ConfigMapStore,
  namespace: string | undefined,
  query: URLSearchParams,
  filter: (c: ConfigMapView) => boolean,
  render: (c: ConfigMapView) => KubeObject = configMapObject,
): WatchStream | { status: KubeObject } {
  const event = (e: ConfigMapEvent): KubeObject | null => {
    if (namespace !== undefined && e.object.namespace !== namespace) return null;
    const restamp = (prev: ConfigMapView): ConfigMapView => ({ ...prev, resourceVersion: String(e.resourceVersion) });
    const sent = selectedChange(e, filter, restamp);
    return sent && { type: sent.type, object: render(sent.object) };
  };
  return watchStream(query, store.changes, () => store.list(namespace).filter(filter).map(render), event);
}

/**
 * A map with its keys in the order Go's encoding/json writes them (sorted by bytes), as kube-apiserver serves
 * them. JavaScript keeps integer-like keys ("2", "10") first in numeric order whatever the insertion order,
 * so those alone can come out in another order than Go's.
 */
function sortedMap(m: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(m).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))) out[k] = m[k]!;
  return out;
}

export function configMapObject(c: ConfigMapView): KubeObject {
  const metadata = {
    ...storedMetadata(c),
    ...(c.labels ? { labels: sortedMap(c.labels) } : {}),
    ...(c.annotations ? { annotations: sortedMap(c.annotations) } : {}),
  };
  return { kind: 'ConfigMap', apiVersion: 'v1', metadata, data: sortedMap(c.data) };
}

export function configMapList(
  items: ConfigMapView[],
  resourceVersion: string,
  page: { continue?: string; remainingItemCount?: number } = {},
): KubeObject {
  return {
    kind: 'ConfigMapList',
    apiVersion: 'v1',
    metadata: { resourceVersion, ...page },
    items: items.map(configMapObject),
  };
}

/**
 * One chunk of a ConfigMap list (`limit` + `continue`, list-paging.ts). The store keeps no history, so a
 * token never expires here. Returns the Status to send for a bad token.
 */
export function configMapPage(
  items: ConfigMapView[],
  resourceVersion: string,
  query: URLSearchParams,
): { items: ConfigMapView[]; page: { continue?: string; remainingItemCount?: number } } | { status: KubeObject } {
  const byKey = new Map(items.map((c) => [`${c.namespace}/${c.name}`, c]));
  const r = paginate(
    items.map((c) => ({ metadata: { namespace: c.namespace, name: c.name } })),
    {
      limit: query.get('limit'),
      continue: query.get('continue'),
      resourceVersion: Number(resourceVersion),
      oldestRv: 0,
    },
  );
  if (!r.ok) return { status: statusFailure(r.code, r.reason, r.message) };
  return {
    items: r.items.map((o) => byKey.get(keyOf(o))!),
    page: r.continue ? { continue: r.continue, remainingItemCount: r.remainingItemCount! } : {},
  };
}

const DATA_COLUMN = {
  name: 'Data',
  type: 'string',
  format: '',
  description: 'Data contains the configuration data.',
  priority: 0,
};

export function configMapTable(
  items: ConfigMapView[],
  now: Date,
  resourceVersion: string,
  include: TableObjectMode,
): KubeObject {
  return storedObjectTable(items, DATA_COLUMN, (c) => Object.keys(c.data).length, now, resourceVersion, include, {
    object: configMapObject,
    metadata: storedMetadata,
  });
}
