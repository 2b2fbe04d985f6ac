/**
 * One proof of the merged steps for a choice of orders (`buildSteps`): for each step, in order, the named
 * parts of `planRotation` that make it — its waves, the Talos client it runs with, the gate client, the
 * outputs written around it, the gates, the edges its proof checks — and the proof itself.
 * Pure, like the rest of the planner.
 */
import type { ApiKind, Fingerprint, NodeRole } from '../../domain/types.js';
import type { ApiState, ObservedNode, PlanInput } from '../model/input.js';
import type {
  EdgeKind,
  OrderChoice,
  OutputKind,
  Phase,
  Step,
  StepNode,
  TalosClientKind,
  Wave,
  WaveBound,
  WaveOrder,
} from '../model/plan.js';
import { has, type CaIndex } from '../safety/cas.js';
import { evaluateState, evaluateStep, type Finding, type ModelClient } from '../safety/engine.js';
import { trustOf, TargetInterner, type ModelNode, type ModelTarget } from '../safety/world.js';
import { PREFERRED, type ApiChain, type ChainResult } from './orders.js';
import type { ApiPhase } from './phases.js';
import { describeFinding, proofOf, VERDICT_BY_RANK, VERDICT_RANK } from './proof.js';

const CLIENT_RANK: Record<TalosClientKind, number> = { current: 0, intermediate: 1, new: 2 };
const API_LABEL: Record<ApiKind, string> = { talos: 'Talos API', kubernetes: 'Kubernetes API' };

export interface Skeleton {
  apis: ApiKind[];
  parts: { api: ApiKind; phase: ApiPhase; order: WaveOrder; chain: ApiChain; result: ChainResult; index: number }[];
  roles: NodeRole[];
}

/** What every step of one proof shares. */
export interface StepContext {
  readonly input: PlanInput;
  readonly cas: CaIndex;
  readonly world0: readonly ModelNode[];
  readonly nodesByAddress: Map<string, ObservedNode>;
  readonly batch: { parallelism: number; maxUnavailable: number };
  /** The operator's Talos client and the two minted ones (null where there is none). */
  readonly clients: Record<TalosClientKind, ModelClient | null>;
  readonly kubeClient: ModelClient | null;
  /** Minted clients exist (the Talos CAs change). */
  readonly mint: boolean;
  /** The Talos issuing CA changes: move to the minted clients as soon as they work. */
  readonly swap: boolean;
}

export interface BuiltSteps {
  steps: Step[];
  stepFindings: Finding[][];
  world: readonly ModelNode[];
  used: Set<TalosClientKind>;
}

type StepEvaluation = ReturnType<typeof evaluateStep>;

/** One proof of the merged steps (both APIs' effects in one history) for a choice of orders. */
export function buildSteps(ctx: StepContext, skeletons: Skeleton[]): BuiltSteps {
  const { input, cas, clients } = ctx;
  const used = new Set<TalosClientKind>(['current']);
  const steps: Step[] = [];
  const stepFindings: Finding[][] = [];
  let world: readonly ModelNode[] = ctx.world0;
  let file: TalosClientKind = 'current';
  const targets = new TargetInterner();
  skeletons.forEach((sk, si) => {
    const index = si + 1;
    const hasK8s = sk.apis.includes('kubernetes');
    const hasTalos = sk.apis.includes('talos');
    const { stepNodes, waves, modelWaves } = buildWaves(cas, sk, ctx.nodesByAddress, input, ctx.batch, targets);
    const spec = {
      waves: modelWaves,
      apis: new Set(sk.apis),
      talosClient: clients[file],
      operatorKubeconfig: ctx.kubeClient,
      gateKubeconfig: hasK8s,
    };
    const client = chooseStepClient(ctx, world, spec, file);
    const res = client.res;
    const talosconfigBefore = client.talosconfigBefore;
    const during = client.file;
    const gateKind = hasTalos ? chooseGateClient(ctx, res.world, during) : during;
    used.add(during);
    used.add(gateKind);
    const findings = [...res.findings];
    if (hasTalos) findings.push(...gateClientFindings(ctx, res.world, gateKind));
    const talosconfigAfter = gateKind !== during ? gateKind : undefined;
    file = gateKind;

    const kubeletRestarts = stepNodes.filter((n) => n.kubeletRestart).map((n) => n.address);
    const order: Partial<Record<ApiKind, OrderChoice>> = {};
    for (const part of sk.parts) order[part.api] = explainOrder(part, sk);

    const step: Step = {
      id: `${sk.apis.join('-')}-${sk.parts[0]!.phase.phase}`,
      index,
      title: titleOf(cas, sk),
      apis: sk.apis,
      phase: Object.fromEntries(sk.parts.map((p) => [p.api, p.phase.phase])) as Partial<Record<ApiKind, Phase>>,
      dependsOn: [],
      nodes: stepNodes,
      waves,
      maxConcurrent: Math.max(...waves.map((w) => w.maxConcurrent)),
      kubeletRestarts,
      talosClient: during,
      gate: stepGate(input, sk, gateKind, kubeletRestarts),
      ...stepOutputs(input, sk, talosconfigBefore, talosconfigAfter),
      order,
      proof: proofOf(findings, index, checkedEdges(sk, clients[during] !== null), res.states, res.classes),
    };
    if (talosconfigBefore) step.talosconfigBefore = talosconfigBefore;
    if (talosconfigAfter) step.talosconfigAfter = talosconfigAfter;
    steps.push(step);
    stepFindings.push(findings);
    world = res.world;
  });
  return { steps, stepFindings, world, used };
}

