/**
 * `planRotation`: observed cluster + desired CA state → ordered steps, each proved by the safety model.
 * Pure and synchronous: no clock, no randomness, no I/O; the same input always gives the same plan.
 */
import { RotateError } from '../../domain/errors.js';
import { maxUnavailableProblem, resolveMaxUnavailable } from '../../domain/max-unavailable.js';
import { isFingerprint, type ApiKind, type Fingerprint, type NodeRole } from '../../domain/types.js';
import type { OperatorClient, PlanInput } from '../model/input.js';
import {
  PHASES,
  PLAN_FORMAT_VERSION,
  type AuthorityRef,
  type ClientDescription,
  type Phase,
  type Plan,
  type ProofEdge,
  type Refusal,
  type Step,
  type TalosClientKind,
  type Verdict,
} from '../model/plan.js';
import { bit, CaIndex } from '../safety/cas.js';
import { evaluateState, type ModelClient } from '../safety/engine.js';
import { initialWorld, resolveEndpoints, staleBundles, type ModelNode } from '../safety/world.js';
import { batchNotices, buildNotices, pemRepairs } from './notices.js';
import {
  chooseOrders,
  compatible,
  evaluateAllOrders,
  PREFERRED,
  rolesInOrder,
  type ApiChain,
  type ChainResult,
} from './orders.js';
import { expandPhases, type ApiPhase } from './phases.js';
import { describeFinding, edgeOf, VERDICT_BY_RANK, VERDICT_RANK } from './proof.js';
import { planExtensionAuth } from './extension-auth.js';
import { buildSteps, trusted, type BuiltSteps, type Skeleton, type StepContext } from './steps.js';

