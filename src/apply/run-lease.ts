/**
 * The cluster-side run lease, pure part: one `coordination.k8s.io/v1` Lease (`kube-system/talos-rotate`)
 * says which run may change this cluster's CAs, whatever checkout, state file or CI runner it comes from
 * (the state lock only covers one state file). What it holds, when a run may take it, and the refusals.
 *
 * Like client-go's leader election (`tools/leaderelection`): the holder renews `renewTime` every
 * RENEW_INTERVAL; it stops (the run is interrupted) when it could not renew for RENEW_DEADLINE, which is
 * shorter than the lease duration, so it has stopped before anyone may see the lease as expired; and a
 * contender judges expiry by watching the lease not change for a whole duration on its own monotonic clock,
 * never by comparing the holder's `renewTime` with its own wall clock alone (the two machines' clocks may
 * differ). Taking over an expired lease needs `--take-over-expired-lease`; a lease held by the run being
 * resumed or rolled back (a process that was killed) is taken back without it.
 */
import { RotateError } from '../domain/errors.js';
import type { LeaseRecord, LeaseWrite } from '../cluster/kube/lease.js';
import type { RunLeaseHolder } from '../events/types.js';

export const RUN_LEASE_NAMESPACE = 'kube-system';
export const RUN_LEASE_NAME = 'talos-rotate';
export const RUN_LEASE_DURATION_S = 60;
export const RUN_LEASE_RENEW_INTERVAL_MS = 10_000;
export const RUN_LEASE_RENEW_DEADLINE_MS = 45_000;
export const TAKE_OVER_FLAG = '--take-over-expired-lease';
export const NO_LEASE_FLAG = '--no-run-lease';

const A = 'talos-rotate.dev/';
export const ANNOTATIONS = {
  runId: `${A}run-id`,
  who: `${A}who`,
  operation: `${A}operation`,
  state: `${A}state`,
  desired: `${A}desired-file`,
  pid: `${A}pid`,
  toolVersion: `${A}tool-version`,
} as const;

/** Who holds (or wants) the lease: a run, where it runs from and where its state is. */
export interface RunIdentity {
  runId: string;
  who: string;
  operation: 'apply' | 'rollback';
  statePath: string;
  desiredFile: string | null;
  pid: number;
  toolVersion: string;
}

/** A holder as events and errors name it (one shape: the events' own). */
export type LeaseHolder = RunLeaseHolder;

export function holderOf(l: LeaseRecord): LeaseHolder {
  const a = l.annotations;
  return {
    runId: a[ANNOTATIONS.runId] ?? l.holderIdentity ?? '',
    who: a[ANNOTATIONS.who] ?? 'unknown',
    operation: a[ANNOTATIONS.operation] ?? 'unknown',
    statePath: a[ANNOTATIONS.state] ?? 'unknown',
    desiredFile: a[ANNOTATIONS.desired] ?? null,
    renewTime: l.renewTime ? l.renewTime.toISOString() : null,
    leaseDurationSeconds: l.leaseDurationSeconds,
  };
}

export function describeHolder(h: LeaseHolder): string {
  return (
    `${h.operation} run ${h.runId} by ${h.who} ` +
    `(state ${h.statePath}${h.desiredFile ? `, desired state ${h.desiredFile}` : ''}; ` +
    `last renewed ${h.renewTime ?? 'never'})`
  );
}

/** The Lease a holder writes: holderIdentity = run id, the rest in annotations. */
export function leaseFor(
  me: RunIdentity,
  now: Date,
  prev: LeaseRecord | null,
  durationS = RUN_LEASE_DURATION_S,
): LeaseWrite {
  const sameHolder = prev?.holderIdentity === me.runId;
  return {
    holderIdentity: me.runId,
    leaseDurationSeconds: durationS,
    acquireTime: sameHolder && prev?.acquireTime ? prev.acquireTime : now,
    renewTime: now,
    leaseTransitions: prev ? prev.leaseTransitions + (sameHolder || !prev.holderIdentity ? 0 : 1) : 0,
    annotations: {
      [ANNOTATIONS.runId]: me.runId,
      [ANNOTATIONS.who]: me.who,
      [ANNOTATIONS.operation]: me.operation,
      [ANNOTATIONS.state]: me.statePath,
      ...(me.desiredFile ? { [ANNOTATIONS.desired]: me.desiredFile } : {}),
      [ANNOTATIONS.pid]: String(me.pid),
      [ANNOTATIONS.toolVersion]: me.toolVersion,
    },
  };
}

/** client-go's release: the holder is cleared (duration 1 s) so that the next run takes it at once. */
export function releasedLease(prev: LeaseRecord, now: Date): LeaseWrite {
  return {
    holderIdentity: null,
    leaseDurationSeconds: 1,
    acquireTime: null,
    renewTime: now,
    leaseTransitions: prev.leaseTransitions,
    annotations: {},
  };
}

export type LeaseDecision =
  | { action: 'create' }
  /** Replace the version seen: free (released), ours, or the run this process continues. */
  | { action: 'take'; resourceVersion: string; why: 'free' | 'same-run' }
  /** Expired by the holder's clock and the flag given: confirm by watching it not change for `observeMs`. */
  | { action: 'observe-then-take'; resourceVersion: string; observeMs: number }
  | { action: 'refuse'; error: RotateError };

/**
 * What to do with the lease found. `reclaimable`: run ids this process continues (the run it resumes,
 * or the apply run a rollback undoes and its unfinished rollback); their process is gone, since this one
 * holds their state file's lock.
 */
