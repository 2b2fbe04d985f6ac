/**
 * Events of what a run writes (the extension-apiserver-authentication ConfigMap, output files), and of
 * its workload phase.
 * One part of the event registry (registry.ts joins them; a code is unique across all parts).
 */
import type { EventSpecs } from './spec.js';

export const OUTPUT_EVENTS = {
  'configmap-written': {
    code: 'TR_APPLY_I4010',
    level: 'info',
    description:
      "The `extension-apiserver-authentication` ConfigMap's `client-ca-file` was replaced with the Kubernetes CAs " +
      'every kube-apiserver trusts (plan `extensionAuth`); its gate follows as a `kubernetes` check.',
    fields: {
      stepId: 'the step it follows, or null',
      namespace: '`kube-system`',
      name: '`extension-apiserver-authentication`',
      field: 'the data field replaced: `client-ca-file`',
      written: 'false when it already held exactly these CAs',
      absent: 'the ConfigMap did not exist (nothing written; the apiservers create it)',
      removed: 'fingerprints of the certificates the write removed',
      trusted: 'fingerprints it holds now',
      conflicts: 'writes refused with 409 Conflict and retried',
      resourceVersion: 'its resourceVersion after the write, or null',
    },
    message: (d) =>
      d.absent
        ? `ConfigMap ${d.namespace}/${d.name} does not exist: nothing to replace`
        : `${d.written ? 'replaced' : 'already exact:'} ${d.field} of ConfigMap ${d.namespace}/${d.name}` +
          (d.removed.length > 0 ? ` (removed ${d.removed.map((f) => f.slice(0, 16)).join(', ')})` : ''),
  },
  'output-written': {
    code: 'TR_APPLY_I5001',
    level: 'info',
    description: 'A talosconfig, kubeconfig or secrets bundle was written (the file it replaced kept aside).',
    fields: {
      stepId: 'the step it belongs to, or null',
      kind: '`talosconfig`, `kubeconfig` or `secretsBundle`',
      path: 'file written',
      backupPath: 'where the replaced file was kept, or null',
    },
    message: (d) => `wrote ${d.kind} ${d.path}${d.backupPath ? ` (previous kept as ${d.backupPath})` : ''}`,
  },
  'workload-phase': {
    code: 'TR_APPLY_I5100',
    level: 'info',
    description:
      "The workload phase starts: apply's after its Kubernetes issue step, rollback's after the step that makes the " +
      'apiservers serve the reverted CA again (each waits until kube-root-ca.crt holds that CA). ' +
      '`workload` events follow, one per workload.',
    fields: {
      runId: 'the run',
      operation: '`apply` or `rollback`',
      afterStep: 'the step it follows, or null (a resumed run whose plan no longer has that step: after the last step)',
      mode: '`restart`, `report` or `mixed` (the workloads section restarts some workloads and not others)',
      modeSource:
        '`flag` (`--workloads`), `desired-state` (its workloads section; for a rollback, ' +
        'as the rolled-back run recorded it) or `default`',
      podsStartedAfter:
        "rollback: pods started before this time (the rolled-back run's Kubernetes issue step) " +
        'loaded the CA it returns to and are left alone; null for apply',
    },
    message: (d) =>
      `${d.operation} workload phase${d.afterStep !== null ? ` after step ${d.afterStep}` : ''}: ` +
      `mode ${d.mode} (${d.modeSource})${d.podsStartedAfter ? `, pods started since ${d.podsStartedAfter}` : ''}`,
  },
  workload: {
    code: 'TR_APPLY_I5101',
    level: 'info',
    description:
      "The workload phase (after the Kubernetes issue step, or rollback's revert step) " +
      'decided or finished one workload whose pods hold the CA the control planes no longer issue from.',
    fields: {
      namespace: 'its namespace',
      kind: '`Deployment`, `DaemonSet`, `StatefulSet`, `Job`, `Other` or `Pod`',
      name: 'its name',
      status:
        '`started` (restart annotation sent, or evictions begun), `restarted` (rollout complete), ' +
        '`evicted` (every pod it had before the new CA was published evicted), ' +
        '`blocked` (a rollout restart does nothing: OnDelete, partition, paused; ' +
        'or a PodDisruptionBudget kept refusing an eviction), `reported`, `ignored` or `failed`',
      detail: 'the `restartedAt` value, or why it is not restarted; null when nothing to add',
    },
    message: (d) => `workload ${d.kind} ${d.namespace}/${d.name}: ${d.status}${d.detail ? ` (${d.detail})` : ''}`,
  },
} satisfies Partial<EventSpecs>;
