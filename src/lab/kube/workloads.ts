/**
 * The workloads a lab runs (its in-cluster clients belong to them) and the user data it seeds, as
 * manifests a user would apply: what kube-apiserver's defaulting would add is filled in here.
 *
 * - `holding-<i>` / `reloading-<i>` DaemonSets in kube-system, one per `podsPerNode` slot (even slots never
 *   re-read `ca.crt`, odd slots re-read it every `podCaReloadMs`), RollingUpdate maxUnavailable 1: one pod per node.
 * - `standard` adds, on the workers (control planes when there are none):
 *   - apps/api-gateway: a Deployment of 2 holding clients (RollingUpdate 25%/25%) with a PodDisruptionBudget
 *     minAvailable 1;
 *   - default/web: a Deployment of 1 reloading client;
 *   - apps/batch-runner: a Deployment of 1 holding client, paused once its first rollout is complete (a
 *     paused Deployment creates no ReplicaSet at all; a rollout restart then changes its template and nothing rolls);
 *   - apps/cache: a StatefulSet of 2 holding clients (RollingUpdate);
 *   - apps/db: a StatefulSet of 2 holding clients with partition 2 (a rollout restart rolls nothing), and a
 *     PodDisruptionBudget minAvailable 2 (every eviction is refused with 429);
 *   - kube-system/node-exporter: a DaemonSet with updateStrategy OnDelete, pinned (nodeSelector
 *     kubernetes.io/hostname) to one node, the first worker, so that it costs one pod in a large lab;
 *   - apps/migrate: a Job whose one pod runs until it is deleted;
 *   - default/debug-shell: a bare Pod;
 *   - Secret apps/operator-kubeconfig (a kubeconfig whose certificate-authority-data is base64 of the
 *     cluster's Kubernetes CA PEM) and ConfigMap apps/legacy-ca-bundle (the PEM itself): user data that
 *     embeds the CA issuing at lab start, which a rotation does not update.
 *
 * Which client a pod runs is a pod-template annotation (CLIENT_ANNOTATION), so pods created from a template
 * run the same client.
 */
import type { Stored } from './object-store.js';

export const WORKLOAD_SETS = ['none', 'standard'] as const;
export type WorkloadSet = (typeof WORKLOAD_SETS)[number];

/** Pod-template annotation naming the emulated client: `holding` (never re-reads ca.crt) or `reloading`. */
export const CLIENT_ANNOTATION = 'lab.talos-rotate.dev/ca-client';
/** The namespace `standard` adds (kube-root-ca.crt is published there too). */
export const APP_NAMESPACE = 'apps';
const IMAGE = 'registry.lab.invalid/in-cluster-client:1.0';

function template(
  app: string,
  client: 'holding' | 'reloading',
  extra: { tolerateAll?: boolean; nodeSelector?: Record<string, string> } = {},
): Record<string, unknown> {
  return {
    metadata: { labels: { app }, annotations: { [CLIENT_ANNOTATION]: client } },
    spec: {
      containers: [
        {
          name: 'client',
          image: IMAGE,
          imagePullPolicy: 'IfNotPresent',
          resources: {},
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
        },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      securityContext: {},
      schedulerName: 'default-scheduler',
      ...(extra.tolerateAll ? { tolerations: [{ operator: 'Exists' }] } : {}),
      ...(extra.nodeSelector ? { nodeSelector: extra.nodeSelector } : {}),
    },
  };
}

const meta = (namespace: string, name: string, labels: Record<string, string> = {}) => ({ name, namespace, labels });

function deployment(namespace: string, name: string, replicas: number, client: 'holding' | 'reloading'): Stored {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { ...meta(namespace, name, { app: name }), annotations: {} },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: template(name, client),
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
    },
    status: {},
  };
}

function daemonSet(
  namespace: string,
  name: string,
  client: 'holding' | 'reloading',
  onDeleteOn: string | null,
): Stored {
  const onDelete = onDeleteOn !== null;
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: meta(namespace, name, { app: name }),
    spec: {
      selector: { matchLabels: { app: name } },
      template: template(
        name,
        client,
        onDelete
          ? { tolerateAll: true, nodeSelector: { 'kubernetes.io/hostname': onDeleteOn } }
          : { tolerateAll: true },
      ),
      updateStrategy: onDelete
        ? { type: 'OnDelete' }
        : { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
      revisionHistoryLimit: 10,
    },
    status: {},
  };
}

