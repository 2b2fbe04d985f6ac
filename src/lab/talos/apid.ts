/**
 * apid of one node on `<address>:50000`: our own `tls.Server` terminates TLS (so the lab sees every refusal
 * and can swap credentials for new connections with `setSecureContext` while open ones survive), and each
 * accepted socket is injected into a grpc-js server (`createConnectionInjector`).
 *
 * Trust rules (talos-behaviour.md §4.2): client certificates must chain to the node's trusted set (control planes:
 * OSRoot accepted; workers: the bundle trustd returned) and have EKU exactly [ClientAuth]
 * (internal/app/apid/service.go verifyExtKeyUsage); roles come from the certificate's Organization, or from
 * `talos-role` metadata when the certificate holds os:impersonator (pkg/grpc/middleware/authz/injector.go).
 * Routing (internal/app/apid/pkg/director/director.go): `proxyfrom` → served here; `node` → forwarded by a
 * control plane (even to itself), refused by a worker unless it names the worker itself (PermissionDenied
 * "no request forwarding"); `nodes` → one-to-many (not for COSI methods); nothing → served here.
 *
 * Ledger: a refused handshake from outside the lab (remote address not a lab node) is an `operator-apid`
 * trust failure counted here; in-lab edges are counted by their dialler.
 */
import type { Socket } from 'node:net';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { talosProtos, type CommonMetadata } from '../../talos/proto.js';
import type { TrustFailureReason } from '../core/ledger.js';
import { reasonForVerifyCode } from '../kube/tls-outcome.js';
import type { NodeResources } from './cosi.js';
import { tlsKey, type NodeCredentials } from './credentials.js';
import { GrpcCallError, Status, type OutgoingMetadata } from './h2-grpc.js';
import { applyConfiguration, kubeconfig, version, type CallContext, type MachineHost } from './machined.js';
import { parseRoles, peerIdentity, ROLE_IMPERSONATOR, type PeerIdentity } from './peer.js';
import { APID_PORT, type ApidProxy, type ProxyHost } from './proxy.js';
import { closeServer, listen } from '../core/listen.js';

export interface ApidHost extends MachineHost, ProxyHost {
  readonly resources: NodeResources;
  readonly proxy: ApidProxy;
}

interface Conn {
  socket: tls.TLSSocket;
  identity: PeerIdentity;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Go's reason for a rejected client certificate, from OpenSSL's verification code (none: no certificate). */
export function clientRejectionReason(code: string | undefined): TrustFailureReason {
  return code ? (reasonForVerifyCode(code) ?? 'bad-certificate') : 'unauthenticated';
}

/** Which side refused, from a server-side handshake error (the client's alert means it refused us). */
function classifyServerHandshakeError(
  err: NodeJS.ErrnoException,
): { reason: TrustFailureReason; refusedBy: 'client' | 'server' } | null {
  const code = err.code ?? '';
  if (/ALERT_UNKNOWN_CA|ALERT_BAD_CERTIFICATE|ALERT_CERTIFICATE_UNKNOWN|ALERT_UNSUPPORTED_CERTIFICATE/.test(code))
    return { reason: 'unknown-ca', refusedBy: 'client' };
  if (/ALERT_CERTIFICATE_EXPIRED/.test(code)) return { reason: 'expired', refusedBy: 'client' };
  if (/PEER_DID_NOT_RETURN_A_CERTIFICATE|NO_CERTIFICATE/.test(code))
    return { reason: 'unauthenticated', refusedBy: 'server' };
  return null;
}

const RESERVED_HEADERS = new Set([
  'content-type',
  'te',
  'user-agent',
  'accept-encoding',
  'host',
  'node',
  'nodes',
  'talos-role',
  'proxyfrom',
]);

function metaValues(md: grpc.Metadata, key: string): string[] {
  return md
    .get(key)
    .map((v) => (typeof v === 'string' ? v : v.toString('utf8')))
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

type Route = { kind: 'local' } | { kind: 'forward'; target: string } | { kind: 'aggregate'; targets: string[] };

export class ApidServer {
  readonly #host: ApidHost;
  readonly #grpc = new grpc.Server({
    'grpc.max_receive_message_length': 32 * 1024 * 1024,
    'grpc.max_send_message_length': 32 * 1024 * 1024,
  });
  readonly #injector: grpc.ConnectionInjector;
  readonly #conns = new Map<string, Conn>();
  readonly #sockets = new Set<Socket>();
  #server: tls.Server | null = null;