export function decideAcquire(
  current: LeaseRecord | null,
  me: RunIdentity,
  reclaimable: readonly string[],
  opts: { takeOverExpired: boolean },
  now: Date,
  local: LocalProcesses = { host: hostOf(me.who), pidAlive: () => false },
): LeaseDecision {
  if (!current) return { action: 'create' };
  if (!current.holderIdentity) return { action: 'take', resourceVersion: current.resourceVersion, why: 'free' };
  const holder = holderOf(current);
  const durationMs = (current.leaseDurationSeconds ?? RUN_LEASE_DURATION_S) * 1000;
  const expiredByClock = current.renewTime === null || current.renewTime.getTime() + durationMs < now.getTime();
  if (current.holderIdentity === me.runId || reclaimable.includes(current.holderIdentity)) {
    // The same run: its process was killed (this one holds the state's lock). Unless that process is proven
    // gone (this host, pid not running) or the lease expired, the same run may be running from a copy of the
    // state elsewhere: refuse rather than run it twice.
    const pid = Number(current.annotations[ANNOTATIONS.pid]);
    const provenGone =
      hostOf(holder.who) === local.host && Number.isInteger(pid) && (pid === me.pid || !local.pidAlive(pid));
    if (provenGone || expiredByClock)
      return { action: 'take', resourceVersion: current.resourceVersion, why: 'same-run' };
    return { action: 'refuse', error: sameRunElsewhereError(holder) };
  }
  if (!expiredByClock) return { action: 'refuse', error: heldError(holder) };
  if (!opts.takeOverExpired) return { action: 'refuse', error: expiredError(holder) };
  return { action: 'observe-then-take', resourceVersion: current.resourceVersion, observeMs: durationMs };
}

/** What this process can know about processes of its own host (injected in tests). */
export interface LocalProcesses {
  host: string;
  pidAlive(pid: number): boolean;
}

export function hostOf(who: string): string {
  return who.slice(who.lastIndexOf('@') + 1);
}

export function sameRunElsewhereError(h: LeaseHolder): RotateError {
  return new RotateError(
    'RUN_LEASE_HELD',
    `Lease ${RUN_LEASE_NAMESPACE}/${RUN_LEASE_NAME} is held by this same run from another process that may still be ` +
      `running: ${describeHolder(h)}`,
    {
      hint:
        'two copies of one state file are resuming the same run; stop the other one (or wait until its lease ' +
        'expires, if its process is gone), then run again',
    },
  );
}

export function heldError(h: LeaseHolder): RotateError {
  return new RotateError(
    'RUN_LEASE_HELD',
    `another rotation is running on this cluster: Lease ${RUN_LEASE_NAMESPACE}/${RUN_LEASE_NAME} is held ` +
      `by ${describeHolder(h)}`,
    {
      hint:
        `wait for it to finish (\`kubectl get lease -n ${RUN_LEASE_NAMESPACE} ${RUN_LEASE_NAME}\` shows the ` +
        'holder), then plan again; only one rotation may change a cluster at a time',
    },
  );
}

export function expiredError(h: LeaseHolder): RotateError {
  return new RotateError(
    'RUN_LEASE_EXPIRED',
    `Lease ${RUN_LEASE_NAMESPACE}/${RUN_LEASE_NAME} is held by ${describeHolder(h)} and is no longer renewed (its ` +
      'process may have been killed, or its machine lost the cluster)',
    {
      hint:
        `if that run is really gone, resume it from its own state (${h.statePath}) ` +
        `with \`rotate apply\` or \`rotate rollback\`; to take the cluster over from here instead, ` +
        `pass ${TAKE_OVER_FLAG} (it first watches the lease stay unrenewed for its whole duration)`,
    },
  );
}

export function renewedMeanwhileError(h: LeaseHolder): RotateError {
  return new RotateError(
    'RUN_LEASE_HELD',
    `Lease ${RUN_LEASE_NAMESPACE}/${RUN_LEASE_NAME} was renewed while this run waited to take it over: ` +
      `it is held by ${describeHolder(h)}`,
    {
      hint: 'that run is alive; wait for it to finish',
    },
  );
}

export function lostError(why: string): RotateError {
  return new RotateError(
    'RUN_LEASE_LOST',
    `this run lost the run lease ${RUN_LEASE_NAMESPACE}/${RUN_LEASE_NAME}: ${why}; it started nothing new after that`,
    {
      hint:
        `check the Kubernetes API and \`kubectl get lease -n ${RUN_LEASE_NAMESPACE} ${RUN_LEASE_NAME}\`; ` +
        `when no other run holds it, run \`rotate apply\` (or \`rotate rollback\`) again to resume`,
    },
  );
}

export function unreachableError(err: unknown, server: string | null): RotateError {
  const cause = RotateError.is(err) ? err.message : String((err as Error)?.message ?? err);
  return new RotateError(
    'RUN_LEASE_UNAVAILABLE',
    `cannot take the run lease ${RUN_LEASE_NAMESPACE}/${RUN_LEASE_NAME}` +
      `${server ? ` at the Kubernetes API ${server}` : ''}: ${cause}`,
    {
      hint:
        'a run takes this Lease so that no other rotation changes the cluster at the same time; ' +
        `fix access to the Kubernetes API (a control plane's kube-apiserver, or cluster.kubernetesEndpoint in the ` +
        'desired state) and run again. Only if the Kubernetes API cannot come up and you know no other rotation ' +
        `runs, pass ${NO_LEASE_FLAG}`,
    },
  );
}
