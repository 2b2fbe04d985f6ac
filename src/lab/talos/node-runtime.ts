/**
 * The Talos side of one emulated node: its apid (and trustd on control planes), its credentials, the
 * persisted vs active config (TRY/STAGED/REBOOT), and its reactions to node events:
 * - `config` with a Talos CA change (OSRoot) or a `.machine.certSANs` / `.machine.type` change (CertSAN,
 *   MachineType): a control plane re-issues its certificates from the new issuing CA (keeping the old ones
 *   when the CA is broken), apid and trustd serve them to new connections, the proxy connections are
 *   flushed; a worker re-requests its certificate from trustd. Then the edges touching the node are probed.
 * - a worker also re-registers whenever the `k8s.Endpoint` list changes (an apiserver stops or starts: the
 *   `kubernetes` EndpointSlice, LabCluster.apiserverEndpoints) and every 12 h, as the worker branch of
 *   APIController does (internal/app/machined/pkg/controllers/secrets/api.go: inputs OSRoot, CertSAN,
 *   MachineType, time Status and, on workers only, the Endpoint list; refreshTicker). Each registration is a
 *   new CSR sent to the listed endpoints in turn, in an order shuffled once per registration
 *   (pkg/grpc/gen/remote.go over pkg/machinery/client/resolver/roundrobin.go), retried until one answers; a
 *   change of inputs cancels the attempt in flight (it adopts nothing) and starts a new one. Not emulated:
 *   time Status (no clock jumps in the lab) and the static endpoint (`.cluster.controlPlane.endpoint`
 *   resolved, merged into the list by k8s/static_endpoint.go): the lab's cluster endpoint balances :6443
 *   only. Before the Kubernetes side has published its EndpointSlice, every control plane stands in for it.
 * - `down`: listeners closed and connections dropped. `up`: the node boots its persisted config, then
 *   listens again (a worker re-registers first).
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import type { Secret } from '../../domain/secret.js';
import type { Ledger } from '../core/ledger.js';
import type { ConfigChange, LabCluster, LabNode } from '../core/model.js';
import { interpretRoots, readConfigCas } from '../core/roots.js';
import { ApidServer, type ApidHost } from './apid.js';
import { NodeResources, type renderMembers } from './cosi.js';
import type { StaticPodsView } from './static-pod-resources.js';
import {
  API_CERT_VALIDITY_MS,
  bundleCertificates,
  issueControlPlaneCredentials,
  workerCsr,
  type NodeCredentials,
} from './credentials.js';
import { ApidProxy } from './proxy.js';
import { callTrustd, TrustdServer } from './trustd.js';
import type { LabDialer } from './dial-thread.js';
import { BoundedMap } from '../../util/bounded-map.js';

/** What node runtimes share (implemented by index.ts). */
export interface TalosSideContext {
  readonly cluster: LabCluster;
  readonly ledger: Ledger;
  /** Members rendering shared by every node (depends on the VIP holder). */
  members(): ReturnType<typeof renderMembers>;
  /** What the Kubernetes side knows of a control plane's static pods (null before it runs). */
  staticPods(address: string): StaticPodsView | null;
  /** The edges touching `runtime` changed: probe them soon. */
  changed(runtime: TalosNodeRuntime): void;
  /** A worker's apid certificate changed: control planes should dial it soon. */
  workerRegistered(runtime: TalosNodeRuntime): void;
  /** Where the workers' trustd requests are made (dial-thread.ts). */
  readonly dialer: LabDialer;
  log(message: string): void;
}

const REGISTRATION_RETRY_MS = 1_000;
const REBOOT_MS = 1_000;