  constructor(host: ApidHost) {
    this.#host = host;
    this.#register();
    this.#injector = this.#grpc.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  }

  get listening(): boolean {
    return this.#server !== null;
  }

  #secureContextOptions(creds: NodeCredentials): tls.SecureContextOptions {
    return { cert: creds.server.certPem, key: tlsKey(creds.server), ca: creds.clientCas, minVersion: 'TLSv1.2' };
  }

  /** New connections get the node's current certificate and trust set; open ones keep theirs. */
  updateCredentials(): void {
    const creds = this.#host.credentials;
    if (this.#server && creds) this.#server.setSecureContext(this.#secureContextOptions(creds));
  }

  async listen(): Promise<void> {
    const creds = this.#host.credentials;
    if (this.#server || !creds) return;
    const { node, cluster } = this.#host;
    const server = tls.createServer({
      ...this.#secureContextOptions(creds),
      requestCert: true,
      // Verified below, so that the refusal can be attributed and counted before the socket is dropped.
      rejectUnauthorized: false,
      ALPNProtocols: ['h2'],
    });
    // When and from which port each connection was accepted (a destroyed socket no longer knows its port).
    const accepted = new WeakMap<object, { at: Date; port: number | undefined }>();
    server.on('connection', (raw) => {
      accepted.set(raw, { at: new Date(), port: raw.remotePort });
      this.#sockets.add(raw);
      raw.once('close', () => this.#sockets.delete(raw));
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      const parent = (socket as unknown as { _parent?: Socket })._parent;
      const remote = socket.remoteAddress ?? parent?.remoteAddress ?? '';
      // A client refusing OUR certificate: a Go client (talosctl) sends an alert; a Node client hangs up in
      // the middle of the handshake, after its ClientHello (a bare TCP connect-and-close sends nothing).
      const verdict =
        classifyServerHandshakeError(err) ??
        (err.code === 'ECONNRESET' && (parent?.bytesRead ?? 0) > 0
          ? { reason: 'bad-certificate' as const, refusedBy: 'client' as const }
          : null);
      // Connections we cut ourselves (node going down, lab stopping) are not refusals.
      if (verdict && !cluster.isNodeAddress(remote) && this.#server === server && !node.isDown) {
        const conn = parent ? accepted.get(parent) : undefined;
        const port = conn?.port ?? socket.remotePort ?? parent?.remotePort;
        cluster.ledger.trustFailure(
          {
            edge: 'operator-apid',
            from: remote || 'operator',
            to: node.address,
            ...verdict,
            ...(port !== undefined ? { fromPort: port } : {}),
          },
          conn?.at,
        );
      }
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => this.#accept(socket));
    await listen(server, { port: APID_PORT, host: node.address });
    server.on('error', () => undefined);
    this.#server = server;
  }

  /** Stops listening and drops every connection (the node is down or the lab stops). */
  async close(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    this.#conns.clear();
    await closeServer(server, this.#sockets);
  }

  shutdown(): void {
    this.#injector.destroy();
    this.#grpc.forceShutdown();
  }

  #accept(socket: tls.TLSSocket): void {
    const { node, cluster } = this.#host;
    const remote = socket.remoteAddress ?? '';
    const outside = !cluster.isNodeAddress(remote);
    const refuse = (reason: TrustFailureReason) => {
      if (outside)
        cluster.ledger.trustFailure({
          edge: 'operator-apid',
          from: remote || 'operator',
          to: node.address,
          reason,
          refusedBy: 'server',
          ...(socket.remotePort !== undefined ? { fromPort: socket.remotePort } : {}),
        });
      socket.destroy();
    };
    // The abbreviated form: what apid reads (peer.ts), at less than half the cost of getPeerX509Certificate,
    // which copies the certificate (thousands of handshakes in a large lab). Empty when no certificate came.
    const peer = socket.getPeerCertificate();
    const sent = peer.raw !== undefined;
    if (!socket.authorized) {
      const code =
        (socket.authorizationError as unknown as { code?: string } | null)?.code ??
        String(socket.authorizationError ?? '');
      refuse(sent ? clientRejectionReason(code) : 'unauthenticated');
      return;
    }
    let identity: PeerIdentity;
    try {
      identity = peerIdentity(peer);
    } catch {
      refuse('bad-certificate');
      return;
    }
    if (!identity.clientAuthOnly) {
      refuse('wrong-eku');
      return;
    }
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    this.#conns.set(key, { socket, identity });
    socket.once('close', () => this.#conns.delete(key));
    socket.on('error', () => undefined);
    this.#injector.injectConnection(socket);
  }

  // -------------------------------------------------------------------------------------------------------
  // Routing

  #conn(call: { getPeer(): string }): Conn {
    const conn = this.#conns.get(call.getPeer());
    if (!conn) throw new GrpcCallError(Status.UNAUTHENTICATED, 'no verified client certificate for this connection');
    return conn;
  }

  #roles(conn: Conn, md: grpc.Metadata): Set<string> {
    if (conn.identity.roles.has(ROLE_IMPERSONATOR)) {
      const fromMd = metaValues(md, 'talos-role');
      if (fromMd.length > 0) return parseRoles(fromMd);
    }
    return new Set(conn.identity.roles);
  }

  #isLocalTarget(target: string): boolean {
    const { node } = this.#host;
    return target === node.address || target === node.hostname;
  }

  #route(path: string, md: grpc.Metadata): Route {
    if (md.get('proxyfrom').length > 0) return { kind: 'local' };
    const nodeVals = metaValues(md, 'node');
    let nodesVals = metaValues(md, 'nodes');
    if (nodeVals.length > 1) throw new GrpcCallError(Status.INVALID_ARGUMENT, 'node metadata must be single-valued');
    let nodeVal = nodeVals[0];
    const canForward = this.#host.credentials?.impersonator != null;
    if (!canForward) {
      if (nodeVal !== undefined && this.#isLocalTarget(nodeVal)) nodeVal = undefined;
      if (nodesVals.length === 1 && this.#isLocalTarget(nodesVals[0]!)) nodesVals = [];
    }
    if (nodesVals.length > 0) {
      if (path.startsWith('/cosi.'))
        throw new GrpcCallError(Status.INVALID_ARGUMENT, 'one-2-many proxying is not supported for COSI methods');
      if (!canForward) throw new GrpcCallError(Status.PERMISSION_DENIED, 'no request forwarding');
      return { kind: 'aggregate', targets: nodesVals };
    }
    if (nodeVal !== undefined) {
      if (!canForward) throw new GrpcCallError(Status.PERMISSION_DENIED, 'no request forwarding');
      return { kind: 'forward', target: nodeVal };
    }
    return { kind: 'local' };
  }

  #outgoing(md: grpc.Metadata, roles: ReadonlySet<string>, authority: string): OutgoingMetadata {
    const out: OutgoingMetadata = {};
    for (const [k, v] of Object.entries(md.getMap())) {
      if (k.startsWith(':') || k.startsWith('grpc-') || RESERVED_HEADERS.has(k)) continue;
      out[k] = typeof v === 'string' ? v : v.toString('base64');
    }
    out['talos-role'] = [...roles];
    out.proxyfrom = authority || 'unknown';
    return out;
  }

  /**
   * Runs one call: authentication, delay fault, routing, then the local handler or forwarding. `emit`
   * receives each response message (one for unary calls).
   */
  async #serve<Req, Res>(
    call: grpc.ServerUnaryCall<Req, Res> | grpc.ServerWritableStream<Req, Res>,
    method: grpc.MethodDefinition<Req, Res>,
    local: (ctx: CallContext) => Promise<void>,
    emit: (res: Res) => void,
    streaming: boolean,
  ): Promise<void> {
    const conn = this.#conn(call);
    const roles = this.#roles(conn, call.metadata);
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort());
    const delay = this.#host.node.faults.delayMs;
    if (delay > 0) await sleep(delay);
    const route = this.#route(method.path, call.metadata);
    const ctx: CallContext = { roles, signal: abort.signal, dropConnection: () => conn.socket.destroy() };
    if (route.kind === 'local') {
      await local(ctx);
      return;
    }
    const md = this.#outgoing(call.metadata, roles, call.getHost?.() ?? '');
    if (route.kind === 'forward') {
      await this.#host.proxy.forward(route.target, method, call.request, md, emit, abort.signal);
      return;
    }
    // One-to-many (deprecated `nodes`): replies get metadata.hostname; failures become metadata errors.
    for (const target of route.targets) {
      const stamp = (m: CommonMetadata) => ({
        hostname: target,
        ...(m.error ? { error: m.error, status: m.status } : {}),
      });
      try {
        await this.#host.proxy.forward(
          target,
          method,
          call.request,
          md,
          (res) => {
            const r = res as unknown as {
              messages?: Array<{ metadata?: CommonMetadata | null }>;
              metadata?: CommonMetadata | null;
            };
            if (streaming) r.metadata = stamp(r.metadata ?? {});
            else for (const m of r.messages ?? []) m.metadata = stamp(m.metadata ?? {});
            emit(res);
          },
          abort.signal,
        );
      } catch (err) {
        const e = err instanceof GrpcCallError ? err : new GrpcCallError(Status.UNKNOWN, String(err));
        const metadata: CommonMetadata = {
          hostname: target,
          error: e.details,
          status: { code: e.code, message: e.details },
        };
        emit((streaming ? { metadata } : { messages: [{ metadata }] }) as unknown as Res);
      }
    }
  }

