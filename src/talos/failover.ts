/**
 * Endpoints, failover and streams of the Talos API client (see client.ts): one gRPC channel per talosconfig
 * endpoint; a call sticks to the last endpoint that worked and fails over to the next on UNAVAILABLE (before
 * any response message arrived). Every call names its target node in the `node` metadata key (apid proxies
 * it), exactly as talosctl does (talos-behaviour.md §2.1, §3.2).
 */
import { isIP } from 'node:net';
import type * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { RotateError } from '../domain/errors.js';
import {
  GrpcCode,
  TalosApiError,
  classifyGrpcError,
  malformedResponse,
  redact,
  type GrpcErrorLike,
  type TalosCallContext,
  type TlsObservation,
} from './errors.js';
import { watchRequest } from './requests.js';
import { GRPC_MAX_MESSAGE_SIZE, talosProtos, type CommonMetadata, type ResourceEvent } from './proto.js';
import { ResourceDecodeError } from './resources.js';
import { StreamWatch, type Watch } from './stream-watch.js';
import { TalosTlsCredentials } from './tls-connector.js';

export const TALOS_API_PORT = 50000;

export interface TalosClientOptions {
  /** Timeout applied to calls that give none (ms). Default: none (watches usually run unbounded). */
  readonly defaultTimeoutMs?: number;
  /**
   * HTTP/2 keepalive ping interval while calls are active (ms), so that a watch on a vanished peer fails
   * instead of hanging. Default 330 s: Go gRPC servers (Talos) by default refuse pings more often than every
   * 5 minutes (GOAWAY "too_many_pings").
   */
  readonly keepaliveTimeMs?: number;
  /** How long a keepalive ping may go unanswered before the connection is declared dead (ms). Default 20 s. */
  readonly keepaliveTimeoutMs?: number;
}

export interface CallOptions {
  /** Relative timeout for the whole call including failover (ms). */
  readonly timeoutMs?: number;
  /** Absolute deadline; the earlier of this and `timeoutMs` wins. */
  readonly deadline?: Date;
  /** Cancels the call (it then fails with kind `cancelled`). */
  readonly signal?: AbortSignal;
}

export interface TalosEndpoint {
  readonly host: string;
  readonly port: number;
  /** `host:port`, with brackets around IPv6 hosts. */
  readonly address: string;
}

/** Parses a talosconfig endpoint (talos-behaviour.md §6.3). */
export function parseEndpoint(text: string): TalosEndpoint {
  const invalid = (why: string) =>
    new RotateError('TALOS_ENDPOINT_INVALID', `talosconfig endpoint ${JSON.stringify(text)} ${why}`, {
      hint: 'endpoints are host, host:port, [ipv6]:port or https://host:port (port 50000 when omitted)',
    });
  const raw = text.trim();
  if (raw === '') throw invalid('is empty');
  let host: string;
  let portText: string | undefined;
  const url = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)(.*)$/.exec(raw);
  const hostPort = url ? url[1]! : raw;
  if (url && url[2] !== '' && url[2] !== '/') throw invalid('has a path');
  if (hostPort.startsWith('[')) {
    const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostPort);
    if (!m) throw invalid('is not a valid [ipv6]:port');
    host = m[1]!;
    portText = m[2];
  } else if ((hostPort.match(/:/g) ?? []).length > 1) {
    host = hostPort; // bare IPv6 address without port
  } else {
    const [h, p] = hostPort.split(':');
    host = h!;
    portText = p;
  }
  if (host === '') throw invalid('has no host');
  if (host.includes(':') && isIP(host) !== 6) throw invalid('has an invalid IPv6 address');
  if (isIP(host) === 0 && !/^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/.test(host))
    throw invalid('has an invalid host name');
  let port = TALOS_API_PORT;
  if (portText !== undefined) {
    if (!/^\d+$/.test(portText)) throw invalid('has an invalid port');
    port = Number(portText);
    if (port < 1 || port > 65535) throw invalid('has a port outside 1-65535');
  }
  const address = isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
  return { host: host.toLowerCase(), port, address: address.toLowerCase() };
}