export function planRotation(input: PlanInput): Plan {
  validateInput(input);
  const cas = new CaIndex();
  registerFingerprints(cas, input);
  const names = new Map<Fingerprint, string>();
  for (const api of ['talos', 'kubernetes'] as const) {
    for (const [fp, name] of Object.entries(input.desired[api]?.names ?? {})) {
      names.set(fp as Fingerprint, name);
      cas.setName(fp as Fingerprint, name);
    }
  }
  const refused: Refusal[] = [];
  const notices: string[] = [];
  const nodesByAddress = new Map(input.nodes.map((n) => [n.address, n]));
  const controlPlanes = input.nodes.filter((n) => n.role === 'controlplane');

  structuralChecks(input, refused, notices);

  const world0 = initialWorld(cas, input.nodes, input.endpoints);
  const currentClient = modelClient(cas, input.operator.talos, 'current talosconfig');
  const kubeClient = modelClient(cas, input.operator.kubernetes, 'kubeconfig in use');
  const initialFindings = evaluateState(
    world0,
    { apis: new Set(['talos', 'kubernetes']), talosClient: currentClient },
    cas,
  );
  const initialProof: ProofEdge[] = initialFindings.map((f) =>
    edgeOf(f, { window: 'in the observed cluster, before any step', waves: [], persists: true, preExisting: true }),
  );
  if (initialProof.length > 0) {
    notices.push(
      `The observed cluster already has ${initialProof.length} failing edge(s); ` +
        `the first: ${describeFinding(initialFindings[0]!)}.`,
    );
  }

  const phases: Record<ApiKind, ApiPhase[]> = {
    talos: input.desired.talos ? expandPhases('talos', input.nodes, input.desired.talos) : [],
    kubernetes: input.desired.kubernetes ? expandPhases('kubernetes', input.nodes, input.desired.kubernetes) : [],
  };
  const plannable = controlPlanes.length > 0;
  if (!plannable) phases.talos = phases.kubernetes = [];

  // Order choice: every combination per API, evaluated with histories carried across steps.
  const chains: Record<ApiKind, ApiChain | null> = {
    talos: phases.talos.length ? evaluateAllOrders(cas, world0, 'talos', phases.talos) : null,
    kubernetes: phases.kubernetes.length ? evaluateAllOrders(cas, world0, 'kubernetes', phases.kubernetes) : null,
  };
  const chosen = chooseOrders(chains.talos, chains.kubernetes);
  const skeletons = assemble(chains, { talos: chosen.talos, kubernetes: chosen.kubernetes });

  const { clients, mint, swap } = talosClients(cas, input, world0, phases, currentClient);

  // Batch sizes (README "Batch sizes", waveBound): --max-unavailable counts workers, as a rolling update's
  // maxUnavailable does.
  const batch = {
    parallelism: input.options.parallelism,
    maxUnavailable: resolveMaxUnavailable(
      input.options.maxUnavailable,
      input.nodes.filter((n) => n.role === 'worker').length,
    ),
  };
  const ctx: StepContext = { input, cas, world0, nodesByAddress, batch, clients, kubeClient, mint, swap };
  const built = proveSteps(ctx, chains, chosen, skeletons);
  const { steps, stepFindings, world, used } = built;
  linkDependencies(steps);
  const stale = staleBundles(world);
  if (stale.length > 0) {
    const what = [...new Set(stale.map((w) => cas.describeMask(w.extra)))].join(', ');
    notices.push(
      `After the last step, worker(s) ${stale.map((w) => w.address).join(', ')} still accept Talos API client ` +
        `certificates signed by ${what}: their apid trusts the bundle trustd gave them when their Talos CA ` +
        'fields last changed, until its certificate is renewed (within 12 h).',
    );
  }

  const unproved = currentClient ? [] : steps.filter((s) => s.talosClient === 'current').map((s) => s.index);
  if (unproved.length > 0) {
    notices.push(
      'The talosconfig in use could not be read: its operator → apid edges are not proved for ' +
        `step(s) ${unproved.join(', ')}; apply checks it before the first step.`,
    );
  }
  refusals(input, steps, refused, notices);
  notices.push(...buildNotices({ input, cas, steps, stepFindings, world0, names }));
  notices.push(...batchNotices(input, steps));
  const repairs = pemRepairs(input, steps);
  notices.push(...repairs.notices);

  const verdict: Verdict = VERDICT_BY_RANK[Math.max(0, ...steps.map((s) => VERDICT_RANK[s.proof.verdict]))]!;
  const changes = steps.length > 0;
  const plan: Plan = {
    formatVersion: PLAN_FORMAT_VERSION,
    changes,
    applyable: changes && refused.length === 0,
    verdict,
    steps,
    notices,
    summary: summarize(steps, verdict, phases),
    authorities: authorities(input, names),
    talosClients: describeClients(cas, clients, used),
    initialProof,
    basedOn: {
      endpoints: [...input.endpoints],
      nodes: input.nodes.map((n) => ({
        address: n.address,
        nodeId: n.nodeId,
        hostname: n.hostname,
        role: n.role,
        talosVersion: n.talosVersion,
        configDigest: n.configDigest,
      })),
    },
    options: {
      allowDisruption: input.options.allowDisruption,
      maxUnavailable: batch.maxUnavailable,
      maxUnavailableRequested: input.options.maxUnavailable,
      parallelism: input.options.parallelism,
    },
  };
  if (repairs.repairs.length > 0) plan.pemRepairs = repairs.repairs;
  if (refused.length > 0) plan.refused = refused;
  const extensionAuth = planExtensionAuth(input, steps, plan.authorities);
  if (extensionAuth.step) plan.extensionAuth = extensionAuth.step;
  // A write of the ConfigMap alone (stale CAs, nothing else to do) is a change too; a report is not.
  if (!changes && extensionAuth.step?.mode === 'replace') {
    plan.changes = true;
    plan.applyable = refused.length === 0;
    plan.summary.text =
      `No node changes; the ${extensionAuth.step.name} ConfigMap ` +
      `holds ${extensionAuth.step.removes.length} Kubernetes CA(s) no apiserver trusts any more: ` +
      'apply removes them';
  }
  notices.push(...extensionAuth.notices);
  return plan;
}