function statefulSet(namespace: string, name: string, replicas: number, partition: number): Stored {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta(namespace, name, { app: name }),
    spec: {
      replicas,
      serviceName: name,
      selector: { matchLabels: { app: name } },
      template: template(name, 'holding'),
      podManagementPolicy: 'OrderedReady',
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition } },
      revisionHistoryLimit: 10,
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
    },
    status: {},
  };
}

function pdb(namespace: string, name: string, minAvailable: number): Stored {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(namespace, name),
    spec: { minAvailable, selector: { matchLabels: { app: name } } },
    status: {},
  };
}

export interface WorkloadManifests {
  namespaces: string[];
  /** Deployments a user pauses once their first rollout is complete (`<namespace>/<name>`). */
  pauseWhenRolledOut: string[];
  /** By resource (plural name). */
  objects: { resource: string; object: Stored }[];
  configMaps: { namespace: string; name: string; data: Record<string, string> }[];
}

/** The objects of a lab's workload set. `caPem`: the Kubernetes CA issuing at lab start (seeded user data). */
export function workloadManifests(
  set: WorkloadSet,
  podsPerNode: number,
  caPem: string | null,
  pinnedHost: string,
): WorkloadManifests {
  const objects: { resource: string; object: Stored }[] = [];
  for (let i = 0; i < podsPerNode; i++) {
    const reloads = i % 2 === 1;
    objects.push({
      resource: 'daemonsets',
      object: daemonSet(
        'kube-system',
        `${reloads ? 'reloading' : 'holding'}-${i}`,
        reloads ? 'reloading' : 'holding',
        null,
      ),
    });
  }
  if (set === 'none') return { namespaces: [], pauseWhenRolledOut: [], objects, configMaps: [] };
  objects.push(
    { resource: 'deployments', object: deployment(APP_NAMESPACE, 'api-gateway', 2, 'holding') },
    { resource: 'deployments', object: deployment('default', 'web', 1, 'reloading') },
    { resource: 'deployments', object: deployment(APP_NAMESPACE, 'batch-runner', 1, 'holding') },
    { resource: 'statefulsets', object: statefulSet(APP_NAMESPACE, 'cache', 2, 0) },
    { resource: 'statefulsets', object: statefulSet(APP_NAMESPACE, 'db', 2, 2) },
    { resource: 'daemonsets', object: daemonSet('kube-system', 'node-exporter', 'holding', pinnedHost) },
    { resource: 'poddisruptionbudgets', object: pdb(APP_NAMESPACE, 'api-gateway', 1) },
    { resource: 'poddisruptionbudgets', object: pdb(APP_NAMESPACE, 'db', 2) },
    {
      resource: 'jobs',
      object: {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: meta(APP_NAMESPACE, 'migrate'),
        spec: {
          parallelism: 1,
          completions: 1,
          backoffLimit: 6,
          completionMode: 'NonIndexed',
          suspend: false,
          template: {
            ...template('migrate', 'holding'),
            spec: { ...(template('migrate', 'holding').spec as object), restartPolicy: 'Never' },
          },
        },
        status: {},
      },
    },
    {
      resource: 'pods',
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          ...meta('default', 'debug-shell', { run: 'debug-shell' }),
          annotations: { [CLIENT_ANNOTATION]: 'holding' },
        },
        spec: template('debug-shell', 'holding').spec as Record<string, unknown>,
        status: {},
      },
    },
  );
  if (caPem) {
    const b64 = Buffer.from(caPem).toString('base64');
    const kubeconfig = [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: lab',
      '  cluster:',
      '    server: https://kubernetes.default.svc',
      `    certificate-authority-data: ${b64}`,
      'contexts:',
      '- name: operator@lab',
      '  context: {cluster: lab, user: operator}',
      'current-context: operator@lab',
      'users:',
      '- name: operator',
      '  user: {tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token}',
      '',
    ].join('\n');
    objects.push({
      resource: 'secrets',
      object: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: meta(APP_NAMESPACE, 'operator-kubeconfig'),
        type: 'Opaque',
        data: { kubeconfig: Buffer.from(kubeconfig).toString('base64') },
      },
    });
  }
  return {
    namespaces: [APP_NAMESPACE],
    pauseWhenRolledOut: [`${APP_NAMESPACE}/batch-runner`],
    objects,
    configMaps: caPem ? [{ namespace: APP_NAMESPACE, name: 'legacy-ca-bundle', data: { 'ca.pem': caPem } }] : [],
  };
}
