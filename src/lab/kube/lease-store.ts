/**
 * Leases that clients create and update themselves (`coordination.k8s.io/v1` in any namespace but
 * `kube-node-lease`, whose Leases the kubelets' heartbeats own: node-registry.ts), stored cluster-wide as in
 * etcd and served the way kube-apiserver's generic registry serves them:
 *
 * - create (POST) → 201 with uid, resourceVersion, creationTimestamp; an existing name → 409 AlreadyExists;
 * - get → the object, or 404 NotFound;
 * - update (PUT) → optimistic concurrency on `metadata.resourceVersion`: a stale one → 409 Conflict, none on
 *   an existing object → 422 Invalid (Lease's strategy has AllowUnconditionalUpdate false), a missing object
 *   without one is created (AllowCreateOnUpdate true: `pkg/registry/coordination/lease/strategy.go`);
 * - delete → 200 Status Success, or 404;
 * - `spec.leaseDurationSeconds` must be positive (`pkg/apis/coordination/validation`), else 422 Invalid.
 *
 * The lab does not run any controller on these Leases: nobody expires them, exactly as in a real cluster,
 * where only their holders and contenders read `renewTime`.
 */
import { randomUUID } from 'node:crypto';
import { NamespacedStore, storeKey } from './namespaced-store.js';
import {
  deletedStatus,
  objectNotFound,
  resourceVersionSetOnCreate,
  statusFailure,
  storedMetadata,
  storedObjectTable,
  type KubeObject,
  type TableObjectMode,
} from './objects.js';
import { NAMESPACES } from './root-ca-publisher.js';

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

export interface StoredLease {
  namespace: string;
  name: string;
  uid: string;
  createdAt: Date;
  resourceVersion: string;
  annotations: Record<string, string>;
  labels: Record<string, string>;
  /**
   * `spec` as the client wrote it (holderIdentity, leaseDurationSeconds, acquireTime, renewTime, leaseTransitions,
   * ...).
   */
  spec: Record<string, unknown>;
}

export type LeaseResult = { status: number; body: KubeObject };

const GROUP = 'coordination.k8s.io';

function details(name: string): KubeObject {
  return { name, group: GROUP, kind: 'leases' };
}

const notFound = (name: string): LeaseResult => ({ status: 404, body: objectNotFound('leases', name, GROUP) });

