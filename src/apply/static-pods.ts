/**
 * After a control plane's Kubernetes CA change: wait until its kube-apiserver and kube-controller-manager
 * run from the new config (talos-behaviour.md §5). Talos re-renders them some time after the apply returned:
 * KubernetesRoot → KubernetesSecrets (new version) → `SecretStatuses.kubernetes.talos.dev/static-pods`
 * (namespace `controlplane`) `version` → pods re-rendered with annotation `talos.dev/secrets-version` = that
 * version → re-created by the kubelet. Until then the node's apiserver serves, and its controller-manager
 * signs, with the old CA state. Talos's own upgrade flow knows a static pod is current when its mirror pod
 * carries the expected version annotation and is Ready (pkg/cluster/kubernetes/talos_managed.go,
 * checkPodStatus). `StaticPodStatuses` alone cannot tell: no annotations, refreshed every 15 s, gone while
 * the kubelet is down.
 *
 * Current = every one of these, checked afresh on each attempt:
 * 1. SecretStatuses moved past the version seen before the apply (the new secrets were rendered; a read
 *    right after the apply may still show the old one) and is ready;
 * 2. the node's kube-apiserver and kube-controller-manager mirror pods carry that version and are Ready;
 * 3. the node's apiserver (`<node>:6443`) answers over TLS with a serving certificate that verifies
 *    against the expected issuing CA alone (TLS verification on; a certificate of another CA is "not yet").
 * Bounded by a deadline; the error names the node and what was still missing.
 */
import * as tls from 'node:tls';
import { RotateError } from '../domain/errors.js';
import type { KubeconfigSource } from '../cluster/kube/nodes.js';
import { listControlPlanePods, type MirrorPodStatus } from '../cluster/kube/pods.js';
import type { TalosApi } from '../talos/talos-api.js';
import { sleep } from './retry.js';

export const STATIC_POD_COMPONENTS = ['kube-apiserver', 'kube-controller-manager'] as const;
const APISERVER_PORT = 6443;

export interface StaticPodsTarget {
  client: TalosApi;
  address: string;
  hostname: string;
  /** PEM of the Kubernetes CA the node's apiserver must serve a certificate of once current. */
  expectedCaPem: string;
  /** SecretStatuses version read before the apply (null: unknown, e.g. a resumed node already at target). */
  versionBefore: string | null;
  kubeconfig: () => Promise<KubeconfigSource>;
}

export interface StaticPodsWaitOptions {
  deadline: number;
  signal?: AbortSignal;
  pollMs?: number;
  /** Called once the version to wait for is known, and on every unmet check (for progress events). */
  onWaiting?: (secretsVersion: string | null, problem: string) => void;
}

/** The node's SecretStatuses version (null when the resource is missing). */
export async function readSecretsVersion(
  client: TalosApi,
  address: string,
  timeoutMs = 10_000,
): Promise<string | null> {
  try {
    const s = await client.getSecretsStatus(address, { timeoutMs });
    return s.version;
  } catch (err) {
    if ((err as { kind?: string }).kind === 'not-found') return null;
    throw err;
  }
}

/** One check; returns the secrets version and null when current, or what is still missing. */
export async function checkStaticPods(
  target: StaticPodsTarget,
): Promise<{ version: string | null; problem: string | null }> {
  const { client, address } = target;
  const status = await client.getSecretsStatus(address, { timeoutMs: 10_000 });
  if (!status.ready || status.version === '')
    return { version: null, problem: `SecretStatuses on ${address} is not ready` };
  if (target.versionBefore !== null && status.version === target.versionBefore) {
    return {
      version: null,
      problem:
        `SecretStatuses on ${address} still shows version ${status.version} (the new secrets are not ` +
        'rendered yet)',
    };
  }
  const version = status.version;
  const pods = await listControlPlanePods(await target.kubeconfig(), STATIC_POD_COMPONENTS, { timeoutMs: 15_000 });
  for (const component of STATIC_POD_COMPONENTS) {
    const mine = pods.filter((p) => p.component === component && onNode(p, target));
    const problem = podProblem(component, mine, version, target);
    if (problem) return { version, problem };
  }
  const served = await servedBy(address, target.expectedCaPem);
  if (served) return { version, problem: `kube-apiserver on ${address} ${served}` };
  return { version, problem: null };
}

