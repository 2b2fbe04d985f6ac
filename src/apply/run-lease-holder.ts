/**
 * The run lease, I/O part: takes the Lease (decisions in run-lease.ts), renews it in the background while
 * the run goes on, signals `lost` when it could not (the run then starts nothing new), and releases it at
 * the end. Every renewal uses an admin kubeconfig fetched afresh from the current source, so the lease
 * survives the Kubernetes CA swap (a kubeconfig from before a drop holds a client certificate of the dropped
 * CA) and the Talos CA swap (the engine points the source at the Talos client of the step: `useKubeconfig`).
 */
import { RotateError } from '../domain/errors.js';
import { LeaseApi, LeaseConflict, type LeaseRecord } from '../cluster/kube/lease.js';
import type { KubeconfigSource } from '../cluster/kube/nodes.js';
import {
  decideAcquire,
  holderOf,
  hostOf,
  leaseFor,
  lostError,
  releasedLease,
  renewedMeanwhileError,
  RUN_LEASE_DURATION_S,
  RUN_LEASE_NAME,
  RUN_LEASE_NAMESPACE,
  RUN_LEASE_RENEW_DEADLINE_MS,
  RUN_LEASE_RENEW_INTERVAL_MS,
  unreachableError,
  type LeaseHolder,
  type LocalProcesses,
  type RunIdentity,
} from './run-lease.js';

export interface RunLeaseTimings {
  durationS: number;
  renewIntervalMs: number;
  renewDeadlineMs: number;
  /** How often a take-over re-reads the lease while it watches it stay unrenewed. */
  observePollMs: number;
}

export const DEFAULT_TIMINGS: RunLeaseTimings = {
  durationS: RUN_LEASE_DURATION_S,
  renewIntervalMs: RUN_LEASE_RENEW_INTERVAL_MS,
  renewDeadlineMs: RUN_LEASE_RENEW_DEADLINE_MS,
  observePollMs: 5_000,
};

export interface RunLeaseReporter {
  taken(d: {
    how: 'created' | 'free' | 'same-run' | 'taken-over';
    previous: LeaseHolder | null;
    server: string;
    durationS: number;
    renewIntervalMs: number;
  }): void;
  renewFailed(err: RotateError, sinceRenewMs: number, deadlineMs: number): void;
  released(ok: boolean, problem: string | null): void;
}

export interface AcquireOptions {
  me: RunIdentity;
  reclaimable: readonly string[];
  takeOverExpired: boolean;
  /** Where an admin kubeconfig comes from (fetched afresh through the Talos API on every call). */
  kubeconfig: () => Promise<KubeconfigSource>;
  reporter: RunLeaseReporter;
  timings?: Partial<RunLeaseTimings>;
  /** Injected for tests: the wall clock written into the lease, a monotonic clock and sleep. */
  clock?: { now(): Date; monotonicMs(): number; sleep(ms: number): Promise<void> };
  /** Injected for tests: this host and which of its pids run. */
  local?: LocalProcesses;
  /** Injected for tests: how a kubeconfig becomes a Lease API. */
  openApi?: (source: KubeconfigSource) => Promise<Pick<LeaseApi, 'read' | 'create' | 'replace' | 'server'>>;
}

type Api = Pick<LeaseApi, 'read' | 'create' | 'replace' | 'server'>;

const realClock = {
  now: () => new Date(),
  monotonicMs: () => performance.now(),
  sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
};

function realLocal(who: string): LocalProcesses {
  return {
    host: hostOf(who),
    pidAlive: (pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === 'EPERM';
      }
    },
  };
}

class Lost extends Error {
  constructor(readonly why: string) {
    super(why);
  }
}

export class RunLease {
  readonly #controller = new AbortController();
  #lostError: RotateError | null = null;
  #timer: NodeJS.Timeout | null = null;
  #tick: Promise<void> | null = null;
  #lastOk: number;
  #released = false;

  private constructor(
    private readonly opts: AcquireOptions & {
      timings: RunLeaseTimings;
      clock: NonNullable<AcquireOptions['clock']>;
      openApi: NonNullable<AcquireOptions['openApi']>;
    },
    private api: Api,
    private record: LeaseRecord,
    private source: () => Promise<KubeconfigSource>,
  ) {
    this.#lastOk = opts.clock.monotonicMs();
  }

