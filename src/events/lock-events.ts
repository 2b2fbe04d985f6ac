/**
 * Events of the state lock, the cluster-wide run lease, nodes dropped from the desired state, and key
 * escrow.
 * One part of the event registry (registry.ts joins them; a code is unique across all parts).
 */
import { shortFingerprint } from '../domain/types.js';
import { formatMs, ERROR_FIELD, type EventSpecs } from './spec.js';

export const LOCK_EVENTS = {
  'lock-wait': {
    code: 'TR_APPLY_I6001',
    level: 'info',
    description: 'The state is locked by another run; waiting (`--lock-timeout`) with backoff.',
    fields: {
      statePath: 'the state file',
      holder: '`{id, who, operation, created, pid}` of the lock',
      retryInMs: 'delay before the next attempt',
      waitedMs: 'waited so far',
    },
    message: (d) =>
      `state ${d.statePath} is locked by ${d.holder.who} (${d.holder.operation} since ${d.holder.created}, ` +
      `lock id ${d.holder.id}); trying again in ${formatMs(d.retryInMs)}`,
  },
  'lock-broken': {
    code: 'TR_APPLY_W6003',
    level: 'warn',
    description:
      'The state was locked by a run whose process is proven gone on this host (it no longer exists, ' +
      'its pid belongs to a process started at another time, or the host rebooted since); ' +
      'its lock was broken and this run resumes what it left.',
    fields: {
      statePath: 'the state file',
      holder: '`{id, who, operation, created, pid}` of the broken lock',
      reason: 'why the holder is known to be gone',
    },
    message: (d) =>
      `broke the stale lock on state ${d.statePath} held by ${d.holder.who} (${d.holder.operation} ` +
      `since ${d.holder.created}, pid ${d.holder.pid}, lock id ${d.holder.id}): ${d.reason}`,
  },
  'run-lease-taken': {
    code: 'TR_APPLY_I6101',
    level: 'info',
    description:
      'The run holds the cluster-wide run lease (Lease `kube-system/talos-rotate`: holder = run id; ' +
      'who, operation, state and desired-state file in annotations) before any node is touched; ' +
      'it renews it until the run ends. A second run from anywhere refuses to start while it is held.',
    fields: {
      runId: 'run id (the Lease holder)',
      namespace: '`kube-system`',
      name: '`talos-rotate`',
      server: 'the Kubernetes API it was taken at',
      how:
        '`created`, `free` (a released Lease), `same-run` (held by the run this process resumes or rolls back: ' +
        'its process was killed) or `taken-over` (an expired Lease, with --take-over-expired-lease)',
      previousHolder:
        '`{runId, who, operation, statePath, desiredFile, renewTime, leaseDurationSeconds}` of the holder it ' +
        'replaced, or null',
      leaseDurationSeconds: 'how long the Lease stays valid without renewal',
      renewIntervalMs: 'how often the run renews it',
    },
    message: (d) => {
      const taken =
        d.how === 'created' || d.how === 'free'
          ? 'taken'
          : d.how === 'same-run'
            ? 'taken back from the earlier process of this run'
            : `taken over from ${d.previousHolder?.who ?? 'an expired holder'} (run ${d.previousHolder?.runId ?? '?'})`;
      return (
        `run lease ${d.namespace}/${d.name} ${taken} at ${d.server}; ` +
        `renewed every ${formatMs(d.renewIntervalMs)}, valid ${d.leaseDurationSeconds}s without renewal`
      );
    },
  },
  'run-lease-renew-failed': {
    code: 'TR_APPLY_W6102',
    level: 'warn',
    description:
      'A renewal of the run lease (each with an admin kubeconfig fetched afresh through the Talos API) failed. ' +
      'The run goes on; when the lease stays unrenewed for the renew deadline, the run starts nothing new and ' +
      'stops with RUN_LEASE_LOST (resumable).',
    fields: {
      runId: 'run id',
      error: ERROR_FIELD,
      sinceRenewMs: 'time since the last successful renewal',
      renewDeadlineMs: 'the run stops when this much time passed without a renewal',
    },
    message: (d) =>
      `could not renew the run lease (${formatMs(d.sinceRenewMs)} since the last renewal; ` +
      `the run stops at ${formatMs(d.renewDeadlineMs)}): ${d.error.message}`,
  },
  'node-dropped': {
    code: 'TR_APPLY_I6104',
    level: 'info',
    description:
      'A resumed run plans without a node its earlier plan had: the desired state no longer lists it, ' +
      'and the cluster shows it gone (not a Talos cluster member, not a Kubernetes Node). ' +
      'A node still in the cluster stops the resume (APPLY_DROPPED_NODE_IN_CLUSTER).',
    fields: {
      runId: 'run id',
      address: 'the node',
      hostname: 'its hostname when the run planned it',
      role: '`controlplane` or `worker`',
      talosMember: '`absent` (discovery no longer lists it) or `unknown` (the cluster gave no member list)',
      kubernetesNode: '`absent` (no Kubernetes Node names it) or `unknown` (Nodes could not be listed)',
    },
    message: (d) =>
      `${d.role} ${d.address}${d.hostname ? ` (${d.hostname})` : ''} is no longer in the desired state; ` +
      `checked: ${d.talosMember === 'absent' ? 'not a Talos cluster member' : 'Talos membership unknown'}, ` +
      `${d.kubernetesNode === 'absent' ? 'not a Kubernetes Node' : 'Kubernetes Nodes not listed'}; ` +
      'the run goes on without it',
  },
  'run-lease-released': {
    code: 'TR_APPLY_I6103',
    level: 'info',
    description:
      'The run ended and cleared the run lease, so the next run may start at once; ' +
      '`released: false` when that failed (the lease then expires after its duration).',
    fields: { runId: 'run id', released: 'whether the holder was cleared', problem: 'why not, or null' },
    message: (d) =>
      d.released ? 'run lease released' : `run lease not released (${d.problem ?? 'unknown'}); it expires on its own`,
  },
  'key-escrowed': {
    code: 'TR_APPLY_I6002',
    level: 'info',
    description:
      'A private key a rollback may need is in the state folder (0600) before any node is touched. ' +
      'The event names the file, never the key.',
    fields: {
      api: '`talos` or `kubernetes`',
      fingerprint: "the certificate's fingerprint",
      role: '`new-issuing`, `previous-issuing` or `client`',
      file: 'the key file',
      kept: 'it was escrowed by an earlier run',
    },
    message: (d) =>
      `${d.kept ? 'already escrowed' : 'escrowed'}: ${d.api} ${d.role} key ${shortFingerprint(d.fingerprint)} ` +
      `in ${d.file}`,
  },
} satisfies Partial<EventSpecs>;
