/**
 * One control plane's kube-apiserver on `<node address>:6443`.
 *
 * TLS: serving certificate signed by the node's issuing Kubernetes CA; client-CA bundle = the node's
 * trusted Kubernetes CAs (accepted + issuing). Client certificates are requested, not required, and
 * verified by the authenticator, as kube-apiserver does (k8s.io/apiserver secure serving sets
 * tls.RequestClientCert; its x509 authenticator verifies against the client-CA bundle): no certificate →
 * anonymous; a certificate that does not verify → every request on that connection is answered 401
 * Unauthorized, and the connection stays open (a kubelet behind KubePrism keeps it, talos-behaviour.md §5.6). The
 * listener writes down why (tls-outcome.ts notes) so the dialler's ledger entry names the reason.
 *
 * Restarts: when the node's static pods are re-created after a Kubernetes CA change (static-pods.ts: some
 * time after the config change, not when the apply returns), the listener closes (clients get
 * ECONNREFUSED), open connections drop, and after `apiserverRestartMs` it listens again with a serving
 * certificate and client-CA bundle made from the re-rendered state. Until then it serves what it had. A
 * config whose Kubernetes CA Talos cannot use (`error`) is never rendered: the apiserver keeps what it had.
 * Node down: closed until the node is up again, then it starts as after a restart.
 * Its address is in the `kubernetes` EndpointSlice (LabCluster.apiserverEndpoints) exactly while it listens.
 * While it listens, its cluster-authentication-trust controller keeps `extension-apiserver-authentication`
 * with the client-CA and request-header (aggregator) bundles it started with (extension-auth.ts).
 */
import * as http from 'node:http';
import type * as net from 'node:net';
import * as tls from 'node:tls';
import { concatPem, issueLeafCert, keyPemForTls } from '../../pki/index.js';
import { sameRoot, type LabCluster, type LabNode, type RootCa } from '../core/model.js';
import { handleApiRequest, type ApiContext } from './api.js';
import type { WatchStream } from './watch-stream.js';
import type { LeaseStore } from './lease-store.js';
import type { WorkloadApiContext } from './workload-api.js';
import { authenticate, type CertSubject } from './auth.js';
import { decodesBody, unsupportedMediaTypeStatus } from './negotiate.js';
import type { CsrStore } from './controller-manager.js';
import type { NodeRegistry } from './node-registry.js';
import type { ConfigMapStore } from './root-ca-publisher.js';
import { ClusterAuthenticationTrust, ownAuthentication, requestHeaderBundleOf } from './extension-auth.js';
import type { MirrorPods, StaticPods } from './static-pods.js';
import { reasonForAlert, reasonForVerifyCode, stripV4Mapped, type VerdictNotes } from './tls-outcome.js';
import { listen } from '../core/listen.js';
import type { TrustFailureReason } from '../core/ledger.js';

export const APISERVER_PORT = 6443;
const MAX_BODY = 1024 * 1024;
const LISTEN_RETRY_MS = 250;

export interface ApiServerDeps {
  cluster: LabCluster;
  registry: NodeRegistry;
  csrs: CsrStore;
  configMaps: ConfigMapStore;
  notes: VerdictNotes;
  /** The node's static pods: what the apiserver runs with, and when it is re-created. */
  pods: StaticPods;
  /** Every control plane's mirror pods (served in kube-system). */
  mirrorPods: MirrorPods;
  /** Leases clients own outside kube-node-lease (one store for every apiserver, as etcd). */
  leases?: LeaseStore;
  /** The workload objects (one store for every apiserver, as etcd). */
  workloads?: WorkloadApiContext;
  /** Called each time the apiserver listens; `afterCaChange` when a CA change restarted it. */
  onUp(server: KubeApiServer, afterCaChange: boolean): void;
}

interface Identity {
  certPem: string;
  keyPem: string;
  clientCaPem: string;
  /** `--requestheader-client-ca-file` (the aggregator CA bundle), read from the config it started with. */
  requestHeaderCaPem: string;
  root: RootCa;
}

/** `failed`: no usable issuing CA and no certificate from before (Talos's certificate controller fails). */
type State = 'starting' | 'up' | 'down' | 'failed' | 'stopped';

