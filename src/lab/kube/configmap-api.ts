/**
 * ConfigMaps as kube-apiserver serves them (writes: configmap-write.ts):
 * `GET /api/v1/namespaces/<ns>/configmaps[/<name>]` and `GET /api/v1/configmaps`, as objects, lists, or
 * the `meta.k8s.io/v1` Table kubectl asks for (columns NAME, DATA, AGE as kube-apiserver prints them).
 */
import { keyOf, paginate } from './list-paging.js';
import { statusFailure, storedMetadata, storedObjectTable, type KubeObject, type TableObjectMode } from './objects.js';
import type { ConfigMapView } from './root-ca-publisher.js';

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
