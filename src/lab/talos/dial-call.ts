/**
 * One in-lab dial followed by one unary call, as a self-contained job: what a probe and a worker's trustd
 * request do on the client side. Plain data in and out, so that the job can run on the dial thread
 * (dial-thread.ts) as well as in the lab's own thread, with the same code and the same outcome.
 */
import { talosProtos } from '../../talos/proto.js';
import { dialLab, type DialOptions, type DialResult } from './dial.js';
import { GrpcCallError, type OutgoingMetadata } from './h2-grpc.js';

/** The calls the lab's clients make on a dial of their own (by name: a method definition holds functions). */
export type UnaryMethod = 'machine.Version' | 'security.Certificate';

export interface UnaryJob {
  dial: DialOptions;
  method: UnaryMethod;
  request: object;
  metadata: OutgoingMetadata;
  timeoutMs: number;
}

export type DialFailure = Exclude<DialResult, { ok: true }>;

export type UnaryOutcome =
  | { kind: 'dial-failed'; failure: DialFailure }
  | { kind: 'answered'; response: Record<string, unknown> }
  | { kind: 'call-failed'; error: string };

function methodOf(name: UnaryMethod) {
  const protos = talosProtos();
  return name === 'machine.Version' ? protos.machineService.Version : protos.securityService.Certificate;
}

/** Dials, makes the call, closes the connection; never rejects. */
export async function dialAndCall(job: UnaryJob): Promise<UnaryOutcome> {
  const r = await dialLab(job.dial);
  if (!r.ok) return { kind: 'dial-failed', failure: r };
  try {
    const response = (await r.session.unary(methodOf(job.method) as never, job.request as never, job.metadata, {
      timeoutMs: job.timeoutMs,
    })) as Record<string, unknown>;
    return { kind: 'answered', response };
  } catch (err) {
    return { kind: 'call-failed', error: err instanceof GrpcCallError ? `${err.code}: ${err.details}` : String(err) };
  } finally {
    r.session.destroy();
  }
}
