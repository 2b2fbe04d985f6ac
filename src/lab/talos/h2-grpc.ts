/**
 * A small gRPC client over HTTP/2 for dials inside the lab. grpc-js clients can neither bind a local
 * address nor expose their TLS socket, and the lab needs both: the dialling node's address as the source,
 * and the socket itself to tell who refused a handshake. So the caller opens the TLS socket and this module
 * speaks gRPC on it: `node:http2` with `createConnection` returning that socket, 5-byte length-prefixed
 * messages, `te: trailers`, status from `grpc-status`/`grpc-message` (trailers, or headers for a
 * trailers-only answer). Unary and server-streaming calls; serializers come from src/talos/proto.ts.
 */
import * as http2 from 'node:http2';
import type { TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';

/** gRPC status codes: grpc-js's own enum, which the lab's gRPC servers (apid.ts, trustd.ts) answer with too. */
export const Status = grpc.status;

/** A call that ended with a non-OK status (or a broken stream, reported as UNAVAILABLE). */
export class GrpcCallError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(details);
    this.name = 'GrpcCallError';
  }
}

export type OutgoingMetadata = Record<string, string | string[]>;

/** Splits a byte stream into gRPC messages (1 byte compressed flag, 4 bytes big-endian length). */
export class MessageFramer {
  #buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const out: Buffer[] = [];
    while (this.#buf.length >= 5) {
      const len = this.#buf.readUInt32BE(1);
      if (this.#buf.length < 5 + len) break;
      if (this.#buf[0] !== 0) throw new GrpcCallError(Status.INTERNAL, 'compressed gRPC messages are not supported');
      out.push(this.#buf.subarray(5, 5 + len));
      this.#buf = this.#buf.subarray(5 + len);
    }
    return out;
  }

  get pending(): number {
    return this.#buf.length;
  }
}

export function frameMessage(payload: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

function decodeGrpcMessage(v: string | string[] | undefined): string {
  const s = Array.isArray(v) ? v.join(',') : (v ?? '');
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** One HTTP/2 connection on an established TLS socket. */
export class H2GrpcSession {
  readonly #session: http2.ClientHttp2Session;
  readonly #authority: string;
  #closed = false;

  private constructor(session: http2.ClientHttp2Session, authority: string) {
    this.#session = session;
    this.#authority = authority;
    session.on('close', () => {
      this.#closed = true;
    });
    // Errors surface on streams; an unhandled session error must not crash the lab.
    session.on('error', () => {});
  }

  /**
   * Starts HTTP/2 on `socket` and resolves once the server's SETTINGS arrived (the server accepted the
   * connection after TLS). Rejects if the peer closes or errors first, or after `timeoutMs`.
   */
  static open(socket: TLSSocket, authority: string, timeoutMs = 5_000): Promise<H2GrpcSession> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(`https://${authority}`, { createConnection: () => socket });
      let done = false;
      const finish = (err: Error | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        session.off('remoteSettings', onSettings);
        if (err) {
          session.destroy();
          reject(err);
        } else resolve(new H2GrpcSession(session, authority));
      };
      const onSettings = () => finish(null);
      const timer = setTimeout(
        () => finish(Object.assign(new Error('no HTTP/2 settings from the server in time'), { code: 'ETIMEDOUT' })),
        timeoutMs,
      );
      session.once('remoteSettings', onSettings);
      session.once('error', (err) => finish(err));
      session.once('close', () =>
        finish(Object.assign(new Error('connection closed before HTTP/2 settings'), { code: 'ECONNRESET' })),
      );
    });
  }

  get closed(): boolean {
    return this.#closed || this.#session.closed || this.#session.destroyed;
  }

  close(): void {
    this.#closed = true;
    this.#session.close();
  }

  destroy(): void {
    this.#closed = true;
    this.#session.destroy();
  }

  #request(path: string, metadata: OutgoingMetadata, timeoutMs: number | undefined): http2.ClientHttp2Stream {
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':scheme': 'https',
      ':path': path,
      ':authority': this.#authority,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': 'talos-rotate-lab/1',
    };
    if (timeoutMs !== undefined) headers['grpc-timeout'] = `${Math.max(1, Math.ceil(timeoutMs))}m`;
    for (const [k, v] of Object.entries(metadata)) headers[k.toLowerCase()] = v;
    return this.#session.request(headers, { endStream: false });
  }

  /**
   * A call with one request; each response message goes to `onMessage`. Resolves on an OK status;
   * rejects with GrpcCallError otherwise (a reset or vanished stream is UNAVAILABLE).
   */
  call<Req, Res>(
    method: grpc.MethodDefinition<Req, Res>,
    request: Req,
    metadata: OutgoingMetadata,
    onMessage: (res: Res) => void,
    opts: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new GrpcCallError(Status.UNAVAILABLE, 'connection closed'));
        return;
      }
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.#request(method.path, metadata, opts.timeoutMs);
      } catch (err) {
        reject(new GrpcCallError(Status.UNAVAILABLE, `cannot start the call: ${(err as Error).message}`));
        return;
      }
      const framer = new MessageFramer();
      let status: { code: number; details: string } | undefined;
      let settled = false;
      const settle = (err: GrpcCallError | null) => {
        if (settled) return;
        settled = true;
        opts.signal?.removeEventListener('abort', onAbort);
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const onAbort = () => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        settle(new GrpcCallError(Status.CANCELLED, 'call cancelled'));
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const timer =
        opts.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              stream.close(http2.constants.NGHTTP2_CANCEL);
              settle(new GrpcCallError(Status.DEADLINE_EXCEEDED, 'deadline exceeded'));
            }, opts.timeoutMs + 1_000);
      const takeStatus = (h: http2.IncomingHttpHeaders) => {
        const s = h['grpc-status'];
        if (s !== undefined)
          status = { code: Number(Array.isArray(s) ? s[0] : s), details: decodeGrpcMessage(h['grpc-message']) };
      };
      stream.on('response', (headers) => {
        const httpStatus = Number(headers[':status']);
        takeStatus(headers);
        if (httpStatus !== 200 && status === undefined)
          status = { code: Status.UNKNOWN, details: `HTTP status ${httpStatus}` };
      });
      stream.on('trailers', (trailers) => takeStatus(trailers));
      stream.on('data', (chunk: Buffer) => {
        if (settled) return;
        try {
          for (const m of framer.push(chunk)) onMessage(method.responseDeserialize(m));
        } catch (err) {
          stream.close(http2.constants.NGHTTP2_CANCEL);
          settle(
            err instanceof GrpcCallError
              ? err
              : new GrpcCallError(Status.INTERNAL, `bad response message: ${(err as Error).message}`),
          );
        }
      });
      stream.on('error', (err) => settle(new GrpcCallError(Status.UNAVAILABLE, `stream error: ${err.message}`)));
      stream.on('close', () => {
        if (status === undefined)
          settle(new GrpcCallError(Status.UNAVAILABLE, 'the stream ended without a status (connection reset)'));
        else if (status.code !== Status.OK) settle(new GrpcCallError(status.code, status.details));
        else settle(null);
      });
      stream.end(frameMessage(method.requestSerialize(request)));
    });
  }

  async unary<Req, Res>(
    method: grpc.MethodDefinition<Req, Res>,
    request: Req,
    metadata: OutgoingMetadata,
    opts: { timeoutMs?: number } = {},
  ): Promise<Res> {
    const out: Res[] = [];
    await this.call(method, request, metadata, (m) => out.push(m), opts);
    const first = out[0];
    if (first === undefined) throw new GrpcCallError(Status.INTERNAL, 'unary call returned no message');
    return first;
  }
}
