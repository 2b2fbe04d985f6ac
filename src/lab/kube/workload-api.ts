/**
 * kube-apiserver's REST handling of the workload resources (object-store.ts): Pods (with the control
 * planes' mirror pods), Secrets, Deployments, ReplicaSets, DaemonSets, StatefulSets (apps/v1), Jobs
 * (batch/v1) and PodDisruptionBudgets (policy/v1).
 *
 * - GET: get, list (all namespaces or one; labelSelector, fieldSelector, limit/continue), watch
 *   (`watch=true`, from `resourceVersion`: the events after it; none or "0": the current objects as
 *   ADDED first; too old: an ERROR event with a 410 Expired Status; an object entering or leaving the
 *   selector is ADDED or DELETED for the watch), the `meta.k8s.io/v1` Table kubectl asks
 *   for (columns as kube-apiserver's printers; a watch's events as one-row Tables), and the `status` subresource.
 * - PATCH (merge, strategic merge, JSON patch; others 415) and PUT of the workloads (a changed `spec`
 *   bumps `metadata.generation`; `spec.selector` is immutable; a stale `metadata.resourceVersion` is a
 *   409 Conflict; the main resource ignores `status` and the `status` subresource takes only `status`);
 *   pods take metadata changes only.
 * - DELETE of a pod; POST pods/<name>/eviction (policy/v1 Eviction): refused with 429 TooManyRequests
 *   when it would break a PodDisruptionBudget, 500 when several budgets select the pod (as
 *   `pkg/registry/core/pod/storage/eviction.go`), otherwise the pod is deleted (201 Success).
 */
import { resourceTarget, type RequestTarget } from './auth.js';
import { paginate, selectedChange, selectorFilter, watchRequested } from './list-paging.js';
import {
  badRequest,
  humanDuration,
  methodNotAllowed,
  objectNotFound,
  objectTable,
  statusFailure,
  tableMode,
  wantsTable,
  watchTables,
  type KubeObject,
} from './objects.js';
import type { ObjectStore, Stored, StoreEvent } from './object-store.js';
import { patchedObject } from './patch.js';
import { mirrorPodObject, type MirrorPods } from './static-pods.js';
import { isPodReady } from './workload-common.js';
import type { WorkloadController } from './workload-controller.js';
import { namespaceColumns, workloadTable } from './workload-table.js';
import { watchStream, type WatchStream } from './watch-stream.js';

export interface WorkloadApiContext {
  store: ObjectStore;
  controller: WorkloadController;
  mirrorPods: MirrorPods;
  /** The cluster's Namespaces (served read-only: get, list). */
  namespaces: readonly { name: string; uid: string; createdAt: Date }[];
  now(): Date;
}

export interface WorkloadRequest {
  method: string;
  accept: string | undefined;
  contentType?: string | undefined;
  body: unknown;
}

export interface WorkloadResponse {
  status: number;
  body: KubeObject | string;
  watch?: WatchStream;
}

interface ResourceInfo {
  group: string;
  version: string;
  kind: string;
  /** Writable through PATCH/PUT (the workloads). */
  writable: boolean;
}

export const WORKLOAD_RESOURCES: Record<string, ResourceInfo> = {
  pods: { group: '', version: 'v1', kind: 'Pod', writable: false },
  secrets: { group: '', version: 'v1', kind: 'Secret', writable: false },
  deployments: { group: 'apps', version: 'v1', kind: 'Deployment', writable: true },
  replicasets: { group: 'apps', version: 'v1', kind: 'ReplicaSet', writable: true },
  daemonsets: { group: 'apps', version: 'v1', kind: 'DaemonSet', writable: true },
  statefulsets: { group: 'apps', version: 'v1', kind: 'StatefulSet', writable: true },
  jobs: { group: 'batch', version: 'v1', kind: 'Job', writable: false },
  poddisruptionbudgets: { group: 'policy', version: 'v1', kind: 'PodDisruptionBudget', writable: false },
};

