/**
 * Talos API client over gRPC with mutual TLS, built from a talosconfig context. Every call goes to a
 * talosconfig endpoint and names its target node in the `node` metadata key (apid proxies it), exactly as
 * talosctl does (talos-behaviour.md §2.1, §3.2). Several endpoints: the client sticks to the last one that worked and
 * fails over to the next on UNAVAILABLE (before any response message arrived).
 *
 * TLS is done by our own connector (TalosTlsCredentials) instead of grpc-js's createSsl because:
 * - the server name to verify is the endpoint host as given (IP or DNS name), like Go's client; grpc-js
 *   would send an IP address as SNI, which RFC 6066 forbids and Node flags with DEP0123. We send SNI only
 *   for DNS names and verify the certificate against the host ourselves (`tls.checkServerIdentity`);
 * - it sees the TLS errors grpc-js flattens into "UNAVAILABLE", so errors.ts can tell an untrusted server
 *   CA from a rejected client certificate from a closed port.
 * Verification is never disabled: `rejectUnauthorized` stays on, with the talosconfig CA bundle as the only
 * trust anchors (during a CA swap the bundle holds old + new CA).
 */
import { isIP, type Socket } from 'node:net';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { RotateError } from '../domain/errors.js';
import type { Secret } from '../domain/secret.js';
import { keyPemForTls, splitPemBlocks } from '../pki/index.js';
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
import { extractKubeconfigArchive } from './kubeconfig-archive.js';
import { applyConfigurationRequest, getRequest, listRequest, watchRequest } from './requests.js';
import {
  GRPC_MAX_MESSAGE_SIZE,
  talosProtos,
  type ApplyMode,
  type CommonMetadata,
  type EventType,
  type Resource,
  type ResourceEvent,
} from './proto.js';
import {
  API_CERTIFICATES_RESOURCE,
  IDENTITY_RESOURCE,
  KUBELET_SERVICE_RESOURCE,
  KUBERNETES_ROOT_RESOURCE,
  MACHINE_CONFIG_RESOURCE,
  MEMBERS_RESOURCE,
  OS_ROOT_RESOURCE,
  SECRET_STATUS_RESOURCE,
  ResourceDecodeError,
  decodeApiCertificates,
  decodeIdentity,
  decodeKubernetesRootSecrets,
  decodeMachineConfig,
  decodeMember,
  decodeOsRootSecrets,
  decodeSecretsStatus,
  decodeServiceState,
  type ApiCertificates,
  type ClusterMember,
  type KubernetesRootSecrets,
  type MachineConfigResource,
  type NodeIdentity,
  type OsRootSecrets,
  type SecretsStatus,
  type ServiceState,
} from './resources.js';

export const TALOS_API_PORT = 50000;

const GET_PATH = '/cosi.resource.State/Get';
const LIST_PATH = '/cosi.resource.State/List';

/** What the client needs from a talosconfig context. */
export interface TalosClientConfig {
  /** `host`, `host:port`, `[v6]:port` or `https://host:port`; port 50000 when missing. */
  readonly endpoints: readonly string[];
  /** Trusted CA(s), PEM; may be a bundle (old + new CA during a swap). */
  readonly caPem: string;
  /** Client certificate, PEM. */
  readonly certPem: string;
  /** Client key, PEM (Talos labels such as `ED25519 PRIVATE KEY` are fine). */
  readonly key: Secret;
}

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

export interface NodeVersion {
  readonly tag: string;
  readonly sha: string;
  readonly built: string;
  readonly goVersion: string;
  readonly os: string;
  readonly arch: string;
  readonly platform: { readonly name: string; readonly mode: string } | null;
  /** FeaturesInfo.rbac; null when the node did not report features. */
  readonly rbac: boolean | null;
}

export interface ApplyConfigurationOptions {
  readonly mode: ApplyMode;
  readonly dryRun?: boolean;
  /** Only meaningful with mode TRY. */
  readonly tryModeTimeoutMs?: number;
}

export interface ApplyConfigurationResult {
  /** Mode the node actually used (a name, or the number of a mode unknown to this build). */
  readonly mode: ApplyMode | number;
  readonly modeDetails: string;
  readonly warnings: readonly string[];
}

export interface WatchEvent {
  readonly type: EventType | number;
  /** The resource (for DESTROYED: its last state, or a tombstone when it never existed). */
  readonly resource: Resource | null;
  readonly old: Resource | null;
}

