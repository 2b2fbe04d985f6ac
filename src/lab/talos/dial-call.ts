/**
 * One in-lab dial followed by one unary call, as a self-contained job: what a probe and a worker's trustd
 * request do on the client side. Plain data in and out, so that the job can run on the dial thread
 * (dial-thread.ts) as well as in the lab's own thread, with the same code and the same outcome.
 */
import { talosProtos, type CertificateRequest } from '../../talos/proto.js';
import { dialLab, type DialOptions, type DialResult } from './dial.js';
import { GrpcCallError, type OutgoingMetadata } from './h2-grpc.js';

/** The calls the lab's clients make on a dial of their own, by name (a method definition holds functions). */
export type UnaryCall =
  | { method: 'machine.Version'; request: Record<string, never> }
  | { method: 'security.Certificate'; request: CertificateRequest };

export type UnaryJob = UnaryCall & {
  dial: DialOptions;
  metadata: OutgoingMetadata;
  timeoutMs: number;
};

export type DialFailure = Exclude<DialResult, { ok: true }>;

export type UnaryOutcome =
  | { kind: 'dial-failed'; failure: DialFailure }
  | { kind: 'answered'; response: Record<string, unknown> }
  | { kind: 'call-failed'; error: string };

/**
 * Dials, makes the call, closes the connection. Every failure of the dial or the call is an outcome; it
 * rejects only when the dial cannot start at all (TLS options node:tls refuses, such as an unreadable key).
 */
export async function dialAndCall(job: UnaryJob): Promise<UnaryOutcome> {
  const r = await dialLab(job.dial);
  if (!r.ok) return { kind: 'dial-failed', failure: r };
  const opts = { timeoutMs: job.timeoutMs };
  try {
    const protos = talosProtos();
    const response =
      job.method === 'machine.Version'
        ? await r.session.unary(protos.machineService.Version, job.request, job.metadata, opts)
        : await r.session.unary(protos.securityService.Certificate, job.request, job.metadata, opts);
    return { kind: 'answered', response: response as unknown as Record<string, unknown> };
  } catch (err) {
    return { kind: 'call-failed', error: err instanceof GrpcCallError ? `${err.code}: ${err.details}` : String(err) };
  } finally {
    r.session.destroy();
  }
}
