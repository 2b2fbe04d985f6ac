/**
 * One `coordination.k8s.io/v1` Lease, read and written with @kubernetes/client-node from an admin
 * kubeconfig, with the API server's optimistic concurrency (every write names the resourceVersion it
 * replaces; a stale one is refused with 409). I/O only: what to write is decided in src/apply/run-lease.
 */
import { RotateError } from '../../domain/errors.js';
import { kubeError, loadKubeconfig, withTimeout, type KubeconfigSource } from './nodes.js';

/** A Lease as the run lease uses it: times are Dates or null, annotations plain strings. */
export interface LeaseRecord {
  name: string;
  namespace: string;
  resourceVersion: string;
  annotations: Record<string, string>;
  holderIdentity: string | null;
  leaseDurationSeconds: number | null;
  acquireTime: Date | null;
  renewTime: Date | null;
  leaseTransitions: number;
}

export type LeaseWrite = Omit<LeaseRecord, 'resourceVersion' | 'name' | 'namespace'>;

/** The API server refused a write because the Lease changed (409 Conflict) or already exists (409 AlreadyExists). */
export class LeaseConflict extends Error {
  constructor(readonly reason: 'Conflict' | 'AlreadyExists') {
    super(`lease write refused: ${reason}`);
  }
}

const TIMEOUT_MS = 15_000;

function date(v: unknown): Date | null {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v;
  if (typeof v === 'string') {
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  return null;
}

function toRecord(l: {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
}): LeaseRecord {
  const s = (l.spec ?? {}) as Record<string, unknown>;
  return {
    name: l.metadata?.name ?? '',
    namespace: l.metadata?.namespace ?? '',
    resourceVersion: l.metadata?.resourceVersion ?? '',
    annotations: { ...(l.metadata?.annotations ?? {}) },
    holderIdentity: typeof s.holderIdentity === 'string' && s.holderIdentity !== '' ? s.holderIdentity : null,
    leaseDurationSeconds: typeof s.leaseDurationSeconds === 'number' ? s.leaseDurationSeconds : null,
    acquireTime: date(s.acquireTime),
    renewTime: date(s.renewTime),
    leaseTransitions: typeof s.leaseTransitions === 'number' ? s.leaseTransitions : 0,
  };
}

function body(name: string, namespace: string, w: LeaseWrite, resourceVersion?: string) {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, annotations: w.annotations, ...(resourceVersion ? { resourceVersion } : {}) },
    spec: {
      ...(w.holderIdentity ? { holderIdentity: w.holderIdentity } : {}),
      ...(w.leaseDurationSeconds ? { leaseDurationSeconds: w.leaseDurationSeconds } : {}),
      ...(w.acquireTime ? { acquireTime: w.acquireTime } : {}),
      ...(w.renewTime ? { renewTime: w.renewTime } : {}),
      leaseTransitions: w.leaseTransitions,
    },
  };
}

function status(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

function reasonOf(err: unknown): string {
  const b = (err as { body?: unknown }).body;
  try {
    const parsed = (typeof b === 'string' ? JSON.parse(b) : b) as { reason?: string } | undefined;
    return parsed?.reason ?? '';
  } catch {
    return '';
  }
}

/** The Lease API of one cluster, through one kubeconfig. */
export class LeaseApi {
  private constructor(
    private readonly api: {
      readNamespacedLease(p: { name: string; namespace: string }): Promise<unknown>;
      createNamespacedLease(p: { namespace: string; body: unknown }): Promise<unknown>;
      replaceNamespacedLease(p: { name: string; namespace: string; body: unknown }): Promise<unknown>;
    },
    readonly server: string,
    readonly origin: string,
  ) {}

  static async open(source: KubeconfigSource): Promise<LeaseApi> {
    const { k8s, kc, server } = await loadKubeconfig(source);
    return new LeaseApi(kc.makeApiClient(k8s.CoordinationV1Api) as never, server, source.origin);
  }

  async read(namespace: string, name: string): Promise<LeaseRecord | null> {
    try {
      return toRecord(
        (await withTimeout(
          this.api.readNamespacedLease({ name, namespace }),
          TIMEOUT_MS,
          `reading Lease ${namespace}/${name} at ${this.server}`,
        )) as never,
      );
    } catch (err) {
      if (status(err) === 404) return null;
      throw this.#error(err, `reading Lease ${namespace}/${name}`);
    }
  }

  /** Create; a Lease of that name already there → LeaseConflict('AlreadyExists'). */
  async create(namespace: string, name: string, w: LeaseWrite): Promise<LeaseRecord> {
    try {
      return toRecord(
        (await withTimeout(
          this.api.createNamespacedLease({ namespace, body: body(name, namespace, w) }),
          TIMEOUT_MS,
          `creating Lease ${namespace}/${name} at ${this.server}`,
        )) as never,
      );
    } catch (err) {
      if (status(err) === 409) throw new LeaseConflict('AlreadyExists');
      throw this.#error(err, `creating Lease ${namespace}/${name}`);
    }
  }

  /** Replace the version `resourceVersion`; another version there now → LeaseConflict('Conflict'). */
  async replace(namespace: string, name: string, resourceVersion: string, w: LeaseWrite): Promise<LeaseRecord> {
    try {
      return toRecord(
        (await withTimeout(
          this.api.replaceNamespacedLease({ name, namespace, body: body(name, namespace, w, resourceVersion) }),
          TIMEOUT_MS,
          `updating Lease ${namespace}/${name} at ${this.server}`,
        )) as never,
      );
    } catch (err) {
      if (status(err) === 409)
        throw new LeaseConflict(reasonOf(err) === 'AlreadyExists' ? 'AlreadyExists' : 'Conflict');
      if (status(err) === 404) throw new LeaseConflict('Conflict');
      throw this.#error(err, `updating Lease ${namespace}/${name}`);
    }
  }

  #error(err: unknown, what: string): RotateError {
    return kubeError(err, this.server, this.origin, what);
  }
}
