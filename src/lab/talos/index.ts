/**
 * The Talos side of the lab: for every node its apid (`:50000`), for control planes trustd (`:50001`),
 * machined behind apid (Version, ApplyConfiguration, Kubeconfig, COSI State), worker registration with
 * trustd, the background probes of every Talos edge, and the optional VIP forwarder (VIP:50000 → the control
 * plane holding the VIP). Start order: control planes (they sign their own certificates), then workers (they
 * need a trustd), then the VIP and the probes.
 */
import { startTcpForwarder, type TcpForwarder } from '../core/tcp-forward.js';
import { DIAL_THREAD_MIN_NODES } from '../core/worker-thread.js';
import type { LabCluster } from '../core/model.js';
import { renderMembers } from './cosi.js';
import type { StaticPodsView } from './static-pod-resources.js';
import { TalosNodeRuntime, type TalosSideContext } from './node-runtime.js';
import { ProbeScheduler } from './probes.js';
import { inlineDialer, threadDialer } from './dial-thread.js';
import { APID_PORT } from './proxy.js';
import { BoundedMap } from '../../util/bounded-map.js';

export interface TalosSide {
  stop(): Promise<void>;
  /**
   * Resolves once workers are done re-requesting certificates and queued probes and change bursts have run
   * (tests, and callers that want the cluster quiet before reading the ledger). A worker that cannot reach
   * any trustd keeps retrying: give up after `timeoutMs` (default 30 s).
   */
  settle(timeoutMs?: number): Promise<void>;
  /** Probe dials made so far, by edge (apid-proxy, worker-trustd). */
  probeStats(): { apid: number; trustd: number };
  /** Whether the lab's own dials run on the dial thread now (dial-thread.ts). */
  dialThreaded(): boolean;
  /** The runtime of one node (tests and the process side's inspection). */
  runtime(address: string): TalosNodeRuntime | undefined;
  /** Where the static pods' state comes from once the Kubernetes side runs (StaticPodStatuses). */
  useStaticPods(source: (address: string) => StaticPodsView | null): void;
}

export interface TalosSideOptions {
  /** Diagnostics (no secrets); default: none. */
  log?: (message: string) => void;
  /**
   * Make the probes' and the workers' trustd dials on a thread of their own (dial-thread.ts); default: for
   * labs of DIAL_THREAD_MIN_NODES nodes or more, where those dials are most of the lab's work.
   */
  dialThread?: boolean;
}

/**
 * The side's diagnostics with a message repeated within `windowMs` of its last line left out: a node that
 * cannot register retries every few seconds and would say the same thing each time.
 */
export function withoutRepeats(
  log: (message: string) => void,
  windowMs = 60_000,
  now: () => number = Date.now,
): (message: string) => void {
  const lastSaid = new BoundedMap<string, number>(1024);
  return (message) => {
    const at = now();
    const last = lastSaid.get(message);
    if (last !== undefined && at - last < windowMs) return;
    lastSaid.set(message, at);
    log(message);
  };
}

export async function startTalosSide(cluster: LabCluster, options: TalosSideOptions = {}): Promise<TalosSide> {
  const log = withoutRepeats(options.log ?? (() => undefined));
  const runtimes = new Map<string, TalosNodeRuntime>();
  const dialer =
    (options.dialThread ?? cluster.nodes.length >= DIAL_THREAD_MIN_NODES) ? threadDialer(log) : inlineDialer();
  const probes = new ProbeScheduler(cluster, runtimes, dialer);
  let membersKey: string | null = null;
  let members: ReturnType<typeof renderMembers> = [];
  let staticPods: (address: string) => StaticPodsView | null = () => null;
  const side: TalosSideContext = {
    cluster,
    ledger: cluster.ledger,
    members() {
      const key = `${cluster.vipHolder()?.address ?? '-'}|${cluster.nodes
        .filter((n) => n.isRemoved)
        .map((n) => n.address)
        .join(',')}`;
      if (key !== membersKey) {
        membersKey = key;
        members = renderMembers(cluster, cluster.vipHolder());
      }
      return members;
    },
    staticPods: (address) => staticPods(address),
    changed: (rt) => probes.changed(rt),
    workerRegistered: (rt) => probes.workerRegistered(rt),
    dialer,
    log,
  };
  for (const node of cluster.nodes) runtimes.set(node.address, new TalosNodeRuntime(node, side));
  const all = [...runtimes.values()];
  let vip: TcpForwarder | null = null;

  const stop = async (): Promise<void> => {
    probes.stop();
    await vip?.stop();
    await Promise.all(all.map((rt) => rt.stop()));
    await dialer.close();
  };

  // The VIP moves when its holder goes down: every node's Members listing follows.
  const refreshMembers = () => {
    for (const rt of all) rt.resources.refresh();
  };
  for (const node of cluster.nodes) {
    node.on('down', refreshMembers);
    node.on('up', refreshMembers);
    node.on('removed', refreshMembers);
  }

  try {
    await Promise.all(all.filter((rt) => rt.isControlPlane).map((rt) => rt.startControlPlane()));
    await Promise.all(all.filter((rt) => !rt.isControlPlane).map((rt) => rt.startWorker()));
    for (const rt of all) rt.watchEvents();
    if (cluster.vipAddress) {
      vip = await startTcpForwarder({
        host: cluster.vipAddress,
        port: APID_PORT,
        targets: () => {
          const holder = cluster.vipHolder();
          return holder ? [{ host: holder.address, port: APID_PORT }] : [];
        },
      });
    }
    probes.start();
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }

  return {
    async stop() {
      for (const node of cluster.nodes) {
        node.off('down', refreshMembers);
        node.off('removed', refreshMembers);
        node.off('up', refreshMembers);
      }
      await stop();
    },
    async settle(timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        while (all.some((rt) => rt.busy) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
        await probes.idle();
        if (!all.some((rt) => rt.busy) || Date.now() >= until) return;
      }
    },
    probeStats: () => probes.stats(),
    dialThreaded: () => dialer.threaded,
    runtime: (address) => runtimes.get(address),
    useStaticPods(source) {
      staticPods = source;
    },
  };
}