export class TalosNodeRuntime implements ApidHost {
  readonly node: LabNode;
  readonly cluster: LabCluster;
  readonly ledger: Ledger;
  readonly resources: NodeResources;
  readonly proxy: ApidProxy;
  readonly apid: ApidServer;
  readonly trustd: TrustdServer | null;
  persisted: string;
  rebootPending = false;
  #credentials: NodeCredentials | null = null;
  #side: TalosSideContext;
  #tryTimer: NodeJS.Timeout | null = null;
  #registration: { generation: number; timer: NodeJS.Timeout | null; active: boolean } = {
    generation: 0,
    timer: null,
    active: false,
  };
  #csr: Promise<{ csrPem: string; key: Secret }> | null = null;
  /**
   * What the control planes' proxies verify of this worker's apid, as of its last registration: the CA that
   * signed its certificate, the certificate's names and the bundle it trusts (null: unknown, e.g. after a boot).
   */
  #servedTrust: string | null = null;
  #stopped = false;
  #listeners: Array<() => void> = [];

  constructor(node: LabNode, side: TalosSideContext) {
    this.node = node;
    this.cluster = side.cluster;
    this.ledger = side.ledger;
    this.#side = side;
    this.persisted = node.config;
    this.resources = new NodeResources(
      node,
      () => side.members(),
      () => this.#credentials,
      () => side.staticPods(node.address),
    );
    this.proxy = new ApidProxy(this);
    this.apid = new ApidServer(this);
    this.trustd = node.role === 'controlplane' ? new TrustdServer(this) : null;
  }

  get credentials(): NodeCredentials | null {
    return this.#credentials;
  }

  #refreshing = 0;

  /** Re-issuing certificates after a change, or (worker) re-requesting its certificate from trustd. */
  get busy(): boolean {
    return this.#registration.active || this.#refreshing > 0;
  }

  get isControlPlane(): boolean {
    return this.node.role === 'controlplane';
  }

  /** First start: a control plane issues its certificates and listens (apid, trustd). */
  async startControlPlane(): Promise<void> {
    await this.#issueControlPlane();
    if (!this.#credentials)
      throw new Error(
        `control plane ${this.node.address} cannot issue its apid ` +
          `certificates: ${this.node.roots.talos.error ?? 'no issuing CA'}`,
      );
    await this.trustd?.listen();
    await this.apid.listen();
  }

  /** First start of a worker: get a certificate from trustd (control planes must be up), then listen. */
  async startWorker(): Promise<void> {
    const ok = await this.#registerOnce();
    if (!ok)
      throw new Error(`worker ${this.node.address} could not get its apid certificate from any control plane's trustd`);
    await this.apid.listen();
  }

  /** Subscribes to the node's events (after the first start). */
  watchEvents(): void {
    const onConfig = (change: ConfigChange) => this.#onConfig(change);
    // Workers depend on the endpoint list (api.go: "worker nodes depend on endpoint list").
    const onEndpoints = (list: string[] | null) => {
      if (this.isControlPlane || this.#stopped || this.node.isDown || (list ?? []).length === 0) return;
      this.#csr = null;
      this.#startRegistration();
    };
    this.cluster.on('endpoints', onEndpoints);
    const onDown = () => void this.#onDown();
    const onUp = () => void this.#onUp();
    const onKubelet = () => this.resources.refresh();
    this.node.on('config', onConfig);
    this.node.on('down', onDown);
    this.node.on('up', onUp);
    this.node.on('kubelet', onKubelet);
    this.node.on('secrets', onKubelet);
    // Certificates are renewed at half their lifetime (secrets/api.go refreshTicker), like after a change.
    const renew = setInterval(() => {
      if (!this.node.isDown)
        this.#onConfig({
          previous: this.node.config,
          current: this.node.config,
          previousRoots: this.node.roots,
          roots: this.node.roots,
          talosChanged: true,
          kubernetesChanged: false,
        });
    }, API_CERT_VALIDITY_MS / 2);
    renew.unref();
    this.#listeners.push(() => {
      clearInterval(renew);
      this.cluster.off('endpoints', onEndpoints);
      this.node.off('config', onConfig);
      this.node.off('down', onDown);
      this.node.off('up', onUp);
      this.node.off('secrets', onKubelet);
      this.node.off('kubelet', onKubelet);
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const off of this.#listeners) off();
    this.cancelTryRollback();
    this.#cancelRegistration();
    this.proxy.flush();
    await Promise.all([this.apid.close(), this.trustd?.close()]);
    this.apid.shutdown();
    this.trustd?.shutdown();
  }

  // -------------------------------------------------------------------------------------------------------
  // MachineHost

  async activate(config: string): Promise<void> {
    const roots = await interpretRoots(config);
    this.node.applyConfig(config, roots);
  }

  scheduleTryRollback(ms: number): void {
    this.cancelTryRollback();
    this.#tryTimer = setTimeout(() => {
      this.#tryTimer = null;
      if (this.#stopped || this.node.config === this.persisted) return;
      this.#side.log(`${this.node.address}: try mode timeout, rolling back to the persisted config`);
      void this.activate(this.persisted);
    }, ms);
    this.#tryTimer.unref?.();
  }

  cancelTryRollback(): void {
    if (this.#tryTimer) clearTimeout(this.#tryTimer);
    this.#tryTimer = null;
  }

  reboot(): void {
    if (this.#stopped) return;
    this.node.setDown(true);
    setTimeout(() => {
      this.rebootPending = false;
      if (!this.#stopped) this.node.setDown(false);
    }, REBOOT_MS).unref?.();
  }

  // -------------------------------------------------------------------------------------------------------
  // Credentials

  async #issueControlPlane(): Promise<boolean> {
    const root = this.node.roots.talos;
    if (!root.issuing || root.error) {
      this.#side.log(
        `${this.node.address}: cannot generate apid certificates (${root.error ?? 'no issuing CA key'}); ` +
          `keeping the previous ones`,
      );
      return false;
    }
    try {
      this.#credentials = await issueControlPlaneCredentials(
        this.node,
        root.issuing,
        root.trusted,
        root.acceptedEntries,
      );
      // ApiCertificates follows (a new version, UPDATED to watchers) before apid serves the new certificates.
      this.resources.refresh();
      return true;
    } catch (err) {
      this.#side.log(
        `${this.node.address}: certificate generation failed (${(err as Error).message}); keeping the previous ones`,
      );
      return false;
    }
  }

  #onConfig(change: ConfigChange): void {
    this.resources.refresh();
    if (this.#stopped) return;
    if (!change.talosChanged && !identityInputsChanged(change)) return;
    if (this.isControlPlane) {
      this.#refreshing += 1;
      void this.#issueControlPlane()
        .then((issued) => {
          if (this.#stopped || this.node.isDown) return;
          if (issued) {
            this.apid.updateCredentials();
            this.trustd?.updateCredentials();
            this.proxy.flush();
          }
          this.#side.changed(this);
        })
        .finally(() => {
          this.#refreshing -= 1;
        });
    } else {
      this.#csr = null;
      this.#side.changed(this);
      this.#startRegistration();
    }
  }

  #cancelRegistration(): void {
    this.#registration.active = false;
    this.#registration.generation += 1;
    if (this.#registration.timer) clearTimeout(this.#registration.timer);
    this.#registration.timer = null;
  }

  /** Re-requests the worker's certificate until a control plane answers (or the config changes again). */
  #startRegistration(): void {
    this.#cancelRegistration();
    const generation = this.#registration.generation;
    this.#registration.active = true;
    const attempt = async () => {
      if (this.#stopped || generation !== this.#registration.generation || this.node.isDown) {
        if (generation === this.#registration.generation) this.#registration.active = false;
        return;
      }
      const ok = await this.#registerOnce(generation);
      if (generation !== this.#registration.generation || this.#stopped) return;
      if (ok) {
        this.#registration.active = false;
        if (this.apid.listening) this.apid.updateCredentials();
        else
          await this.apid
            .listen()
            .catch((err: unknown) => this.#side.log(`${this.node.address}: apid cannot listen: ${String(err)}`));
        // The control planes dial it again only when what they verify changed: a re-registration with the
        // same signing CA, names and bundle (every k8s.Endpoint change re-registers every worker) leaves the
        // outcome of every apid-proxy handshake as it was, and the periodic probes still exercise the edge.
        if (ok !== 'same-trust') this.#side.workerRegistered(this);
      } else {
        this.#registration.timer = setTimeout(() => void attempt(), REGISTRATION_RETRY_MS);
        this.#registration.timer.unref?.();
      }
    };
    void attempt();
  }

  /** The worker's CSR for its current config (cached until the config changes). */
  csr(): Promise<{ csrPem: string; key: Secret }> | null {
    const root = this.node.roots.talos;
    const template = root.csrTemplate === undefined ? root.trusted[root.trusted.length - 1] : root.csrTemplate;
    if (!template || root.error) return null;
    this.#csr ??= workerCsr(this.node, template);
    return this.#csr;
  }

  /**
   * The endpoints this registration asks, in the order it asks them: the `k8s.Endpoint` list (every control
   * plane before the Kubernetes side published one), shuffled once as Talos's round-robin resolver does.
   */
  #trustdEndpoints(): LabNode[] {
    const listed = this.cluster.apiserverEndpoints();
    const cps = this.cluster.controlPlanes.filter((n) => listed === null || listed.includes(n.address));
    for (let i = cps.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [cps[i], cps[j]] = [cps[j]!, cps[i]!];
    }
    return cps;
  }

  /**
   * One pass over the listed endpoints in turn; adopts the first answer, unless a newer registration
   * (`generation`) started meanwhile: Talos cancels an attempt whose inputs changed, adopting nothing.
   */
  async #registerOnce(generation?: number): Promise<boolean | 'same-trust'> {
    const csr = this.csr();
    if (!csr) {
      this.#side.log(
        `${this.node.address}: cannot create a CSR (${this.node.roots.talos.error ?? 'no accepted CA'}); ` +
          `keeping the previous certificate`,
      );
      return false;
    }
    const { csrPem, key } = await csr;
    const superseded = () => generation !== undefined && generation !== this.#registration.generation;
    for (const cp of this.#trustdEndpoints()) {
      if (superseded()) return false;
      if (cp.isDown) continue;
      const r = await callTrustd(this.node, cp, this.ledger, csrPem, this.#side.dialer);
      if (superseded()) return false;
      if (!r.ok) continue;
      const clientCas = bundleCertificates(r.bundle);
      if (clientCas.length === 0 || !r.crt.includes('BEGIN CERTIFICATE')) continue;
      // ApiCertificates holds the bundle as ONE entry, exactly as trustd returned it (secrets/api.go generateWorker).
      this.#credentials = {
        server: { certPem: r.crt, key },
        acceptedEntries: [r.bundle],
        clientCas,
        impersonator: null,
        peerCas: [],
        trustd: null,
        issuer: r.from,
      };
      this.resources.refresh();
      const trust = servedTrust(r.crt, r.bundle, cp.roots.talos.issuing?.certPem ?? null);
      const same = trust !== null && trust === this.#servedTrust;
      this.#servedTrust = trust;
      return same ? 'same-trust' : true;
    }
    return false;
  }

  // -------------------------------------------------------------------------------------------------------
  // Power

  async #onDown(): Promise<void> {
    this.#cancelRegistration();
    this.proxy.flush();
    await Promise.all([this.apid.close(), this.trustd?.close()]);
  }

  async #onUp(): Promise<void> {
    if (this.#stopped) return;
    // A (re)boot runs the persisted config: a STAGED config becomes active, a TRY config is gone.
    this.cancelTryRollback();
    if (this.node.config !== this.persisted) await this.activate(this.persisted);
    if (this.#stopped || this.node.isDown) return;
    if (this.isControlPlane) {
      // On a real boot the certificates are generated afresh; with a broken CA apid never starts.
      this.#credentials = null;
      if (!(await this.#issueControlPlane())) return;
      await this.trustd
        ?.listen()
        .catch((err: unknown) => this.#side.log(`${this.node.address}: trustd cannot listen: ${String(err)}`));
      await this.apid
        .listen()
        .catch((err: unknown) => this.#side.log(`${this.node.address}: apid cannot listen: ${String(err)}`));
      this.#side.changed(this);
    } else {
      // A booting worker has no certificate until a trustd signs one; apid starts then.
      this.#csr = null;
      this.#credentials = null;
      this.#servedTrust = null;
      this.#startRegistration();
    }
  }
}

/**
 * Issuing CA certificates parsed once, with their public key (a KeyObject each time it is read from the
 * certificate): every worker registration verifies its new certificate against one.
 */
const caKeys = new BoundedMap<string, { cert: X509Certificate; key: KeyObject }>(64);

/**
 * What a control plane's apid proxy verifies of a worker's apid after a registration, as one string: the
 * signing CA (the answering control plane's issuing CA, checked by signature), the certificate's names and
 * key type, and the trust bundle. Null when the signer is not that CA (then nothing is assumed).
 */
export function servedTrust(crt: string, bundle: string, issuingPem: string | null): string | null {
  if (!issuingPem) return null;
  try {
    const ca = caKeys.getOrSet(issuingPem, () => {
      const cert = new X509Certificate(issuingPem);
      return { cert, key: cert.publicKey };
    });
    const leaf = new X509Certificate(crt);
    if (!leaf.checkIssued(ca.cert) || !leaf.verify(ca.key)) return null;
    const keyType = leaf.publicKey.asymmetricKeyType ?? '';
    return [ca.cert.fingerprint256, keyType, leaf.subjectAltName ?? '', leaf.subject, bundle].join('\u0000');
  } catch {
    return null;
  }
}

/**
 * Whether a config change touches the other inputs of Talos's APIController besides OSRoot: CertSAN
 * (`.machine.certSANs`; the node's addresses and hostname do not change in the lab) and MachineType.
 */
function identityInputsChanged(change: ConfigChange): boolean {
  if (change.previous === change.current) return false;
  const a = readConfigCas(change.previous);
  const b = readConfigCas(change.current);
  return a.machineType !== b.machineType || a.certSans.join('\n') !== b.certSans.join('\n');
}
