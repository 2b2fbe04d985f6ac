/**
 * Ask the model about an arbitrary sequence of per-node config states: "which edges fail?". The planner's
 * proof uses the same engine; tests against the lab replay talosctl's order, classic mistakes and our
 * plans through this function and compare with the lab's ledger.
 */
import { RotateError } from '../../domain/errors.js';
import type { Fingerprint } from '../../domain/types.js';
import type { ApiState, ObservedNode, OperatorClient } from '../model/input.js';
import type { EdgeKind } from '../model/plan.js';
import { EDGE_KINDS } from '../model/plan.js';
import { CaIndex } from './cas.js';
import { evaluateStep, type Finding, type ModelClient } from './engine.js';
import { edgeEnds, type EdgeEnds } from './step-types.js';
import {
  initialWorld,
  sameApiState,
  staleBundles,
  TargetInterner,
  trustOf,
  type ModelNode,
  type ModelTarget,
} from './world.js';

export interface SequenceStart {
  nodes: ObservedNode[];
  endpoints: string[];
  operator?: { talos: OperatorClient | null; kubernetes: OperatorClient | null };
  /** Authority names for the reasons' wording. */
  names?: Record<Fingerprint, string>;
}

export interface SequencePatch {
  address: string;
  target: { talos?: ApiState; kubernetes?: ApiState };
}

export interface SequenceOptions {
  /** Talos client in use during each group (default: the operator's talosconfig throughout). */
  talosClients?: (OperatorClient | null)[];
  /** After each group, also check a freshly fetched admin kubeconfig against every apiserver. */
  kubeconfigGate?: boolean;
}

export interface EdgeOutcome extends Pick<Finding, keyof EdgeEnds | 'excludeSelf' | 'status' | 'reason'> {
  certainty: 'certain' | 'possible';
  /** -1: the initial state; else the 0-based patch group during (or at the end of) which it fails. */
  group: number;
  /** Still failing once the group is complete. */
  persists: boolean;
  /** Already failing before the group started. */
  preExisting: boolean;
  /** The operator's own kubeconfig: expected to stop working, not a cluster edge. */
  notice: boolean;
}

/**
 * Each inner array is one group of patches applied concurrently (any subset may be applied at a given
 * moment); groups run one after another. Returns every failing edge of every group.
 */
export function evaluateSequence(
  initial: SequenceStart,
  patches: SequencePatch[][],
  options: SequenceOptions = {},
): EdgeOutcome[] {
  return runSequence(initial, patches, options).outcomes;
}

/** A worker's apid registration as the model allows it: the signer of its certificate and the bundle it trusts. */
export interface PossibleGrant {
  signer: Fingerprint | null;
  bundle: Fingerprint[];
}

/**
 * The history the model allows once the whole sequence ran: per worker, every trustd registration it may
 * hold (one of them is true), and the workers `staleBundles` counts (trusting a Talos CA some control plane
 * no longer trusts).
 */
export function sequenceHistory(
  initial: SequenceStart,
  patches: SequencePatch[][],
  options: SequenceOptions = {},
): { grants: Map<string, PossibleGrant[]>; stale: string[] } {
  const { world, cas } = runSequence(initial, patches, options);
  const grants = new Map<string, PossibleGrant[]>();
  for (const n of world) {
    if (n.role !== 'worker') continue;
    grants.set(
      n.address,
      n.grants.map((g) => ({ signer: cas.fingerprint(g.signer), bundle: cas.fingerprints(g.bundle) })),
    );
  }
  return { grants, stale: staleBundles(world).map((s) => s.address) };
}