function invalid(name: string, field: string, value: unknown, why: string): KubeObject {
  return statusFailure(
    422,
    'Invalid',
    `Lease.coordination.k8s.io "${name}" is invalid: ${field}: Invalid value: ${JSON.stringify(value)}: ${why}`,
    {
      ...details(name),
      kind: 'Lease',
      causes: [{ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(value)}: ${why}`, field }],
    },
  );
}

/** MicroTime fields as kube-apiserver writes them back (RFC 3339, microseconds, UTC). */
function microTime(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) return v;
  const micro = /\.(\d{1,9})Z$/.exec(v)?.[1] ?? '';
  return `${d.toISOString().slice(0, 19)}.${micro.padEnd(6, '0').slice(0, 6)}Z`;
}

function normalizeSpec(spec: unknown): Record<string, unknown> {
  const s = { ...((spec ?? {}) as Record<string, unknown>) };
  for (const f of ['acquireTime', 'renewTime']) if (f in s) s[f] = microTime(s[f]);
  return s;
}

function validate(name: string, spec: Record<string, unknown>): KubeObject | null {
  const d = spec.leaseDurationSeconds;
  if (d !== undefined && d !== null && (typeof d !== 'number' || !Number.isInteger(d) || d <= 0))
    return invalid(name, 'spec.leaseDurationSeconds', d, 'must be greater than 0');
  const tr = spec.leaseTransitions;
  if (tr !== undefined && tr !== null && (typeof tr !== 'number' || tr < 0))
    return invalid(name, 'spec.leaseTransitions', tr, 'must be greater than or equal to 0');
  return null;
}

interface LeaseBody {
  metadata?: {
    name?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec?: unknown;
}

export class LeaseStore extends NamespacedStore<StoredLease> {
  /** Whether the lab knows this namespace (requests into another are 404 as for a missing namespace). */
  static knownNamespace(namespace: string): boolean {
    return (NAMESPACES as readonly string[]).includes(namespace);
  }

  create(namespace: string, body: unknown): LeaseResult {
    const b = (body ?? {}) as LeaseBody;
    const name = b.metadata?.name;
    if (!name) return { status: 400, body: statusFailure(400, 'BadRequest', 'metadata.name is required') };
    // kube-apiserver's order: validation, then storage (a resourceVersion set, then the name taken).
    const spec = normalizeSpec(b.spec);
    const bad = validate(name, spec);
    if (bad) return { status: 422, body: bad };
    const rvSet = resourceVersionSetOnCreate(b.metadata?.resourceVersion);
    if (rvSet) return { status: 500, body: rvSet };
    if (this.get(namespace, name)) {
      return {
        status: 409,
        body: statusFailure(409, 'AlreadyExists', `leases.coordination.k8s.io "${name}" already exists`, details(name)),
      };
    }
    const lease: StoredLease = { namespace, name, uid: randomUUID(), createdAt: new Date(), ...this.#written(spec, b) };
    this.items.set(storeKey(namespace, name), lease);
    return { status: 201, body: leaseObjectOf(lease) };
  }

  /** What a create or an update writes from its body and validated spec (a new resourceVersion). */
  #written(
    spec: StoredLease['spec'],
    b: LeaseBody,
  ): Pick<StoredLease, 'resourceVersion' | 'annotations' | 'labels' | 'spec'> {
    return {
      resourceVersion: this.nextVersion(),
      annotations: { ...(b.metadata?.annotations ?? {}) },
      labels: { ...(b.metadata?.labels ?? {}) },
      spec,
    };
  }

  update(namespace: string, name: string, body: unknown): LeaseResult {
    const b = (body ?? {}) as LeaseBody;
    const existing = this.get(namespace, name);
    const rv = b.metadata?.resourceVersion;
    if (!existing) {
      if (rv) return notFound(name);
      return this.create(namespace, { ...b, metadata: { ...(b.metadata ?? {}), name } });
    }
    if (!rv)
      return { status: 422, body: invalid(name, 'metadata.resourceVersion', 0, 'must be specified for an update') };
    if (rv !== existing.resourceVersion) {
      return {
        status: 409,
        body: statusFailure(
          409,
          'Conflict',
          `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": the object has been ` +
            `modified; please apply your changes to the latest version and try again`,
          details(name),
        ),
      };
    }
    const spec = normalizeSpec(b.spec);
    const bad = validate(name, spec);
    if (bad) return { status: 422, body: bad };
    const next: StoredLease = { ...existing, ...this.#written(spec, b) };
    this.items.set(storeKey(namespace, name), next);
    return { status: 200, body: leaseObjectOf(next) };
  }

  delete(namespace: string, name: string): LeaseResult {
    const existing = this.get(namespace, name);
    if (!existing) return notFound(name);
    this.items.delete(storeKey(namespace, name));
    this.nextVersion();
    return { status: 200, body: deletedStatus({ ...details(name), uid: existing.uid }) };
  }
}

function leaseMetadata(l: StoredLease): KubeObject {
  return {
    ...storedMetadata(l),
    ...(Object.keys(l.labels).length ? { labels: { ...l.labels } } : {}),
    ...(Object.keys(l.annotations).length ? { annotations: { ...l.annotations } } : {}),
  };
}

export function leaseObjectOf(l: StoredLease): KubeObject {
  return { kind: 'Lease', apiVersion: 'coordination.k8s.io/v1', metadata: leaseMetadata(l), spec: { ...l.spec } };
}

export function storedLeaseList(items: StoredLease[], resourceVersion: string): KubeObject {
  return {
    kind: 'LeaseList',
    apiVersion: 'coordination.k8s.io/v1',
    metadata: { resourceVersion },
    items: items.map(leaseObjectOf),
  };
}

// kube-apiserver's printer for Leases (pkg/printers/internalversion: Name, Holder, Age).
const HOLDER_COLUMN = {
  name: 'Holder',
  type: 'string',
  format: '',
  description: 'HolderIdentity contains the identity of the holder of a current lease.',
  priority: 0,
};

export function storedLeaseTable(
  items: StoredLease[],
  now: Date,
  resourceVersion: string,
  include: TableObjectMode,
): KubeObject {
  const holder = (l: StoredLease): string => (typeof l.spec.holderIdentity === 'string' ? l.spec.holderIdentity : '');
  return storedObjectTable(items, HOLDER_COLUMN, holder, now, resourceVersion, include, {
    object: leaseObjectOf,
    metadata: leaseMetadata,
  });
}
