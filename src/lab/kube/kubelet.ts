/**
 * The kubelet of one node, as Talos runs it (talos-behaviour.md §2.4, §4.3).
 *
 * - Client identity: CN=system:node:<hostname>, O=system:nodes, obtained by TLS bootstrap (bootstrap token
 *   → CSR → signed by the controller-manager leader → fetched with a watch on the CSR).
 * - Its kubeconfig trusts the node's trusted Kubernetes CAs (accepted + issuing), all concatenated, read
 *   when the kubelet (re)starts; it reaches apiservers through KubePrism.
 * - Heartbeat: `PUT /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/<hostname>` every
 *   `heartbeatIntervalMs` (±20 % jitter), on the kubelet's one long-lived connection through KubePrism: a
 *   TCP balancer picks the upstream when the connection opens (next healthy one, round robin; a refused
 *   dial moves on to the next) and the kubelet keeps it while it works (talos-behaviour.md §5; siderolabs
 *   go-loadbalancer `upstream.List.Pick`). A refused client certificate is answered 401 on that connection;
 *   the kubelet tries again (up to 5 tries, `nodeStatusUpdateRetry`) and from the second failed try on
 *   closes its connections (`onRepeatedHeartbeatFailure` = closeAllConns in the kubelet), so the next try
 *   connects anew and the balancer picks the next upstream. A connection the apiserver drops (restart)
 *   is opened anew the same way. TLS bootstrap uses its own short-lived connections.
 * - Restart on any Kubernetes CA change of its node: Service resource gone (`setKubelet(null)`), wait
 *   `kubeletRestartMs` (node fault override first), then keep the client certificate if it still verifies
 *   against the node's own trusted CAs and names this node, else delete it and bootstrap again; then
 *   running + healthy. A config whose Kubernetes CA is unusable (`error`) does not restart it.
 * - Node down: stops (Service gone), no heartbeats; node up: starts as after a restart.
 */
import { X509Certificate } from 'node:crypto';
import type { Secret } from '../../domain/secret.js';
import { concatPem, createCsr, keyPemForTls, verifiesAgainst } from '../../pki/index.js';
import { sameRoot, type LabCluster, type LabNode, type RootCa } from '../core/model.js';
import { subscribe } from '../core/events.js';
import { APISERVER_PORT, type KubeApiServer } from './apiserver.js';
import { csrDecided, csrStatus, type DialOutcome, type KubeJob, type KubeTlsIdentity } from './dial.js';
import type { DialHandle, KeptConnection, KubeDialer } from './dial-thread.js';
import { KUBEPRISM_HOST, KubePrism } from './kubeprism.js';
import { KUBELET_CLIENT_SIGNER } from './objects.js';

const REQUEST_TIMEOUT_MS = 5_000;
/** Pause before watching the CSR again when a watch ended without a result (apiserver restart...). */
const CSR_REWATCH_MS = 200;
const CSR_WAIT_MS = 20_000;
const BOOTSTRAP_RETRY_MS = 500;
/** kubelet's nodeStatusUpdateRetry: tries per heartbeat before waiting for the next period. */
const NODE_STATUS_UPDATE_RETRY = 5;

export interface KubeletDeps {
  cluster: LabCluster;
  /** Every control plane's apiserver, in control-plane order. */
  apiservers(): readonly KubeApiServer[];
  /** Where its requests are made (dial-thread.ts). */
  dialer: KubeDialer;
  /** Called each time the kubelet is running again; `afterCaChange` when a CA change restarted it. */
  onRunning(kubelet: Kubelet, afterCaChange: boolean): void;
}

export interface KubeletCert {
  certPem: string;
  key: Secret;
}

type KubeletRequest = Pick<KubeJob, 'method' | 'path' | 'body' | 'until'> & { auth: 'cert' | 'token' };

type State = 'starting' | 'bootstrapping' | 'running' | 'restarting' | 'down' | 'stopped';

function jitter(ms: number, spread = 0.2): number {
  return Math.max(1, Math.round(ms * (1 - spread + 2 * spread * Math.random())));
}

