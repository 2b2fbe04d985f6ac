/**
 * Client of the lab's control API (control-api.ts) for the CLI: reads the address and token from
 * lab.json and turns error replies back into RotateErrors.
 */
import * as http from 'node:http';
import { RotateError } from '../../domain/errors.js';
import type { InspectReport, LabFile } from './contracts.js';
import { CONTROL_API_PREFIX, type FaultRequest, type FaultResponse, type ReadyResponse } from './control-api.js';

export interface ControlTarget {
  control: LabFile['control'];
}

export function controlRequest<T>(
  lab: ControlTarget,
  method: 'GET' | 'POST',
  route: string,
  body?: unknown,
  timeoutMs = 15_000,
): Promise<T> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const where = `the lab's control API at ${lab.control.address}:${lab.control.port}`;
  return new Promise<T>((resolve, reject) => {
    const req = http.request(
      {
        host: lab.control.address,
        port: lab.control.port,
        method,
        path: `${CONTROL_API_PREFIX}${route}`,
        headers: {
          authorization: `Bearer ${lab.control.token}`,
          accept: 'application/json',
          ...(payload !== undefined
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {}),
        },
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let value: unknown;
          try {
            value = JSON.parse(text);
          } catch {
            reject(
              new RotateError(
                'LAB_CONTROL_BAD_REPLY',
                `${where} answered ${res.statusCode} with a body that is not JSON`,
                { hint: 'is the lab from the same build? restart it', source: 'internal' },
              ),
            );
            return;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve(value as T);
            return;
          }
          const e = (value as { error?: { code?: string; message?: string; hint?: string } }).error ?? {};
          reject(
            new RotateError(e.code ?? 'LAB_CONTROL_FAILED', e.message ?? `${where} answered ${status}`, {
              hint: e.hint ?? 'see DIR/lab.log',
            }),
          );
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      reject(
        new RotateError('LAB_CONTROL_UNREACHABLE', `cannot reach ${where} (${err.code ?? err.message})`, {
          hint: 'the lab process may have died; see DIR/lab.log, then `rotate lab down --dir DIR` cleans up',
          cause: err,
        }),
      );
    });
    req.end(payload);
  });
}

export const labReady = (lab: ControlTarget) => controlRequest<ReadyResponse>(lab, 'GET', '/ready');
export const labInspect = (lab: ControlTarget) => controlRequest<InspectReport>(lab, 'GET', '/inspect');
export const labFault = (lab: ControlTarget, fault: FaultRequest) =>
  controlRequest<FaultResponse>(lab, 'POST', '/fault', fault);
export const labShutdown = (lab: ControlTarget) =>
  controlRequest<{ stopping: boolean }>(lab, 'POST', '/shutdown', {}, 5_000);
