/**
 * Node order inside each phase, chosen by the safety model. For every API the planner evaluates each
 * combination of role orders across its phases (at most 2³, histories carried from step to step, since
 * an order in one phase changes what workers and kubelets hold in the next) and keeps the combinations
 * with the best verdict, then the fewest workers left trusting a dropped Talos CA (see staleBundles),
 * then the fewest failing node pairs. Ties go to the combination that lets the Talos
 * and Kubernetes phases share one apply per node, then to the preferred order below.
 */
import type { ApiKind, NodeRole } from '../../domain/types.js';
import type { Phase, Verdict, WaveOrder } from '../model/plan.js';
import type { CaIndex } from '../safety/cas.js';
import { evaluateStep, type Finding } from '../safety/engine.js';
import { staleBundles, TargetInterner, trustOf, type ModelNode, type ModelTarget } from '../safety/world.js';
import type { ApiPhase, PhaseNode } from './phases.js';
import { firstProblem, scoreOf, VERDICT_RANK, verdictOf } from './proof.js';

/**
 * Tie-break order when the model finds several orders equally safe, with the reason (talos-behaviour.md §4.2, §4.3).
 */
export const PREFERRED: Record<ApiKind, Record<Phase, { order: WaveOrder; why: string }>> = {
  talos: {
    accept: {
      order: 'controlplanes-first',
      why:
        'workers take their client-CA bundle from trustd on a control plane, so control planes accept first ' +
        '(Talos: internal/app/machined/pkg/controllers/secrets/api.go)',
    },
    issue: {
      order: 'controlplanes-first',
      why:
        'workers re-request their apid certificate when they are patched; after the control planes they get one ' +
        'signed by the new CA',
    },
    drop: {
      order: 'controlplanes-first',
      why:
        'a worker trusts the client-CA bundle trustd hands it when it is patched; ' +
        "after the control planes dropped the CA that bundle no longer holds it; talosctl's order",
    },
  },
  kubernetes: {
    accept: { order: 'controlplanes-first', why: "talosctl's order; every kubelet keeps its certificate" },
    issue: {
      order: 'controlplanes-first',
      why: "talosctl's order; kubelet certificates still verify against old + new",
    },
    drop: {
      order: 'workers-first',
      why:
        'a kubelet re-bootstraps only when its own node drops the old CA, so workers re-bootstrap while every ' +
        'apiserver still accepts both CAs',
    },
  },
};

export function ordersFor(nodes: readonly { role: NodeRole }[]): WaveOrder[] {
  const cp = nodes.some((n) => n.role === 'controlplane');
  const w = nodes.some((n) => n.role === 'worker');
  if (cp && w) return ['controlplanes-first', 'workers-first'];
  return [cp ? 'controlplanes-only' : 'workers-only'];
}

export function rolesInOrder(order: WaveOrder): NodeRole[] {
  switch (order) {
    case 'controlplanes-first':
      return ['controlplane', 'worker'];
    case 'workers-first':
      return ['worker', 'controlplane'];
    case 'controlplanes-only':
      return ['controlplane'];
    case 'workers-only':
      return ['worker'];
  }
}

export function wavesOf<T extends { role: NodeRole }>(
  nodes: readonly T[],
  order: WaveOrder,
): { role: NodeRole; nodes: T[] }[] {
  return rolesInOrder(order)
    .map((role) => ({ role, nodes: nodes.filter((n) => n.role === role) }))
    .filter((w) => w.nodes.length > 0);
}

const targetCache = new WeakMap<CaIndex, { interner: TargetInterner; byNode: WeakMap<PhaseNode, ModelTarget> }>();

/** The model target of one node's phase change (interned: equal changes share one object). */
export function modelTarget(cas: CaIndex, api: ApiKind, n: PhaseNode): ModelTarget {
  let c = targetCache.get(cas);
  if (!c) targetCache.set(cas, (c = { interner: new TargetInterner(), byNode: new WeakMap() }));
  let t = c.byNode.get(n);
  if (!t) {
    t = c.interner.intern(
      api === 'talos'
        ? { talos: trustOf(cas, n.to), talosTouched: true, kubeTouched: false }
        : { kube: trustOf(cas, n.to), kubeTouched: true, talosTouched: false },
    );
    c.byNode.set(n, t);
  }
  return t;
}

export interface StepOutcome {
  phase: Phase;
  verdict: Verdict;
  score: number;
  problem: Finding | null;
}

export interface ChainResult {
  orders: WaveOrder[];
  steps: StepOutcome[];
  worst: number;
  /** Workers whose apid still trusts a dropped Talos CA when the chain ends. */
  stale: number;
  score: number;
}

