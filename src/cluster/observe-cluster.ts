/**
 * Observation of the live cluster, the I/O half of `rotate plan`: every listed node's active machine
 * config, identity and Talos version over the Talos API (concurrently, bounded), the cluster's member list
 * and, when a kubeconfig is available, the Kubernetes Node list. Problems are collected for every node and
 * reported together, never skipped: a node missed by a rotation is locked out at the end.
 */
import { createHash } from 'node:crypto';
import { RotateError } from '../domain/errors.js';
import type { Fingerprint, NodeRole } from '../domain/types.js';
import { MachineConfigText, type MachineConfigCaState } from '../machineconfig/index.js';
import type { TalosApi } from '../talos/talos-api.js';
import { TalosApiError } from '../talos/errors.js';
import type { ClusterMember } from '../talos/resources.js';
import { mapSettledLimit } from '../util/concurrency.js';
import { MIN_TALOS_VERSION, supportsAcceptedCas } from './talos-version.js';

export interface ListedNode {
  address: string;
  role: NodeRole;
}

export interface LiveNode {
  address: string;
  listedAs: NodeRole;
  nodeId: string;
  hostname: string;
  talosVersion: string;
  /** The active machine config exactly as the node returned it (all documents). */
  config: string;
  /**
   * `config` with its parse, made once when it was read: the plan derives every step's config from it. About
   * 40 KB per node (a few MB at hundreds of nodes); a second parse of every config cost more.
   */
  configText: MachineConfigText;
  /** Lowercase hex SHA-256 of `config`: what a saved plan records to detect a stale plan. */
  configDigest: string;
  ca: MachineConfigCaState;
  /**
   * Workers: apid's registration with trustd (server certificate and client-CA bundle, keys left out);
   * null on control planes, or when the resource could not be read (e.g. a talosconfig without os:admin).
   */
  apid: { serverCertPem: string | null; bundle: { fingerprint: Fingerprint; certPem: string }[] } | null;
}

export interface ObservationProblem {
  node: string | null;
  message: string;
  hint: string;
}

export interface ObserveOptions {
  parallelism: number;
  timeoutMs?: number;
  /** How to name the operator's credentials in messages, e.g. `talosconfig ./talosconfig (context prod)`. */
  talosconfigLabel?: string;
  /** Called once per listed node when its read has finished (or failed): progress for the caller. */
  onNodeRead?: () => void;
}

export function configDigest(config: string): string {
  return createHash('sha256').update(config, 'utf8').digest('hex');
}

/** Read one node; throws a RotateError naming the node. */
export async function readLiveNode(client: TalosApi, listed: ListedNode, timeoutMs: number): Promise<LiveNode> {
  const opts = { timeoutMs };
  // Every read is sent at once (one round trip per node, not two); the version is judged first, so a node too
  // old for accepted CAs is reported as such whatever its other answers are.
  const versionRead = client.version(listed.address, opts);
  const configRead = client.getMachineConfig(listed.address, opts);
  const identityRead = client.getIdentity(listed.address, opts);
  configRead.catch(() => undefined);
  identityRead.catch(() => undefined);
  // apid's registration, read alongside (a listed role its config contradicts fails the observation anyway).
  // Best effort: without it the planner assumes every registration the configs allow (less precise, still sound).
  const registration: Promise<LiveNode['apid']> =
    listed.role === 'worker'
      ? client.getApiCertificates(listed.address, opts).then(
          (c) => ({
            serverCertPem: c.server?.certPem ?? null,
            bundle: c.acceptedCAs.map((a) => ({ fingerprint: a.fingerprint, certPem: a.certPem })),
          }),
          () => null,
        )
      : Promise.resolve(null);
  const version = await versionRead;
  if (!supportsAcceptedCas(version.tag)) {
    const min = `v${MIN_TALOS_VERSION.major}.${MIN_TALOS_VERSION.minor}.${MIN_TALOS_VERSION.patch}`;
    throw new RotateError(
      'OBSERVE_TALOS_TOO_OLD',
      `node ${listed.address} runs Talos ${version.tag}, which has no accepted CAs (first release with them: ${min})`,
      {
        hint: `upgrade the node to Talos ${min} or newer before rotating its CAs`,
      },
    );
  }
  const [mc, identity, apid] = await Promise.all([configRead, identityRead, registration]);
  const configText = new MachineConfigText(mc.yaml, `machine config of node ${listed.address}`);
  const ca = configText.caState;
  return {
    address: listed.address,
    listedAs: listed.role,
    nodeId: identity.nodeId,
    hostname: '',
    talosVersion: version.tag,
    config: mc.yaml,
    configText,
    configDigest: configDigest(mc.yaml),
    ca,
    apid,
  };
}

/**
 * Read every listed node and cross-check the topology: roles as configured, one machine per address
 * (a VIP or load balancer listed as a node reaches a machine that is already listed), every cluster member
 * listed, every listed node a member. Throws OBSERVE_FAILED listing every problem.
 */