export interface ApiCertificatesWatchEvent {
  readonly type: EventType | number;
  /** Null when the event carries no decodable spec (a tombstone: apid has no certificates yet). */
  readonly certificates: ApiCertificates | null;
}

export interface ServiceWatchEvent {
  readonly type: EventType | number;
  /** Null when the event carries no decodable spec (e.g. the tombstone of a service that is not running). */
  readonly service: ServiceState | null;
}

/**
 * A running watch: iterate it for events (`for await`); `ready` resolves when the server confirmed the watch
 * (its first, empty response) and rejects if the watch fails before that. A watch never ends by itself: if
 * the stream breaks or ends, iteration throws a TalosApiError. `close()` (or breaking out of the loop)
 * cancels it; iteration then simply ends.
 */
export interface Watch<T> extends AsyncIterable<T> {
  readonly ready: Promise<void>;
  readonly node: string | undefined;
  close(): void;
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
  if (isIP(host) === 0 && !/^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/.test(host)) throw invalid('has an invalid host name');
  let port = TALOS_API_PORT;
  if (portText !== undefined) {
    if (!/^\d+$/.test(portText)) throw invalid('has an invalid port');
    port = Number(portText);
    if (port < 1 || port > 65535) throw invalid('has a port outside 1-65535');
  }
  const address = isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
  return { host: host.toLowerCase(), port, address: address.toLowerCase() };
}

type ConnectorArgs = Parameters<grpc.ChannelCredentials['_createSecureConnector']>;
type SecureConnector = ReturnType<grpc.ChannelCredentials['_createSecureConnector']>;

/**
 * Channel credentials doing mutual TLS for one endpoint: verifies the server certificate against the CA
 * bundle and the endpoint host as given, sends SNI only for DNS names, presents the client certificate,
 * and reports what happened on each connection attempt to `observe`.
 */
export class TalosTlsCredentials extends grpc.ChannelCredentials {
  readonly #host: string;
  readonly #context: tls.SecureContext;
  readonly #observe: (o: TlsObservation) => void;

  constructor(host: string, context: tls.SecureContext, observe: (o: TlsObservation) => void = () => {}) {
    super();
    this.#host = host;
    this.#context = context;
    this.#observe = observe;
  }

  override _isSecure(): boolean {
    return true;
  }

  override _equals(other: grpc.ChannelCredentials): boolean {
    return other === this;
  }

  override _createSecureConnector(
    _target: ConnectorArgs[0],
    _options: ConnectorArgs[1],
    callCredentials?: ConnectorArgs[2],
  ): SecureConnector {
    const host = this.#host;
    const context = this.#context;
    const observe = this.#observe;
    return {
      connect(socket: Socket) {
        return new Promise((resolve, reject) => {
          let handshakeDone = false;
          let errored = false;
          const tlsSocket = tls.connect(
            {
              socket,
              secureContext: context,
              ALPNProtocols: ['h2'],
              ...(isIP(host) === 0 ? { servername: host } : {}),
              rejectUnauthorized: true,
              checkServerIdentity: (_name, cert) => tls.checkServerIdentity(host, cert),
            },
            () => {
              handshakeDone = true;
              observe({ outcome: 'established' });
              resolve({ socket: tlsSocket, secure: true });
            },
          );
          tlsSocket.on('error', (err: NodeJS.ErrnoException) => {
            errored = true;
            observe({ outcome: 'error', code: err.code, message: err.message, afterHandshake: handshakeDone });
            if (!handshakeDone) reject(err);
          });
          tlsSocket.on('close', () => {
            if (handshakeDone && !errored) observe({ outcome: 'closed-after-handshake' });
          });
        });
      },
      waitForReady: () => Promise.resolve(),
      getCallCredentials: () => callCredentials ?? grpc.CallCredentials.createEmpty(),
      destroy: () => {},
    };
  }
}

