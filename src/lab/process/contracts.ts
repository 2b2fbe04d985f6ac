/**
 * The JSON shapes other code depends on: `DIR/lab.json` and `rotate lab inspect --json`. The types and
 * their JSON Schemas live together; `validateLabFile` / `validateInspectReport` check a value against
 * the contract (extra fields are allowed: the contract names what must be there).
 */
import type { WorkloadSummary } from '../kube/workload-summary.js';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { RotateError } from '../../domain/errors.js';
import {
  EDGE_KINDS,
  type ConfigChangeEvent,
  type EdgeKind,
  type LedgerEntry,
  type KubeletsSnapshot,
  type NotReadyEvent,
  type StaticPodsSnapshot,
} from '../core/ledger.js';
import type { ApplyCallStats, KubernetesCaStyle, LabRole, LabTimings, NodeFaults } from '../core/model.js';
import type { ExtensionAuthView } from '../kube/extension-auth.js';
import type { PodView } from '../kube/pods.js';

// ---------------------------------------------------------------------------------------------------
// lab.json

export const LAB_FILE_VERSION = 1;

export interface LabFileNode {
  address: string;
  role: LabRole;
  hostname: string;
}

export interface LabFile {
  version: typeof LAB_FILE_VERSION;
  nodes: LabFileNode[];
  /** Shared virtual IP (apid :50000 and apiserver :6443 of a control plane); absent without --vip. */
  vip?: string;
  /** The lab process (one for the whole cluster) and its kernel start time (Linux; null elsewhere). */
  pid: number;
  processStartTime: string | null;
  /** Control API: HTTP on the lab's `.1`, `Authorization: Bearer <token>` (the file is 0600 for this). */
  control: { address: string; port: number; token: string };
  clusterName: string;
  /** `https://127.A.B.3:6443` */
  clusterEndpoint: string;
  kubernetesCaStyle: KubernetesCaStyle;
  /** `127.A.B.0/24` */
  block: string;
  timings: LabTimings;
  startedAt: string;
  readyAt: string;
  /** File names inside DIR written by the lab, by kind. */
  files: Record<string, string>;
}

const nodeRole = { enum: ['controlplane', 'worker'] };
const loopback = { type: 'string', pattern: '^127\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}$' };

export const LAB_FILE_SCHEMA = {
  type: 'object',
  required: [
    'version',
    'nodes',
    'pid',
    'control',
    'clusterName',
    'clusterEndpoint',
    'kubernetesCaStyle',
    'block',
    'startedAt',
  ],
  properties: {
    version: { const: LAB_FILE_VERSION },
    nodes: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['address', 'role'],
        properties: { address: loopback, role: nodeRole, hostname: { type: 'string' } },
      },
    },
    vip: loopback,
    pid: { type: 'integer', minimum: 1 },
    processStartTime: { type: ['string', 'null'] },
    control: {
      type: 'object',
      required: ['address', 'port', 'token'],
      properties: {
        address: loopback,
        port: { type: 'integer', minimum: 1, maximum: 65535 },
        token: { type: 'string', minLength: 32 },
      },
    },
    clusterName: { type: 'string', minLength: 1 },
    clusterEndpoint: { type: 'string', pattern: '^https://127\\.' },
    kubernetesCaStyle: { enum: ['legacy', 'document'] },
    block: { type: 'string' },
    startedAt: { type: 'string' },
    readyAt: { type: 'string' },
    files: { type: 'object', additionalProperties: { type: 'string' } },
  },
} as const;

// ---------------------------------------------------------------------------------------------------
// lab inspect --json

export interface InspectRoot {
  /** Fingerprint of the issuing CA certificate, null when the config names none (document-style worker). */
  issuing: string | null;
  /** Fingerprints of the accepted CAs, in config order. */
  accepted: string[];
  /** Accepted entries in the config that hold no readable certificate (absent when none). */
  unreadable?: number;
  /** Set when the node cannot use its CA material (Talos keeps serving what it had). */
  error?: string;
}

export interface InspectNode {
  address: string;
  role: LabRole;
  hostname: string;
  talos: InspectRoot;
  kubernetes: InspectRoot;
  /** Kubernetes Node condition Ready. */
  ready: boolean;
  /** The kubelet Service as Talos shows it; null while it restarts. */
  kubelet: { running: boolean; healthy: boolean } | null;
  /** Machine config version (bumped on every applied config). */
  configVersion: number;
  faults: NodeFaults;
  /**
   * ApplyConfiguration calls the node's machined saw since the lab started: how many, the most at once (a
   * call refused because another held the apply lock counts as overlapping it), how many were refused
   * "already in progress", and a foreign hold of the lock (`lab fault --hold-apply-lock-ms`).
   */
  applyConfiguration: ApplyCallStats;
}

