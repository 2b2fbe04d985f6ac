/**
 * The shape of a state document (stateVersion 1), checked on every read and before every write, so a
 * hand-edited or truncated file is reported instead of half-understood. The embedded plan is only
 * checked to be a plan object: it was fully checked when the run started.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import {
  GATE_STATUSES,
  KEY_ROLES,
  NODE_STATUSES,
  OUTPUT_KINDS,
  RUN_OPERATIONS,
  RUN_STATUSES,
  STATE_VERSION,
  STEP_STATUSES,
  WORKLOAD_RECORD_STATUSES,
} from './types.js';

const timestamp = { type: 'string', minLength: 1 } as const;
const nullableTimestamp = { type: ['string', 'null'] } as const;
const fingerprint = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;
const apiFingerprints = {
  type: 'object',
  required: ['issuing', 'accepted'],
  properties: {
    issuing: { anyOf: [fingerprint, { type: 'null' }] },
    accepted: { type: 'array', items: fingerprint },
    style: { enum: ['legacy', 'document'] },
  },
  additionalProperties: false,
} as const;
const nodeFingerprints = {
  type: 'object',
  properties: { talos: apiFingerprints, kubernetes: apiFingerprints, configDigest: { type: 'string' } },
  additionalProperties: false,
} as const;
const errorRecord = {
  type: 'object',
  required: ['code', 'message'],
  properties: { code: { type: 'string' }, message: { type: 'string' }, hint: { type: 'string' } },
  additionalProperties: false,
} as const;

const gateCheck = {
  type: 'object',
  required: ['status', 'attempts', 'lastError'],
  properties: {
    status: { enum: GATE_STATUSES.filter((g) => g !== 'not-required') },
    attempts: { type: 'integer', minimum: 0 },
    lastError: { anyOf: [errorRecord, { type: 'null' }] },
  },
  additionalProperties: false,
} as const;

const nodeRecord = {
  type: 'object',
  required: ['address', 'status', 'attempts', 'startedAt', 'finishedAt', 'before', 'after'],
  properties: {
    address: { type: 'string', minLength: 1 },
    status: { enum: NODE_STATUSES },
    attempts: { type: 'integer', minimum: 0 },
    startedAt: nullableTimestamp,
    finishedAt: nullableTimestamp,
    before: { anyOf: [nodeFingerprints, { type: 'null' }] },
    after: { anyOf: [nodeFingerprints, { type: 'null' }] },
    skipReason: { type: 'string' },
    error: errorRecord,
  },
  additionalProperties: false,
} as const;

const stepRecord = {
  type: 'object',
  required: ['id', 'index', 'status', 'startedAt', 'finishedAt', 'gate', 'nodes'],
  properties: {
    id: { type: 'string', minLength: 1 },
    index: { type: 'integer', minimum: 1 },
    status: { enum: STEP_STATUSES },
    startedAt: nullableTimestamp,
    finishedAt: nullableTimestamp,
    gate: {
      type: 'object',
      required: ['status', 'attempts', 'lastError', 'startedAt', 'finishedAt', 'checks'],
      properties: {
        status: { enum: GATE_STATUSES },
        attempts: { type: 'integer', minimum: 0 },
        lastError: { anyOf: [errorRecord, { type: 'null' }] },
        startedAt: nullableTimestamp,
        finishedAt: nullableTimestamp,
        checks: {
          type: 'object',
          properties: { talos: gateCheck, kubernetes: gateCheck },
          additionalProperties: false,
        },
      },
      additionalProperties: false,
    },
    nodes: { type: 'array', items: nodeRecord },
    skipReason: { type: 'string' },
    error: errorRecord,
  },
  additionalProperties: false,
} as const;

const run = {
  type: 'object',
  required: [
    'id',
    'operation',
    'status',
    'startedAt',
    'finishedAt',
    'who',
    'pid',
    'toolVersion',
    'resumes',
    'plan',
    'before',
    'steps',
    'outputs',
    'keys',
  ],
  properties: {
    id: { type: 'string', minLength: 1 },
    operation: { enum: RUN_OPERATIONS },
    status: { enum: RUN_STATUSES },
    startedAt: timestamp,
    finishedAt: nullableTimestamp,
    who: { type: 'string' },
    pid: { type: 'integer' },
    toolVersion: { type: 'string' },
    resumes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['at', 'from', 'toolVersion'],
        properties: {
          at: timestamp,
          from: { enum: RUN_STATUSES },
          toolVersion: { type: 'string' },
          replanned: {
            type: 'object',
            required: ['plan', 'steps'],
            properties: { plan: { type: 'object' }, steps: { type: 'array' } },
            additionalProperties: false,
          },
        },
        additionalProperties: false,
      },
    },
    plan: {
      type: 'object',
      required: ['formatVersion', 'steps'],
      properties: { formatVersion: { type: 'integer' }, steps: { type: 'array' } },
    },
    before: {
      type: 'array',
      items: {
        type: 'object',
        required: ['address', 'nodeId', 'role', 'talos', 'kubernetes', 'configDigest'],
        properties: {
          address: { type: 'string', minLength: 1 },
          nodeId: { type: 'string' },
          role: { enum: ['controlplane', 'worker'] },
          talos: apiFingerprints,
          kubernetes: apiFingerprints,
          configDigest: { type: 'string' },
        },
        additionalProperties: false,
      },
    },
    steps: { type: 'array', items: stepRecord },
    cluster: {
      type: 'object',
      required: ['desiredFile', 'talosconfig', 'context', 'endpoints', 'controlPlanes', 'workers'],
      properties: {
        desiredFile: { type: 'string' },
        talosconfig: { type: 'string' },
        context: { type: 'string' },
        endpoints: { type: 'array', items: { type: 'string' } },
        controlPlanes: { type: 'array', items: { type: 'string' } },
        workers: { type: 'array', items: { type: 'string' } },
        kubeconfig: { type: 'string' },
        kubernetesEndpoint: { type: 'string' },
        secretsBundle: { type: 'string' },
        workloads: {
          type: 'object',
          required: ['default', 'namespaces', 'selectors'],
          properties: {
            default: { enum: ['restart', 'report', 'ignore'] },
            namespaces: { type: 'object', additionalProperties: { enum: ['restart', 'report', 'ignore'] } },
            selectors: {
              type: 'array',
              items: {
                type: 'object',
                required: ['matchLabels', 'action'],
                properties: {
                  matchLabels: { type: 'object', additionalProperties: { type: 'string' } },
                  namespace: { type: 'string' },
                  action: { enum: ['restart', 'report', 'ignore'] },
                },
                additionalProperties: false,
              },
            },
            // Added with evictions and the ConfigMap switch; records made before them lack both.
            evict: { type: 'array', items: { enum: ['Job', 'Other', 'Pod'] } },
            extensionApiserverAuthentication: { enum: ['replace', 'report'] },
          },
          additionalProperties: false,
        },
      },
      additionalProperties: false,
    },
    rollbackOf: { type: 'string' },
    outputs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['kind', 'path', 'backupPath', 'writtenAt', 'step'],
        properties: {
          kind: { enum: OUTPUT_KINDS },
          path: { type: 'string', minLength: 1 },
          backupPath: { type: ['string', 'null'] },
          writtenAt: timestamp,
          step: { type: ['string', 'null'] },
        },
        additionalProperties: false,
      },
    },
    keys: {
      type: 'array',
      items: {
        type: 'object',
        required: ['api', 'fingerprint', 'role', 'file', 'recordedAt'],
        properties: {
          api: { enum: ['talos', 'kubernetes'] },
          fingerprint,
          role: { enum: KEY_ROLES },
          file: { type: 'string', minLength: 1 },
          certificateFile: { type: 'string' },
          recordedAt: timestamp,
        },
        additionalProperties: false,
      },
    },
    error: errorRecord,
    workloads: {
      type: 'array',
      items: {
        type: 'object',
        required: ['namespace', 'kind', 'name', 'status', 'updatedAt'],
        properties: {
          namespace: { type: 'string' },
          kind: { type: 'string' },
          name: { type: 'string' },
          status: { enum: WORKLOAD_RECORD_STATUSES },
          restartedAt: { type: 'string' },
          evictBefore: { type: 'string' },
          evicted: { type: 'array', items: { type: 'string' } },
          reason: { type: 'string' },
          updatedAt: timestamp,
        },
        additionalProperties: false,
      },
    },
    events: {
      type: 'array',
      items: {
        type: 'object',
        required: ['time', 'code', 'type', 'level', 'message'],
        properties: {
          time: timestamp,
          code: { type: 'string' },
          type: { type: 'string' },
          level: { type: 'string' },
          message: { type: 'string' },
          data: {},
        },
        additionalProperties: false,
      },
    },
  },
  additionalProperties: false,
} as const;

export const STATE_DOCUMENT_SCHEMA = {
  type: 'object',
  required: ['stateVersion', 'lineage', 'serial', 'toolVersion', 'desiredFile', 'createdAt', 'updatedAt', 'runs'],
  properties: {
    stateVersion: { const: STATE_VERSION },
    lineage: { type: 'string', minLength: 1 },
    serial: { type: 'integer', minimum: 0 },
    toolVersion: { type: 'string' },
    desiredFile: { type: ['string', 'null'] },
    createdAt: timestamp,
    updatedAt: timestamp,
    runs: { type: 'array', items: run },
  },
  additionalProperties: false,
} as const;

let validate: ValidateFunction | undefined;

function describe(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || '(top)'} ${e.message ?? 'is invalid'}`);
}

/** Problems with `value` as a state document (empty: it conforms). */
export function stateDocumentProblems(value: unknown): string[] {
  validate ??= new Ajv({ allErrors: true, strict: false }).compile(STATE_DOCUMENT_SCHEMA);
  return validate(value) ? [] : describe(validate.errors);
}