export class KubeApiServer {
  readonly node: LabNode;
  readonly #deps: ApiServerDeps;
  #state: State = 'starting';
  #gen = 0;
  #server: tls.Server | null = null;
  /** Open connections with the peer address read at accept time (a wrapped or closing socket forgets it). */
  readonly #sockets = new Map<net.Socket, { address: string | undefined; port: number | undefined }>();
  readonly #peers = new WeakMap<tls.TLSSocket, CertSubject | null>();
  /** Connections whose client certificate did not verify, with the reason: every request gets a 401. */
  readonly #refused = new WeakMap<tls.TLSSocket, TrustFailureReason>();
  #identity: Identity | null = null;
  readonly #http: http.Server;
  readonly #ctx: ApiContext;
  #timer: NodeJS.Timeout | null = null;
  readonly #off: Array<() => void> = [];
  /** A CA change happened since the listener last came up: every kubelet should dial it once. */
  #sweepOwed = false;
  /** How many times the listener came up (1 after the first start). */
  starts = 0;
  /** Its cluster-authentication-trust controller (extension-auth.ts): runs while it listens. */
  readonly trustController: ClusterAuthenticationTrust;

  constructor(node: LabNode, deps: ApiServerDeps) {
    this.node = node;
    this.#deps = deps;
    const cluster = deps.cluster;
    this.#ctx = {
      registry: deps.registry,
      csrs: deps.csrs,
      configMaps: deps.configMaps,
      mirrorPods: deps.mirrorPods,
      ...(deps.leases ? { leases: deps.leases } : {}),
      ...(deps.workloads ? { workloads: deps.workloads } : {}),
      serverAddress: `${node.address}:${APISERVER_PORT}`,
      leaseDurationSeconds: Math.max(1, Math.round(cluster.timings.nodeGraceMs / 1000)),
      now: () => new Date(),
    };
    this.trustController = new ClusterAuthenticationTrust(
      deps.configMaps,
      cluster.timings.extensionAuthResyncMs !== undefined ? { resyncMs: cluster.timings.extensionAuthResyncMs } : {},
    );
    this.#http = http.createServer((req, res) => this.#handle(req, res));
    // Kept connections stay open while idle, as kube-apiserver's (kubelets reuse one through KubePrism).
    this.#http.keepAliveTimeout = 0;
    // The pods were re-created from re-rendered manifests: a new apiserver process, even when its CA state
    // happens to be the same (Talos bumps talos.dev/secrets-version on any KubernetesRoot change).
    const onRender = (): void => {
      if (this.#state === 'stopped' || this.node.isDown) return;
      this.#cycle(
        cluster.timings.apiserverRestartMs,
        !(this.#identity && sameRoot(this.#identity.root, deps.pods.root)),
      );
    };
    const onDown = (): void => {
      if (this.#state === 'stopped') return;
      this.#gen += 1;
      this.#close('node down');
      this.#state = 'down';
    };
    const onUp = (): void => {
      if (this.#state === 'stopped') return;
      this.#cycle(cluster.timings.apiserverRestartMs, false);
    };
    deps.pods.on('render', onRender);
    node.on('down', onDown);
    node.on('up', onUp);
    this.#off.push(
      () => deps.pods.off('render', onRender),
      () => node.off('down', onDown),
      () => node.off('up', onUp),
    );
  }

  get isUp(): boolean {
    return this.#state === 'up';
  }

  get state(): State {
    return this.#state;
  }

  /** PEM of the serving certificate in use (null before the first start). */
  get servingCertPem(): string | null {
    return this.#identity?.certPem ?? null;
  }

  /** First start: listen at once (throws on EADDRINUSE so the caller can pick another block). */
  async start(): Promise<void> {
    const gen = ++this.#gen;
    if (this.node.isDown) {
      this.#state = 'down';
      return;
    }
    const identity = await this.#makeIdentity(this.#deps.pods.root);
    await this.#listen(identity, gen);
  }

  async stop(): Promise<void> {
    this.#gen += 1;
    this.#state = 'stopped';
    this.trustController.stop();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    for (const off of this.#off) off();
    this.#close('stopped', false);
  }

  /** Close now, come back after `delayMs` with an identity built from the node's current roots. */
  #cycle(delayMs: number, afterCaChange: boolean): void {
    this.#sweepOwed ||= afterCaChange;
    const gen = ++this.#gen;
    this.#close('apiserver restarting');
    this.#state = 'starting';
    if (this.#timer) clearTimeout(this.#timer);
    const prepared = this.#makeIdentity(this.#deps.pods.root).catch(() => this.#identity);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void prepared.then(async (identity) => {
        if (gen !== this.#gen || this.node.isDown) return;
        if (!identity) {
          this.#state = 'failed';
          return;
        }
        try {
          await this.#listen(identity, gen);
        } catch {
          if (gen === this.#gen) this.#cycle(LISTEN_RETRY_MS, false);
        }
      });
    }, delayMs);
  }