const operatorFails = (fs: readonly Finding[]): boolean => fs.some((f) => f.kind === 'operator-apid');

/**
 * The Talos client a step runs with: the one in use, or the first minted one ranked above it that gets
 * through the step when the one in use does not (`talosconfigBefore`: the operator moves to it first).
 */
function chooseStepClient(
  ctx: StepContext,
  world: readonly ModelNode[],
  spec: Parameters<typeof evaluateStep>[1],
  file: TalosClientKind,
): { res: StepEvaluation; file: TalosClientKind; talosconfigBefore?: TalosClientKind } {
  const { clients, cas } = ctx;
  const res = evaluateStep(world, spec, cas);
  if (ctx.mint && (clients[file] === null || operatorFails(res.findings))) {
    for (const k of ['intermediate', 'new'] as const) {
      if (CLIENT_RANK[k] <= CLIENT_RANK[file]) continue;
      const alt = evaluateStep(world, { ...spec, talosClient: clients[k] }, cas);
      if (!operatorFails(alt.findings)) return { res: alt, file: k, talosconfigBefore: k };
    }
  }
  return { res, file };
}

/**
 * The Talos client of a Talos step's gate: the most advanced minted client that works after the step when
 * the issuing CA changes or the step's own client no longer works; else the step's client.
 */
function chooseGateClient(ctx: StepContext, after: readonly ModelNode[], during: TalosClientKind): TalosClientKind {
  const { clients } = ctx;
  if (ctx.mint && (ctx.swap || !clients[during] || !clientWorks(after, clients[during]!))) {
    for (const k of ['new', 'intermediate'] as const) {
      if (CLIENT_RANK[k] < CLIENT_RANK[during]) continue;
      if (clientWorks(after, clients[k]!)) return k;
    }
  }
  return during;
}

/** The operator → apid edges the gate client breaks after the step (checked at the gate). */
function gateClientFindings(ctx: StepContext, after: readonly ModelNode[], gateKind: TalosClientKind): Finding[] {
  const client = ctx.clients[gateKind];
  if (!client || clientWorks(after, client)) return [];
  return evaluateState(after, { apis: new Set(), talosClient: client }, ctx.cas)
    .filter((f) => f.kind === 'operator-apid')
    .map((f) => ({ ...f, inStart: false, inEnd: false, atGate: true, waves: [] }));
}

/** The files apply writes before and after the step; only outputs the desired state names are announced. */
function stepOutputs(
  input: PlanInput,
  sk: Skeleton,
  talosconfigBefore: TalosClientKind | undefined,
  talosconfigAfter: TalosClientKind | undefined,
): { outputsBefore: OutputKind[]; outputsAfter: OutputKind[] } {
  const outputsBefore: OutputKind[] = talosconfigBefore ? ['talosconfig'] : [];
  const outputsAfter: OutputKind[] = [];
  if (talosconfigAfter) outputsAfter.push('talosconfig');
  const named = input.outputs ?? { kubeconfig: true, secretsBundle: true };
  if (
    named.kubeconfig &&
    sk.parts.some((p) => p.api === 'kubernetes' && (p.phase.phase === 'issue' || p.phase.phase === 'drop'))
  )
    outputsAfter.push('kubeconfig');
  if (named.secretsBundle && sk.parts.some((p) => p.phase.phase === 'issue')) outputsAfter.push('secretsBundle');
  return { outputsBefore, outputsAfter };
}

