/**
 * ConfigMap writes as kube-apiserver serves them, for admin clients (auth.ts: only system:masters may):
 * `PUT /api/v1/namespaces/<ns>/configmaps/<name>` (update: `metadata.resourceVersion` given and stale →
 * 409 Conflict, absent → an unconditional update; a missing object → 404, since ConfigMaps are not created
 * on update: `pkg/registry/core/configmap/strategy.go`) and `DELETE` of one (counted by the store, so a
 * test can tell a ConfigMap was never deleted). `data` must map keys to strings; `binaryData` is not kept.
 */
import type { ApiResponse } from './api.js';
import { configMapObject } from './configmap-api.js';
import { badRequest, deletedStatus, objectNotFound, statusFailure, type KubeObject } from './objects.js';
import type { ConfigMapStore } from './root-ca-publisher.js';

const fail = (o: KubeObject): ApiResponse => ({ status: Number(o.code), body: o });

function invalid(name: string, field: string, message: string): KubeObject {
  return statusFailure(422, 'Invalid', `ConfigMap "${name}" is invalid: ${field}: ${message}`, {
    name,
    kind: 'ConfigMap',
    causes: [{ reason: 'FieldValueInvalid', message, field }],
  });
}

export function writeConfigMap(
  store: ConfigMapStore,
  method: 'PUT' | 'DELETE',
  namespace: string,
  name: string,
  body: unknown,
): ApiResponse {
  if (method === 'DELETE') {
    const gone = store.delete(namespace, name);
    if (!gone) return fail(objectNotFound('configmaps', name));
    return { status: 200, body: deletedStatus({ name, kind: 'configmaps', uid: gone.uid }) };
  }
  const b = (body ?? {}) as {
    kind?: unknown;
    metadata?: { name?: unknown; namespace?: unknown; resourceVersion?: unknown };
    data?: unknown;
  };
  if (b.metadata?.name !== undefined && b.metadata.name !== name) {
    return fail(
      badRequest(`the name of the object (${String(b.metadata.name)}) does not match the name on the URL (${name})`),
    );
  }
  if (b.metadata?.namespace !== undefined && b.metadata.namespace !== namespace) {
    return fail(badRequest('the namespace of the provided object does not match the namespace sent on the request'));
  }
  const data = b.data ?? {};
  if (
    typeof data !== 'object' ||
    data === null ||
    Array.isArray(data) ||
    Object.values(data).some((v) => typeof v !== 'string')
  ) {
    return fail(badRequest('data must map keys to strings'));
  }
  for (const key of Object.keys(data)) {
    if (!/^[-._a-zA-Z0-9]+$/.test(key))
      return fail(
        invalid(name, `data[${key}]`, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"),
      );
  }
  const rv =
    typeof b.metadata?.resourceVersion === 'string' && b.metadata.resourceVersion !== ''
      ? b.metadata.resourceVersion
      : null;
  const r = store.update(namespace, name, data as Record<string, string>, rv);
  if (r === 'not-found') return fail(objectNotFound('configmaps', name));
  if (r === 'conflict') {
    return fail(
      statusFailure(
        409,
        'Conflict',
        `Operation cannot be fulfilled on configmaps "${name}": the object has been modified; please apply ` +
          `your changes to the latest version and try again`,
        {
          name,
          kind: 'configmaps',
        },
      ),
    );
  }
  return { status: 200, body: configMapObject(r) };
}
