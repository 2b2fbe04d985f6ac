/**
 * `planRotation`: observed cluster + desired CA state → ordered steps, each proved by the safety model.
 * Pure and synchronous: no clock, no randomness, no I/O; the same input always gives the same plan.
 */
import { RotateError } from '../../domain/errors.js';
import { maxUnavailableProblem, resolveMaxUnavailable } from '../../domain/max-unavailable.js';
import { isFingerprint, type ApiKind, type Fingerprint, type NodeRole } from '../../domain/types.js';
import type { ApiState, ObservedNode, OperatorClient, PlanInput } from '../model/input.js';
import {
  PHASES,
  PLAN_FORMAT_VERSION,
  type AuthorityRef,
  type ClientDescription,
  type EdgeKind,
  type OrderChoice,
  type OutputKind,
  type Phase,
  type Plan,
  type ProofEdge,
  type Refusal,
  type Step,
  type StepNode,
  type TalosClientKind,
  type Verdict,
  type Wave,
  type WaveBound,
  type WaveOrder,
} from '../model/plan.js';
import { bit, CaIndex, has } from '../safety/cas.js';
import { evaluateState, evaluateStep, type Finding, type ModelClient } from '../safety/engine.js';
import { initialWorld, resolveEndpoints, staleBundles, TargetInterner, trustOf, type ModelNode, type ModelTarget } from '../safety/world.js';
import { batchNotices, buildNotices, pemRepairs } from './notices.js';
import { chooseOrders, compatible, evaluateAllOrders, PREFERRED, rolesInOrder, type ApiChain, type ChainResult } from './orders.js';
import { expandPhases, type ApiPhase } from './phases.js';
import { describeFinding, edgeOf, proofOf, VERDICT_BY_RANK, VERDICT_RANK } from './proof.js';
import { planExtensionAuth } from './extension-auth.js';

const CLIENT_RANK: Record<TalosClientKind, number> = { current: 0, intermediate: 1, new: 2 };
const API_LABEL: Record<ApiKind, string> = { talos: 'Talos API', kubernetes: 'Kubernetes API' };