/**
 * The Talos clients: the operator's file, then two minted from the desired issuing CA (whose key a run always
 * has: the desired state's issuing authority, or the escrow when rolling back). They are used only when
 * the operator's own talosconfig cannot get through a step, e.g. when its signer is being dropped.
 */
function talosClients(
  cas: CaIndex,
  input: PlanInput,
  world0: readonly ModelNode[],
  phases: Record<ApiKind, ApiPhase[]>,
  currentClient: ModelClient | null,
): { clients: Record<TalosClientKind, ModelClient | null>; mint: boolean; swap: boolean } {
  const desiredTalos = input.desired.talos;
  const mint = !!desiredTalos && phases.talos.length > 0;
  // When the issuing CA changes, the operator moves to the minted clients as soon as they work (the old
  // talosconfig is about to stop working); otherwise only when its own talosconfig fails.
  const swap = mint && phases.talos.some((p) => p.phase === 'issue');
  let cpIssuing = 0;
  for (const n of world0) if (n.role === 'controlplane') cpIssuing |= bit(n.talos.issuing);
  const clients: Record<TalosClientKind, ModelClient | null> = {
    current: currentClient,
    intermediate: mint
      ? {
          label: 'intermediate talosconfig (new client cert, trusts old and new CAs)',
          signer: cas.id(desiredTalos!.issuing),
          trusts: (currentClient?.trusts ?? 0) | cpIssuing | bit(cas.id(desiredTalos!.issuing)),
        }
      : null,
    new: mint
      ? { label: 'new talosconfig', signer: cas.id(desiredTalos!.issuing), trusts: bit(cas.id(desiredTalos!.issuing)) }
      : null,
  };
  return { clients, mint, swap };
}

/**
 * The steps proved for the chosen orders. The order choice carries each API's own history; the merged
 * steps are proved with both (e.g. a Kubernetes step restarting apiservers makes workers re-register with
 * trustd meanwhile). When that proof breaks a step, try the other combinations, best per API first, and
 * keep the first proved without a break.
 */
function proveSteps(
  ctx: StepContext,
  chains: Record<ApiKind, ApiChain | null>,
  chosen: { talos: ChainResult | null; kubernetes: ChainResult | null },
  skeletons: Skeleton[],
): BuiltSteps {
  const hasUnsafe = (b: { steps: Step[] }): boolean => b.steps.some((st) => st.proof.verdict === 'unsafe');
  const built = buildSteps(ctx, skeletons);
  if (!hasUnsafe(built)) return built;
  for (const alt of otherCombinations(chains, chosen)) {
    const candidate = buildSteps(ctx, assemble(chains, alt));
    if (!hasUnsafe(candidate)) return candidate;
  }
  return built;
}

/** Refusals (or, with allowDisruption, notices): Nodes not Ready for a Kubernetes step, unsafe steps. */
function refusals(input: PlanInput, steps: Step[], refused: Refusal[], notices: string[]): void {
  const k8sSteps = steps.some((s) => s.apis.includes('kubernetes'));
  const notReady = input.nodes.filter((n) => n.ready === false).map((n) => n.address);
  if (k8sSteps && notReady.length > 0) {
    const reason = `Node(s) ${notReady.join(', ')} are not Ready; every Kubernetes gate requires all Nodes Ready`;
    if (input.options.allowDisruption) notices.push(`${reason} (planned anyway: allowDisruption).`);
    else refused.push({ code: 'PLAN_NODE_NOT_READY', reason });
  }
  for (const step of steps) {
    if (step.proof.verdict !== 'unsafe') continue;
    const broken = step.proof.edges.filter((e) => e.status === 'broken' && !e.preExisting);
    if (input.options.allowDisruption) {
      notices.push(
        `allowDisruption: step ${step.index} (${step.id}) may break ${broken.length} edge(s), ` +
          `first ${broken[0]?.kind}: ${broken[0]?.from} → ${broken[0]?.to}.`,
      );
      continue;
    }
    for (const edge of broken) {
      refused.push({
        code: 'PLAN_UNSAFE_STEP',
        step: step.id,
        edge,
        reason:
          `step ${step.index} (${step.id}) would break ${edge.kind} ${edge.from} → ${edge.to}: ${edge.reason} ` +
          `(${edge.window})`,
      });
    }
  }
}