  #unary<Req, Res>(
    method: grpc.MethodDefinition<Req, Res>,
    local: (ctx: CallContext, req: Req) => Promise<Res> | Res,
  ): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const out: Res[] = [];
      const aggregated: Res[] = [];
      this.#serve(
        call,
        method,
        async (ctx) => {
          out.push(await local(ctx, call.request));
        },
        (res) => aggregated.push(res),
        false,
      ).then(
        () => {
          if (out.length > 0) callback(null, out[0]);
          else if (aggregated.length <= 1) callback(null, aggregated[0]);
          else {
            const merged = {
              messages: aggregated.flatMap((r) => (r as unknown as { messages?: unknown[] }).messages ?? []),
            } as unknown as Res;
            callback(null, merged);
          }
        },
        (err: unknown) => callback(toStatus(err)),
      );
    };
  }

  #stream<Req, Res>(
    method: grpc.MethodDefinition<Req, Res>,
    local: (ctx: CallContext, req: Req, write: (res: Res) => void) => Promise<void> | void,
  ): grpc.handleServerStreamingCall<Req, Res> {
    return (call) => {
      const write = (res: Res) => {
        if (!call.cancelled && !call.destroyed) call.write(res);
      };
      this.#serve(call, method, async (ctx) => local(ctx, call.request, write), write, true).then(
        () => {
          if (!call.cancelled && !call.destroyed) call.end();
        },
        (err: unknown) => {
          if (!call.cancelled && !call.destroyed) call.emit('error', toStatus(err));
        },
      );
    };
  }

  #register(): void {
    const protos = talosProtos();
    const host = this.#host;
    const m = protos.machineService;
    const s = protos.stateService;
    this.#grpc.addService(m, {
      Version: this.#unary(m.Version, (ctx) => version(host, ctx)),
      ApplyConfiguration: this.#unary(m.ApplyConfiguration, (ctx, req) => applyConfiguration(host, ctx, req)),
      Kubeconfig: this.#stream(m.Kubeconfig, (ctx, _req, write) => kubeconfig(host, ctx, write)),
    } as grpc.UntypedServiceImplementation);
    this.#grpc.addService(s, {
      Get: this.#unary(s.Get, (ctx, req) => host.resources.get(ctx, req)),
      List: this.#stream(s.List, (ctx, req, write) => host.resources.list(ctx, req, write)),
      Watch: this.#stream(s.Watch, (ctx, req, write) => host.resources.watch(ctx, req, write)),
    } as grpc.UntypedServiceImplementation);
    // Talos answers every State write with PermissionDenied (internal/app/resources/access.go).
    const raw = (b: Buffer) => b;
    const writes: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
    const impl: grpc.UntypedServiceImplementation = {};
    for (const name of [
      'Create',
      'Update',
      'Destroy',
      'Teardown',
      'TeardownAndDestroy',
      'AddFinalizer',
      'RemoveFinalizer',
    ]) {
      writes[name] = {
        path: `/cosi.resource.State/${name}`,
        requestStream: false,
        responseStream: false,
        requestSerialize: raw,
        requestDeserialize: raw,
        responseSerialize: raw,
        responseDeserialize: raw,
      };
      impl[name] = ((_call: unknown, cb: grpc.sendUnaryData<Buffer>) =>
        cb({ code: grpc.status.PERMISSION_DENIED, details: 'write access is not allowed' })) as grpc.handleUnaryCall<
        Buffer,
        Buffer
      >;
    }
    this.#grpc.addService(writes as grpc.ServiceDefinition, impl);
  }
}

function toStatus(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof GrpcCallError) return { code: err.code, details: err.details };
  return { code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}