export async function observeNodes(
  client: TalosApi,
  listed: ListedNode[],
  options: ObserveOptions,
): Promise<{ nodes: LiveNode[]; members: ClusterMember[] }> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const problems: ObservationProblem[] = [];
  const settled = await mapSettledLimit(listed, options.parallelism, (n) =>
    readLiveNode(client, n, timeoutMs).finally(() => options.onNodeRead?.()),
  );
  const nodes: LiveNode[] = [];
  const wrongCluster = untrustedEverywhere(settled);
  if (wrongCluster)
    throw observationError([wrongClusterProblem(wrongCluster, options.talosconfigLabel ?? 'the talosconfig')]);
  settled.forEach((r, i) => {
    const address = listed[i]!.address;
    if (r.status === 'fulfilled') nodes.push(r.value);
    else problems.push(problemOf(r.reason, address));
  });

  // Members as the cluster sees them (discovery), asked of the first control plane that answered.
  let members: ClusterMember[] = [];
  const firstCp = nodes.find((n) => n.listedAs === 'controlplane');
  if (firstCp) {
    try {
      members = await client.listMembers(firstCp.address, { timeoutMs });
    } catch (err) {
      problems.push(problemOf(err, firstCp.address));
    }
  }

  for (const n of nodes) {
    const member = members.find((m) => m.nodeId === n.nodeId);
    n.hostname = member?.hostname ?? '';
    if (n.ca.role !== n.listedAs) {
      problems.push({
        node: n.address,
        message:
          `node ${n.address} is listed under ` +
          `${n.listedAs === 'controlplane' ? 'cluster.controlPlanes' : 'cluster.workers'} ` +
          `but its machine config says type ${n.ca.machineType}`,
        hint: `move ${n.address} to ${n.ca.role === 'controlplane' ? 'cluster.controlPlanes' : 'cluster.workers'}`,
      });
    }
  }

  const byId = new Map<string, LiveNode[]>();
  for (const n of nodes) byId.set(n.nodeId, [...(byId.get(n.nodeId) ?? []), n]);
  for (const [id, same] of byId) {
    if (same.length < 2) continue;
    const who = same.map((n) => n.address).join(' and ');
    problems.push({
      node: same[1]!.address,
      message:
        `${who} reach the same machine (node ` +
        `id ${id}${same[0]!.hostname ? `, hostname ${same[0]!.hostname}` : ''}); ` +
        'one of them is a VIP, load balancer or alias, not a node',
      hint:
        'list each machine once, by its own address (not a shared VIP); a VIP belongs in cluster.endpoints, ' +
        'if anywhere',
    });
  }

  if (members.length > 0) {
    const listedIds = new Set(nodes.map((n) => n.nodeId));
    for (const m of members) {
      if (listedIds.has(m.nodeId)) continue;
      if (settled.some((r) => r.status === 'rejected')) continue; // an unreachable listed node may be this member
      const role = m.machineType === 'worker' ? 'cluster.workers' : 'cluster.controlPlanes';
      problems.push({
        node: m.addresses[0] ?? m.hostname,
        message:
          `cluster member ${m.hostname || m.id} ` +
          `(${m.addresses.join(', ') || 'no address'}, ${m.machineType}) is not listed in the desired state; ` +
          'a node missed by a rotation loses trust at the end',
        hint: `add its address to ${role}`,
      });
    }
    const memberIds = new Set(members.map((m) => m.nodeId));
    for (const n of nodes) {
      if (memberIds.has(n.nodeId)) continue;
      problems.push({
        node: n.address,
        message:
          `node ${n.address} answers but is not a member of the cluster reached through the endpoints (node ` +
          `id ${n.nodeId})`,
        hint: 'check that the address belongs to this cluster; remove it from the desired state if it does not',
      });
    }
  }

  if (problems.length > 0) throw observationError(problems);
  // Keep the desired state's order: control planes as listed, then workers as listed.
  const order = new Map(listed.map((l, i) => [l.address, i]));
  nodes.sort((a, b) => (order.get(a.address) ?? 0) - (order.get(b.address) ?? 0));
  return { nodes, members };
}

/**
 * Every node failed, and every endpoint tried for every node presented a certificate the talosconfig's CA
 * does not verify: one cause (the talosconfig is not this cluster's, or predates its Talos CA), reported
 * once instead of once per node. Returns the endpoints tried, or null when anything else happened.
 */
function untrustedEverywhere(settled: readonly PromiseSettledResult<unknown>[]): string[] | null {
  if (settled.length === 0 || settled.some((r) => r.status !== 'rejected')) return null;
  const endpoints = new Set<string>();
  for (const r of settled) {
    const err = (r as PromiseRejectedResult).reason;
    if (!TalosApiError.isTalosApiError(err)) return null;
    for (const e of [err, ...err.alsoTried]) {
      if (e.kind !== 'tls-untrusted-server') return null;
      endpoints.add(e.endpoint);
    }
  }
  return [...endpoints].sort();
}

function wrongClusterProblem(endpoints: readonly string[], label: string): ObservationProblem {
  return {
    node: endpoints[0] ?? '',
    message:
      `no endpoint's server certificate is signed by a CA of ${label} (tried ${endpoints.join(', ')}): ` +
      'is this the talosconfig of this cluster?',
    hint:
      "point cluster.talosconfig (and cluster.context) at this cluster's talosconfig, " +
      'or use one whose `ca` includes the Talos CA the nodes use now (a talosconfig from before a rotation trusts ' +
      'only the old one)',
  };
}

function problemOf(err: unknown, node: string): ObservationProblem {
  if (RotateError.is(err)) return { node, message: err.message, hint: err.hint ?? '' };
  return {
    node,
    message: `node ${node}: ${(err as Error)?.message ?? String(err)}`,
    hint: 'rerun with ROTATE_DEBUG=1 and report this',
  };
}

export function observationError(problems: ObservationProblem[]): RotateError {
  const lines = problems.map((p) => `  - ${p.message}${p.hint ? `\n      hint: ${p.hint}` : ''}`);
  return new RotateError(
    'OBSERVE_FAILED',
    `the cluster cannot be planned (${problems.length} ` +
      `problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`,
    { hint: 'fix the problems above; nothing was changed', source: 'cluster' },
  );
}