function validateInput(input: PlanInput): void {
  const bad = (message: string, hint: string): never => {
    throw new RotateError('PLAN_INPUT_INVALID', message, { hint, source: 'internal' });
  };
  const { maxUnavailable, parallelism } = input.options;
  const problem = maxUnavailableProblem(maxUnavailable);
  if (problem)
    bad(
      `options.maxUnavailable ${JSON.stringify(maxUnavailable)} is not valid: ${problem}`,
      'pass --max-unavailable 1 or more, or a percentage such as 10%',
    );
  if (!Number.isInteger(parallelism) || parallelism < 1)
    bad(`options.parallelism must be an integer ≥ 1 (got ${parallelism})`, 'pass --parallelism 1 or more');
  const seen = new Set<string>();
  const checkFp = (fp: unknown, where: string): void => {
    if (!isFingerprint(fp))
      bad(`${where} is not a SHA-256 fingerprint`, 'this is a bug in the code that builds the plan input');
  };
  for (const n of input.nodes) {
    if (seen.has(n.address)) bad(`node ${n.address} is listed twice`, 'list every node once in the desired state');
    seen.add(n.address);
    if (n.role !== 'controlplane' && n.role !== 'worker')
      bad(`node ${n.address} has role ${String(n.role)}`, 'roles are controlplane or worker');
    for (const api of ['talos', 'kubernetes'] as const) {
      const s = n[api];
      if (s.issuing !== null) checkFp(s.issuing, `${n.address} ${api} issuing CA`);
      s.accepted.forEach((fp, i) => checkFp(fp, `${n.address} ${api} accepted CA #${i}`));
    }
    if (n.talosGrant) {
      checkFp(n.talosGrant.signer, `${n.address} apid server certificate signer`);
      n.talosGrant.bundle.forEach((fp, i) => checkFp(fp, `${n.address} apid client-CA bundle #${i}`));
    }
  }
  for (const api of ['talos', 'kubernetes'] as const) {
    const d = input.desired[api];
    if (!d) continue;
    checkFp(d.issuing, `desired ${api} issuing CA`);
    d.accepted.forEach((fp, i) => checkFp(fp, `desired ${api} accepted CA #${i}`));
  }
  for (const api of ['talos', 'kubernetes'] as const) {
    const c = input.operator[api];
    if (!c) continue;
    checkFp(c.clientSigner, `operator ${api} client signer`);
    c.trusts.forEach((fp, i) => checkFp(fp, `operator ${api} trusted CA #${i}`));
  }
}

function registerFingerprints(cas: CaIndex, input: PlanInput): void {
  for (const api of ['talos', 'kubernetes'] as const) {
    const d = input.desired[api];
    if (d) [d.issuing, ...d.accepted].forEach((fp) => cas.id(fp));
  }
  for (const n of input.nodes)
    for (const api of ['talos', 'kubernetes'] as const) cas.mask([n[api].issuing, ...n[api].accepted]);
  for (const n of input.nodes) if (n.talosGrant) cas.mask([n.talosGrant.signer, ...n.talosGrant.bundle]);
  for (const api of ['talos', 'kubernetes'] as const) {
    const c = input.operator[api];
    if (c) cas.mask([c.clientSigner, ...c.trusts]);
  }
}