export interface InspectReport {
  cluster: { name: string; endpoint: string; kubernetesCaStyle: KubernetesCaStyle; vip: string | null };
  nodes: InspectNode[];
  trustFailures: Record<EdgeKind, number>;
  notReadyEvents: number;
  unavailable: Record<EdgeKind, number>;
  /** Machine configs activated so far (every node, every apply that was not a dry run). */
  configChanges: number;
  /** The most recent ledger entries (at most RECENT_LOG each); every entry has a `seq` in one order. */
  recent: {
    trustFailures: LedgerEntry[];
    unavailable: LedgerEntry[];
    notReady: NotReadyEvent[];
    configChanges: ConfigChangeEvent[];
  };
  /** The `kube-root-ca.crt` ConfigMap (fingerprints of its `ca.crt`) and the emulated in-cluster clients. */
  pods: InspectPods;
  /**
   * Control planes' static pods after Kubernetes CA changes, in order (`seq`): when each fell behind its
   * config and when it ran from the new manifests again; `maxLagging` = most lagging at once since start.
   */
  staticPods: StaticPodsSnapshot;
  /**
   * Kubelet restarts in order (`seq`): each `stopped` (a CA change of its node, or the node coming back up)
   * and the `running` that ended it; `caChangeRestarts` counts the CA-change ones since start.
   */
  kubelets: KubeletsSnapshot;
  /**
   * The `extension-apiserver-authentication` ConfigMap in kube-system (certificate fingerprints, never its
   * text), how many times it was deleted, and each apiserver's trust controller (kube/extension-auth.ts).
   */
  extensionApiserverAuthentication?: ExtensionAuthView;
}

export interface InspectPods {
  /** Fingerprints of the certificates in `kube-root-ca.crt` `ca.crt` (kube-system), empty before it is published. */
  rootCaConfigMap: string[];
  /** The clients as kube/pods.ts sees them; their call counts are there too, but not part of this contract. */
  clients: Omit<PodView, 'calls' | 'connections'>[];
  /** The workloads the clients belong to (kube/workload-summary.ts). */
  workloads?: WorkloadSummary[];
}

const fingerprint = { type: 'string', pattern: '^[0-9a-f]{64}$' };
const root = {
  type: 'object',
  required: ['issuing', 'accepted'],
  properties: {
    issuing: { anyOf: [fingerprint, { type: 'null' }] },
    accepted: { type: 'array', items: fingerprint },
  },
};
const edgeCounts = {
  type: 'object',
  required: [...EDGE_KINDS],
  properties: Object.fromEntries(EDGE_KINDS.map((k) => [k, { type: 'integer', minimum: 0 }])),
};

export const INSPECT_REPORT_SCHEMA = {
  type: 'object',
  required: ['nodes', 'trustFailures', 'notReadyEvents'],
  properties: {
    nodes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['address', 'role', 'talos', 'kubernetes', 'ready'],
        properties: {
          address: loopback,
          role: nodeRole,
          talos: root,
          kubernetes: root,
          ready: { type: 'boolean' },
          applyConfiguration: {
            type: 'object',
            required: ['calls', 'maxConcurrent', 'refusedInProgress'],
            properties: {
              calls: { type: 'integer', minimum: 0 },
              maxConcurrent: { type: 'integer', minimum: 0 },
              refusedInProgress: { type: 'integer', minimum: 0 },
              foreignHoldUntil: { type: ['string', 'null'] },
            },
          },
        },
      },
    },
    trustFailures: edgeCounts,
    notReadyEvents: { type: 'integer', minimum: 0 },
  },
} as const;

// ---------------------------------------------------------------------------------------------------
// Validation

let ajv: Ajv | undefined;
const compiled = new Map<object, ValidateFunction>();

function validator(schema: object): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    ajv ??= new Ajv({ allErrors: true, strict: true });
    fn = ajv.compile(schema);
    compiled.set(schema, fn);
  }
  return fn;
}

function describe(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || '(top)'} ${e.message ?? 'is invalid'}`);
}

/** Problems with a value as lab.json (empty = conforms). */
export function labFileProblems(value: unknown): string[] {
  const fn = validator(LAB_FILE_SCHEMA);
  return fn(value) ? [] : describe(fn.errors);
}

/** Problems with a value as `lab inspect --json` output (empty = conforms). */
export function inspectReportProblems(value: unknown): string[] {
  const fn = validator(INSPECT_REPORT_SCHEMA);
  return fn(value) ? [] : describe(fn.errors);
}

export function validateLabFile(value: unknown, file: string): LabFile {
  const problems = labFileProblems(value);
  if (problems.length > 0) {
    throw new RotateError('LAB_FILE_INVALID', `${file} is not a lab file: ${problems.slice(0, 3).join('; ')}`, {
      hint:
        'it is written by `rotate lab up`; if that lab is gone, run `rotate lab down --dir DIR` to clean up and ' +
        'start a new one',
    });
  }
  return value as LabFile;
}

export function validateInspectReport(value: unknown): InspectReport {
  const problems = inspectReportProblems(value);
  if (problems.length > 0) {
    throw new RotateError(
      'LAB_INSPECT_INVALID',
      `the lab answered inspect with an unexpected shape: ${problems.slice(0, 3).join('; ')}`,
      {
        hint: 'the lab and the CLI are different versions; restart the lab with this build',
        source: 'internal',
      },
    );
  }
  return value as InspectReport;
}