  async #makeIdentity(root: RootCa): Promise<Identity> {
    if (!root.issuing || root.error) {
      if (this.#identity) return this.#identity;
      throw new Error(`control plane ${this.node.address} has no usable issuing Kubernetes CA`);
    }
    const cluster = this.#deps.cluster;
    const ips = [
      this.node.address,
      cluster.clusterEndpointAddress,
      ...(cluster.vipAddress ? [cluster.vipAddress] : []),
      '127.0.0.1',
      '10.96.0.1',
    ];
    const leaf = await issueLeafCert(root.issuing, {
      commonName: 'kube-apiserver',
      usages: ['serverAuth'],
      keyUsages: ['digitalSignature', 'keyEncipherment'],
      ipAddresses: [...new Set(ips)],
      dnsNames: [
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
        'localhost',
        this.node.hostname,
      ],
    });
    const clientCaPem = concatPem(root.trusted.map((c) => c.certPem));
    return {
      certPem: leaf.certPem,
      keyPem: keyPemForTls(leaf.key),
      clientCaPem,
      requestHeaderCaPem: requestHeaderBundleOf(this.node.config),
      root,
    };
  }

  async #listen(identity: Identity, gen: number): Promise<void> {
    const server = tls.createServer({
      key: identity.keyPem,
      cert: identity.certPem,
      ca: identity.clientCaPem,
      requestCert: true,
      // VerifyClientCertIfGiven: no certificate is fine (anonymous); a bad one is refused below.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    });
    server.on('connection', (raw: net.Socket) => {
      this.#sockets.set(raw, { address: raw.remoteAddress, port: raw.remotePort });
      raw.on('close', () => this.#sockets.delete(raw));
      raw.on('error', () => {});
    });
    server.on('secureConnection', (sock) => this.#onSecure(sock));
    server.on('tlsClientError', (err, sock) => this.#onTlsClientError(err, sock));
    server.on('error', () => {});
    await listen(server, { host: this.node.address, port: APISERVER_PORT, exclusive: true });
    if (gen !== this.#gen) {
      server.close();
      return;
    }
    this.#server = server;
    this.#identity = identity;
    this.#state = 'up';
    this.starts += 1;
    this.#deps.cluster.setApiserverServing(this.node.address, true);
    this.#deps.pods.apiserverListening(true);
    this.trustController.start(ownAuthentication(identity.clientCaPem, identity.requestHeaderCaPem));
    const sweep = this.#sweepOwed;
    this.#sweepOwed = false;
    this.#deps.onUp(this, sweep);
  }

  #close(reason: string, unpublish = true): void {
    const server = this.#server;
    this.#server = null;
    if (this.#state === 'up') this.#state = 'starting';
    // Its endpoint reconciler takes it out of the `kubernetes` EndpointSlice as it shuts down.
    if (unpublish) this.#deps.cluster.setApiserverServing(this.node.address, false);
    this.#deps.pods.apiserverListening(false);
    this.trustController.stop();
    if (server) server.close();
    for (const [s, peer] of this.#sockets) {
      this.#deps.notes.record(peer.address, peer.port, { kind: 'unavailable', reason });
      s.destroy();
    }
    this.#sockets.clear();
  }

  #onSecure(sock: tls.TLSSocket): void {
    const address = { address: sock.remoteAddress, port: sock.remotePort };
    this.#sockets.set(sock, address);
    sock.on('close', () => this.#sockets.delete(sock));
    sock.on('error', () => {});
    // The abbreviated form (no copy of the certificate into an X509Certificate): its subject object holds the
    // raw attribute values, what Go's pkix.Name reads. `{}` when the client sent no certificate.
    const cert = sock.getPeerCertificate();
    const peer = cert && cert.raw ? cert : null;
    if (peer && !sock.authorized) {
      const code =
        typeof sock.authorizationError === 'string'
          ? sock.authorizationError
          : (sock.authorizationError as Error | undefined)?.message;
      const reason = reasonForVerifyCode(code) ?? 'bad-certificate';
      const remote = stripV4Mapped(address.address ?? '');
      // Dials from lab nodes are counted by the dialler (per request); outside clients by the listener (per
      // connection).
      if (!this.#deps.cluster.isNodeAddress(remote)) {
        this.#deps.cluster.ledger.trustFailure({
          edge: 'client-apiserver',
          from: remote,
          to: this.node.address,
          reason,
          refusedBy: 'server',
        });
      }
      this.#refused.set(sock, reason);
    }
    // The verified client identity, read once per connection (keep-alive requests reuse it).
    this.#peers.set(sock, peer ? peer.subject : null);
    this.#http.emit('connection', sock);
  }

  #onTlsClientError(err: Error & { code?: string }, sock: tls.TLSSocket): void {
    const remote = stripV4Mapped(sock.remoteAddress ?? '');
    if (this.#deps.cluster.isNodeAddress(remote)) return;
    // An outside client that aborts the handshake with a certificate alert does not trust this server.
    const reason = reasonForAlert(err.code, err.message);
    if (reason)
      this.#deps.cluster.ledger.trustFailure({
        edge: 'client-apiserver',
        from: remote,
        to: this.node.address,
        reason,
        refusedBy: 'client',
      });
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on('error', () => {});
    req.on('end', () => {
      const respond = (): void => {
        if (res.destroyed || this.#state !== 'up') return;
        const socket = req.socket as tls.TLSSocket;
        const verified = this.#peers.get(socket) ?? null;
        const refused = this.#refused.get(socket);
        if (refused)
          this.#deps.notes.record(socket.remoteAddress, socket.remotePort, { kind: 'trust', reason: refused });
        let body: unknown = undefined;
        const text = Buffer.concat(chunks).toString('utf8');
        if (text.trim() !== '' && !decodesBody(req.method ?? 'GET', req.headers['content-type'])) {
          send(res, 415, unsupportedMediaTypeStatus(req.method ?? 'GET'));
          return;
        }
        if (text.trim() !== '') {
          try {
            body = JSON.parse(text);
          } catch {
            send(res, 400, {
              kind: 'Status',
              apiVersion: 'v1',
              metadata: {},
              status: 'Failure',
              message: 'the request body is not JSON',
              reason: 'BadRequest',
              code: 400,
            });
            return;
          }
        }
        const out = handleApiRequest(this.#ctx, {
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          accept: req.headers.accept,
          contentType: req.headers['content-type'],
          body,
          // A certificate the x509 authenticator rejects fails the request (401), whatever else it carries.
          authn: refused
            ? { ok: false }
            : authenticate({
                verifiedCertSubject: verified,
                authorization: req.headers.authorization,
                bootstrapToken: this.#deps.cluster.bootstrapToken,
              }),
        });
        if (out.watch) streamWatch(res, out.watch);
        else send(res, out.status, out.body);
      };
      const delay = this.node.faults.delayMs;
      if (delay > 0) setTimeout(respond, delay);
      else respond();
    });
  }
}

function streamWatch(res: http.ServerResponse, watch: WatchStream): void {
  res.writeHead(200, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-cache, private',
    'Transfer-Encoding': 'chunked',
  });
  // kube-apiserver sends the headers at once: a client waits for them before it reads any event.
  res.flushHeaders();
  const write = (event: object): void => {
    if (!res.destroyed) res.write(`${JSON.stringify(event)}\n`);
  };
  for (const e of watch.initial) write(e);
  const unsubscribe = watch.subscribe(write);
  const timer = setTimeout(() => res.end(), watch.timeoutMs);
  res.on('close', () => {
    clearTimeout(timer);
    unsubscribe();
  });
}

function send(res: http.ServerResponse, status: number, body: object | string): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache, private',
  });
  res.end(text);
}
