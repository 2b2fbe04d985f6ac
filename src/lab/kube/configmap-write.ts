/**
 * ConfigMap writes as kube-apiserver serves them, for admin clients (auth.ts: only system:masters may):
 * - `POST /api/v1/namespaces/<ns>/configmaps` (create: 201; `metadata.name` or `generateName`; a taken name
 *   → 409 AlreadyExists; a `resourceVersion` in the body → 500, as etcd3's store answers; in a namespace that
 *   does not exist → 404);
 * - `PUT …/configmaps/<name>` (update: `metadata.resourceVersion` given and stale → 409 Conflict, absent → an
 *   unconditional update; a missing object → 404, since ConfigMaps are not created on update:
 *   `pkg/registry/core/configmap/strategy.go`);
 * - `PATCH …/configmaps/<name>` (merge, strategic merge or JSON patch on the stored object, then as an
 *   update whose resourceVersion is the one the patched object holds: the stored one unless the patch sets
 *   another, as kube-apiserver's patcher does; other patch types → 415);
 * - `DELETE` of one (counted by the store, so a test can tell a ConfigMap was never deleted).
 * An update that changes nothing keeps the resourceVersion (the store's no-op rule). `data` must map keys to
 * strings; labels and annotations are kept (an update replaces them, as the registry does) but not validated;
 * `binaryData` and `immutable` are not kept.
 */
import type { ApiResponse } from './api.js';
import { configMapObject } from './configmap-api.js';
import { randomSuffix } from './object-store.js';
import { patchedObject, patchTypeOf, unsupportedPatchStatus } from './patch.js';
import {
  badRequest,
  deletedStatus,
  objectNotFound,
  resourceVersionSetOnCreate,
  statusFailure,
  type KubeObject,
} from './objects.js';
import type { ConfigMapMeta, ConfigMapStore } from './root-ca-publisher.js';

export type ConfigMapWriteMethod = 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface ConfigMapWrite {
  method: ConfigMapWriteMethod;
  namespace: string;
  /** The name on the URL; absent for a create. */
  name?: string | undefined;
  body: unknown;
  /** The request's Content-Type (a PATCH: which patch it is). */
  contentType?: string | undefined;
  /** A create: does the namespace exist (a create elsewhere is a 404)? Default: it does. */
  namespaceExists?: boolean;
}

const fail = (o: KubeObject): ApiResponse => ({ status: Number(o.code), body: o });

function invalid(name: string, field: string, message: string): KubeObject {
  return statusFailure(422, 'Invalid', `ConfigMap "${name}" is invalid: ${field}: ${message}`, {
    name,
    kind: 'ConfigMap',
    causes: [{ reason: 'FieldValueInvalid', message, field }],
  });
}

interface ConfigMapBody {
  metadata?: {
    name?: unknown;
    generateName?: unknown;
    namespace?: unknown;
    resourceVersion?: unknown;
    labels?: unknown;
    annotations?: unknown;
  };
  data?: unknown;
}

/**
 * The 400 of a body whose namespace is not the URL's (the handler checks it before admission and validation),
 * or null.
 */
function namespaceMismatch(b: ConfigMapBody, namespace: string): ApiResponse | null {
  if (b.metadata?.namespace === undefined || b.metadata.namespace === namespace) return null;
  return fail(badRequest('the namespace of the provided object does not match the namespace sent on the request'));
}

/** The body's `data`, labels and annotations once valid for a ConfigMap named `name`, or the failure to answer with. */
function validData(
  name: string,
  b: ConfigMapBody,
): { data: Record<string, string>; meta: ConfigMapMeta } | { failure: ApiResponse } {
  const data = b.data ?? {};
  if (
    typeof data !== 'object' ||
    data === null ||
    Array.isArray(data) ||
    Object.values(data).some((v) => typeof v !== 'string')
  ) {
    return { failure: fail(badRequest('data must map keys to strings')) };
  }
  for (const key of Object.keys(data)) {
    if (!/^[-._a-zA-Z0-9]+$/.test(key)) {
      const message = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";
      return { failure: fail(invalid(name, `data[${key}]`, message)) };
    }
  }
  const meta: ConfigMapMeta = {};
  for (const field of ['labels', 'annotations'] as const) {
    const m = b.metadata?.[field];
    if (m === undefined || m === null) continue;
    if (typeof m !== 'object' || Array.isArray(m) || Object.values(m).some((v) => typeof v !== 'string'))
      return { failure: fail(badRequest(`metadata.${field} must map keys to strings`)) };
    meta[field] = m as Record<string, string>;
  }
  return { data: data as Record<string, string>, meta };
}

