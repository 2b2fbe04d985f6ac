/**
 * Background exercise of every in-cluster Talos edge with a fresh TLS handshake (docs/lab-design.md
 * "Periodic exercise"):
 * - apid-proxy: each control plane dials every node's apid as its proxy would (its impersonator
 *   certificate, its accepted CAs) and makes a real `Version` call marked `proxyfrom`;
 * - worker-trustd: each worker dials a control plane's trustd verifying it against its own accepted CAs and
 *   makes a real `Certificate` call with its token; a probe does NOT adopt the answer (real workers only
 *   re-request on a config change or at half-life).
 * Periodic probes are spread over `probeIntervalMs` with jitter (each worker rotates over the control planes
 * tick by tick); a config change at either end of an edge probes it again within a short spread. Failures are
 * counted by the dialler (dial.ts); probes from or to a node that is down are skipped or counted as
 * unavailable, never as trust failures.
 */
import type { LabCluster } from '../core/model.js';
import type { LabDialer } from './dial-thread.js';
import type { TalosNodeRuntime } from './node-runtime.js';
import { callTrustd } from './trustd.js';

const MAX_CONCURRENT = 24;

export class ProbeScheduler {
  readonly #cluster: LabCluster;
  readonly #runtimes: ReadonlyMap<string, TalosNodeRuntime>;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #queue: Array<() => Promise<void>> = [];
  #running = 0;
  #stopped = false;
  #rotation = new Map<string, number>();
  #pendingBurst = 0;
  readonly #stats = { apid: 0, trustd: 0 };

  readonly #dialer: LabDialer;

  constructor(cluster: LabCluster, runtimes: ReadonlyMap<string, TalosNodeRuntime>, dialer: LabDialer) {
    this.#cluster = cluster;
    this.#runtimes = runtimes;
    this.#dialer = dialer;
  }

  get #interval(): number {
    return Math.max(50, this.#cluster.timings.probeIntervalMs);
  }

  /** Spread window for a burst of `n` probes after a change. */
  #burstWindow(n: number): number {
    return Math.min(this.#interval, Math.max(20, n * 3));
  }

  #later(ms: number, fn: () => void): void {
    if (this.#stopped) return;
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (!this.#stopped) fn();
    }, ms);
    t.unref?.();
    this.#timers.add(t);
  }

  #enqueue(job: () => Promise<void>): void {
    if (this.#stopped) return;
    this.#queue.push(job);
    this.#pump();
  }

  #pump(): void {
    while (!this.#stopped && this.#running < MAX_CONCURRENT && this.#queue.length > 0) {
      const job = this.#queue.shift()!;
      this.#running += 1;
      void job()
        .catch(() => undefined)
        .finally(() => {
          this.#running -= 1;
          this.#pump();
        });
    }
  }

  /** One apid dial from control plane `cp` to `target`, with a real Version call. */
  async probeApid(cp: TalosNodeRuntime, target: TalosNodeRuntime): Promise<void> {
    if (this.#stopped || cp.node.isDown || !cp.credentials?.impersonator) return;
    this.#stats.apid += 1;
    await cp.proxy.probeVersion(target.node.address, this.#dialer);
  }

  /** One trustd dial from `worker` to `cp` (the answer is discarded). */
  async probeTrustd(worker: TalosNodeRuntime, cp: TalosNodeRuntime): Promise<void> {
    if (this.#stopped || worker.node.isDown) return;
    const csr = worker.csr();
    if (!csr) return;
    const { csrPem } = await csr;
    this.#stats.trustd += 1;
    await callTrustd(worker.node, cp.node, worker.ledger, csrPem, this.#dialer);
  }

  #controlPlanes(): TalosNodeRuntime[] {
    return this.#cluster.controlPlanes.map((n) => this.#runtimes.get(n.address)!).filter(Boolean);
  }

  #all(): TalosNodeRuntime[] {
    return this.#cluster.nodes.map((n) => this.#runtimes.get(n.address)!).filter(Boolean);
  }

  #periodicApid(cp: TalosNodeRuntime, target: TalosNodeRuntime, first: boolean): void {
    const interval = this.#interval;
    const delay = first ? Math.random() * interval : interval * (0.75 + Math.random() * 0.5);
    this.#later(delay, () => {
      this.#enqueue(() => this.probeApid(cp, target));
      this.#periodicApid(cp, target, false);
    });
  }

  #periodicTrustd(worker: TalosNodeRuntime, first: boolean): void {
    const interval = this.#interval;
    const delay = first ? Math.random() * interval : interval * (0.75 + Math.random() * 0.5);
    this.#later(delay, () => {
      const cps = this.#controlPlanes();
      if (cps.length > 0) {
        const i = (this.#rotation.get(worker.node.address) ?? Math.floor(Math.random() * cps.length)) % cps.length;
        this.#rotation.set(worker.node.address, i + 1);
        const cp = cps[i]!;
        this.#enqueue(() => this.probeTrustd(worker, cp));
      }
      this.#periodicTrustd(worker, false);
    });
  }

  start(): void {
    for (const cp of this.#controlPlanes()) for (const target of this.#all()) this.#periodicApid(cp, target, true);
    for (const w of this.#all()) if (!w.isControlPlane) this.#periodicTrustd(w, true);
  }

  #burst(jobs: Array<() => Promise<void>>): void {
    const window = this.#burstWindow(jobs.length);
    for (const job of jobs) {
      this.#pendingBurst += 1;
      this.#later(Math.random() * window, () => {
        this.#pendingBurst -= 1;
        this.#enqueue(job);
      });
    }
  }

  /** Something changed at `x` (config, certificates, power): probe every edge with `x` at one end. */
  changed(x: TalosNodeRuntime): void {
    const jobs: Array<() => Promise<void>> = [];
    const cps = this.#controlPlanes();
    if (x.isControlPlane) {
      for (const target of this.#all()) jobs.push(() => this.probeApid(x, target));
      for (const cp of cps) if (cp !== x) jobs.push(() => this.probeApid(cp, x));
      for (const w of this.#all()) if (!w.isControlPlane) jobs.push(() => this.probeTrustd(w, x));
    } else {
      for (const cp of cps) jobs.push(() => this.probeApid(cp, x));
      for (const cp of cps) jobs.push(() => this.probeTrustd(x, cp));
    }
    this.#burst(jobs);
  }

  /** A worker serves a new certificate and trust bundle: every control plane dials it. */
  workerRegistered(w: TalosNodeRuntime): void {
    this.#burst(this.#controlPlanes().map((cp) => () => this.probeApid(cp, w)));
  }

  /** How many probe dials were made, by edge. */
  stats(): { apid: number; trustd: number } {
    return { ...this.#stats };
  }

  /** Resolves when no probe is queued or running (tests use it to wait for a burst to settle). */
  async idle(): Promise<void> {
    while (!this.#stopped && (this.#pendingBurst > 0 || this.#queue.length > 0 || this.#running > 0))
      await new Promise((r) => setTimeout(r, 10));
  }

  stop(): void {
    this.#stopped = true;
    this.#pendingBurst = 0;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#queue.length = 0;
  }
}