function structuralChecks(input: PlanInput, refused: Refusal[], notices: string[]): void {
  const cps = input.nodes.filter((n) => n.role === 'controlplane');
  if (cps.length === 0) {
    refused.push({
      code: 'PLAN_NO_CONTROLPLANE',
      reason:
        'no control-plane node is listed: nothing can sign, proxy or serve trustd (talosctl rotate-ca panics here)',
    });
  }
  const ep = resolveEndpoints(input.nodes, input.endpoints);
  for (const w of ep.workers) {
    refused.push({
      code: 'PLAN_ENDPOINT_IS_WORKER',
      reason:
        `endpoint ${w} is a worker: a worker's apid cannot proxy to other nodes (Talos: ` +
        'internal/app/apid/pkg/director/director.go); use control-plane endpoints',
    });
  }
  if (input.endpoints.length === 0)
    notices.push('No endpoint is given: the proof assumes the operator may reach any control plane.');
  else if (ep.anyControlPlane)
    notices.push(
      'An endpoint is not a node address (VIP, DNS name or load balancer): the proof assumes it may reach any ' +
        'control plane.',
    );
  for (const n of cps) {
    if (input.desired.talos && n.talos.issuing === null) {
      refused.push({
        code: 'PLAN_CONTROLPLANE_WITHOUT_CA',
        reason: `control plane ${n.address} has no issuing Talos CA (.machine.ca): Talos ≥ 1.8 requires one`,
      });
    }
    if (input.desired.kubernetes && n.kubernetes.issuing === null) {
      refused.push({
        code: 'PLAN_CONTROLPLANE_WITHOUT_CA',
        reason: `control plane ${n.address} has no issuing Kubernetes CA`,
      });
    }
  }
}

function modelClient(cas: CaIndex, c: OperatorClient | null, label: string): ModelClient | null {
  return c ? { label, signer: cas.id(c.clientSigner), trusts: cas.mask(c.trusts) } : null;
}

/** Every other pair of per-API order combinations, the best-scored (worst verdict, stale bundles, score) first. */
function otherCombinations(
  chains: Record<ApiKind, ApiChain | null>,
  chosen: { talos: ChainResult | null; kubernetes: ChainResult | null },
): Record<ApiKind, ChainResult | null>[] {
  const rank = (r: ChainResult | null): number[] => (r ? [r.worst, r.stale, r.score] : [0, 0, 0]);
  const ts: (ChainResult | null)[] = chains.talos ? chains.talos.results : [null];
  const ks: (ChainResult | null)[] = chains.kubernetes ? chains.kubernetes.results : [null];
  const pairs: { talos: ChainResult | null; kubernetes: ChainResult | null; key: number[] }[] = [];
  for (const t of ts) {
    for (const k of ks) {
      if (t === chosen.talos && k === chosen.kubernetes) continue;
      const [a, b] = [rank(t), rank(k)];
      pairs.push({ talos: t, kubernetes: k, key: [Math.max(a[0]!, b[0]!), a[1]! + b[1]!, a[2]! + b[2]!] });
    }
  }
  pairs.sort((x, y) => x.key[0]! - y.key[0]! || x.key[1]! - y.key[1]! || x.key[2]! - y.key[2]!);
  return pairs.map(({ talos, kubernetes }) => ({ talos, kubernetes }));
}

/** Steps in order: per phase, the merged step when the two APIs' orders agree, else Talos then Kubernetes. */
function assemble(chains: Record<ApiKind, ApiChain | null>, chosen: Record<ApiKind, ChainResult | null>): Skeleton[] {
  const out: Skeleton[] = [];
  const partOf = (api: ApiKind, phase: Phase): Skeleton['parts'][number] | null => {
    const chain = chains[api];
    const result = chosen[api];
    if (!chain || !result) return null;
    const index = chain.phases.findIndex((p) => p.phase === phase);
    if (index < 0) return null;
    return { api, phase: chain.phases[index]!, order: result.orders[index]!, chain, result, index };
  };
  for (const phase of PHASES) {
    const t = partOf('talos', phase);
    const k = partOf('kubernetes', phase);
    if (t && k && compatible(t.order, k.order)) {
      let r: NodeRole[];
      if (!t.order.endsWith('-only')) r = rolesInOrder(t.order);
      else if (!k.order.endsWith('-only')) r = rolesInOrder(k.order);
      else if (t.order === k.order) r = rolesInOrder(t.order);
      else r = rolesInOrder(PREFERRED.kubernetes[phase].order);
      out.push({ apis: ['talos', 'kubernetes'], parts: [t, k], roles: r });
    } else {
      if (t) out.push({ apis: ['talos'], parts: [t], roles: rolesInOrder(t.order) });
      if (k) out.push({ apis: ['kubernetes'], parts: [k], roles: rolesInOrder(k.order) });
    }
  }
  return out;
}