interface EndpointChannel {
  readonly endpoint: TalosEndpoint;
  readonly client: grpc.Client;
  /** What the TLS connector saw on the latest connection attempt to this endpoint. */
  readonly observed: { tls: TlsObservation | undefined };
}

/** A failed attempt on one endpoint; `retryable` = UNAVAILABLE before any response message. */
class AttemptFailure {
  constructor(
    readonly error: TalosApiError,
    readonly retryable: boolean,
  ) {}
}

export function hasNode(node: string | undefined): node is string {
  return node !== undefined && node !== '';
}

/** Runs `cancel` when the call's signal aborts; returns the function that stops listening. */
function onAbort(opts: CallOptions, cancel: () => void): () => void {
  opts.signal?.addEventListener('abort', cancel, { once: true });
  return () => opts.signal?.removeEventListener('abort', cancel);
}

/** Throws the error a response message reports in its metadata (apid proxying to a node that failed). */
export function checkMetadata(metadata: CommonMetadata | null | undefined, ctx: TalosCallContext): void {
  if (metadata?.error) {
    throw classifyGrpcError({ code: metadata.status?.code || GrpcCode.UNKNOWN, details: metadata.error }, ctx);
  }
}

/**
 * The gRPC channels to a talosconfig context's endpoints, one per endpoint, and the calls over them with
 * failover: unary, server-streaming (collected) and watches.
 */
export class FailoverChannels {
  readonly #channels: EndpointChannel[];
  readonly #options: TalosClientOptions;
  #preferred = 0;
  #closed = false;