interface Skeleton {
  apis: ApiKind[];
  parts: { api: ApiKind; phase: ApiPhase; order: WaveOrder; chain: ApiChain; result: ChainResult; index: number }[];
  roles: NodeRole[];
}

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
  const initialFindings = evaluateState(world0, { apis: new Set(['talos', 'kubernetes']), talosClient: currentClient }, cas);
  const initialProof: ProofEdge[] = initialFindings.map((f) =>
    edgeOf(f, { window: 'in the observed cluster, before any step', waves: [], persists: true, preExisting: true }),
  );
  if (initialProof.length > 0) {
    notices.push(`The observed cluster already has ${initialProof.length} failing edge(s); the first: ${describeFinding(initialFindings[0]!)}.`);
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

  // Talos clients: the operator's file, then two minted from the desired issuing CA (whose key a run always
  // has: the desired state's issuing authority, or the escrow when rolling back). They are used only when
  // the operator's own talosconfig cannot get through a step, e.g. when its signer is being dropped.
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
      ? { label: 'intermediate talosconfig (new client cert, trusts old and new CAs)', signer: cas.id(desiredTalos!.issuing), trusts: (currentClient?.trusts ?? 0) | cpIssuing | bit(cas.id(desiredTalos!.issuing)) }
      : null,
    new: mint ? { label: 'new talosconfig', signer: cas.id(desiredTalos!.issuing), trusts: bit(cas.id(desiredTalos!.issuing)) } : null,
  };

  // Batch sizes (README "Batch sizes", waveBound): --max-unavailable counts workers, as a rolling update's maxUnavailable does.
  const batch = { parallelism: input.options.parallelism, maxUnavailable: resolveMaxUnavailable(input.options.maxUnavailable, input.nodes.filter((n) => n.role === 'worker').length) };
  // One proof of the merged steps (both APIs' effects in one history) for a choice of orders.
  const buildSteps = (skeletons: Skeleton[]) => {
    const used = new Set<TalosClientKind>(['current']);
    const steps: Step[] = [];
    const stepFindings: Finding[][] = [];
    let world: readonly ModelNode[] = world0;
    let file: TalosClientKind = 'current';
    const targets = new TargetInterner();
    skeletons.forEach((sk, si) => {
      const index = si + 1;
      const hasK8s = sk.apis.includes('kubernetes');
      const hasTalos = sk.apis.includes('talos');
      const { stepNodes, waves, modelWaves } = buildWaves(cas, sk, nodesByAddress, input, batch, targets);
      const spec = { waves: modelWaves, apis: new Set(sk.apis), talosClient: clients[file], operatorKubeconfig: kubeClient, gateKubeconfig: hasK8s };
      let res = evaluateStep(world, spec, cas);
      const operatorFails = (fs: readonly Finding[]): boolean => fs.some((f) => f.kind === 'operator-apid');
      let talosconfigBefore: TalosClientKind | undefined;
      if (mint && (clients[file] === null || operatorFails(res.findings))) {
        for (const k of ['intermediate', 'new'] as const) {
          if (CLIENT_RANK[k] <= CLIENT_RANK[file]) continue;
          const alt = evaluateStep(world, { ...spec, talosClient: clients[k] }, cas);
          if (!operatorFails(alt.findings)) {
            res = alt;
            file = k;
            talosconfigBefore = k;
            break;
          }
        }
      }
      const during = file;
      let gateKind = during;
      if (hasTalos && mint && (swap || !clients[during] || !clientWorks(res.world, clients[during]!))) {
        for (const k of ['new', 'intermediate'] as const) {
          if (CLIENT_RANK[k] < CLIENT_RANK[during]) continue;
          if (clientWorks(res.world, clients[k]!)) {
            gateKind = k;
            break;
          }
        }
      }
      used.add(during);
      used.add(gateKind);
      const findings = [...res.findings];
      if (hasTalos && clients[gateKind] && !clientWorks(res.world, clients[gateKind]!)) {
        for (const f of evaluateState(res.world, { apis: new Set(), talosClient: clients[gateKind] }, cas)) {
          if (f.kind === 'operator-apid') findings.push({ ...f, inStart: false, inEnd: false, atGate: true, waves: [] });
        }
      }
      const talosconfigAfter = gateKind !== during ? gateKind : undefined;
      file = gateKind;

      const outputsBefore: OutputKind[] = talosconfigBefore ? ['talosconfig'] : [];
      const outputsAfter: OutputKind[] = [];
      if (talosconfigAfter) outputsAfter.push('talosconfig');
      // Only outputs apply will write: a file the desired state does not name is not announced.
      const named = input.outputs ?? { kubeconfig: true, secretsBundle: true };
      if (named.kubeconfig && sk.parts.some((p) => p.api === 'kubernetes' && (p.phase.phase === 'issue' || p.phase.phase === 'drop'))) outputsAfter.push('kubeconfig');
      if (named.secretsBundle && sk.parts.some((p) => p.phase.phase === 'issue')) outputsAfter.push('secretsBundle');

      const checked: EdgeKind[] = [];
      if (hasTalos || clients[during]) checked.push('operator-apid');
      if (hasTalos) checked.push('apid-proxy', 'worker-trustd');
      if (hasK8s) checked.push('kubelet-apiserver', 'client-apiserver', 'pod-apiserver');
      const kubeletRestarts = stepNodes.filter((n) => n.kubeletRestart).map((n) => n.address);
      const gate: Step['gate'] = {};
      if (hasTalos) gate.talos = { client: gateKind, nodes: 'all', endpoints: [...input.endpoints] };
      if (hasK8s) gate.kubernetes = { nodesReady: 'all', kubeletRestartsObserved: kubeletRestarts };

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
        gate,
        outputsBefore,
        outputsAfter,
        order,
        proof: proofOf(findings, index, checked, res.states, res.classes),
      };
      if (talosconfigBefore) step.talosconfigBefore = talosconfigBefore;
      if (talosconfigAfter) step.talosconfigAfter = talosconfigAfter;
      steps.push(step);
      stepFindings.push(findings);
      world = res.world;
    });
    return { steps, stepFindings, world, used };
  };
  const hasUnsafe = (b: { steps: Step[] }): boolean => b.steps.some((st) => st.proof.verdict === 'unsafe');
  let built = buildSteps(skeletons);
  if (hasUnsafe(built)) {
    // The order choice carries each API's own history; the merged steps are proved with both (e.g. a
    // Kubernetes step restarting apiservers makes workers re-register with trustd meanwhile). When that
    // proof breaks a step, try the other combinations, best per API first, and keep the first proved
    // without a break.
    for (const alt of otherCombinations(chains, chosen)) {
      const candidate = buildSteps(assemble(chains, alt));
      if (!hasUnsafe(candidate)) {
        built = candidate;
        break;
      }
    }
  }
  const { steps, stepFindings, world, used } = built;
  linkDependencies(steps);
  const stale = staleBundles(world);
  if (stale.length > 0) {
    const what = [...new Set(stale.map((w) => cas.describeMask(w.extra)))].join(', ');
    notices.push(
      `After the last step, worker(s) ${stale.map((w) => w.address).join(', ')} still accept Talos API client certificates signed by ${what}: ` +
        'their apid trusts the bundle trustd gave them when their Talos CA fields last changed, until its certificate is renewed (within 12 h).',
    );
  }

  const unproved = currentClient ? [] : steps.filter((s) => s.talosClient === 'current').map((s) => s.index);
  if (unproved.length > 0) {
    notices.push(`The talosconfig in use could not be read: its operator → apid edges are not proved for step(s) ${unproved.join(', ')}; apply checks it before the first step.`);
  }
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
      notices.push(`allowDisruption: step ${step.index} (${step.id}) may break ${broken.length} edge(s), first ${broken[0]?.kind}: ${broken[0]?.from} → ${broken[0]?.to}.`);
      continue;
    }
    for (const edge of broken) {
      refused.push({ code: 'PLAN_UNSAFE_STEP', step: step.id, edge, reason: `step ${step.index} (${step.id}) would break ${edge.kind} ${edge.from} → ${edge.to}: ${edge.reason} (${edge.window})` });
    }
  }
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
      nodes: input.nodes.map((n) => ({ address: n.address, nodeId: n.nodeId, hostname: n.hostname, role: n.role, talosVersion: n.talosVersion, configDigest: n.configDigest })),
    },
    options: { allowDisruption: input.options.allowDisruption, maxUnavailable: batch.maxUnavailable, maxUnavailableRequested: input.options.maxUnavailable, parallelism: input.options.parallelism },
  };
  if (repairs.repairs.length > 0) plan.pemRepairs = repairs.repairs;
  if (refused.length > 0) plan.refused = refused;
  const extensionAuth = planExtensionAuth(input, steps, plan.authorities);
  if (extensionAuth.step) plan.extensionAuth = extensionAuth.step;
  // A write of the ConfigMap alone (stale CAs, nothing else to do) is a change too; a report is not.
  if (!changes && extensionAuth.step?.mode === 'replace') {
    plan.changes = true;
    plan.applyable = refused.length === 0;
    plan.summary.text = `No node changes; the ${extensionAuth.step.name} ConfigMap holds ${extensionAuth.step.removes.length} Kubernetes CA(s) no apiserver trusts any more: apply removes them`;
  }
  notices.push(...extensionAuth.notices);
  return plan;
}