export interface ParsedPath {
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

/** `/api/v1/...` or `/apis/<group>/<version>/...` naming one of the workload resources; null otherwise. */
export function parseWorkloadPath(parts: readonly string[]): ParsedPath | null {
  let rest: string[];
  let group: string;
  if (parts[0] === 'api' && parts[1] === 'v1') {
    group = '';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1]!;
    rest = parts.slice(3);
    if (parts[2] !== 'v1') return null;
  } else return null;
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const resource = rest[0];
  if (resource === undefined || rest.length > 3) return null;
  const info = WORKLOAD_RESOURCES[resource];
  if (!info || info.group !== group) return null;
  if (namespace === undefined && rest.length > 1) return null;
  return {
    resource,
    ...(namespace !== undefined ? { namespace } : {}),
    ...(rest[1] !== undefined ? { name: rest[1] } : {}),
    ...(rest[2] !== undefined ? { subresource: rest[2] } : {}),
  };
}

const VERB: Record<string, string> = { GET: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

export function workloadTarget(p: ParsedPath, method: string, query: URLSearchParams): RequestTarget {
  const m = method.toUpperCase();
  const verb =
    p.name === undefined && m === 'GET' ? (watchRequested(query) ? 'watch' : 'list') : (VERB[m] ?? m.toLowerCase());
  return resourceTarget(verb, WORKLOAD_RESOURCES[p.resource]!.group, p.resource, p);
}

const ok = (body: KubeObject, status = 200): WorkloadResponse => ({ status, body });
const fail = (o: KubeObject): WorkloadResponse => ({ status: Number(o.code), body: o });
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function notFound(p: ParsedPath, name: string): KubeObject {
  return objectNotFound(p.resource, name, WORKLOAD_RESOURCES[p.resource]!.group);
}

function withKind(resource: string, o: Stored): KubeObject {
  const info = WORKLOAD_RESOURCES[resource]!;
  const { apiVersion: _a, kind: _k, ...rest } = clone(o);
  return { kind: info.kind, apiVersion: info.group ? `${info.group}/${info.version}` : info.version, ...rest };
}

/**
 * Every object of the resource in scope (pods: and the mirror pods) that `keep` accepts, each a copy for the
 * response. Selected before copying (only what is answered is copied): a selector reads labels and the
 * fields of list-paging.ts, never the `apiVersion` and `kind` the copy sets, and modifies nothing.
 */
function current(ctx: WorkloadApiContext, p: ParsedPath, keep: (o: KubeObject) => boolean): KubeObject[] {
  const items: KubeObject[] = ctx.store
    .list(p.resource, p.namespace)
    .filter(keep)
    .map((o) => withKind(p.resource, o));
  if (p.resource === 'pods' && (p.namespace === undefined || p.namespace === 'kube-system'))
    items.push(...ctx.mirrorPods.list().map(mirrorPodObject).filter(keep));
  return items;
}

function filters(query: URLSearchParams): ((o: KubeObject) => boolean) | KubeObject {
  const filter = selectorFilter(query);
  return typeof filter === 'function' ? filter : badRequest(filter.error);
}

/** `/api/v1/namespaces[/<name>]` (read-only). */
export function isNamespacesPath(parts: readonly string[]): boolean {
  return parts[0] === 'api' && parts[1] === 'v1' && parts[2] === 'namespaces' && parts.length <= 4;
}

function namespaceObject(n: { name: string; uid: string; createdAt: Date }): KubeObject {
  return {
    kind: 'Namespace',
    apiVersion: 'v1',
    metadata: {
      name: n.name,
      uid: n.uid,
      resourceVersion: '1',
      creationTimestamp: n.createdAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      labels: { 'kubernetes.io/metadata.name': n.name },
    },
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  };
}

export function handleNamespaces(
  ctx: WorkloadApiContext,
  name: string | undefined,
  req: WorkloadRequest,
  query: URLSearchParams,
): WorkloadResponse {
  if (req.method.toUpperCase() !== 'GET' || watchRequested(query)) return fail(methodNotAllowed());
  const all = ctx.namespaces.map(namespaceObject);
  const columns = namespaceColumns();
  const asTable = (items: KubeObject[]) =>
    objectTable(items, columns, '1', tableMode(query), {
      cells: (o) => [
        (o.metadata as { name: string }).name,
        'Active',
        humanDuration(
          ctx.now().getTime() - Date.parse(String((o.metadata as { creationTimestamp: string }).creationTimestamp)),
        ),
      ],
      object: (o) => o,
      metadata: (o) => o.metadata as KubeObject,
    });
  if (name === undefined) {
    const filter = filters(query);
    if (typeof filter !== 'function') return fail(filter);
    const items = all.filter(filter);
    if (wantsTable(req.accept)) return ok(asTable(items));
    return ok({
      kind: 'NamespaceList',
      apiVersion: 'v1',
      metadata: { resourceVersion: '1' },
      items: items.map((o) => {
        const { kind: _k, apiVersion: _a, ...rest } = o;
        return rest;
      }),
    });
  }
  const found = all.find((o) => (o.metadata as { name: string }).name === name);
  if (!found) return fail(objectNotFound('namespaces', name));
  return ok(wantsTable(req.accept) ? asTable([found]) : found);
}

export function handleWorkload(
  ctx: WorkloadApiContext,
  p: ParsedPath,
  req: WorkloadRequest,
  query: URLSearchParams,
): WorkloadResponse {
  const method = req.method.toUpperCase();
  const info = WORKLOAD_RESOURCES[p.resource]!;
  if (p.name === undefined) {
    if (method !== 'GET') return fail(methodNotAllowed());
    const filter = filters(query);
    if (typeof filter !== 'function') return fail(filter);
    if (watchRequested(query)) {
      // kubectl get -w asks for Tables: each event a one-row Table of its object (resourceVersion: the object's).
      const tables = watchTables();
      const asTable = (o: KubeObject) =>
        tables(
          workloadTable(
            p.resource,
            [o],
            ctx.now(),
            String((o['metadata'] as { resourceVersion?: string }).resourceVersion),
            tableMode(query),
          ),
        );
      return watch(ctx, p, query, filter, wantsTable(req.accept) ? asTable : null);
    }
    const page = paginate(current(ctx, p, filter), {
      limit: query.get('limit'),
      continue: query.get('continue'),
      resourceVersion: ctx.store.resourceVersion,
      oldestRv: ctx.store.oldestResourceVersion,
    });
    if (!page.ok) return fail(statusFailure(page.code, page.reason, page.message));
    const rv = String(ctx.store.resourceVersion);
    const metadata = {
      resourceVersion: rv,
      ...(page.continue ? { continue: page.continue, remainingItemCount: page.remainingItemCount } : {}),
    };
    if (wantsTable(req.accept))
      return ok({ ...workloadTable(p.resource, page.items, ctx.now(), rv, tableMode(query)), metadata });
    return ok({
      kind: `${info.kind}List`,
      apiVersion: info.group ? `${info.group}/${info.version}` : info.version,
      metadata,
      items: page.items.map((o) => {
        const { kind: _k, apiVersion: _a, ...rest } = o;
        return rest;
      }),
    });
  }
  const name = p.name;
  const namespace = p.namespace;
  if (namespace === undefined) return fail(notFound(p, name));
  const stored = ctx.store.get(p.resource, namespace, name);
  const mirror =
    !stored && p.resource === 'pods' && namespace === 'kube-system'
      ? ctx.mirrorPods.list().find((m) => m.name === name)
      : undefined;
  if (p.resource === 'pods' && p.subresource === 'eviction') {
    if (method !== 'POST') return fail(methodNotAllowed());
    if (!stored && !mirror) return fail(notFound(p, name));
    return evict(ctx, namespace, name, req.body, stored);
  }
  if (p.subresource !== undefined && p.subresource !== 'status')
    return fail(statusFailure(404, 'NotFound', 'the server could not find the requested resource', {}));
  if (!stored) {
    if (mirror && method === 'GET') return ok(mirrorPodObject(mirror));
    return fail(notFound(p, name));
  }
  if (method === 'GET') {
    const o = withKind(p.resource, stored);
    if (wantsTable(req.accept) && !p.subresource)
      return ok(workloadTable(p.resource, [o], ctx.now(), String(ctx.store.resourceVersion), tableMode(query)));
    return ok(o);
  }
  if (method === 'DELETE' && p.resource === 'pods' && !p.subresource) {
    const gone = ctx.controller.deletePod(namespace, name);
    return gone ? ok(withKind('pods', gone)) : fail(notFound(p, name));
  }
  if (method === 'PATCH' || method === 'PUT') return write(ctx, p, stored, req, method);
  return fail(methodNotAllowed());
}

function write(
  ctx: WorkloadApiContext,
  p: ParsedPath,
  stored: Stored,
  req: WorkloadRequest,
  method: string,
): WorkloadResponse {
  const info = WORKLOAD_RESOURCES[p.resource]!;
  if (!info.writable && p.resource !== 'pods') return fail(methodNotAllowed());
  let next: Stored;
  if (method === 'PATCH') {
    const patched = patchedObject(req.contentType, withKind(p.resource, stored), req.body);
    if ('failure' in patched) return fail(patched.failure);
    next = patched.object as Stored;
  } else {
    next = clone((req.body ?? {}) as Stored);
  }
  if (typeof next !== 'object' || next === null || typeof next.metadata !== 'object' || next.metadata === null)
    return fail(badRequest('the object has no metadata'));
  if (next.metadata.name !== undefined && next.metadata.name !== p.name) {
    return fail(
      badRequest(
        `the name of the object (${String(next.metadata.name)}) does not match the name on the URL (${p.name})`,
      ),
    );
  }
  if (next.metadata.namespace !== undefined && next.metadata.namespace !== p.namespace) {
    return fail(badRequest('the namespace of the provided object does not match the namespace sent on the request'));
  }
  const rv = next.metadata.resourceVersion;
  if (rv !== undefined && rv !== '' && rv !== stored.metadata.resourceVersion) {
    return fail(
      statusFailure(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${p.resource}${info.group ? `.${info.group}` : ''} "${p.name}": the ` +
          `object has been modified; please apply your changes to the latest version and try again`,
        { name: p.name, ...(info.group ? { group: info.group } : {}), kind: p.resource },
      ),
    );
  }
  next.metadata = { ...next.metadata, name: p.name!, namespace: p.namespace! };
  let merged: Stored;
  if (p.subresource === 'status') merged = { ...stored, status: (next.status ?? {}) as Record<string, unknown> };
  else if (p.resource === 'pods')
    merged = {
      ...stored,
      metadata: {
        ...stored.metadata,
        labels: next.metadata.labels ?? {},
        annotations: next.metadata.annotations ?? {},
      },
    };
  else {
    const selectorBefore = JSON.stringify((stored.spec as { selector?: unknown } | undefined)?.selector ?? null);
    const selectorAfter = JSON.stringify((next.spec as { selector?: unknown } | undefined)?.selector ?? null);
    if (selectorBefore !== selectorAfter) {
      return fail(
        statusFailure(
          422,
          'Invalid',
          `${info.kind}.${info.group}/${info.version} "${p.name}" is invalid: spec.selector: Invalid ` +
            `value: ${selectorAfter}: field is immutable`,
          {
            name: p.name,
            group: info.group,
            kind: info.kind,
            causes: [
              { reason: 'FieldValueInvalid', message: 'Invalid value: field is immutable', field: 'spec.selector' },
            ],
          },
        ),
      );
    }
    const { apiVersion: _a, kind: _k, status: _s, ...rest } = next;
    merged = { ...stored, ...rest, status: stored.status ?? {} } as Stored;
    merged.metadata = {
      ...stored.metadata,
      labels: next.metadata.labels ?? {},
      annotations: next.metadata.annotations ?? {},
    };
  }
  const saved = ctx.store.update(p.resource, merged);
  return saved ? ok(withKind(p.resource, saved)) : fail(notFound(p, p.name!));
}

function evict(
  ctx: WorkloadApiContext,
  namespace: string,
  name: string,
  body: unknown,
  pod: Stored | undefined,
): WorkloadResponse {
  const b = (body ?? {}) as { kind?: string; metadata?: { name?: string; namespace?: string } };
  if (b.kind !== undefined && b.kind !== 'Eviction')
    return fail(badRequest(`the body is a ${b.kind}, not an Eviction`));
  if (b.metadata?.name !== undefined && b.metadata.name !== name)
    return fail(badRequest(`name in URL does not match name in Eviction object`));
  const success = ok({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 }, 201);
  // A mirror pod: deleting it makes the kubelet create it again (its static pod keeps running).
  if (!pod) return success;
  const budgets = ctx.store.list('poddisruptionbudgets', namespace).filter((b) => {
    const sel = (b.spec as { selector?: { matchLabels?: Record<string, string> } }).selector;
    return (
      sel !== undefined &&
      Object.keys(sel.matchLabels ?? {}).length +
        ((sel as { matchExpressions?: unknown[] }).matchExpressions?.length ?? 0) >
        0 &&
      matches(pod, sel)
    );
  });
  if (budgets.length > 1)
    return fail(
      statusFailure(
        500,
        'InternalError',
        'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
      ),
    );
  const budget = budgets[0];
  if (budget) {
    const s = ctx.controller.pdbState(budget);
    // A pod that is not ready may go while the budget is met (unhealthyPodEvictionPolicy IfHealthyBudget).
    const allowed = isPodReady(pod) ? s.allowed > 0 : s.healthy >= s.desired;
    if (!allowed) {
      return fail(
        statusFailure(429, 'TooManyRequests', "Cannot evict pod as it would violate the pod's disruption budget.", {
          causes: [
            {
              reason: 'DisruptionBudget',
              message:
                `The disruption budget ${budget.metadata.name} needs ${s.desired} healthy pods and ` +
                `has ${s.healthy} currently`,
            },
          ],
        }),
      );
    }
  }
  ctx.controller.deletePod(namespace, name);
  return success;
}

function matches(pod: Stored, selector: { matchLabels?: Record<string, string> }): boolean {
  const labels = pod.metadata.labels ?? {};
  return Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}

function watch(
  ctx: WorkloadApiContext,
  p: ParsedPath,
  query: URLSearchParams,
  filter: (o: KubeObject) => boolean,
  table: ((o: KubeObject) => KubeObject) | null,
): WorkloadResponse {
  const inScope = (e: StoreEvent): boolean =>
    e.resource === p.resource && (p.namespace === undefined || e.object.metadata.namespace === p.namespace);
  const matches = (o: Stored): boolean => filter(withKind(p.resource, o));
  const restamp = (o: Stored, rv: number): Stored => ({
    ...o,
    metadata: { ...o.metadata, resourceVersion: String(rv) },
  });
  const render = (o: KubeObject): KubeObject => (table ? table(o) : o);
  /** The event this watch sends for a change in its scope, if any (an object entering or leaving the selector too). */
  const event = (e: StoreEvent): KubeObject | null => {
    const sent = inScope(e) ? selectedChange(e, matches, (prev) => restamp(prev, e.rv)) : null;
    return sent && { type: sent.type, object: render(withKind(p.resource, sent.object)) };
  };
  const source = {
    eventsSince: (rv: number) => ctx.store.eventsSince(p.resource, rv),
    oldestResourceVersion: ctx.store.oldestResourceVersion,
    subscribe: (fn: (e: StoreEvent) => void) => ctx.store.subscribe(fn),
  };
  const stream = watchStream(query, source, () => current(ctx, p, filter).map(render), event);
  return 'status' in stream ? fail(stream.status) : { status: 200, body: '', watch: stream };
}
