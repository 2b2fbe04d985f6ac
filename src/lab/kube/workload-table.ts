/**
 * The `meta.k8s.io/v1` Tables kube-apiserver returns for the workload resources (workload-api.ts): the
 * columns and cells of its printers (`pkg/printers/internalversion/printers.go`), as kubectl shows them.
 */
import { humanDuration, objectTable, type KubeObject, type TableColumn, type TableObjectMode } from './objects.js';

const col = (name: string, description: string, priority = 0, format = '', type = 'string'): TableColumn => ({
  name,
  type,
  format,
  description,
  priority,
});
const int = (name: string, description: string): TableColumn => col(name, description, 0, '', 'integer');
const NAME = col(
  'Name',
  'Name must be unique within a namespace. Is required when creating resources, although some resources may ' +
    'allow a client to request the generation of an appropriate name automatically. Name is primarily intended ' +
    'for creation idempotence and configuration definition. Cannot be updated. More info: ' +
    'https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
  0,
  'name',
);
const AGE = col('Age', 'CreationTimestamp is a timestamp representing the server time when this object was created.');
/** The wide columns of the workloads that have a pod template: its containers, its images, and the selector. */
function templateColumns(selector?: string): TableColumn[] {
  return [
    col('Containers', 'Names of each container in the template.', 1),
    col('Images', 'Images referenced by each container in the template.', 1),
    ...(selector === undefined ? [] : [col('Selector', selector, 1)]),
  ];
}

/** The columns of the Namespace Table (namespaces are served by workload-api.ts). */
export function namespaceColumns(): TableColumn[] {
  return [NAME, col('Status', 'The status of the namespace'), AGE];
}

const COLUMNS: Record<string, TableColumn[]> = {
  pods: [
    NAME,
    col('Ready', 'The aggregate readiness state of this pod for accepting traffic.'),
    col('Status', 'The aggregate status of the containers in this pod.'),
    col(
      'Restarts',
      'The number of times the containers in this pod have been restarted and when the last container in ' +
        'this pod has restarted.',
    ),
    AGE,
    col('IP', 'IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', 1),
    col('Node', 'NodeName is a request to schedule this pod onto a specific node.', 1),
    col('Nominated Node', 'nominatedNodeName is set only when this pod preempts other pods on the node.', 1),
    col('Readiness Gates', 'If specified, all readiness gates will be evaluated for pod readiness.', 1),
  ],
  secrets: [
    NAME,
    col('Type', 'Used to facilitate programmatic handling of secret data.'),
    int('Data', 'Data contains the secret data.'),
    AGE,
  ],
  deployments: [
    NAME,
    col('Ready', 'Number of the pod with ready state'),
    int(
      'Up-to-date',
      'Total number of non-terminated pods targeted by this deployment that have the desired template spec.',
    ),
    int(
      'Available',
      'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.',
    ),
    AGE,
    ...templateColumns(
      'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones ' +
        'affected by this deployment.',
    ),
  ],
  replicasets: [
    NAME,
    int('Desired', 'Number of desired pods.'),
    int('Current', 'Number of actual replicas.'),
    int('Ready', 'The number of ready replicas for this replica set.'),
    AGE,
    ...templateColumns('Selector is a label query over pods that should match the replica count.'),
  ],
  daemonsets: [
    NAME,
    int('Desired', 'The total number of nodes that should be running the daemon pod.'),
    int(
      'Current',
      'The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.',
    ),
    int(
      'Ready',
      'numberReady is the number of nodes that should be running the daemon pod and have one or more of the ' +
        'daemon pod running with a Ready Condition.',
    ),
    int('Up-to-date', 'The total number of nodes that are running updated daemon pod'),
    int(
      'Available',
      'The number of nodes that should be running the daemon pod and have one or more of the daemon pod ' +
        'running and available.',
    ),
    col('Node Selector', 'NodeSelector is a selector which must be true for the pod to fit on a node.'),
    AGE,
    ...templateColumns('A label query over pods that are managed by the daemon set.'),
  ],
  statefulsets: [NAME, col('Ready', 'Number of the pod with ready state'), AGE, ...templateColumns()],
  jobs: [
    NAME,
    col('Status', 'Status of the job.'),
    col('Completions', 'The desired number of successfully finished pods the job should be run with.'),
    col('Duration', 'Time required to complete the job.'),
    AGE,
    ...templateColumns('A label query over pods that should match the pod count.'),
  ],
  poddisruptionbudgets: [
    NAME,
    col('Min Available', 'The minimum number of pods that must be available'),
    col('Max Unavailable', 'The maximum number of pods that may be unavailable'),
    int('Allowed Disruptions', 'Calculated number of pods that may be disrupted at this time'),
    AGE,
  ],
};