  /** Aborted when the lease is lost: the engine starts nothing new. */
  get lost(): AbortSignal {
    return this.#controller.signal;
  }

  get lostError(): RotateError | null {
    return this.#lostError;
  }

  static async acquire(input: AcquireOptions): Promise<RunLease> {
    const timings = { ...DEFAULT_TIMINGS, ...input.timings };
    const clock = input.clock ?? realClock;
    const openApi = input.openApi ?? ((s: KubeconfigSource) => LeaseApi.open(s));
    const opts = { ...input, timings, clock, openApi };
    let api: Api | null = null;
    let current: LeaseRecord | null;
    try {
      api = await openApi(await input.kubeconfig());
      current = await api.read(RUN_LEASE_NAMESPACE, RUN_LEASE_NAME);
    } catch (err) {
      throw unreachableError(err, api?.server ?? null);
    }
    for (let attempt = 0; ; attempt++) {
      const decision = decideAcquire(
        current,
        input.me,
        input.reclaimable,
        { takeOverExpired: input.takeOverExpired },
        clock.now(),
        input.local ?? realLocal(input.me.who),
      );
      try {
        if (decision.action === 'refuse') throw decision.error;
        if (decision.action === 'create') {
          const rec = await api.create(
            RUN_LEASE_NAMESPACE,
            RUN_LEASE_NAME,
            leaseFor(input.me, clock.now(), null, timings.durationS),
          );
          input.reporter.taken({
            how: 'created',
            previous: null,
            server: api.server,
            durationS: timings.durationS,
            renewIntervalMs: timings.renewIntervalMs,
          });
          return new RunLease(opts, api, rec, input.kubeconfig).#start();
        }
        const rv = decision.resourceVersion;
        if (decision.action === 'observe-then-take') {
          // client-go's rule: expired only once this process has watched it not change for a whole duration.
          const start = clock.monotonicMs();
          while (clock.monotonicMs() - start < decision.observeMs) {
            await clock.sleep(
              Math.min(timings.observePollMs, Math.max(1, decision.observeMs - (clock.monotonicMs() - start))),
            );
            const now = await api.read(RUN_LEASE_NAMESPACE, RUN_LEASE_NAME);
            if (!now || now.resourceVersion !== rv) {
              if (now?.holderIdentity) throw renewedMeanwhileError(holderOf(now));
              throw new LeaseConflict('Conflict'); // released or deleted meanwhile: decide again
            }
          }
        }
        const previous = current!.holderIdentity ? holderOf(current!) : null;
        const rec = await api.replace(
          RUN_LEASE_NAMESPACE,
          RUN_LEASE_NAME,
          rv,
          leaseFor(input.me, clock.now(), current, timings.durationS),
        );
        const how = decision.action === 'observe-then-take' ? 'taken-over' : decision.why;
        input.reporter.taken({
          how,
          previous: how === 'free' ? null : previous,
          server: api.server,
          durationS: timings.durationS,
          renewIntervalMs: timings.renewIntervalMs,
        });
        return new RunLease(opts, api, rec, input.kubeconfig).#start();
      } catch (err) {
        if (!(err instanceof LeaseConflict) || attempt >= 3) {
          if (err instanceof LeaseConflict)
            throw unreachableError(new Error('the Lease kept changing while this run tried to take it'), api.server);
          if (RotateError.is(err) && err.code.startsWith('RUN_LEASE_')) throw err;
          throw unreachableError(err, api.server);
        }
        // Someone wrote it between our read and our write: read again and decide again.
        try {
          current = await api.read(RUN_LEASE_NAMESPACE, RUN_LEASE_NAME);
        } catch (readErr) {
          throw unreachableError(readErr, api.server);
        }
      }
    }
  }

  /** The engine moves this to the Talos client that works for the step (the Talos CA swap). */
  useKubeconfig(source: () => Promise<KubeconfigSource>): void {
    this.source = source;
  }