function onNode(p: MirrorPodStatus, target: StaticPodsTarget): boolean {
  return p.hostIP === target.address || (target.hostname !== '' && p.nodeName === target.hostname);
}

function podProblem(
  component: string,
  pods: MirrorPodStatus[],
  version: string,
  target: StaticPodsTarget,
): string | null {
  if (pods.length === 0) return `no ${component} mirror pod for ${target.address} yet`;
  const current = pods.filter((p) => p.secretsVersion === version);
  if (current.length === 0)
    return (
      `${component} on ${target.address} still runs secrets ` +
      `version ${pods.map((p) => p.secretsVersion ?? 'none').join(', ')}, not ${version}`
    );
  if (!current.some((p) => p.ready))
    return `${component} on ${target.address} (secrets version ${version}) is not Ready`;
  return null;
}

/** Null when `<address>:6443` serves a certificate of `caPem`; else why not. */
function servedBy(address: string, caPem: string): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: address,
      port: APISERVER_PORT,
      ca: caPem,
      ALPNProtocols: ['http/1.1'],
      ...(isIpLiteral(address) ? {} : { servername: address }),
    });
    const timer = setTimeout(() => done('did not answer within 10 s'), 10_000);
    function done(problem: string | null): void {
      clearTimeout(timer);
      socket.destroy();
      resolve(problem);
    }
    socket.once('secureConnect', () =>
      done(
        socket.authorized
          ? null
          : `serves a certificate that does not verify against the expected CA (${String(socket.authorizationError)})`,
      ),
    );
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done(
        /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|certificate/i.test(`${err.code ?? ''} ${err.message}`)
          ? `still serves a certificate of another CA (${err.code ?? err.message})`
          : `is not answering (${err.code ?? err.message})`,
      ),
    );
  });
}

function isIpLiteral(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}

export async function waitStaticPodsCurrent(target: StaticPodsTarget, opts: StaticPodsWaitOptions): Promise<string> {
  let problem: string;
  let announced: string | null | undefined;
  // One kubeconfig per wait (minting one costs the control plane a signature), fetched again after a failure.
  let kubeconfig: Promise<KubeconfigSource> | null = null;
  const cached: StaticPodsTarget = { ...target, kubeconfig: () => (kubeconfig ??= target.kubeconfig()) };
  for (;;) {
    try {
      const r = await checkStaticPods(cached);
      if (r.problem === null && r.version !== null) return r.version;
      problem = r.problem ?? 'not current yet';
      if (announced !== r.version) {
        announced = r.version;
        opts.onWaiting?.(r.version, problem);
      }
    } catch (err) {
      kubeconfig = null;
      // The apiserver restarting, a fresh kubeconfig not yet trusted by a lagging apiserver, a Talos call
      // timing out: all "not yet" within the bound.
      problem = RotateError.is(err) ? err.message : ((err as Error)?.message ?? String(err));
    }
    if (Date.now() >= opts.deadline || opts.signal?.aborted) {
      throw new RotateError(
        'APPLY_STATIC_PODS_TIMEOUT',
        `the control plane ${target.address} did not restart kube-apiserver and kube-controller-manager from its ` +
          `new Kubernetes CA config in time: ${problem}`,
        {
          hint:
            `check the node (talosctl -n ${target.address} get secretstatuses -n controlplane; ` +
            `kubectl -n kube-system get pods -o wide | grep ${target.hostname || target.address}; ` +
            `talosctl -n ${target.address} logs kubelet); when they run, \`rotate apply\` resumes from here`,
          source: 'cluster',
        },
      );
    }
    await sleep(opts.pollMs ?? 500, opts.signal);
  }
}