/** The edge kinds a step's proof checks. */
function checkedEdges(sk: Skeleton, hasClient: boolean): EdgeKind[] {
  const hasTalos = sk.apis.includes('talos');
  const checked: EdgeKind[] = [];
  if (hasTalos || hasClient) checked.push('operator-apid');
  if (hasTalos) checked.push('apid-proxy', 'worker-trustd');
  if (sk.apis.includes('kubernetes')) checked.push('kubelet-apiserver', 'client-apiserver', 'pod-apiserver');
  return checked;
}

/** What apply waits for after the step. */
function stepGate(input: PlanInput, sk: Skeleton, gateKind: TalosClientKind, kubeletRestarts: string[]): Step['gate'] {
  const gate: Step['gate'] = {};
  if (sk.apis.includes('talos')) gate.talos = { client: gateKind, nodes: 'all', endpoints: [...input.endpoints] };
  if (sk.apis.includes('kubernetes')) gate.kubernetes = { nodesReady: 'all', kubeletRestartsObserved: kubeletRestarts };
  return gate;
}

function buildWaves(
  cas: CaIndex,
  sk: Skeleton,
  nodesByAddress: Map<string, ObservedNode>,
  input: PlanInput,
  batch: { parallelism: number; maxUnavailable: number },
  targets: TargetInterner,
): { stepNodes: StepNode[]; waves: Wave[]; modelWaves: { address: string; target: ModelTarget }[][] } {
  const perNode = new Map<string, { current: StepNode['current']; target: StepNode['target']; model: ModelTarget }>();
  for (const part of sk.parts) {
    for (const pn of part.phase.nodes) {
      let e = perNode.get(pn.address);
      if (!e) {
        e = { current: {}, target: {}, model: { talosTouched: false, kubeTouched: false } };
        perNode.set(pn.address, e);
      }
      if (part.api === 'talos') {
        e.current.talos = pn.from;
        e.target.talos = pn.to;
        e.model.talos = trustOf(cas, pn.to);
        e.model.talosTouched = true;
      } else {
        e.current.kubernetes = pn.from;
        e.target.kubernetes = pn.to;
        e.model.kube = trustOf(cas, pn.to);
        e.model.kubeTouched = true;
      }
    }
  }
  for (const e of perNode.values()) e.model = targets.intern(e.model);
  const stepNodes: StepNode[] = [];
  const waves: Wave[] = [];
  const modelWaves: { address: string; target: ModelTarget }[][] = [];
  for (const role of sk.roles) {
    const members = input.nodes.filter((n) => n.role === role && perNode.has(n.address));
    if (members.length === 0) continue;
    const index = waves.length + 1;
    const restarts = members.some((n) => perNode.get(n.address)!.model.kubeTouched);
    const bound = waveBound(role, restarts, batch, input.options.maxUnavailable);
    waves.push({ index, role, nodes: members.map((n) => n.address), maxConcurrent: bound.applied, bound });
    modelWaves.push(members.map((n) => ({ address: n.address, target: perNode.get(n.address)!.model })));
    for (const n of members) {
      const e = perNode.get(n.address)!;
      stepNodes.push({
        address: n.address,
        hostname: nodesByAddress.get(n.address)!.hostname,
        role,
        wave: index,
        current: e.current,
        target: e.target,
        kubeletRestart: e.model.kubeTouched,
        configDiff: null,
      });
    }
  }
  return { stepNodes, waves, modelWaves };
}

/**
 * A wave's batch size. The proof does not depend on it: a wave's states are "each class of nodes: none,
 * some or all patched" (and, for control planes, none/some/all of the patched ones still running the old
 * kube-apiserver), which covers every batch size. What the model does not see is availability, so:
 * - control planes whose kube-apiserver and kube-controller-manager restart (any Kubernetes CA change):
 *   one at a time, each waited for until its static pods run the new config, so the others keep serving
 *   the Kubernetes API (never two restarting at once, whatever --max-unavailable says);
 * - workers whose kubelet restarts: --max-unavailable alone (a kubelet restart does not stop running pods;
 *   a node counts as unavailable from its apply until its kubelet is confirmed back), not capped by
 *   --parallelism, so a percentage scales with the cluster;
 * - waves that restart nothing (Talos-only changes): --parallelism.
 */
function waveBound(
  role: NodeRole,
  restarts: boolean,
  batch: { parallelism: number; maxUnavailable: number },
  asked: PlanInput['options']['maxUnavailable'],
): WaveBound {
  if (!restarts) {
    return {
      by: 'parallelism',
      requested: batch.parallelism,
      applied: batch.parallelism,
      reason: 'no Kubernetes component restarts (Talos CA fields only): --parallelism bounds the applies',
    };
  }
  if (role === 'controlplane') {
    return {
      by: 'controlplane-restart',
      requested: batch.maxUnavailable,
      applied: 1,
      reason:
        'kube-apiserver and kube-controller-manager restart on each (Kubernetes CA change): ' +
        'one control plane at a time, each waited for until its static pods run the new config, ' +
        'so the others keep serving',
    };
  }
  return {
    by: 'max-unavailable',
    requested: batch.maxUnavailable,
    applied: batch.maxUnavailable,
    reason:
      `kubelets restart (running pods keep running): --max-unavailable ${asked} bounds the workers restarting ` +
      'at once',
  };
}