function resultOf(orders: WaveOrder[], steps: StepOutcome[], world: readonly ModelNode[]): ChainResult {
  return {
    orders,
    steps,
    worst: Math.max(0, ...steps.map((s) => VERDICT_RANK[s.verdict])),
    stale: staleBundles(world).length,
    score: steps.reduce((a, s) => a + s.score, 0),
  };
}

export interface ApiChain {
  api: ApiKind;
  phases: ApiPhase[];
  results: ChainResult[];
}

/**
 * Every combination of orders, depth first so that combinations sharing a prefix share its evaluation
 * (2 + 4 + 8 step evaluations for three phases instead of 24).
 */
export function evaluateAllOrders(
  cas: CaIndex,
  world0: readonly ModelNode[],
  api: ApiKind,
  phases: ApiPhase[],
): ApiChain {
  const results: ChainResult[] = [];
  const wavesCache = new Map<string, { address: string; target: ModelTarget }[][]>();
  const wavesFor = (i: number, order: WaveOrder): { address: string; target: ModelTarget }[][] => {
    const key = `${i}|${order}`;
    let w = wavesCache.get(key);
    if (!w) wavesCache.set(key, (w = modelWaves(cas, phases[i]!, order)));
    return w;
  };
  const walk = (i: number, world: readonly ModelNode[], orders: WaveOrder[], steps: StepOutcome[]): void => {
    if (i === phases.length) {
      results.push(resultOf(orders, steps, world));
      return;
    }
    const p = phases[i]!;
    for (const order of ordersFor(p.nodes)) {
      const res = evaluateStep(world, { waves: wavesFor(i, order), apis: new Set([p.api]), talosClient: null }, cas);
      const outcome: StepOutcome = {
        phase: p.phase,
        verdict: verdictOf(res.findings),
        score: scoreOf(res.findings),
        problem: firstProblem(res.findings),
      };
      walk(i + 1, res.world, [...orders, order], [...steps, outcome]);
    }
  };
  walk(0, world0, [], []);
  return { api, phases, results };
}

function modelWaves(cas: CaIndex, p: ApiPhase, order: WaveOrder): { address: string; target: ModelTarget }[][] {
  return wavesOf(p.nodes, order).map((w) =>
    w.nodes.map((n) => ({ address: n.address, target: modelTarget(cas, p.api, n) })),
  );
}

export function compatible(a: WaveOrder, b: WaveOrder): boolean {
  return a === b || a.endsWith('-only') || b.endsWith('-only');
}

function deviations(chain: ApiChain, orders: readonly WaveOrder[]): number {
  return chain.phases.reduce((n, p, i) => {
    const o = orders[i]!;
    return n + (o.endsWith('-only') || o === PREFERRED[chain.api][p.phase].order ? 0 : 1);
  }, 0);
}

function best(chain: ApiChain): ChainResult[] {
  const worst = Math.min(...chain.results.map((r) => r.worst));
  const atWorst = chain.results.filter((r) => r.worst === worst);
  const stale = Math.min(...atWorst.map((r) => r.stale));
  const clean = atWorst.filter((r) => r.stale === stale);
  const score = Math.min(...clean.map((r) => r.score));
  return clean.filter((r) => r.score === score);
}

function merges(t: ApiChain, to: readonly WaveOrder[], k: ApiChain, ko: readonly WaveOrder[]): number {
  let n = 0;
  t.phases.forEach((p, i) => {
    const j = k.phases.findIndex((q) => q.phase === p.phase);
    if (j >= 0 && compatible(to[i]!, ko[j]!)) n++;
  });
  return n;
}

/** The chosen order per phase for each API present. */
export function chooseOrders(
  talos: ApiChain | null,
  kube: ApiChain | null,
): { talos: ChainResult | null; kubernetes: ChainResult | null } {
  const tBest = talos ? best(talos) : [null];
  const kBest = kube ? best(kube) : [null];
  let chosen: { t: ChainResult | null; k: ChainResult | null; m: number; d: number } | null = null;
  for (const t of tBest) {
    for (const k of kBest) {
      const m = t && k && talos && kube ? merges(talos, t.orders, kube, k.orders) : 0;
      const d = (t && talos ? deviations(talos, t.orders) : 0) + (k && kube ? deviations(kube, k.orders) : 0);
      if (!chosen || m > chosen.m || (m === chosen.m && d < chosen.d)) chosen = { t, k, m, d };
    }
  }
  return { talos: chosen?.t ?? null, kubernetes: chosen?.k ?? null };
}