/** Builds the TLS context; a bad certificate/key fails here with a message that never shows the key. */
export function createClientSecureContext(config: Pick<TalosClientConfig, 'caPem' | 'certPem' | 'key'>): tls.SecureContext {
  const fail = (what: string, err?: unknown) =>
    new RotateError('TALOS_CLIENT_CREDENTIALS', `the talosconfig client credentials are unusable: ${what}`, {
      hint: 'check the ca, crt and key of the talosconfig context (base64 PEM; the key must match the certificate)',
      cause: err,
    });
  let cas: string[];
  try {
    cas = splitPemBlocks(config.caPem)
      .filter((b) => b.label === 'CERTIFICATE')
      .map((b) => b.pem);
  } catch (err) {
    throw fail('the CA is not valid PEM', err);
  }
  if (cas.length === 0) throw fail('the CA holds no certificate');
  try {
    return tls.createSecureContext({ ca: cas, cert: config.certPem, key: keyPemForTls(config.key), minVersion: 'TLSv1.2' });
  } catch (err) {
    // OpenSSL messages name the failing routine, not the key bytes; redact() is a second line of defence.
    throw fail(redact(err instanceof Error ? err.message : String(err)), err);
  }
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

function hasNode(node: string | undefined): node is string {
  return node !== undefined && node !== '';
}

export class TalosClient {
  readonly endpoints: readonly TalosEndpoint[];
  readonly #channels: EndpointChannel[];
  readonly #options: TalosClientOptions;
  #preferred = 0;
  #closed = false;

  constructor(config: TalosClientConfig, options: TalosClientOptions = {}) {
    if (config.endpoints.length === 0) {
      throw new RotateError('TALOS_ENDPOINT_INVALID', 'the talosconfig context has no endpoints', {
        hint: 'add control-plane node addresses to the context endpoints (talosctl config endpoint <ip>...)',
      });
    }
    this.endpoints = config.endpoints.map(parseEndpoint);
    this.#options = options;
    const context = createClientSecureContext(config);
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
    this.#channels = this.endpoints.map((endpoint) => {
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

  // -------------------------------------------------------------------------------------------------------
  // machine.MachineService
  // -------------------------------------------------------------------------------------------------------

  async version(node?: string, opts: CallOptions = {}): Promise<NodeVersion> {
    const method = talosProtos().machineService.Version;
    const { value: res, ctx } = await this.#unary(method, node, {}, opts);
    const msg = res.messages?.[0];
    if (!msg) throw malformedResponse(ctx, 'no Version message');
    this.#checkMetadata(msg.metadata, ctx);
    const v = msg.version;
    if (!v) throw malformedResponse(ctx, 'the Version message has no version info');
    return {
      tag: v.tag ?? '',
      sha: v.sha ?? '',
      built: v.built ?? '',
      goVersion: v.go_version ?? '',
      os: v.os ?? '',
      arch: v.arch ?? '',
      platform: msg.platform ? { name: msg.platform.name ?? '', mode: msg.platform.mode ?? '' } : null,
      rbac: msg.features ? (msg.features.rbac ?? false) : null,
    };
  }

  /** Sends the whole machine config (all documents). Mode NO_REBOOT is what rotate-ca uses. */
  async applyConfiguration(
    node: string | undefined,
    config: string | Uint8Array,
    apply: ApplyConfigurationOptions,
    opts: CallOptions = {},
  ): Promise<ApplyConfigurationResult> {
    const method = talosProtos().machineService.ApplyConfiguration;
    const { value: res, ctx } = await this.#unary(method, node, applyConfigurationRequest(config, apply), opts);
    const msg = res.messages?.[0];
    if (!msg) throw malformedResponse(ctx, 'no ApplyConfiguration message');
    this.#checkMetadata(msg.metadata, ctx);
    return { mode: msg.mode ?? 'REBOOT', modeDetails: msg.mode_details ?? '', warnings: [...(msg.warnings ?? [])] };
  }

  /** Admin kubeconfig minted by a control-plane node (workers answer Unimplemented). */
  async kubeconfig(node?: string, opts: CallOptions = {}): Promise<string> {
    const method = talosProtos().machineService.Kubeconfig;
    const { value: chunks, ctx } = await this.#serverStream(method, node, {}, opts);
    for (const chunk of chunks) this.#checkMetadata(chunk.metadata, ctx);
    const gz = Buffer.concat(chunks.map((c) => c.bytes ?? new Uint8Array()));
    try {
      return extractKubeconfigArchive(gz);
    } catch (err) {
      if (RotateError.is(err)) {
        const where = hasNode(node) ? `node ${node} via endpoint ${ctx.endpoint}` : `endpoint ${ctx.endpoint}`;
        throw new RotateError(err.code, `${err.message} (${where})`, {
          hint: err.hint,
          cause: err,
          source: 'cluster',
        });
      }
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // cosi.resource.State
  // -------------------------------------------------------------------------------------------------------

  async getResource(node: string | undefined, namespace: string, type: string, id: string, opts: CallOptions = {}): Promise<Resource> {
    const method = talosProtos().stateService.Get;
    const { value: res, ctx } = await this.#unary(method, node, getRequest(namespace, type, id), opts);
    if (!res.resource) throw malformedResponse(ctx, `Get ${type}/${id} returned no resource`);
    return res.resource;
  }

  async listResources(node: string | undefined, namespace: string, type: string, opts: CallOptions = {}): Promise<Resource[]> {
    const method = talosProtos().stateService.List;
    const { value: items, ctx } = await this.#serverStream(method, node, listRequest(namespace, type), opts);
    return items.map((item) => {
      if (!item.resource) throw malformedResponse(ctx, `List ${type} returned an item without a resource`);
      return item.resource;
    });
  }

  /**
   * Watches one resource (`id` given) or a whole type. Sends `api_version` 1 and `tail_events` 0 as the
   * Go client does. Deadline/timeout options bound the whole watch.
   */
  watchResource(node: string | undefined, namespace: string, type: string, id?: string, opts: CallOptions = {}): Watch<WatchEvent> {
    return this.#watch(node, namespace, type, id, opts, (e) => ({
      type: e.event_type ?? 'CREATED',
      resource: e.resource ?? null,
      old: e.old ?? null,
    }));
  }

  // -------------------------------------------------------------------------------------------------------
  // Typed resource helpers
  // -------------------------------------------------------------------------------------------------------

  async getMachineConfig(node: string | undefined, opts: CallOptions = {}): Promise<MachineConfigResource> {
    const r = MACHINE_CONFIG_RESOURCE;
    return this.#decodeOrThrow(node, GET_PATH, decodeMachineConfig, await this.getResource(node, r.namespace, r.type, r.id, opts));
  }

  async getOsRootSecrets(node: string | undefined, opts: CallOptions = {}): Promise<OsRootSecrets> {
    const r = OS_ROOT_RESOURCE;
    return this.#decodeOrThrow(node, GET_PATH, decodeOsRootSecrets, await this.getResource(node, r.namespace, r.type, r.id, opts));
  }

  async getKubernetesRootSecrets(node: string | undefined, opts: CallOptions = {}): Promise<KubernetesRootSecrets> {
    const r = KUBERNETES_ROOT_RESOURCE;
    return this.#decodeOrThrow(node, GET_PATH, decodeKubernetesRootSecrets, await this.getResource(node, r.namespace, r.type, r.id, opts));
  }

  /**
   * apid's own certificates on `node` (`secrets/ApiCertificates.secrets.talos.dev/api`, sensitive: needs
   * os:admin). On a worker, `acceptedCAs` is the bundle trustd returned at its last registration.
   */
  async getApiCertificates(node: string | undefined, opts: CallOptions = {}): Promise<ApiCertificates> {
    const r = API_CERTIFICATES_RESOURCE;
    return this.#decodeOrThrow(node, GET_PATH, decodeApiCertificates, await this.getResource(node, r.namespace, r.type, r.id, opts));
  }

  /** Watch on apid's certificates: an UPDATED event each time they change (e.g. a worker re-registered). */
  watchApiCertificates(node: string | undefined, opts: CallOptions = {}): Watch<ApiCertificatesWatchEvent> {
    const r = API_CERTIFICATES_RESOURCE;
    return this.#watch(node, r.namespace, r.type, r.id, opts, (e) => {
      const resource = e.resource;
      const certificates = resource?.metadata && resource.spec && (resource.spec.proto_spec?.length ?? 0) > 0 ? decodeApiCertificates(resource) : null;
      return { type: e.event_type ?? 'CREATED', certificates };
    });
  }

  async listMembers(node: string | undefined, opts: CallOptions = {}): Promise<ClusterMember[]> {
    const r = MEMBERS_RESOURCE;
    const resources = await this.listResources(node, r.namespace, r.type, opts);
    return resources.map((res) => this.#decodeOrThrow(node, LIST_PATH, decodeMember, res));
  }

  /** The node's persistent identity: the same `nodeId` through two addresses means the same machine. */
  async getIdentity(node: string | undefined, opts: CallOptions = {}): Promise<NodeIdentity> {
    const r = IDENTITY_RESOURCE;
    return this.#decodeOrThrow(node, GET_PATH, decodeIdentity, await this.getResource(node, r.namespace, r.type, r.id, opts));
  }

  /** `controlplane/SecretStatuses.kubernetes.talos.dev/static-pods` (control planes only). */
  async getSecretsStatus(node: string | undefined, opts: CallOptions = {}): Promise<SecretsStatus> {
    const r = SECRET_STATUS_RESOURCE;
    return this.#decodeOrThrow(node, GET_PATH, decodeSecretsStatus, await this.getResource(node, r.namespace, r.type, r.id, opts));
  }

  async getKubeletService(node: string | undefined, opts: CallOptions = {}): Promise<ServiceState> {
    const r = KUBELET_SERVICE_RESOURCE;
    return this.#decodeOrThrow(node, GET_PATH, decodeServiceState, await this.getResource(node, r.namespace, r.type, r.id, opts));
  }

  /** Watch on `runtime/Services.v1alpha1.talos.dev/kubelet` (talos-behaviour.md §2.4). */
  watchKubeletService(node: string | undefined, opts: CallOptions = {}): Watch<ServiceWatchEvent> {
    const r = KUBELET_SERVICE_RESOURCE;
    return this.#watch(node, r.namespace, r.type, r.id, opts, (e) => {
      // A tombstone (DESTROYED for a resource that never existed) may come without a spec.
      const resource = e.resource;
      const service = resource?.metadata && resource.spec ? decodeServiceState(resource) : null;
      return { type: e.event_type ?? 'CREATED', service };
    });
  }

  // -------------------------------------------------------------------------------------------------------
  // Plumbing
  // -------------------------------------------------------------------------------------------------------

  /** Decodes a resource just fetched (from the preferred endpoint, which answered it). */
  #decodeOrThrow<T>(node: string | undefined, method: string, decode: (r: Resource) => T, resource: Resource): T {
    try {
      return decode(resource);
    } catch (err) {
      if (err instanceof ResourceDecodeError) {
        const endpoint = this.#channels[this.#preferred]?.endpoint.address ?? '';
        throw malformedResponse({ method, node: hasNode(node) ? node : undefined, endpoint }, err.message, err);
      }
      throw err;
    }
  }

  #checkMetadata(metadata: CommonMetadata | null | undefined, ctx: TalosCallContext): void {
    if (metadata?.error) {
      throw classifyGrpcError({ code: metadata.status?.code || GrpcCode.UNKNOWN, details: metadata.error }, ctx);
    }
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
    return { method: path, node: hasNode(node) ? node : undefined, endpoint: ch.endpoint.address, tls: ch.observed.tls };
  }

  #cancelledBeforeStart(path: string, node: string | undefined): TalosApiError {
    const ch = this.#channels[this.#preferred]!;
    return classifyGrpcError({ code: GrpcCode.CANCELLED, details: 'cancelled before the call started' }, this.#ctx(ch, path, node));
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
      throw new RotateError('TALOS_CLIENT_CLOSED', 'the Talos API client was used after close()', { source: 'internal' });
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

  #failure(ch: EndpointChannel, path: string, node: string | undefined, err: GrpcErrorLike, receivedAny: boolean): AttemptFailure {
    const error = classifyGrpcError(err, this.#ctx(ch, path, node));
    return new AttemptFailure(error, err.code === GrpcCode.UNAVAILABLE && !receivedAny);
  }

  async #unary<Req, Res>(
    method: grpc.MethodDefinition<Req, Res>,
    node: string | undefined,
    request: Req,
    opts: CallOptions,
  ): Promise<{ value: Res; ctx: TalosCallContext }> {
    const deadline = this.#deadline(opts);
    return this.#withFailover(method.path, node, opts, (ch) =>
      new Promise<Res>((resolve, reject) => {
        const call = ch.client.makeUnaryRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          request,
          this.#metadata(node),
          deadline ? { deadline } : {},
          (err: grpc.ServiceError | null, value?: Res) => {
            opts.signal?.removeEventListener('abort', onAbort);
            if (err) reject(this.#failure(ch, method.path, node, err, false));
            else if (value === undefined) reject(this.#failure(ch, method.path, node, { code: GrpcCode.INTERNAL, details: 'empty response' }, true));
            else resolve(value);
          },
        );
        const onAbort = () => call.cancel();
        opts.signal?.addEventListener('abort', onAbort, { once: true });
      }),
    );
  }

  /** Server-streaming call collected into an array (Kubeconfig chunks, List items). */
  async #serverStream<Req, Res>(
    method: grpc.MethodDefinition<Req, Res>,
    node: string | undefined,
    request: Req,
    opts: CallOptions,
  ): Promise<{ value: Res[]; ctx: TalosCallContext }> {
    const deadline = this.#deadline(opts);
    return this.#withFailover(method.path, node, opts, (ch) =>
      new Promise<Res[]>((resolve, reject) => {
        const items: Res[] = [];
        let settled = false;
        const call = ch.client.makeServerStreamRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          request,
          this.#metadata(node),
          deadline ? { deadline } : {},
        );
        const onAbort = () => call.cancel();
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        const finish = () => opts.signal?.removeEventListener('abort', onAbort);
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
      }),
    );
  }

  #watch<T>(
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
    const deadline = this.#deadline(opts);

    const started = this.#withFailover(method.path, node, opts, (ch) =>
      new Promise<void>((resolve, reject) => {
        let gotReady = false;
        const call = ch.client.makeServerStreamRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          request,
          this.#metadata(node),
          deadline ? { deadline } : {},
        );
        watch.attach(() => call.cancel());
        const onAbort = () => watch.abort(classifyGrpcError({ code: GrpcCode.CANCELLED, details: 'watch aborted' }, this.#ctx(ch, method.path, node)));
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        const finish = () => opts.signal?.removeEventListener('abort', onAbort);
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
              watch.fail(malformedResponse(this.#ctx(ch, method.path, node), `${what} reported an error: ${redact(e.error ?? 'unknown')}`));
              return;
            }
            let value: T;
            try {
              value = map(e);
            } catch (err) {
              finish();
              watch.fail(
                err instanceof ResourceDecodeError ? malformedResponse(this.#ctx(ch, method.path, node), err.message, err) : (err as Error),
              );
              return;
            }
            watch.push(value);
          }
        });
        call.on('error', (err: grpc.ServiceError) => {
          finish();
          const failure = this.#failure(ch, method.path, node, err, gotReady);
          if (!gotReady) reject(new AttemptFailure(failure.error, failure.retryable && !watch.closedByUser && !watch.failed));
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
      }),
    );
    started.then(
      () => watch.markReady(),
      (err: unknown) => watch.fail(err instanceof Error ? err : new Error(String(err))),
    );
    return watch;
  }
}