function labelsText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

function cells(resource: string, o: KubeObject, now: Date): unknown[] {
  const m = o.metadata as { name: string; creationTimestamp?: string };
  const age = m.creationTimestamp ? humanDuration(now.getTime() - Date.parse(m.creationTimestamp)) : '<unknown>';
  const spec = (o.spec ?? {}) as Record<string, unknown>;
  const st = (o.status ?? {}) as Record<string, unknown>;
  const n = (v: unknown): number => (typeof v === 'number' ? v : 0);
  const tspec =
    (spec.template as { spec?: { containers?: { name: string; image: string }[] } } | undefined)?.spec?.containers ??
    [];
  // The cells of templateColumns: containers, images, selector.
  const template = [tspec.map((c) => c.name).join(','), tspec.map((c) => c.image).join(',')];
  const selector = labelsText(
    (spec.selector as { matchLabels?: Record<string, string> } | undefined)?.matchLabels ?? {},
  );
  const replicasReady = (): string => `${n(st.readyReplicas)}/${typeof spec.replicas === 'number' ? spec.replicas : 1}`;
  switch (resource) {
    case 'pods': {
      const cs = (st.containerStatuses ?? []) as {
        ready?: boolean;
        restartCount?: number;
        state?: { waiting?: { reason?: string } };
      }[];
      const total = ((spec.containers ?? []) as unknown[]).length;
      const waiting = cs.find((c) => c.state?.waiting?.reason)?.state?.waiting?.reason;
      return [
        m.name,
        `${cs.filter((c) => c.ready).length}/${total}`,
        waiting ?? (st.phase as string) ?? 'Pending',
        String(cs.reduce((a, c) => a + (c.restartCount ?? 0), 0)),
        age,
        (st.podIP as string) ?? '<none>',
        (spec.nodeName as string) ?? '<none>',
        '<none>',
        '<none>',
      ];
    }
    case 'secrets':
      return [m.name, (o.type as string) ?? 'Opaque', Object.keys((o.data ?? {}) as object).length, age];
    case 'deployments':
      return [m.name, replicasReady(), n(st.updatedReplicas), n(st.availableReplicas), age, ...template, selector];
    case 'replicasets':
      return [m.name, n(spec.replicas), n(st.replicas), n(st.readyReplicas), age, ...template, selector];
    case 'daemonsets': {
      const ns = (spec.template as { spec?: { nodeSelector?: Record<string, string> } } | undefined)?.spec
        ?.nodeSelector;
      const sel = ns ? labelsText(ns) : '<none>';
      return [
        m.name,
        n(st.desiredNumberScheduled),
        n(st.currentNumberScheduled),
        n(st.numberReady),
        n(st.updatedNumberScheduled),
        n(st.numberAvailable),
        sel,
        age,
        ...template,
        selector,
      ];
    }
    case 'statefulsets':
      return [m.name, replicasReady(), age, ...template];
    case 'jobs':
      return [
        m.name,
        n(st.active) > 0 ? 'Running' : 'Complete',
        `${n(st.succeeded)}/${n(spec.completions) || 1}`,
        st.startTime ? humanDuration(now.getTime() - Date.parse(String(st.startTime))) : '',
        age,
        ...template,
        selector,
      ];
    case 'poddisruptionbudgets':
      return [
        m.name,
        spec.minAvailable === undefined ? 'N/A' : String(spec.minAvailable),
        spec.maxUnavailable === undefined ? 'N/A' : String(spec.maxUnavailable),
        n(st.disruptionsAllowed),
        age,
      ];
    default:
      return [m.name, age];
  }
}

/** The `meta.k8s.io/v1` Table of workload objects kubectl asks for (columns as kube-apiserver's printers). */
export function workloadTable(
  resource: string,
  items: KubeObject[],
  now: Date,
  resourceVersion: string,
  include: TableObjectMode,
): KubeObject {
  return objectTable(items, COLUMNS[resource] ?? [NAME, AGE], resourceVersion, include, {
    cells: (o) => cells(resource, o, now),
    object: (o) => o,
    metadata: (o) => o.metadata as KubeObject,
  });
}
