/**
 * The lab's control API: HTTP on the lab's own loopback address (`127.A.B.1`, random port), every request
 * authorised with `Authorization: Bearer <token>` (token in the 0600 lab.json). Endpoints:
 *
 *   GET  /v1/ready      → 200 {ready, readyNodes, nodes}
 *   GET  /v1/inspect    → 200 InspectReport (contracts.ts)
 *   POST /v1/fault      {node, down?, delayMs?, failApply?, dropApplyReply?, kubeletRestartMs?,
 *                        holdApplyLockMs?, remove?}
 *                       → 200 {node, faults, applyLockHeldUntil?}; 404 LAB_UNKNOWN_NODE (lists the nodes);
 *                       400 LAB_BAD_FAULT; 409 LAB_APPLY_LOCK_BUSY (a call holds the lock right now)
 *   POST /v1/shutdown   → 202 {stopping: true}, then the lab stops and the process exits
 *
 * Errors are `{error: {code, message, hint}}` so the CLI re-raises them as RotateErrors.
 */
import { timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LabCluster, NodeFaults } from '../core/model.js';
import type { InspectReport } from './contracts.js';
import { listen } from '../core/listen.js';

export const CONTROL_API_PREFIX = '/v1';
const MAX_BODY = 64 * 1024;

/** What may be changed on a node; absent fields are left as they are. */
export interface FaultRequest {
  node: string;
  /** true = power off (node.setDown(true)), false = power on. */
  down?: boolean;
  delayMs?: number;
  failApply?: number;
  dropApplyReply?: number;
  /** null resets to the lab-wide kubelet restart time. */
  kubeletRestartMs?: number | null;
  /**
   * A foreign operator holds the node's apply lock for this long from now (0 releases it): every
   * ApplyConfiguration meanwhile gets FailedPrecondition "another apply configuration is already in progress".
   */
  holdApplyLockMs?: number;
  /** Remove the node from the cluster for good (`talosctl reset` + `kubectl delete node`): irreversible. */
  remove?: boolean;
}

export interface FaultResponse {
  node: string;
  faults: NodeFaults;
  /** The node was removed from the cluster for good. */
  removed?: boolean;
  /** With holdApplyLockMs: until when the lock is held (ISO time), null once released. */
  applyLockHeldUntil?: string | null;
}

export interface ReadyResponse {
  ready: boolean;
  readyNodes: number;
  nodes: number;
}

export interface ControlApiHandlers {
  cluster: LabCluster;
  ready(): ReadyResponse;
  inspect(): InspectReport;
  /** Called once after the 202 reply has been sent. */
  shutdown(): void;
}

export interface ControlApiServer {
  address: string;
  port: number;
  close(): Promise<void>;
}

export class ControlApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer (\S+)$/.exec(header ?? '');
  if (!m) return false;
  const given = Buffer.from(m[1]!);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ControlApiError(413, 'LAB_CONTROL_BAD_REQUEST', 'request body too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new ControlApiError(400, 'LAB_CONTROL_BAD_REQUEST', 'request body is not JSON');
  }
}

function nonNegativeInteger(body: Record<string, unknown>, field: keyof FaultRequest): number | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new ControlApiError(400, 'LAB_BAD_FAULT', `${field} must be a whole number ≥ 0 (got ${JSON.stringify(v)})`);
  }
  return v;
}