function runSequence(
  initial: SequenceStart,
  patches: SequencePatch[][],
  options: SequenceOptions,
): { outcomes: EdgeOutcome[]; world: ModelNode[]; cas: CaIndex } {
  const cas = new CaIndex();
  for (const [fp, name] of Object.entries(initial.names ?? {})) cas.setName(fp as Fingerprint, name);
  const current = new Map<string, { talos: ApiState; kubernetes: ApiState }>();
  for (const n of initial.nodes) {
    if (current.has(n.address))
      throw new RotateError('PLAN_INPUT_INVALID', `node ${n.address} is listed twice`, { source: 'internal' });
    current.set(n.address, { talos: n.talos, kubernetes: n.kubernetes });
  }
  let world: ModelNode[] = initialWorld(cas, initial.nodes, initial.endpoints);
  const toClient = (c: OperatorClient | null | undefined, label: string): ModelClient | null =>
    c ? { label, signer: cas.id(c.clientSigner), trusts: cas.mask(c.trusts) } : null;
  const defaultClient = toClient(initial.operator?.talos, 'talosconfig');
  const kubeconfig = toClient(initial.operator?.kubernetes, 'kubeconfig');
  const apis = new Set(['talos', 'kubernetes'] as const);
  const out: EdgeOutcome[] = [];
  const targets = new TargetInterner();

  const first = evaluateStep(
    world,
    { waves: [], apis, talosClient: defaultClient, operatorKubeconfig: kubeconfig },
    cas,
  );
  for (const f of first.findings) out.push(outcome(f, -1, true));

  patches.forEach((group, g) => {
    const wave = group.map((p) => {
      const cur = current.get(p.address);
      if (!cur)
        throw new RotateError(
          'PLAN_UNKNOWN_NODE',
          `patch group ${g} names ${p.address}, which is not in the initial state`,
          { source: 'internal' },
        );
      const target: ModelTarget = { talosTouched: false, kubeTouched: false };
      if (p.target.talos) {
        target.talos = trustOf(cas, p.target.talos);
        target.talosTouched = !sameApiState(cur.talos, p.target.talos);
      }
      if (p.target.kubernetes) {
        target.kube = trustOf(cas, p.target.kubernetes);
        target.kubeTouched = !sameApiState(cur.kubernetes, p.target.kubernetes);
      }
      return { address: p.address, target: targets.intern(target) };
    });
    const client =
      options.talosClients && g < options.talosClients.length
        ? toClient(options.talosClients[g], 'talosconfig')
        : defaultClient;
    const res = evaluateStep(
      world,
      {
        waves: [wave],
        apis,
        talosClient: client,
        operatorKubeconfig: kubeconfig,
        gateKubeconfig: options.kubeconfigGate ?? false,
      },
      cas,
    );
    for (const f of res.findings) out.push(outcome(f, g, f.inStart));
    world = res.world;
    for (const p of group) {
      const cur = current.get(p.address)!;
      current.set(p.address, { talos: p.target.talos ?? cur.talos, kubernetes: p.target.kubernetes ?? cur.kubernetes });
    }
  });
  return { outcomes: out, world, cas };
}

function outcome(f: Finding, group: number, preExisting: boolean): EdgeOutcome {
  return {
    ...edgeEnds(f),
    excludeSelf: f.excludeSelf,
    status: f.status,
    certainty: f.certain ? 'certain' : 'possible',
    reason: f.reason,
    group,
    persists: group === -1 || f.inEnd || (f.atGate && !f.inStart),
    preExisting: group !== -1 && preExisting,
    notice: f.notice,
  };
}

/** Expand outcomes to `kind from->to` node pairs (from = `operator` for operator clients). */
export function failingPairs(
  outcomes: readonly EdgeOutcome[],
  opts: { includeNotices?: boolean; includePreExisting?: boolean } = {},
): Set<string> {
  const pairs = new Set<string>();
  for (const o of outcomes) {
    if (o.notice && !opts.includeNotices) continue;
    if (o.preExisting && !opts.includePreExisting) continue;
    for (const a of o.fromNodes)
      for (const b of o.toNodes) if (!(o.excludeSelf && a === b)) pairs.add(`${o.kind} ${a}->${b}`);
  }
  return pairs;
}

/** Per edge kind, the worst status any outcome reached; plus whether a Node may turn NotReady. */
export function summarizeOutcomes(outcomes: readonly EdgeOutcome[]): {
  byKind: Record<EdgeKind, 'ok' | 'degraded' | 'broken'>;
  notReadyPossible: boolean;
} {
  const byKind = Object.fromEntries(EDGE_KINDS.map((k) => [k, 'ok'])) as Record<EdgeKind, 'ok' | 'degraded' | 'broken'>;
  let notReadyPossible = false;
  for (const o of outcomes) {
    if (o.notice) continue;
    if (o.status === 'broken' || byKind[o.kind] === 'ok') byKind[o.kind] = o.status;
    if (o.kind === 'kubelet-apiserver' && o.status === 'broken') notReadyPossible = true;
  }
  return { byKind, notReadyPossible };
}

/**
 * Per node, the patch groups during which its kubelet may have no apiserver at all (all reject it). A Node
 * turns NotReady only if that lasts longer than the node-monitor grace period, which the model cannot
 * time: compare the number of groups with the time each group takes.
 */
export function strandedKubelets(outcomes: readonly EdgeOutcome[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const o of outcomes) {
    if (o.kind !== 'kubelet-apiserver' || o.status !== 'broken') continue;
    for (const n of o.fromNodes) {
      const groups = out.get(n) ?? [];
      if (!groups.includes(o.group)) groups.push(o.group);
      out.set(
        n,
        groups.sort((a, b) => a - b),
      );
    }
  }
  return out;
}
