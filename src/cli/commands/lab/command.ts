import type { Argv, CommandModule } from 'yargs';
import { jsonOption, lazyCommand } from '../builder.js';

export interface LabUpArgs {
  dir: string;
  'control-planes': number;
  workers: number;
  'kubernetes-ca-style': string;
  'apply-latency-ms'?: number;
  'kubelet-restart-ms'?: number;
  'static-pod-delay-ms'?: number;
  'heartbeat-ms'?: number;
  'node-grace-s'?: number;
  'ready-timeout-s'?: number;
  'pods-per-node'?: number;
  'pod-ca-reload-s'?: number;
  workloads?: string;
  'service-account-key'?: string;
  vip: boolean;
  detach: boolean;
}

export interface LabDirArgs {
  dir: string;
}

export interface LabFaultArgs {
  dir: string;
  node: string;
  down: boolean;
  up: boolean;
  'delay-ms'?: number;
  'fail-apply'?: number;
  'drop-apply-reply'?: number;
  'kubelet-restart-ms'?: number;
  'hold-apply-lock-ms'?: number;
  remove: boolean;
}

export interface LabInspectArgs {
  dir: string;
  json: boolean;
}

const dirOption = {
  type: 'string',
  demandOption: true,
  describe: 'the lab folder (talosconfig, kubeconfig, secrets.yaml, rotate.yaml, lab.json, lab.log)',
} as const;

const labUp = lazyCommand<LabUpArgs>(
  'up',
  'Start an emulated Talos cluster on loopback addresses (one process for all nodes) and write talosconfig, ' +
    'kubeconfig, secrets.yaml, a desired-state rotate.yaml matching it, and lab.json into DIR',
  (y) =>
    y
      .option('dir', dirOption)
      .option('control-planes', { type: 'number', default: 3, describe: 'number of control-plane nodes' })
      .option('workers', { type: 'number', default: 2, describe: 'number of worker nodes' })
      .option('kubernetes-ca-style', {
        choices: ['legacy', 'document'] as const,
        default: 'document',
        describe:
          'where configs keep the Kubernetes CA: legacy (.cluster.ca, Talos v1.13) ' +
          'or document (KubeAPIServerCAConfig, v1.14)',
      })
      .option('apply-latency-ms', { type: 'number', describe: 'added latency of every ApplyConfiguration' })
      .option('kubelet-restart-ms', { type: 'number', describe: 'how long a kubelet restart takes' })
      .option('static-pod-delay-ms', {
        type: 'number',
        describe:
          "how long after a control plane's Kubernetes CA change its kube-apiserver and controller-manager are " +
          're-created (default 2000)',
      })
      .option('heartbeat-ms', {
        type: 'number',
        describe:
          'how often each kubelet renews its Lease and Node status (default 2000, longer from 40 nodes up so ' +
          'that the lab renews at most 20 per second; at most a quarter of the grace period)',
      })
      .option('node-grace-s', {
        type: 'number',
        describe: 'seconds without a heartbeat before a Node turns NotReady (default 40)',
      })
      .option('pods-per-node', {
        type: 'number',
        describe:
          'emulated in-cluster clients per node (one DaemonSet each) that call the Kubernetes API with the ' +
          'kube-root-ca.crt CA; even ones never re-read it, odd ones re-read it (default 2, 0 for none)',
      })
      .option('pod-ca-reload-s', {
        type: 'number',
        describe: 'how often a re-reading client re-reads its ca.crt (default 300, as client-go)',
      })
      .option('workloads', {
        choices: ['standard', 'none'] as const,
        describe:
          'workloads besides the per-node clients: standard (Deployments, StatefulSets, an OnDelete DaemonSet, ' +
          'a Job, a bare Pod, PodDisruptionBudgets, a Secret and a ConfigMap holding the CA) or none (default: ' +
          'only the per-node clients)',
      })
      .option('service-account-key', {
        choices: ['rsa-4096', 'ecdsa-p256'] as const,
        describe:
          "the type of the cluster's service-account key: rsa-4096 (default; what Talos generates since the 1.7 " +
          'contract) or ecdsa-p256 (what clusters first generated under 1.6 or older keep; much cheaper to generate)',
      })
      .option('ready-timeout-s', {
        type: 'number',
        describe: 'how long to wait for every node to be Ready (default 60 s + 0.5 s per node)',
      })
      .option('vip', {
        type: 'boolean',
        default: false,
        describe: 'also serve a shared virtual IP (127.A.B.2) in front of a control plane',
      })
      .option('detach', {
        type: 'boolean',
        default: false,
        describe: 'return once every node is Ready and keep the lab running in the background (output in DIR/lab.log)',
      }),
  async () => (await import('./run.js')).runLabUp,
);

const labDown = lazyCommand<LabDirArgs>(
  'down',
  'Stop the lab running in DIR (control API shutdown, then SIGTERM, then SIGKILL) and release its addresses',
  (y) => y.option('dir', dirOption),
  async () => (await import('./run.js')).runLabDown,
);

const labFault = lazyCommand<LabFaultArgs>(
  'fault',
  'Set a fault on one node of a running lab',
  (y) =>
    y
      .option('dir', dirOption)
      .option('node', { type: 'string', demandOption: true, describe: 'node address (see `rotate lab inspect`)' })
      .option('down', {
        type: 'boolean',
        default: false,
        describe: 'power the node off: its listeners refuse connections, its kubelet stops',
      })
      .option('up', { type: 'boolean', default: false, describe: 'power the node on again' })
      .option('remove', {
        type: 'boolean',
        default: false,
        describe:
          'remove the node from the cluster for good, as `talosctl reset` + `kubectl delete node` would: ' +
          'off, no longer a member nor a Kubernetes Node (irreversible)',
      })
      .option('delay-ms', { type: 'number', describe: 'added latency on every API call the node serves (0 = none)' })
      .option('fail-apply', { type: 'number', describe: 'fail the next N ApplyConfiguration calls (Unavailable)' })
      .option('drop-apply-reply', { type: 'number', describe: 'apply the next N configs but drop the reply' })
      .option('kubelet-restart-ms', { type: 'number', describe: 'kubelet restart duration on this node' })
      .option('hold-apply-lock-ms', {
        type: 'number',
        describe:
          "hold the node's apply lock for N ms from now, as another operator applying a config would " +
          '(ApplyConfiguration then gets FailedPrecondition "already in progress"); 0 releases it',
      }),
  async () => (await import('./run.js')).runLabFault,
);

const labInspect = lazyCommand<LabInspectArgs>(
  'inspect',
  "Show every node's Talos and Kubernetes CAs as its applied config states them, its readiness, " +
    'and the ledger of trust failures',
  (y) => y.option('dir', dirOption).option('json', jsonOption('print the report as JSON')),
  async () => (await import('./run.js')).runLabInspect,
);

export const labCommand: CommandModule<object, object> = {
  command: 'lab <command>',
  describe: 'Run an emulated Talos cluster that enforces Talos trust rules, to try rotations safely',
  builder: (y: Argv) => y.command(labUp).command(labDown).command(labFault).command(labInspect).demandCommand(1),
  handler: () => undefined,
};