/** Validate a fault request and apply it to the node. Exported for unit tests. */
export function applyFault(cluster: LabCluster, raw: unknown): FaultResponse {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ControlApiError(400, 'LAB_BAD_FAULT', 'the fault request must be a JSON object');
  }
  const body = raw as Record<string, unknown>;
  const known = new Set([
    'node',
    'down',
    'delayMs',
    'failApply',
    'dropApplyReply',
    'kubeletRestartMs',
    'holdApplyLockMs',
    'remove',
  ]);
  const unknown = Object.keys(body).filter((k) => !known.has(k));
  if (unknown.length) throw new ControlApiError(400, 'LAB_BAD_FAULT', `unknown fault field(s): ${unknown.join(', ')}`);
  if (typeof body.node !== 'string')
    throw new ControlApiError(400, 'LAB_BAD_FAULT', 'node (the node address) is required');
  const node = cluster.node(body.node);
  if (!node) {
    throw new ControlApiError(
      404,
      'LAB_UNKNOWN_NODE',
      `the lab has no node ${body.node} (nodes: ${cluster.nodes.map((n) => n.address).join(', ')})`,
      'pass one of the listed addresses with --node',
    );
  }
  if (body.down !== undefined && typeof body.down !== 'boolean')
    throw new ControlApiError(400, 'LAB_BAD_FAULT', 'down must be true or false');
  if (body.remove !== undefined && body.remove !== true)
    throw new ControlApiError(400, 'LAB_BAD_FAULT', 'remove can only be true (a removal is for good)');
  const delayMs = nonNegativeInteger(body, 'delayMs');
  const failApply = nonNegativeInteger(body, 'failApply');
  const dropApplyReply = nonNegativeInteger(body, 'dropApplyReply');
  const kubeletRestartMs = body.kubeletRestartMs === null ? null : nonNegativeInteger(body, 'kubeletRestartMs');
  const holdApplyLockMs = nonNegativeInteger(body, 'holdApplyLockMs');
  if (holdApplyLockMs !== undefined && node.applyLock.heldByCall) {
    // As Talos's TryLock: a foreign operator cannot take the lock while an apply is in progress.
    throw new ControlApiError(
      409,
      'LAB_APPLY_LOCK_BUSY',
      `node ${node.address} is applying a config right now; its apply lock cannot be taken`,
      'try again in a moment',
    );
  }
  // All checked: now change the node.
  if (holdApplyLockMs !== undefined) node.applyLock.holdForeign(holdApplyLockMs);
  if (delayMs !== undefined) node.faults.delayMs = delayMs;
  if (failApply !== undefined) node.faults.failApply = failApply;
  if (dropApplyReply !== undefined) node.faults.dropApplyReply = dropApplyReply;
  if (kubeletRestartMs !== undefined) node.faults.kubeletRestartMs = kubeletRestartMs;
  if (typeof body.down === 'boolean') node.setDown(body.down);
  if (body.remove === true) node.remove();
  return {
    node: node.address,
    faults: { ...node.faults },
    ...(node.isRemoved ? { removed: true } : {}),
    ...(holdApplyLockMs !== undefined ? { applyLockHeldUntil: node.applyLock.stats().foreignHoldUntil } : {}),
  };
}

function send(res: http.ServerResponse, status: number, value: unknown): void {
  const body = `${JSON.stringify(value)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

export async function startControlApi(
  address: string,
  token: string,
  handlers: ControlApiHandlers,
): Promise<ControlApiServer> {
  let shuttingDown = false;
  const server = http.createServer((req, res) => {
    void (async () => {
      try {
        if (!tokenMatches(req.headers.authorization, token)) {
          throw new ControlApiError(
            401,
            'LAB_CONTROL_UNAUTHORIZED',
            'missing or wrong bearer token',
            'use the token from DIR/lab.json',
          );
        }
        const url = new URL(req.url ?? '/', 'http://lab');
        const route = `${req.method ?? 'GET'} ${url.pathname}`;
        switch (route) {
          case `GET ${CONTROL_API_PREFIX}/ready`:
            return send(res, 200, handlers.ready());
          case `GET ${CONTROL_API_PREFIX}/inspect`:
            return send(res, 200, handlers.inspect());
          case `POST ${CONTROL_API_PREFIX}/fault`:
            return send(res, 200, applyFault(handlers.cluster, await readJson(req)));
          case `POST ${CONTROL_API_PREFIX}/shutdown`: {
            send(res, 202, { stopping: true });
            if (!shuttingDown) {
              shuttingDown = true;
              res.on('finish', () => setImmediate(() => handlers.shutdown()));
            }
            return;
          }
          default:
            throw new ControlApiError(404, 'LAB_CONTROL_NOT_FOUND', `no endpoint ${route}`);
        }
      } catch (err) {
        if (err instanceof ControlApiError) {
          send(res, err.status, {
            error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) },
          });
        } else {
          send(res, 500, {
            error: { code: 'LAB_CONTROL_INTERNAL', message: err instanceof Error ? err.message : String(err) },
          });
        }
      }
    })();
  });
  server.keepAliveTimeout = 1000;
  await listen(server, { host: address, port: 0 });
  const port = (server.address() as AddressInfo).port;
  return {
    address,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