/**
 * A create, in kube-apiserver's order: the body's namespace against the URL's (the handler), the namespace
 * existing (NamespaceLifecycle admission), validation, then storage (a resourceVersion set, then the name taken).
 */
function create(store: ConfigMapStore, namespace: string, namespaceExists: boolean, body: unknown): ApiResponse {
  const b = (body ?? {}) as ConfigMapBody;
  const mismatch = namespaceMismatch(b, namespace);
  if (mismatch) return mismatch;
  if (!namespaceExists) return fail(objectNotFound('namespaces', namespace));
  const given = typeof b.metadata?.name === 'string' && b.metadata.name !== '' ? b.metadata.name : undefined;
  const prefix =
    typeof b.metadata?.generateName === 'string' && b.metadata.generateName !== '' ? b.metadata.generateName : '';
  if (given === undefined && prefix === '') {
    const message = 'Required value: name or generateName is required';
    return fail(
      statusFailure(422, 'Invalid', `ConfigMap "" is invalid: metadata.name: ${message}`, {
        kind: 'ConfigMap',
        causes: [{ reason: 'FieldValueRequired', message, field: 'metadata.name' }],
      }),
    );
  }
  let name = given;
  if (name === undefined) {
    do name = `${prefix}${randomSuffix()}`;
    while (store.get(namespace, name));
  }
  const valid = validData(name, b);
  if ('failure' in valid) return valid.failure;
  const rvSet = resourceVersionSetOnCreate(b.metadata?.resourceVersion);
  if (rvSet) return fail(rvSet);
  const created = store.create(namespace, name, valid.data, valid.meta);
  if (created === 'exists') {
    return fail(
      statusFailure(409, 'AlreadyExists', `configmaps "${name}" already exists`, { name, kind: 'configmaps' }),
    );
  }
  return { status: 201, body: configMapObject(created) };
}

export function writeConfigMap(store: ConfigMapStore, write: ConfigMapWrite): ApiResponse {
  const { method, namespace, name } = write;
  if (method === 'POST') return create(store, namespace, write.namespaceExists ?? true, write.body);
  if (name === undefined) return fail(badRequest('a ConfigMap name is required on the URL'));
  if (method === 'DELETE') {
    const gone = store.delete(namespace, name);
    if (!gone) return fail(objectNotFound('configmaps', name));
    return { status: 200, body: deletedStatus({ name, kind: 'configmaps', uid: gone.uid }) };
  }
  let body = write.body;
  if (method === 'PATCH') {
    // The patch type is checked before the object is looked up (a bad type on a missing object is a 415).
    if (!patchTypeOf(write.contentType)) return fail(unsupportedPatchStatus());
    const current = store.get(namespace, name);
    if (!current) return fail(objectNotFound('configmaps', name));
    const patched = patchedObject(write.contentType, configMapObject(current), write.body);
    if ('failure' in patched) return fail(patched.failure);
    body = patched.object;
  }
  const b = (body ?? {}) as ConfigMapBody;
  if (b.metadata?.name !== undefined && b.metadata.name !== name) {
    return fail(
      badRequest(`the name of the object (${String(b.metadata.name)}) does not match the name on the URL (${name})`),
    );
  }
  const mismatch = namespaceMismatch(b, namespace);
  if (mismatch) return mismatch;
  const valid = validData(name, b);
  if ('failure' in valid) return valid.failure;
  const rv =
    typeof b.metadata?.resourceVersion === 'string' && b.metadata.resourceVersion !== ''
      ? b.metadata.resourceVersion
      : null;
  const r = store.update(namespace, name, valid.data, rv, valid.meta);
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