function linkDependencies(steps: Step[]): void {
  steps.forEach((s, i) => {
    const deps = new Set<string>();
    for (const api of s.apis) {
      for (let j = i - 1; j >= 0; j--) {
        if (steps[j]!.apis.includes(api)) {
          deps.add(steps[j]!.id);
          break;
        }
      }
    }
    const mine = new Set(s.nodes.map((n) => n.address));
    for (let j = i - 1; j >= 0; j--) {
      if (steps[j]!.nodes.some((n) => mine.has(n.address))) {
        deps.add(steps[j]!.id);
        break;
      }
    }
    s.dependsOn = steps.filter((x) => deps.has(x.id)).map((x) => x.id);
  });
}

function summarize(steps: Step[], verdict: Verdict, phases: Record<ApiKind, ApiPhase[]>): Plan['summary'] {
  const changed = new Set(steps.flatMap((s) => s.nodes.map((n) => n.address)));
  const restarts = steps.reduce((a, s) => a + s.kubeletRestarts.length, 0);
  const edges = steps.flatMap((s) => s.proof.edges.filter((e) => !e.preExisting));
  const announced = edges.filter((e) => e.status === 'degraded').length;
  const broken = edges.filter((e) => e.status === 'broken').length;
  const ph: Partial<Record<ApiKind, Phase[]>> = {};
  for (const api of ['talos', 'kubernetes'] as const) if (phases[api].length) ph[api] = phases[api].map((p) => p.phase);
  const chains = (Object.entries(ph) as [ApiKind, Phase[]][]).map(([api, p]) => `${api}: ${p.join(' → ')}`).join('; ');
  const text =
    steps.length === 0
      ? 'No changes: the cluster already matches the desired CA state.'
      : `${steps.length} step(s) (${chains}); ${changed.size} node(s) change, ${restarts} kubelet restart(s); ` +
        `verdict ${verdict}` +
        (announced ? `, ${announced} announced disruption(s)` : '') +
        (broken ? `, ${broken} breaking edge(s)` : '');
  return {
    verdict,
    steps: steps.length,
    nodesChanged: changed.size,
    kubeletRestarts: restarts,
    phases: ph,
    announcedDisruptions: announced,
    brokenEdges: broken,
    text,
  };
}

function authorities(input: PlanInput, names: Map<Fingerprint, string>): AuthorityRef[] {
  const out: AuthorityRef[] = [];
  for (const api of ['talos', 'kubernetes'] as const) {
    const d = input.desired[api];
    if (!d) continue;
    const seen = new Set<Fingerprint>();
    const push = (fp: Fingerprint, disposition: AuthorityRef['disposition']): void => {
      if (seen.has(fp)) return;
      seen.add(fp);
      out.push({ api, fingerprint: fp, name: names.get(fp) ?? null, disposition });
    };
    push(d.issuing, 'issuing');
    d.accepted.forEach((fp) => push(fp, 'accepted'));
    for (const n of input.nodes) trusted(n[api]).forEach((fp) => push(fp, 'dropped'));
  }
  return out;
}

/** The operator's client, and the minted ones a step actually uses (apply mints only those). */
function describeClients(
  cas: CaIndex,
  clients: Record<TalosClientKind, ModelClient | null>,
  used: ReadonlySet<TalosClientKind>,
): Plan['talosClients'] {
  const desc = (c: ModelClient | null, minted: boolean): ClientDescription | null =>
    c ? { signer: cas.fingerprint(c.signer), trusts: cas.fingerprints(c.trusts), minted } : null;
  const out: Plan['talosClients'] = { current: desc(clients.current, false) };
  for (const k of ['intermediate', 'new'] as const) {
    const d = used.has(k) ? desc(clients[k], true) : null;
    if (d) out[k] = d;
  }
  return out;
}