/** Queue between a gRPC stream and an async iterator. */
class StreamWatch<T> implements Watch<T> {
  readonly ready: Promise<void>;
  readonly node: string | undefined;
  closedByUser = false;
  failed = false;
  #resolveReady!: () => void;
  #rejectReady!: (err: Error) => void;
  #queue: T[] = [];
  #error: Error | undefined;
  #waiters: Array<{ resolve: (r: IteratorResult<T>) => void; reject: (err: Error) => void }> = [];
  #cancel: (() => void) | undefined;

  constructor(node: string | undefined) {
    this.node = node;
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    // Failures also reach the iterator; nobody has to await `ready`.
    this.ready.catch(() => {});
  }

  attach(cancel: () => void): void {
    this.#cancel = cancel;
    if (this.closedByUser || this.failed) cancel();
  }

  markReady(): void {
    this.#resolveReady();
  }

  push(value: T): void {
    if (this.closedByUser || this.failed) return;
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve({ value, done: false });
    else this.#queue.push(value);
  }

  fail(err: Error): void {
    if (this.closedByUser || this.failed) return;
    this.failed = true;
    this.#error = err;
    this.#rejectReady(err);
    this.#cancel?.();
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }

  abort(err: Error): void {
    this.fail(err);
  }

  close(): void {
    if (this.closedByUser) return;
    this.closedByUser = true;
    this.#cancel?.();
    this.#rejectReady(new RotateError('TALOS_WATCH_CLOSED', 'the watch was closed before it was ready', { source: 'internal' }));
    for (const w of this.#waiters.splice(0)) w.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.#queue.length > 0) return Promise.resolve({ value: this.#queue.shift()!, done: false });
        if (this.#error) return Promise.reject(this.#error);
        if (this.closedByUser) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