  constructor(endpoints: readonly TalosEndpoint[], context: tls.SecureContext, options: TalosClientOptions) {
    this.#options = options;
    const channelOptions: grpc.ChannelOptions = {
      'grpc.max_receive_message_length': GRPC_MAX_MESSAGE_SIZE,
      'grpc.max_send_message_length': GRPC_MAX_MESSAGE_SIZE,
      'grpc.keepalive_time_ms': options.keepaliveTimeMs ?? 330_000,
      'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? 20_000,
      'grpc.keepalive_permit_without_calls': 0,
      // Retry loops poll every 100 ms-1 s (talos-behaviour.md §2.6); keep reconnect backoff short so they see recovery.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 5_000,
    };
    this.#channels = endpoints.map((endpoint) => {
      const observed: EndpointChannel['observed'] = { tls: undefined };
      const credentials = new TalosTlsCredentials(endpoint.host, context, (o) => {
        observed.tls = o;
      });
      return { endpoint, client: new grpc.Client(`dns:${endpoint.address}`, credentials, channelOptions), observed };
    });
  }

  /** Closes all connections; calls in flight fail with kind `cancelled`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const ch of this.#channels) ch.client.close();
  }

  /** The address of the endpoint that answered last (the one calls try first). */
  get preferredAddress(): string {
    return this.#channels[this.#preferred]?.endpoint.address ?? '';
  }

  #metadata(node: string | undefined): grpc.Metadata {
    const md = new grpc.Metadata();
    if (hasNode(node)) md.set('node', node);
    return md;
  }

  #deadline(opts: CallOptions): Date | undefined {
    const candidates: number[] = [];
    const timeout = opts.timeoutMs ?? this.#options.defaultTimeoutMs;
    if (timeout !== undefined) candidates.push(Date.now() + timeout);
    if (opts.deadline) candidates.push(opts.deadline.getTime());
    return candidates.length === 0 ? undefined : new Date(Math.min(...candidates));
  }

  #ctx(ch: EndpointChannel, path: string, node: string | undefined): TalosCallContext {
    return {
      method: path,
      node: hasNode(node) ? node : undefined,
      endpoint: ch.endpoint.address,
      tls: ch.observed.tls,
    };
  }

  #cancelledBeforeStart(path: string, node: string | undefined): TalosApiError {
    const ch = this.#channels[this.#preferred]!;
    return classifyGrpcError(
      { code: GrpcCode.CANCELLED, details: 'cancelled before the call started' },
      this.#ctx(ch, path, node),
    );
  }

  /**
   * Runs `attempt` on the preferred endpoint, then on the others while attempts fail with a retryable
   * error. Reports the most telling failure: an endpoint's definite answer (non-retryable) if one stopped
   * the loop, else a TLS problem before plain unreachability, else the first endpoint's error.
   */
  async #withFailover<T>(
    path: string,
    node: string | undefined,
    opts: CallOptions,
    attempt: (ch: EndpointChannel) => Promise<T>,
  ): Promise<{ value: T; ctx: TalosCallContext }> {
    if (this.#closed) {
      throw new RotateError('TALOS_CLIENT_CLOSED', 'the Talos API client was used after close()', {
        source: 'internal',
      });
    }
    if (opts.signal?.aborted) throw this.#cancelledBeforeStart(path, node);
    const failures: TalosApiError[] = [];
    let final: TalosApiError | undefined;
    const n = this.#channels.length;
    for (let i = 0; i < n; i++) {
      const index = (this.#preferred + i) % n;
      const ch = this.#channels[index]!;
      try {
        const value = await attempt(ch);
        this.#preferred = index;
        return { value, ctx: this.#ctx(ch, path, node) };
      } catch (err) {
        if (!(err instanceof AttemptFailure)) throw err;
        failures.push(err.error);
        if (!err.retryable || opts.signal?.aborted) {
          final = err.error;
          break;
        }
      }
    }
    const isTls = (e: TalosApiError) => e.kind === 'tls-untrusted-server' || e.kind === 'tls-client-rejected';
    const best = final ?? failures.find(isTls) ?? failures[0]!;
    throw best.withAlsoTried(failures.filter((f) => f !== best));
  }

  /**
   * `#withFailover` for one call: every attempt runs `start` on its channel, with the call's deadline (fixed
   * once, before the first attempt), and settles through `resolve` / `reject`.
   */
  #attempts<T>(
    path: string,
    node: string | undefined,
    opts: CallOptions,
    start: (
      ch: EndpointChannel,
      deadline: Date | undefined,
      resolve: (value: T) => void,
      reject: (reason: unknown) => void,
    ) => void,
  ): Promise<{ value: T; ctx: TalosCallContext }> {
    const deadline = this.#deadline(opts);
    return this.#withFailover(
      path,
      node,
      opts,
      (ch) => new Promise<T>((resolve, reject) => start(ch, deadline, resolve, reject)),
    );
  }

  #failure(
    ch: EndpointChannel,
    path: string,
    node: string | undefined,
    err: GrpcErrorLike,
    receivedAny: boolean,
  ): AttemptFailure {
    const error = classifyGrpcError(err, this.#ctx(ch, path, node));
    return new AttemptFailure(error, err.code === GrpcCode.UNAVAILABLE && !receivedAny);
  }

  async unary<Req, Res>(
    method: grpc.MethodDefinition<Req, Res>,
    node: string | undefined,
    request: Req,
    opts: CallOptions,
  ): Promise<{ value: Res; ctx: TalosCallContext }> {
    return this.#attempts<Res>(method.path, node, opts, (ch, deadline, resolve, reject) => {
      let finish = () => {};
      const call = ch.client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        this.#metadata(node),
        deadline ? { deadline } : {},
        (err: grpc.ServiceError | null, value?: Res) => {
          finish();
          if (err) reject(this.#failure(ch, method.path, node, err, false));
          else if (value === undefined)
            reject(this.#failure(ch, method.path, node, { code: GrpcCode.INTERNAL, details: 'empty response' }, true));
          else resolve(value);
        },
      );
      finish = onAbort(opts, () => call.cancel());
    });
  }

  /** Server-streaming call collected into an array (Kubeconfig chunks, List items). */
  async serverStream<Req, Res>(
    method: grpc.MethodDefinition<Req, Res>,
    node: string | undefined,
    request: Req,
    opts: CallOptions,
  ): Promise<{ value: Res[]; ctx: TalosCallContext }> {
    return this.#attempts<Res[]>(method.path, node, opts, (ch, deadline, resolve, reject) => {
      const items: Res[] = [];
      let settled = false;
      const call = this.#openStream(ch, method, node, request, deadline);
      const finish = onAbort(opts, () => call.cancel());
      call.on('data', (item: Res) => items.push(item));
      call.on('error', (err: grpc.ServiceError) => {
        if (settled) return;
        settled = true;
        finish();
        reject(this.#failure(ch, method.path, node, err, items.length > 0));
      });
      call.on('end', () => {
        if (settled) return;
        settled = true;
        finish();
        resolve(items);
      });
    });
  }

  #openStream<Req, Res>(
    ch: EndpointChannel,
    method: grpc.MethodDefinition<Req, Res>,
    node: string | undefined,
    request: Req,
    deadline: Date | undefined,
  ): grpc.ClientReadableStream<Res> {
    const md = this.#metadata(node);
    return ch.client.makeServerStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      md,
      deadline ? { deadline } : {},
    );
  }

  watch<T>(
    node: string | undefined,
    namespace: string,
    type: string,
    id: string | undefined,
    opts: CallOptions,
    map: (e: ResourceEvent) => T,
  ): Watch<T> {
    const method = talosProtos().stateService.Watch;
    const request = watchRequest(namespace, type, id);
    const watch = new StreamWatch<T>(hasNode(node) ? node : undefined);

    const started = this.#attempts<void>(method.path, node, opts, (ch, deadline, resolve, reject) => {
      let gotReady = false;
      const call = this.#openStream(ch, method, node, request, deadline);
      watch.attach(() => call.cancel());
      const finish = onAbort(opts, () =>
        watch.abort(
          classifyGrpcError({ code: GrpcCode.CANCELLED, details: 'watch aborted' }, this.#ctx(ch, method.path, node)),
        ),
      );
      const what = `the watch on ${type}${id === undefined ? '' : `/${id}`}`;
      call.on('data', (res: { event?: ResourceEvent[] }) => {
        if (!gotReady) {
          // The first response is empty: the server has registered the watch.
          gotReady = true;
          resolve();
        }
        for (const e of res.event ?? []) {
          if (e.event_type === 'ERRORED') {
            finish();
            watch.fail(
              malformedResponse(
                this.#ctx(ch, method.path, node),
                `${what} reported an error: ${redact(e.error ?? 'unknown')}`,
              ),
            );
            return;
          }
          let value: T;
          try {
            value = map(e);
          } catch (err) {
            finish();
            watch.fail(
              err instanceof ResourceDecodeError
                ? malformedResponse(this.#ctx(ch, method.path, node), err.message, err)
                : (err as Error),
            );
            return;
          }
          watch.push(value);
        }
      });
      call.on('error', (err: grpc.ServiceError) => {
        finish();
        const failure = this.#failure(ch, method.path, node, err, gotReady);
        if (!gotReady)
          reject(new AttemptFailure(failure.error, failure.retryable && !watch.closedByUser && !watch.failed));
        else watch.fail(failure.error);
      });
      call.on('end', () => {
        finish();
        if (watch.closedByUser || watch.failed) return;
        const error = classifyGrpcError(
          { code: GrpcCode.UNAVAILABLE, details: `${what} ended unexpectedly (the node or endpoint went away)` },
          this.#ctx(ch, method.path, node),
        );
        if (!gotReady) reject(new AttemptFailure(error, false));
        else watch.fail(error);
      });
    });
    started.then(
      () => watch.markReady(),
      (err: unknown) => watch.fail(err instanceof Error ? err : new Error(String(err))),
    );
    return watch;
  }
}