  #start(): this {
    this.#schedule();
    return this;
  }

  #schedule(): void {
    if (this.#released || this.lost.aborted) return;
    this.#timer = setTimeout(() => {
      this.#tick = this.#renew().finally(() => {
        this.#tick = null;
        this.#schedule();
      });
    }, this.opts.timings.renewIntervalMs);
    this.#timer.unref();
  }

  /** One renewal now (also what the timer runs). */
  async renewNow(): Promise<void> {
    await this.#renew();
  }

  async #renew(): Promise<void> {
    if (this.#released || this.lost.aborted) return;
    try {
      await this.#renewOnce();
      this.#lastOk = this.opts.clock.monotonicMs();
    } catch (err) {
      if (err instanceof Lost) return this.#lose(err.why);
      const since = this.opts.clock.monotonicMs() - this.#lastOk;
      const e = RotateError.is(err) ? err : new RotateError('RUN_LEASE_RENEW', String((err as Error)?.message ?? err));
      this.opts.reporter.renewFailed(e, since, this.opts.timings.renewDeadlineMs);
      if (since >= this.opts.timings.renewDeadlineMs)
        this.#lose(`it could not be renewed for ${Math.round(since / 1000)} s (${e.message})`);
    }
  }

  async #write(api: Api): Promise<void> {
    const me = this.opts.me;
    try {
      this.record = await api.replace(
        RUN_LEASE_NAMESPACE,
        RUN_LEASE_NAME,
        this.record.resourceVersion,
        leaseFor(me, this.opts.clock.now(), this.record, this.opts.timings.durationS),
      );
    } catch (err) {
      if (!(err instanceof LeaseConflict)) throw err;
      // Our previous write may have landed without its reply: still ours → continue from that version.
      const now = await api.read(RUN_LEASE_NAMESPACE, RUN_LEASE_NAME);
      if (!now || now.holderIdentity !== me.runId) {
        throw new Lost(
          now?.holderIdentity
            ? `it is now held by ${holderOf(now).who} (run ${holderOf(now).runId})`
            : 'it was released or deleted by someone else',
        );
      }
      this.record = await api.replace(
        RUN_LEASE_NAMESPACE,
        RUN_LEASE_NAME,
        now.resourceVersion,
        leaseFor(me, this.opts.clock.now(), now, this.opts.timings.durationS),
      );
    }
  }

  async #renewOnce(): Promise<void> {
    // A fresh admin kubeconfig for every renewal, as the gates do: one fetched before a CA drop holds a
    // client certificate the apiservers refuse after it (a trust failure the lab's ledger would count).
    this.api = await this.opts.openApi(await this.source());
    await this.#write(this.api);
  }

  #lose(why: string): void {
    if (this.lost.aborted) return;
    this.#lostError = lostError(why);
    this.#controller.abort();
  }

  /** Stop renewing and clear the holder (client-go's ReleaseOnCancel). Never throws: a lease not released expires. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#tick?.catch(() => undefined);
    if (this.lost.aborted) {
      this.opts.reporter.released(false, this.#lostError?.message ?? 'lost');
      return;
    }
    const attempt = async (api: Api): Promise<void> => {
      try {
        await api.replace(
          RUN_LEASE_NAMESPACE,
          RUN_LEASE_NAME,
          this.record.resourceVersion,
          releasedLease(this.record, this.opts.clock.now()),
        );
      } catch (err) {
        if (!(err instanceof LeaseConflict)) throw err;
        const now = await api.read(RUN_LEASE_NAMESPACE, RUN_LEASE_NAME);
        if (!now || now.holderIdentity !== this.opts.me.runId) return; // not ours any more: nothing to release
        await api.replace(
          RUN_LEASE_NAMESPACE,
          RUN_LEASE_NAME,
          now.resourceVersion,
          releasedLease(now, this.opts.clock.now()),
        );
      }
    };
    try {
      this.api = await this.opts.openApi(await this.source());
      await attempt(this.api);
      this.opts.reporter.released(true, null);
    } catch (err) {
      this.opts.reporter.released(false, RotateError.is(err) ? err.message : String((err as Error)?.message ?? err));
    }
  }
}
