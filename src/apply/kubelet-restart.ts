/**
 * Observing the kubelet restart a Kubernetes CA change causes (talos-behaviour.md §2.4): Talos destroys the kubelet
 * Service resource when the service stops and creates it again when it runs. talosctl watches for
 * DESTROYED then CREATED/UPDATED running+healthy, with no timeout, and hangs on a lost event.
 *
 * We watch too, and also re-check: the Service resource's creation time changes when it is re-created,
 * so a poll that finds a *newer* resource, running and healthy, proves the restart even if the watch lost
 * an event, died, or the apply's reply was dropped. Everything is bounded by a deadline.
 */
import { RotateError } from '../domain/errors.js';
import type { TalosApi } from '../talos/talos-api.js';
import type { Timestamp } from '../talos/proto.js';
import { decodeServiceState, KUBELET_SERVICE_RESOURCE } from '../talos/resources.js';
import { sleep } from './retry.js';

export interface KubeletSnapshot {
  /** Creation time of the Service resource in ms, or null when it does not exist (kubelet not running). */
  createdMs: number | null;
  running: boolean;
  healthy: boolean;
}

function toMs(t: Timestamp | null | undefined): number | null {
  if (!t) return null;
  return (t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

export async function kubeletSnapshot(client: TalosApi, node: string, timeoutMs: number): Promise<KubeletSnapshot> {
  const r = KUBELET_SERVICE_RESOURCE;
  try {
    const res = await client.getResource(node, r.namespace, r.type, r.id, { timeoutMs });
    const s = decodeServiceState(res);
    return { createdMs: toMs(res.metadata?.created), running: s.running, healthy: s.healthy };
  } catch (err) {
    if ((err as { kind?: string }).kind === 'not-found') return { createdMs: null, running: false, healthy: false };
    throw err;
  }
}

export interface KubeletRestartOptions {
  deadline: number;
  pollMs?: number;
  signal?: AbortSignal;
  /** How the Service resource is read (tests); kubeletSnapshot through `client` otherwise. */
  snapshot?: () => Promise<KubeletSnapshot>;
}

/**
 * Wait until the kubelet is running and healthy (before an apply: a kubelet that is not healthy must not
 * be restarted on top of its trouble). Returns the snapshot to compare against after the apply.
 */
export async function waitKubeletHealthy(
  client: TalosApi,
  node: string,
  opts: KubeletRestartOptions,
): Promise<KubeletSnapshot> {
  for (;;) {
    const snap = await kubeletSnapshot(client, node, Math.max(1_000, opts.deadline - Date.now()));
    if (snap.running && snap.healthy && snap.createdMs !== null) return snap;
    if (Date.now() >= opts.deadline || opts.signal?.aborted) {
      throw new RotateError(
        'APPLY_KUBELET_UNHEALTHY',
        `the kubelet on node ${node} is not running and healthy, so its CA change was not applied`,
        {
          hint:
            `check the node (talosctl -n ${node} service kubelet); once it is healthy, ` +
            `run \`rotate apply\` again to resume`,
        },
      );
    }
    await sleep(opts.pollMs ?? 500, opts.signal);
  }
}

/**
 * After an apply: wait for the kubelet to have restarted (its Service resource gone and re-created) and
 * to be running and healthy again. `before` is the snapshot taken before the apply.
 */
export async function waitKubeletRestarted(
  client: TalosApi,
  node: string,
  before: KubeletSnapshot,
  opts: KubeletRestartOptions,
): Promise<void> {
  let sawGone = false;
  // Each watch event wakes the re-check at once instead of at the next poll: at 20 nodes a wave, waiting
  // out the poll interval on every node added a poll to every wave. The re-check still decides.
  let eventSinceCheck: boolean;
  const waker: { wake: (() => void) | null } = { wake: null };
  const watch = client.watchKubeletService(node, { signal: opts.signal });
  const watchDone = (async () => {
    try {
      for await (const e of watch) {
        if (e.type === 'DESTROYED' || (e.service && !e.service.running)) sawGone = true;
        eventSinceCheck = true;
        waker.wake?.();
      }
    } catch {
      // A dead watch is fine: the poll below decides.
    }
  })();
  const read = opts.snapshot ?? (() => kubeletSnapshot(client, node, 10_000));
  try {
    for (;;) {
      eventSinceCheck = false;
      const snap = await read().catch(() => null);
      if (snap) {
        if (snap.createdMs === null || !snap.running) sawGone = true;
        const recreated = snap.createdMs !== null && before.createdMs !== null && snap.createdMs > before.createdMs;
        if ((sawGone || recreated) && snap.running && snap.healthy && snap.createdMs !== null) return;
      }
      if (Date.now() >= opts.deadline || opts.signal?.aborted) {
        throw new RotateError(
          'APPLY_KUBELET_RESTART_TIMEOUT',
          sawGone
            ? `the kubelet on node ${node} stopped after its CA change but is not running and healthy again`
            : `the kubelet on node ${node} did not restart after its Kubernetes CA change`,
          {
            hint:
              `check the node (talosctl -n ${node} service kubelet; talosctl -n ${node} logs kubelet); ` +
              `then run \`rotate apply\` again to resume`,
          },
        );
      }
      if (!eventSinceCheck) await sleep(opts.pollMs ?? 500, opts.signal, (w) => (waker.wake = w));
      waker.wake = null;
    }
  } finally {
    watch.close();
    await watchDone;
  }
}