function validateInput(input: PlanInput): void {
  const bad = (message: string, hint: string): never => {
    throw new RotateError('PLAN_INPUT_INVALID', message, { hint, source: 'internal' });
  };
  const { maxUnavailable, parallelism } = input.options;
  const problem = maxUnavailableProblem(maxUnavailable);
  if (problem) bad(`options.maxUnavailable ${JSON.stringify(maxUnavailable)} is not valid: ${problem}`, 'pass --max-unavailable 1 or more, or a percentage such as 10%');
  if (!Number.isInteger(parallelism) || parallelism < 1) bad(`options.parallelism must be an integer ≥ 1 (got ${parallelism})`, 'pass --parallelism 1 or more');
  const seen = new Set<string>();
  const checkFp = (fp: unknown, where: string): void => {
    if (!isFingerprint(fp)) bad(`${where} is not a SHA-256 fingerprint`, 'this is a bug in the code that builds the plan input');
  };
  for (const n of input.nodes) {
    if (seen.has(n.address)) bad(`node ${n.address} is listed twice`, 'list every node once in the desired state');
    seen.add(n.address);
    if (n.role !== 'controlplane' && n.role !== 'worker') bad(`node ${n.address} has role ${String(n.role)}`, 'roles are controlplane or worker');
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
  for (const n of input.nodes) for (const api of ['talos', 'kubernetes'] as const) cas.mask([n[api].issuing, ...n[api].accepted]);
  for (const n of input.nodes) if (n.talosGrant) cas.mask([n.talosGrant.signer, ...n.talosGrant.bundle]);
  for (const api of ['talos', 'kubernetes'] as const) {
    const c = input.operator[api];
    if (c) cas.mask([c.clientSigner, ...c.trusts]);
  }
}

function structuralChecks(input: PlanInput, refused: Refusal[], notices: string[]): void {
  const cps = input.nodes.filter((n) => n.role === 'controlplane');
  if (cps.length === 0) {
    refused.push({ code: 'PLAN_NO_CONTROLPLANE', reason: 'no control-plane node is listed: nothing can sign, proxy or serve trustd (talosctl rotate-ca panics here)' });
  }
  const ep = resolveEndpoints(input.nodes, input.endpoints);
  for (const w of ep.workers) {
    refused.push({ code: 'PLAN_ENDPOINT_IS_WORKER', reason: `endpoint ${w} is a worker: a worker's apid cannot proxy to other nodes (Talos: internal/app/apid/pkg/director/director.go); use control-plane endpoints` });
  }
  if (input.endpoints.length === 0) notices.push('No endpoint is given: the proof assumes the operator may reach any control plane.');
  else if (ep.anyControlPlane) notices.push('An endpoint is not a node address (VIP, DNS name or load balancer): the proof assumes it may reach any control plane.');
  for (const n of cps) {
    if (input.desired.talos && n.talos.issuing === null) {
      refused.push({ code: 'PLAN_CONTROLPLANE_WITHOUT_CA', reason: `control plane ${n.address} has no issuing Talos CA (.machine.ca): Talos ≥ 1.8 requires one` });
    }
    if (input.desired.kubernetes && n.kubernetes.issuing === null) {
      refused.push({ code: 'PLAN_CONTROLPLANE_WITHOUT_CA', reason: `control plane ${n.address} has no issuing Kubernetes CA` });
    }
  }
}

function modelClient(cas: CaIndex, c: OperatorClient | null, label: string): ModelClient | null {
  return c ? { label, signer: cas.id(c.clientSigner), trusts: cas.mask(c.trusts) } : null;
}

function clientWorks(world: readonly ModelNode[], client: ModelClient): boolean {
  return world.every((n) => n.role !== 'controlplane' || !n.endpoint || (has(n.talos.trusted, client.signer) && has(client.trusts, n.talos.issuing)));
}

/** Steps in order: per phase, the merged step when the two APIs' orders agree, else Talos then Kubernetes. */
/** Every other pair of per-API order combinations, the best-scored (worst verdict, stale bundles, score) first. */
function otherCombinations(chains: Record<ApiKind, ApiChain | null>, chosen: { talos: ChainResult | null; kubernetes: ChainResult | null }): Record<ApiKind, ChainResult | null>[] {
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
function waveBound(role: NodeRole, restarts: boolean, batch: { parallelism: number; maxUnavailable: number }, asked: PlanInput['options']['maxUnavailable']): WaveBound {
  if (!restarts) {
    return { by: 'parallelism', requested: batch.parallelism, applied: batch.parallelism, reason: 'no Kubernetes component restarts (Talos CA fields only): --parallelism bounds the applies' };
  }
  if (role === 'controlplane') {
    return {
      by: 'controlplane-restart',
      requested: batch.maxUnavailable,
      applied: 1,
      reason: 'kube-apiserver and kube-controller-manager restart on each (Kubernetes CA change): one control plane at a time, each waited for until its static pods run the new config, so the others keep serving',
    };
  }
  return { by: 'max-unavailable', requested: batch.maxUnavailable, applied: batch.maxUnavailable, reason: `kubelets restart (running pods keep running): --max-unavailable ${asked} bounds the workers restarting at once` };
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

function explainOrder(part: Skeleton['parts'][number], sk: Skeleton): OrderChoice {
  const { chain, result, index, order } = part;
  const alternatives = chain.results
    .filter((r) => r.orders[index] !== order && r.orders.every((o, i) => i === index || o === result.orders[i]))
    .map((r) => {
      const later = r.steps.slice(index);
      const bad = later.find((s) => s.problem);
      const stale = r.stale > result.stale;
      const leftover = `${chain.api}: ${r.stale} worker(s) would keep trusting a dropped Talos CA in their apid client bundle (trustd hands a worker the control planes' trusted set when it is patched)`;
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
  if (order.endsWith('-only')) reason = `only ${order === 'controlplanes-only' ? 'control planes' : 'workers'} change in this phase`;
  else {
    const worse = alternatives.filter((a) => VERDICT_RANK[a.verdict] > myRank || a.stale || a.score > myScore);
    const same = `both orders give the same proof for this and the later ${chain.api} steps`;
    if (worse.length > 0) {
      const a = worse[0]!;
      if (VERDICT_RANK[a.verdict] <= myRank && a.stale) reason = `${a.order} would be ${a.verdict} too, but ${a.problem}`;
      else reason = `${a.order} would be ${a.verdict === VERDICT_BY_RANK[myRank] ? `${a.verdict} with more failing node pairs (score ${a.score} vs ${myScore})` : a.verdict}${a.problem ? `: ${a.problem}` : ''}`;
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
    if (p.phase.phase === 'accept') return `${label}: accept ${[...to].filter((x) => !from.has(x)).map(name).join(', ')}`;
    if (p.phase.phase === 'issue') {
      const target = p.phase.nodes.find((n) => n.to.issuing)?.to.issuing ?? p.phase.nodes[0]!.to.accepted[0] ?? null;
      return `${label}: make ${name(target)} issuing`;
    }
    return `${label}: drop ${[...from].filter((x) => !to.has(x)).map(name).join(', ')}`;
  });
  return parts.join('; ');
}

function trusted(s: ApiState): Fingerprint[] {
  return s.issuing ? [...s.accepted, s.issuing] : [...s.accepted];
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
      : `${steps.length} step(s) (${chains}); ${changed.size} node(s) change, ${restarts} kubelet restart(s); verdict ${verdict}` +
        (announced ? `, ${announced} announced disruption(s)` : '') +
        (broken ? `, ${broken} breaking edge(s)` : '');
  return { verdict, steps: steps.length, nodesChanged: changed.size, kubeletRestarts: restarts, phases: ph, announcedDisruptions: announced, brokenEdges: broken, text };
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
function describeClients(cas: CaIndex, clients: Record<TalosClientKind, ModelClient | null>, used: ReadonlySet<TalosClientKind>): Plan['talosClients'] {
  const desc = (c: ModelClient | null, minted: boolean): ClientDescription | null =>
    c ? { signer: cas.fingerprint(c.signer), trusts: cas.fingerprints(c.trusts), minted } : null;
  const out: Plan['talosClients'] = { current: desc(clients.current, false) };
  for (const k of ['intermediate', 'new'] as const) {
    const d = used.has(k) ? desc(clients[k], true) : null;
    if (d) out[k] = d;
  }
  return out;
}
