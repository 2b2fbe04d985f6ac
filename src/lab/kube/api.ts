/**
 * The kube-apiserver's request handling: routing of the paths the lab serves, authentication result in,
 * authorization, and the response object out. Pure apart from the shared stores it reads and updates.
 *
 * Served: /version, /healthz, /livez, /readyz; discovery (/api, /api/v1, /apis, /apis/<group>[/<version>]);
 * nodes (list and watch with label and metadata.name selectors, get, Table for kubectl; PATCH nodes/<name>/status
 * counts as a heartbeat); Leases in
 * kube-node-lease (GET, list, PUT, POST: the kubelet heartbeat; `renewTime` is the last renewal); Leases in
 * the other namespaces (create, get, list, update, delete, as clients such as a run lease use them);
 * CertificateSigningRequests (POST, GET, list); ConfigMaps (GET, list, watch, POST, PUT, PATCH, DELETE:
 * kube-root-ca.crt, extension-apiserver-authentication and the users' own); the control planes' mirror pods
 * in kube-system (GET, list with labelSelector / fieldSelector spec.nodeName). Anything else is a 404 Status.
 */
import { authorize, resourceTarget, type AuthnResult, type KubeUser, type RequestTarget } from './auth.js';
import {
  configMapFilter,
  configMapList,
  configMapObject,
  configMapPage,
  configMapTable,
  configMapWatch,
} from './configmap-api.js';
import { writeConfigMap, type ConfigMapWriteMethod } from './configmap-write.js';
import { selectorFilter, watchRequested } from './list-paging.js';
import { watchStream, type WatchStream } from './watch-stream.js';
import type { CsrStore } from './controller-manager.js';
import type { ConfigMapStore, ConfigMapView } from './root-ca-publisher.js';
import type { NodeEvent, NodeRegistry } from './node-registry.js';
import { leaseObjectOf, LeaseStore, NODE_LEASE_NAMESPACE, storedLeaseList, storedLeaseTable } from './lease-store.js';
import { matchesLabels, mirrorPodObject, type MirrorPods } from './static-pods.js';
import { apiGroupDocument, apiGroupList, apiVersions, coreResourceList, groupResourceList } from './discovery.js';
import {
  badRequest,
  csrList,
  csrObject,
  forbiddenStatus,
  leaseList,
  leaseObject,
  methodNotAllowed,
  nodeList,
  nodeObject,
  nodeTable,
  notFoundStatus,
  objectNotFound,
  statusFailure,
  tableMode,
  unauthorizedStatus,
  versionInfo,
  wantsTable,
  watchTables,
  type KubeObject,
  type NodeView,
} from './objects.js';
import { acceptsJson, notAcceptableStatus } from './negotiate.js';
import {
  handleNamespaces,
  handleWorkload,
  isNamespacesPath,
  parseWorkloadPath,
  workloadTarget,
  type WorkloadApiContext,
} from './workload-api.js';

export interface ApiRequest {
  method: string;
  /** Path and query, as in the request line. */
  url: string;
  accept: string | undefined;
  /** Content-Type of the body (PATCH: which patch it is). */
  contentType?: string | undefined;
  body: unknown;
  authn: AuthnResult;
}

export interface ApiResponse {
  status: number;
  body: KubeObject | string;
  /** A watch: the response streams these events (one JSON object per line) instead of `body`. */
  watch?: WatchStream;
}

const WATCH_TIMEOUT_DEFAULT_S = 30;

export interface ApiContext {
  registry: NodeRegistry;
  csrs: CsrStore;
  configMaps: ConfigMapStore;
  mirrorPods: MirrorPods;
  /**
   * Leases clients own (outside kube-node-lease), e.g. a run lease in kube-system; absent: those namespaces are empty.
   */
  leases?: LeaseStore;
  /** Pods, Secrets and the workload resources (workload-api.ts); absent: only the mirror pods are served. */
  workloads?: WorkloadApiContext;
  /** host:port this apiserver advertises. */
  serverAddress: string;
  leaseDurationSeconds: number;
  now(): Date;
}