export class Kubelet {
  readonly node: LabNode;
  readonly #deps: KubeletDeps;
  readonly #prism: KubePrism<KubeApiServer>;
  #gen = 0;
  #state: State = 'starting';
  #cert: KubeletCert | null = null;
  /** The Kubernetes CA state the kubelet's kubeconfig was written from. */
  #roots: RootCa;
  readonly #timers = new Map<NodeJS.Timeout, () => void>();
  readonly #inflight = new Set<DialHandle>();
  readonly #off: Array<() => void> = [];
  #identities: {
    roots: RootCa;
    cert: KubeletCert | null;
    withCert: KubeTlsIdentity | null;
    bootstrap: KubeTlsIdentity | null;
  } | null = null;
  #sweepOwed = false;
  /** Why the kubelet last (re)started, for the ledger's kubelet log. */
  #cause: 'ca-change' | 'node-up' | 'start' = 'start';
  /** The heartbeat connection through KubePrism: the upstream picked when it opened, kept while it works. */
  #conn: { server: KubeApiServer; connection: KeptConnection } | null = null;
  /** Connections opened for heartbeats (each a balancer pick). */
  connections = 0;
  /** Completed TLS bootstraps (a new client certificate each). */
  bootstraps = 0;

  constructor(node: LabNode, deps: KubeletDeps, prismStart: number) {
    this.node = node;
    this.#deps = deps;
    this.#roots = node.roots.kubernetes;
    this.#prism = new KubePrism(() => deps.apiservers(), prismStart);
    const onConfig = (change: { kubernetesChanged: boolean; roots: { kubernetes: RootCa } }): void => {
      if (!change.kubernetesChanged || this.#state === 'stopped' || this.node.isDown) return;
      if (change.roots.kubernetes.error) return;
      // After an unusable config, a config back to what the kubelet runs with changes nothing for it.
      if (this.#state !== 'starting' && sameRoot(this.#roots, change.roots.kubernetes)) return;
      this.#restart(this.#restartMs(), true);
    };
    const onDown = (): void => {
      if (this.#state === 'stopped') return;
      this.#gen += 1;
      this.#clearAll();
      this.#state = 'down';
      if (this.node.kubelet !== null) this.node.setKubelet(null);
    };
    const onUp = (): void => {
      if (this.#state === 'stopped') return;
      this.#restart(this.#restartMs(), false);
    };
    this.#off.push(...subscribe(node, { config: onConfig, down: onDown, up: onUp }));
  }

  get state(): State {
    return this.#state;
  }

  get isRunning(): boolean {
    return this.#state === 'running';
  }

  /** The client certificate in use (null before the first bootstrap or after it was deleted). */
  get certPem(): string | null {
    return this.#cert?.certPem ?? null;
  }

  /** First start, after `delayMs` (spreads a large lab's bootstraps). */
  start(delayMs: number): void {
    const gen = ++this.#gen;
    this.#state = 'starting';
    if (this.node.isDown) {
      this.#state = 'down';
      return;
    }
    this.#after(delayMs, gen, () => void this.#run(gen));
  }

  stop(): void {
    this.#gen += 1;
    this.#state = 'stopped';
    this.#clearAll();
    for (const off of this.#off) off();
  }

  /** Dial one specific apiserver once (the every-edge sweep), after `delayMs`. */
  probeLater(server: KubeApiServer, delayMs: number): void {
    const gen = this.#gen;
    this.#after(delayMs, gen, () => {
      if (this.#state !== 'running' || !server.isUp || !this.#cert) return;
      void this.#dial(gen, server, {
        method: 'GET',
        path: `/api/v1/nodes/${encodeURIComponent(this.node.hostname)}`,
        auth: 'cert',
      });
    });
  }

  #restartMs(): number {
    return this.node.faults.kubeletRestartMs ?? this.#deps.cluster.timings.kubeletRestartMs;
  }

  #restart(delayMs: number, afterCaChange: boolean): void {
    // A CA change still owes its sweep if a later restart (node down/up) overtakes this one.
    this.#sweepOwed ||= afterCaChange;
    this.#cause = afterCaChange ? 'ca-change' : 'node-up';
    this.#deps.cluster.ledger.kubelet(this.node.address, 'stopped', this.#cause);
    const gen = ++this.#gen;
    this.#clearAll();
    this.#state = 'restarting';
    if (this.node.kubelet !== null) this.node.setKubelet(null);
    this.#after(delayMs, gen, () => void this.#run(gen));
  }

  async #run(gen: number): Promise<void> {
    if (gen !== this.#gen || this.node.isDown) return;
    const roots = this.node.roots.kubernetes;
    if (!roots.error) this.#roots = roots;
    this.node.setKubelet({ running: true, healthy: false });
    // Talos's refreshKubeletCerts: keep the certificate only if it verifies against the node's own CAs.
    if (this.#cert && !this.#certStillValid(this.#cert.certPem)) this.#cert = null;
    while (!this.#cert) {
      this.#state = 'bootstrapping';
      const cert = await this.#bootstrap(gen);
      if (gen !== this.#gen) return;
      if (cert) {
        this.#cert = cert;
        this.bootstraps += 1;
        break;
      }
      await this.#sleep(jitter(BOOTSTRAP_RETRY_MS), gen);
      if (gen !== this.#gen) return;
    }
    this.#state = 'running';
    this.node.setKubelet({ running: true, healthy: true });
    this.#deps.cluster.ledger.kubelet(this.node.address, 'running', this.#cause);
    this.#scheduleHeartbeat(gen, jitter(Math.min(200, this.#deps.cluster.timings.heartbeatIntervalMs), 0.5));
    const sweep = this.#sweepOwed;
    this.#sweepOwed = false;
    this.#deps.onRunning(this, sweep);
  }

  #certStillValid(certPem: string): boolean {
    if (
      !verifiesAgainst(
        certPem,
        this.#roots.trusted.map((c) => c.certPem),
      )
    )
      return false;
    try {
      const cn = /(?:^|\n)CN=([^\n]*)/.exec(new X509Certificate(certPem).subject)?.[1];
      return cn === `system:node:${this.node.hostname}`;
    } catch {
      return false;
    }
  }

  #scheduleHeartbeat(gen: number, delayMs: number): void {
    this.#after(delayMs, gen, () => {
      void this.#heartbeat(gen).finally(() => {
        if (gen === this.#gen && this.#state === 'running')
          this.#scheduleHeartbeat(gen, jitter(this.#deps.cluster.timings.heartbeatIntervalMs));
      });
    });
  }

  /** The apiserver the heartbeat connection goes to (null while the kubelet has none open). */
  get upstream(): string | null {
    return this.#conn?.server.node.address ?? null;
  }

  async #heartbeat(gen: number): Promise<void> {
    for (let i = 0; i < NODE_STATUS_UPDATE_RETRY; i++) {
      const out = await this.#leaseUpdate(gen);
      if (out === null || out.kind === 'ok' || out.kind === 'http-error') return;
      // The kubelet's onRepeatedHeartbeatFailure: from the second failed try on, close every connection.
      if (i > 0) this.#closeConnection();
    }
  }

  async #leaseUpdate(gen: number): Promise<DialOutcome | null> {
    const name = this.node.hostname;
    return this.#viaPrism(
      gen,
      {
        method: 'PUT',
        path: `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${encodeURIComponent(name)}`,
        auth: 'cert',
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace: 'kube-node-lease' },
          spec: {
            holderIdentity: name,
            leaseDurationSeconds: Math.max(1, Math.round(this.#deps.cluster.timings.nodeGraceMs / 1000)),
            renewTime: new Date().toISOString().replace('Z', '000Z'),
          },
        },
      },
      true,
    );
  }

  /** TLS bootstrap: returns the new certificate, or null to retry later. */
  async #bootstrap(gen: number): Promise<KubeletCert | null> {
    const { csrPem, key } = await createCsr({
      algorithm: 'ecdsa-p256',
      commonName: `system:node:${this.node.hostname}`,
      organizations: ['system:nodes'],
    });
    if (gen !== this.#gen) return null;
    const created = await this.#viaPrism(gen, {
      method: 'POST',
      path: '/apis/certificates.k8s.io/v1/certificatesigningrequests',
      auth: 'token',
      body: {
        apiVersion: 'certificates.k8s.io/v1',
        kind: 'CertificateSigningRequest',
        metadata: { generateName: 'node-csr-' },
        spec: {
          request: Buffer.from(csrPem).toString('base64'),
          signerName: KUBELET_CLIENT_SIGNER,
          usages: ['digital signature', 'client auth'],
        },
      },
    });
    if (created?.kind !== 'ok') return null;
    const name = (created.body as { metadata?: { name?: string } } | null)?.metadata?.name;
    if (!name) return null;
    // Wait for the certificate with a watch on this CSR, as the kubelet does; watch again if it ends.
    const deadline = Date.now() + CSR_WAIT_MS;
    while (Date.now() < deadline) {
      const got = await this.#viaPrism(gen, {
        method: 'GET',
        path:
          `/apis/certificates.k8s.io/v1/certificatesigningrequests` +
          `?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}` +
          `&watch=true&timeoutSeconds=${Math.ceil(CSR_WAIT_MS / 1000)}`,
        auth: 'token',
        until: 'csr-decided',
      });
      if (got === null) return null;
      const status = got.kind === 'ok' ? csrStatus(got.body) : undefined;
      if (status?.certificate) return { certPem: Buffer.from(status.certificate, 'base64').toString('utf8'), key };
      if (csrDecided(status)) return null;
      await this.#sleep(jitter(CSR_REWATCH_MS), gen);
      if (gen !== this.#gen) return null;
    }
    return null;
  }

  /**
   * One request through KubePrism: on the kept connection (`kept`: heartbeats) or a new one. A new
   * connection goes to the upstream the balancer picks; a refused dial moves on to the next upstream, as
   * a TCP balancer does. Trust failures are answered on the connection and returned (the caller decides to
   * reconnect). Null when the kubelet restarted meanwhile.
   */
  async #viaPrism(gen: number, req: KubeletRequest, kept = false): Promise<DialOutcome | null> {
    if (kept && this.#conn) {
      const out = await this.#dial(gen, this.#conn.server, req, this.#conn.connection);
      if (out?.kind === 'unavailable') this.#closeConnection();
      return out;
    }
    const tries = Math.max(1, this.#deps.apiservers().length);
    let last: DialOutcome | null = null;
    for (let i = 0; i < tries; i++) {
      const server = this.#prism.pick();
      if (!server) {
        if (gen !== this.#gen) return null;
        // KubePrism listens on the node itself: nothing behind it to dial.
        this.#deps.cluster.ledger.unavailable({
          edge: 'kubelet-apiserver',
          from: this.node.address,
          to: this.node.address,
          reason: 'KubePrism: no apiserver up',
          refusedBy: 'server',
        });
        return { kind: 'unavailable', reason: 'no apiserver up' };
      }
      let connection: KeptConnection | undefined;
      if (kept) {
        // The balancer's connection ends with the socket: the next request connects (and picks) anew.
        const conn = {
          server,
          connection: this.#deps.dialer.connection(() => {
            if (this.#conn === conn) this.#conn = null;
          }),
        };
        connection = conn.connection;
        this.#conn = conn;
        this.connections += 1;
      }
      last = await this.#dial(gen, server, req, connection);
      if (last === null || last.kind !== 'unavailable') return last;
      if (kept) this.#closeConnection();
    }
    return last;
  }

  #closeConnection(): void {
    this.#conn?.connection.close();
    this.#conn = null;
  }

  /** One request to one apiserver, counted in the ledger. Null when the kubelet restarted meanwhile. */
  async #dial(
    gen: number,
    server: KubeApiServer,
    req: KubeletRequest,
    connection?: KeptConnection,
  ): Promise<DialOutcome | null> {
    const identity = this.#identity(req.auth === 'cert');
    if (!identity) return null;
    const handle = this.#deps.dialer.request({
      from: this.node.address,
      to: server.node.address,
      port: APISERVER_PORT,
      tls: identity,
      ...(req.auth === 'token' ? { bearerToken: this.#deps.cluster.bootstrapToken } : {}),
      method: req.method,
      path: req.path,
      ...(req.body !== undefined ? { body: req.body } : {}),
      ...(req.until ? { until: req.until } : {}),
      timeoutMs: req.until ? CSR_WAIT_MS + REQUEST_TIMEOUT_MS : REQUEST_TIMEOUT_MS,
      verifyHost: KUBEPRISM_HOST,
      ...(connection ? { connection: connection.id } : {}),
    });
    this.#inflight.add(handle);
    const outcome = await handle.done;
    this.#inflight.delete(handle);
    if (gen !== this.#gen) return null;
    const ledger = this.#deps.cluster.ledger;
    const entry = { edge: 'kubelet-apiserver' as const, from: this.node.address, to: server.node.address };
    if (outcome.kind === 'trust')
      ledger.trustFailure({ ...entry, reason: outcome.reason, refusedBy: outcome.refusedBy });
    else if (outcome.kind === 'unavailable')
      ledger.unavailable({ ...entry, reason: outcome.reason, refusedBy: 'server' });
    return outcome;
  }

  /**
   * The kubeconfig's TLS settings (bootstrap: CAs only; normal: CAs + client certificate), each made when
   * first needed and kept until the trusted CAs or the certificate change (the same text each time, so the
   * transport reuses its secure context).
   */
  #identity(withCert: boolean): KubeTlsIdentity | null {
    let c = this.#identities;
    if (!c || c.roots !== this.#roots || c.cert !== this.#cert) {
      c = { roots: this.#roots, cert: this.#cert, withCert: null, bootstrap: null };
      this.#identities = c;
    }
    const ca = (): string => concatPem(c.roots.trusted.map((r) => r.certPem));
    if (!withCert) return (c.bootstrap ??= { ca: ca() });
    if (!c.cert) return null;
    return (c.withCert ??= { ca: ca(), cert: c.cert.certPem, key: keyPemForTls(c.cert.key) });
  }

  #after(delayMs: number, gen: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (gen === this.#gen) fn();
    }, delayMs);
    this.#timers.set(t, () => {});
  }

  #sleep(ms: number, gen: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        resolve();
      }, ms);
      // Cleared sleeps resolve at once; the caller sees the generation changed and returns.
      this.#timers.set(t, resolve);
      if (gen !== this.#gen) resolve();
    });
  }

  #clearAll(): void {
    this.#closeConnection();
    for (const [t, wake] of this.#timers) {
      clearTimeout(t);
      wake();
    }
    this.#timers.clear();
    for (const h of this.#inflight) h.abort();
    this.#inflight.clear();
  }
}