function explainOrder(part: Skeleton['parts'][number], sk: Skeleton): OrderChoice {
  const { chain, result, index, order } = part;
  const alternatives = chain.results
    .filter((r) => r.orders[index] !== order && r.orders.every((o, i) => i === index || o === result.orders[i]))
    .map((r) => {
      const later = r.steps.slice(index);
      const bad = later.find((s) => s.problem);
      const stale = r.stale > result.stale;
      const leftover =
        `${chain.api}: ${r.stale} worker(s) would keep trusting a dropped Talos CA in their apid ` +
        `client bundle (trustd hands a worker the control planes' trusted set when it is patched)`;
      return {
        order: r.orders[index]!,
        verdict: VERDICT_BY_RANK[Math.max(0, ...later.map((s) => VERDICT_RANK[s.verdict]))]!,
        score: later.reduce((a, s) => a + s.score, 0),
        problem: bad?.problem ? `${chain.api} ${bad.phase}: ${describeFinding(bad.problem)}` : stale ? leftover : null,
        stale,
      };
    });
  const mine = result.steps.slice(index);
  const myRank = Math.max(0, ...mine.map((s) => VERDICT_RANK[s.verdict]));
  const myScore = mine.reduce((a, s) => a + s.score, 0);
  const pref = PREFERRED[chain.api][part.phase.phase];
  let reason: string;
  if (order.endsWith('-only'))
    reason = `only ${order === 'controlplanes-only' ? 'control planes' : 'workers'} change in this phase`;
  else {
    const worse = alternatives.filter((a) => VERDICT_RANK[a.verdict] > myRank || a.stale || a.score > myScore);
    const same = `both orders give the same proof for this and the later ${chain.api} steps`;
    if (worse.length > 0) {
      const a = worse[0]!;
      if (VERDICT_RANK[a.verdict] <= myRank && a.stale)
        reason = `${a.order} would be ${a.verdict} too, but ${a.problem}`;
      else
        reason =
          `${a.order} would be ` +
          (a.verdict === VERDICT_BY_RANK[myRank]
            ? `${a.verdict} with more failing node pairs (score ${a.score} vs ${myScore})`
            : a.verdict) +
          (a.problem ? `: ${a.problem}` : '');
    } else if (order !== pref.order && sk.apis.length > 1) {
      reason = `${same}; ${order} lets this phase share one apply per node with the other API's`;
    } else if (order === pref.order) {
      reason = `${same}; ${pref.why}`;
    } else {
      reason = `${same}; ${order} chosen`;
    }
  }
  return { chosen: order, reason, alternatives };
}

function titleOf(cas: CaIndex, sk: Skeleton): string {
  const name = (fp: Fingerprint | null): string => (fp ? cas.describe(cas.id(fp)) : 'none');
  const parts = sk.parts.map((p) => {
    const from = new Set<Fingerprint>();
    const to = new Set<Fingerprint>();
    for (const n of p.phase.nodes) {
      trusted(n.from).forEach((x) => from.add(x));
      trusted(n.to).forEach((x) => to.add(x));
    }
    const label = API_LABEL[p.api];
    if (p.phase.phase === 'accept')
      return `${label}: accept ${[...to]
        .filter((x) => !from.has(x))
        .map(name)
        .join(', ')}`;
    if (p.phase.phase === 'issue') {
      const target = p.phase.nodes.find((n) => n.to.issuing)?.to.issuing ?? p.phase.nodes[0]!.to.accepted[0] ?? null;
      return `${label}: make ${name(target)} issuing`;
    }
    return `${label}: drop ${[...from]
      .filter((x) => !to.has(x))
      .map(name)
      .join(', ')}`;
  });
  return parts.join('; ');
}

export function trusted(s: ApiState): Fingerprint[] {
  return s.issuing ? [...s.accepted, s.issuing] : [...s.accepted];
}

function clientWorks(world: readonly ModelNode[], client: ModelClient): boolean {
  return world.every(
    (n) =>
      n.role !== 'controlplane' ||
      !n.endpoint ||
      (has(n.talos.trusted, client.signer) && has(client.trusts, n.talos.issuing)),
  );
}