const VERB_BY_METHOD: Record<string, string> = {
  GET: 'get',
  POST: 'create',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

interface Route {
  target: RequestTarget;
  run(user: KubeUser): ApiResponse;
}

const ok = (body: KubeObject | string, status = 200): ApiResponse => ({ status, body });
const fail = (o: KubeObject): ApiResponse => ({ status: Number(o.code), body: o });

/** The fields a Node list or watch can select on (kube-apiserver's node registry: metadata.name among them). */
const NODE_FIELDS = ['metadata.name'] as const;

/**
 * A watch on the Nodes `selected` accepts (`kubectl get nodes -w`): from `resourceVersion`, the changes after it
 * (410 Expired once they have left the registry's history); without one or with "0", the current Nodes as
 * ADDED first. A change is a Ready transition or a deletion (node-registry.ts); a Node entering or leaving the
 * selector is ADDED or DELETED for the watch (selectedChange). Tables when asked, one row per event.
 */
function nodeWatch(
  ctx: ApiContext,
  query: URLSearchParams,
  accept: string | undefined,
  selected: (v: NodeView) => boolean,
): ApiResponse {
  const tables = watchTables();
  const render = (v: NodeView): KubeObject =>
    wantsTable(accept) ? tables(nodeTable([v], ctx.now(), v.resourceVersion, tableMode(query))) : nodeObject(v);
  // A Node's labels and name never change in the lab: a change is in or out of the selector before and after.
  const event = (e: NodeEvent): KubeObject | null =>
    selected(e.view) ? { type: e.type, object: render(e.view) } : null;
  const stream = watchStream(
    query,
    ctx.registry.changes,
    () => ctx.registry.views().filter(selected).map(render),
    event,
  );
  return 'status' in stream ? fail(stream.status) : { status: 200, body: '', watch: stream };
}

function discovery(body: KubeObject | null): Route | null {
  return body ? { target: { kind: 'discovery' }, run: () => ok(body) } : null;
}

/** A GET without a name lists, or watches with `?watch=true`; any other request keeps its method's verb. */
function collectionVerb(method: string, verb: string, name: string | undefined, query: URLSearchParams): string {
  return name === undefined && method === 'GET' ? (watchRequested(query) ? 'watch' : 'list') : verb;
}

/** Does the namespace exist (NamespaceLifecycle answers 404 to a create in another)? */
function knownNamespace(ctx: ApiContext, namespace: string): boolean {
  return ctx.workloads
    ? ctx.workloads.namespaces.some((n) => n.name === namespace)
    : LeaseStore.knownNamespace(namespace);
}

function route(ctx: ApiContext, req: ApiRequest, path: string, query: URLSearchParams): Route | null {
  const method = req.method.toUpperCase();
  const verb = VERB_BY_METHOD[method] ?? method.toLowerCase();
  const parts = path.split('/').filter((p) => p !== '');

  if (path === '/version' && method === 'GET') return { target: { kind: 'public' }, run: () => ok(versionInfo()) };
  if (['healthz', 'livez', 'readyz'].includes(parts[0] ?? '') && method === 'GET')
    return { target: { kind: 'public' }, run: () => ok('ok') };
  if (method === 'GET') {
    if (path === '/api') return discovery(apiVersions(ctx.serverAddress));
    if (path === '/api/v1') return discovery(coreResourceList());
    if (path === '/apis') return discovery(apiGroupList());
    if (parts[0] === 'apis' && parts.length === 2) return discovery(apiGroupDocument(parts[1]!));
    if (parts[0] === 'apis' && parts.length === 3) return discovery(groupResourceList(parts[1]!, parts[2]!));
  }

  // /api/v1/nodes[/<name>[/status]]
  if (parts[0] === 'api' && parts[1] === 'v1' && parts[2] === 'nodes' && parts.length <= 5) {
    const name = parts[3];
    const subresource = parts[4];
    if (subresource !== undefined && subresource !== 'status') return null;
    const listVerb = collectionVerb(method, verb, name, query);
    const target = resourceTarget(listVerb, '', 'nodes', { subresource, name });
    return {
      target,
      run: () => {
        if (name === undefined) {
          if (method !== 'GET') return fail(methodNotAllowed());
          const filter = selectorFilter(query, NODE_FIELDS);
          if (typeof filter !== 'function') return fail(badRequest(filter.error));
          const selected = (v: NodeView) => filter(nodeObject(v));
          if (listVerb === 'watch') return nodeWatch(ctx, query, req.accept, selected);
          const views = ctx.registry.views().filter(selected);
          if (wantsTable(req.accept))
            return ok(nodeTable(views, ctx.now(), ctx.registry.resourceVersion, tableMode(query)));
          return ok(nodeList(views, ctx.registry.resourceVersion));
        }
        if (!ctx.registry.has(name)) return fail(objectNotFound('nodes', name));
        if (method === 'PATCH' && subresource === 'status') ctx.registry.heartbeat(name);
        else if (method !== 'GET') return fail(methodNotAllowed());
        const view = ctx.registry.view(name)!;
        if (method === 'GET' && !subresource && wantsTable(req.accept))
          return ok(nodeTable([view], ctx.now(), ctx.registry.resourceVersion, tableMode(query)));
        return ok(nodeObject(view));
      },
    };
  }

  const workload = ctx.workloads ? parseWorkloadPath(parts) : null;
  if (workload)
    return {
      target: workloadTarget(workload, method, query),
      run: () => handleWorkload(ctx.workloads!, workload, req, query),
    };
  if (ctx.workloads && isNamespacesPath(parts)) {
    const name = parts[3];
    const target = resourceTarget(name === undefined && method === 'GET' ? 'list' : verb, '', 'namespaces', { name });
    return { target, run: () => handleNamespaces(ctx.workloads!, name, req, query) };
  }

  // /api/v1/pods, /api/v1/namespaces/<ns>/pods[/<name>]: the static pods' mirror pods (all in kube-system)
  const podsAt = parts[2] === 'pods' ? 2 : parts[2] === 'namespaces' && parts[4] === 'pods' ? 4 : -1;
  if (parts[0] === 'api' && parts[1] === 'v1' && podsAt > 0 && parts.length <= podsAt + 2) {
    const namespace = podsAt === 4 ? parts[3] : undefined;
    const name = parts[podsAt + 1];
    const listVerb = collectionVerb(method, verb, name, query);
    const target = resourceTarget(listVerb, '', 'pods', { namespace, name });
    return {
      target,
      run: () => {
        if (method !== 'GET' || listVerb === 'watch') return fail(methodNotAllowed());
        const all =
          namespace === undefined || namespace === 'kube-system' ? ctx.mirrorPods.list().map(mirrorPodObject) : [];
        if (name !== undefined) {
          const found = all.find((p) => (p.metadata as { name: string }).name === name);
          return found ? ok(found) : fail(objectNotFound('pods', name));
        }
        const node = /^spec\.nodeName=(.*)$/.exec(query.get('fieldSelector') ?? '')?.[1];
        const items = all.filter(
          (p) =>
            matchesLabels((p.metadata as { labels: Record<string, string> }).labels, query.get('labelSelector')) &&
            (node === undefined || (p.spec as { nodeName: string }).nodeName === node),
        );
        const rv = Math.max(0, ...all.map((p) => Number((p.metadata as { resourceVersion: string }).resourceVersion)));
        return ok({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items });
      },
    };
  }

  // /api/v1/configmaps, /api/v1/namespaces/<ns>/configmaps[/<name>] (POST, PUT, PATCH, DELETE: configmap-write.ts)
  const cmNamespaced =
    parts[0] === 'api' &&
    parts[1] === 'v1' &&
    parts[2] === 'namespaces' &&
    parts[4] === 'configmaps' &&
    parts.length <= 6;
  if (cmNamespaced || (parts[0] === 'api' && parts[1] === 'v1' && parts[2] === 'configmaps' && parts.length === 3)) {
    const namespace = cmNamespaced ? parts[3] : undefined;
    const name = cmNamespaced ? parts[5] : undefined;
    const listVerb = collectionVerb(method, verb, name, query);
    const target = resourceTarget(listVerb, '', 'configmaps', { namespace, name });
    return {
      target,
      run: () => {
        const write =
          name !== undefined
            ? method === 'PUT' || method === 'PATCH' || method === 'DELETE'
            : method === 'POST' && namespace !== undefined;
        if (write) {
          return writeConfigMap(ctx.configMaps, {
            method: method as ConfigMapWriteMethod,
            namespace: namespace!,
            name,
            body: req.body,
            contentType: req.contentType,
            namespaceExists: knownNamespace(ctx, namespace!),
          });
        }
        if (method !== 'GET') return fail(methodNotAllowed());
        if (name === undefined) {
          const filter = configMapFilter(query);
          if ('status' in filter) return fail(filter.status);
          if (listVerb === 'watch') {
            // kubectl get -w asks for Tables: each event a one-row Table of its object (resourceVersion: the object's).
            const tables = watchTables();
            const asTable = (c: ConfigMapView) =>
              tables(configMapTable([c], ctx.now(), c.resourceVersion, tableMode(query)));
            const watch = wantsTable(req.accept)
              ? configMapWatch(ctx.configMaps, namespace, query, filter, asTable)
              : configMapWatch(ctx.configMaps, namespace, query, filter);
            return 'status' in watch ? fail(watch.status) : { status: 200, body: '', watch };
          }
          const chunk = configMapPage(
            ctx.configMaps.list(namespace).filter(filter),
            ctx.configMaps.resourceVersion,
            query,
          );
          if ('status' in chunk) return fail(chunk.status);
          const items = chunk.items;
          if (wantsTable(req.accept)) {
            return ok({
              ...configMapTable(items, ctx.now(), ctx.configMaps.resourceVersion, tableMode(query)),
              metadata: { resourceVersion: ctx.configMaps.resourceVersion, ...chunk.page },
            });
          }
          return ok(configMapList(items, ctx.configMaps.resourceVersion, chunk.page));
        }
        const cm = ctx.configMaps.get(namespace!, name);
        if (!cm) return fail(objectNotFound('configmaps', name));
        if (wantsTable(req.accept))
          return ok(configMapTable([cm], ctx.now(), ctx.configMaps.resourceVersion, tableMode(query)));
        return ok(configMapObject(cm));
      },
    };
  }

  // /apis/coordination.k8s.io/v1/namespaces/<ns>/leases[/<name>]
  if (
    parts[0] === 'apis' &&
    parts[1] === 'coordination.k8s.io' &&
    parts[2] === 'v1' &&
    parts[3] === 'namespaces' &&
    parts[5] === 'leases' &&
    parts.length <= 7
  ) {
    const namespace = parts[4]!;
    const pathName = parts[6];
    const body = (req.body ?? {}) as { metadata?: { name?: string }; spec?: { holderIdentity?: string } };
    const name = pathName ?? (method === 'POST' ? body.metadata?.name : undefined);
    const list = pathName === undefined && method === 'GET';
    const target = resourceTarget(list ? 'list' : verb, 'coordination.k8s.io', 'leases', { namespace, name });
    return {
      target,
      run: () => {
        if (namespace !== NODE_LEASE_NAMESPACE && ctx.leases)
          return clientLease(ctx, ctx.leases, req, namespace, pathName, query);
        if (list) {
          // Only node Leases exist in the lab; every other namespace is empty.
          const leases = namespace === 'kube-node-lease' ? ctx.registry.leases() : [];
          return ok(leaseList(leases, ctx.registry.resourceVersion, ctx.leaseDurationSeconds));
        }
        if (namespace !== 'kube-node-lease' || name === undefined || !ctx.registry.has(name)) {
          if (method === 'POST' && name === undefined) return fail(badRequest('metadata.name is required'));
          return fail(objectNotFound('leases', name ?? '', 'coordination.k8s.io'));
        }
        if (
          (method === 'PUT' || method === 'POST') &&
          pathName !== undefined &&
          body.metadata?.name !== undefined &&
          body.metadata.name !== pathName
        ) {
          return fail(
            badRequest(
              `the name of the object (${body.metadata.name}) does not match the name on the URL (${pathName})`,
            ),
          );
        }
        if (method === 'PUT' || (method === 'POST' && pathName === undefined)) {
          const beat = ctx.registry.heartbeat(name)!;
          return ok(
            leaseObject(
              name,
              body.spec?.holderIdentity ?? name,
              beat.at,
              String(beat.leaseVersion),
              ctx.leaseDurationSeconds,
            ),
            method === 'POST' ? 201 : 200,
          );
        }
        if (method === 'GET') {
          const lease = ctx.registry.leases().find((l) => l.name === name);
          if (!lease) return fail(objectNotFound('leases', name, 'coordination.k8s.io'));
          return ok(leaseObject(name, name, lease.renewTime, lease.resourceVersion, ctx.leaseDurationSeconds));
        }
        return fail(methodNotAllowed());
      },
    };
  }

  // /apis/certificates.k8s.io/v1/certificatesigningrequests[/<name>]
  if (
    parts[0] === 'apis' &&
    parts[1] === 'certificates.k8s.io' &&
    parts[2] === 'v1' &&
    parts[3] === 'certificatesigningrequests' &&
    parts.length <= 5
  ) {
    const name = parts[4];
    const listVerb = collectionVerb(method, verb, name, query);
    const watch = listVerb === 'watch';
    const target = resourceTarget(listVerb, 'certificates.k8s.io', 'certificatesigningrequests', { name });
    return {
      target,
      run: (user) => {
        if (watch) return watchCsr(ctx, query);
        if (name === undefined && method === 'GET') return ok(csrList(ctx.csrs.list(), ctx.csrs.resourceVersion));
        if (name === undefined && method === 'POST') return createCsr(ctx, req.body, user);
        if (name !== undefined && method === 'GET') {
          const c = ctx.csrs.get(name);
          return c ? ok(csrObject(c)) : fail(objectNotFound('certificatesigningrequests', name, 'certificates.k8s.io'));
        }
        return fail(methodNotAllowed());
      },
    };
  }
  return null;
}

/**
 * A Lease a client owns (any namespace but kube-node-lease): the generic registry's create / get / update /
 * delete with optimistic concurrency (lease-store.ts). `kubectl get lease` gets the Table it asks for.
 */
function clientLease(
  ctx: ApiContext,
  store: LeaseStore,
  req: ApiRequest,
  namespace: string,
  name: string | undefined,
  query: URLSearchParams,
): ApiResponse {
  const method = req.method.toUpperCase();
  if (!LeaseStore.knownNamespace(namespace)) return fail(objectNotFound('namespaces', namespace));
  if (name === undefined) {
    if (method === 'POST') {
      const r = store.create(namespace, req.body);
      return { status: r.status, body: r.body };
    }
    if (method !== 'GET' || watchRequested(query)) return fail(methodNotAllowed());
    const items = store.list(namespace);
    if (wantsTable(req.accept)) return ok(storedLeaseTable(items, ctx.now(), store.resourceVersion, tableMode(query)));
    return ok(storedLeaseList(items, store.resourceVersion));
  }
  const body = (req.body ?? {}) as { metadata?: { name?: string } };
  if (method === 'PUT' && body.metadata?.name !== undefined && body.metadata.name !== name) {
    return fail(
      badRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`),
    );
  }
  if (method === 'GET') {
    const lease = store.get(namespace, name);
    if (!lease) return fail(objectNotFound('leases', name, 'coordination.k8s.io'));
    if (wantsTable(req.accept))
      return ok(storedLeaseTable([lease], ctx.now(), store.resourceVersion, tableMode(query)));
    return ok(leaseObjectOf(lease));
  }
  const r =
    method === 'PUT'
      ? store.update(namespace, name, req.body)
      : method === 'DELETE'
        ? store.delete(namespace, name)
        : null;
  return r ? { status: r.status, body: r.body } : fail(methodNotAllowed());
}

/**
 * A watch on one CSR (`fieldSelector=metadata.name=<name>`), as the kubelet's TLS bootstrap waits for its
 * certificate. The lab supports only this selector.
 */
function watchCsr(ctx: ApiContext, query: URLSearchParams): ApiResponse {
  const m = /^metadata\.name=(.+)$/.exec(query.get('fieldSelector') ?? '');
  if (!m) return fail(badRequest('the lab serves CSR watches only with fieldSelector=metadata.name=<name>'));
  const name = m[1]!;
  const timeoutS = Number(query.get('timeoutSeconds') ?? WATCH_TIMEOUT_DEFAULT_S);
  const current = ctx.csrs.get(name);
  return {
    status: 200,
    body: '',
    watch: {
      initial: current ? [{ type: 'ADDED', object: csrObject(current) }] : [],
      subscribe: (send) => ctx.csrs.subscribe(name, (c) => send({ type: 'MODIFIED', object: csrObject(c) })),
      timeoutMs: (Number.isFinite(timeoutS) && timeoutS > 0 ? Math.min(timeoutS, 600) : WATCH_TIMEOUT_DEFAULT_S) * 1000,
    },
  };
}

function createCsr(ctx: ApiContext, body: unknown, user: KubeUser): ApiResponse {
  const b = (body ?? {}) as {
    metadata?: { name?: string; generateName?: string };
    spec?: { request?: string; signerName?: string; usages?: string[] };
  };
  const request = b.spec?.request;
  if (typeof request !== 'string' || request === '') return fail(badRequest('spec.request is required'));
  const requestPem = Buffer.from(request, 'base64').toString('utf8');
  if (!requestPem.includes('-----BEGIN CERTIFICATE REQUEST-----'))
    return fail(badRequest('spec.request must be a base64-encoded PEM CERTIFICATE REQUEST'));
  if (typeof b.spec?.signerName !== 'string') return fail(badRequest('spec.signerName is required'));
  const name = b.metadata?.name;
  if (name !== undefined && ctx.csrs.has(name)) {
    return fail(
      statusFailure(409, 'AlreadyExists', `certificatesigningrequests.certificates.k8s.io "${name}" already exists`, {
        name,
        group: 'certificates.k8s.io',
        kind: 'certificatesigningrequests',
      }),
    );
  }
  const generateName = b.metadata?.generateName;
  if (name === undefined && !generateName)
    return fail(badRequest('metadata.name or metadata.generateName is required'));
  const view = ctx.csrs.create({
    requestPem,
    signerName: b.spec.signerName,
    usages: b.spec.usages ?? [],
    user,
    ...(name ? { name } : { generateName }),
  });
  return ok(csrObject(view), 201);
}

export function handleApiRequest(ctx: ApiContext, req: ApiRequest): ApiResponse {
  if (!req.authn.ok) return fail(unauthorizedStatus());
  const user = req.authn.user;
  const url = new URL(req.url, 'https://apiserver.invalid');
  const r = route(ctx, req, url.pathname.replace(/\/+$/, '') || '/', url.searchParams);
  if (r === null) return fail(user.name === 'system:anonymous' ? unauthorizedStatus() : notFoundStatus());
  if (!authorize(user, r.target)) {
    if (user.name === 'system:anonymous') return fail(unauthorizedStatus());
    const t = r.target;
    if (t.kind !== 'resource') return fail(notFoundStatus());
    return fail(
      forbiddenStatus(
        user.name,
        t.verb,
        t.subresource ? `${t.resource}/${t.subresource}` : t.resource,
        t.group,
        t.name,
        t.namespace,
      ),
    );
  }
  // The handler negotiates the response type after authentication and authorization (the filters);
  // healthz/livez/readyz are plain-text endpoints that do not negotiate.
  const plain = ['healthz', 'livez', 'readyz'].includes(url.pathname.split('/').filter((p) => p !== '')[0] ?? '');
  if (!plain && !acceptsJson(req.accept)) return fail(notAcceptableStatus());
  return r.run(user);
}
