/**
 * The trust model evaluated over every state a step can pass through.
 *
 * A step is a list of waves run one after another; inside a wave any subset of the nodes may already be
 * patched (concurrency, retries, a crash). Nodes that are alike (role, endpoint or not, both PKIs' trust,
 * history, wave and target) form a class; a state is then "each class of the current wave: none, some or
 * all of its members patched", so the work grows with the number of classes, not with the cluster size.
 *
 * The trust rules themselves, one function per edge kind, are in trust-rules.ts.
 */
import { RotateError } from '../../domain/errors.js';
import type { NodeRole } from '../../domain/types.js';
import { bit, has, type CaIndex } from './cas.js';
import {
  canonicalGrants,
  grantsKey,
  stateKey,
  type ModelNode,
  type ModelTarget,
  type TalosGrant,
  type TrustState,
} from './world.js';
import type { Cls, Entity, EntityState, StepEvaluation, StepSpec, Finding, Version } from './step-types.js';
import { evaluateEdges, Recorder } from './trust-rules.js';

export type { Finding, ModelClient, StepEvaluation, StepSpec, Version } from './step-types.js';

type Pattern = 'none' | 'some' | 'all';

/** A patched control plane whose static pods may still run the old Kubernetes CA state. */
function canLag(c: Cls): boolean {
  const t = c.target;
  return (
    c.role === 'controlplane' &&
    !!t?.kubeTouched &&
    (c.afterTrust.kube.issuing !== c.before.kube.issuing || c.afterTrust.kube.trusted !== c.before.kube.trusted)
  );
}

const MAX_STATES_PER_WAVE = 20_000;

export function evaluateStep(world: readonly ModelNode[], spec: StepSpec, cas: CaIndex): StepEvaluation {
  const classes = buildClasses(world, spec);
  const ctx = new Recorder(cas);
  const cps = classes.filter((c) => c.role === 'controlplane');
  const restarts = apiserverRestarts(cps);
  let states = 0;
  // Issuing CAs a pod may have loaded: those of the start, then those of every wave already complete.
  const podCasBefore = (wave: number): number => {
    let m = 0;
    for (const c of cps) {
      m |= bit(c.before.kube.issuing);
      if (c.wave >= 0 && c.wave < wave) m |= bit(c.afterTrust.kube.issuing);
    }
    return m;
  };
  ctx.podCas = podCasBefore(0);

  // The state before the first patch: what fails here is pre-existing.
  const startEnts = classes.map((c) => entity(c, c.wave < 0 ? 'unchanged' : 'before', c.before));
  ctx.phase = { wave: null, start: true, end: spec.waves.length === 0, gate: false };
  evaluateEdges(startEnts, spec, ctx, false);
  states++;

  for (let wi = 0; wi < spec.waves.length; wi++) {
    const moving = classes.filter((c) => c.wave === wi);
    // One digit per moving class (none/some/all patched), then one per moving control-plane class whose
    // static pods can lag (of its patched members: none/some/all still lagging).
    const lagging = moving.filter(canLag);
    const radix = [
      ...moving.map((c) => (c.members.length > 1 ? 3 : 2)),
      ...lagging.map((c) => (c.members.length > 1 ? 3 : 2)),
    ];
    const total = radix.reduce((a, b) => a * b, 1);
    if (total > MAX_STATES_PER_WAVE) {
      throw new RotateError(
        'PLAN_TOO_MANY_CLASSES',
        `wave ${wi + 1} mixes ${moving.length} kinds of node state; the proof would need ${total} states`,
        {
          hint: 'bring the nodes to a common CA state by hand first, or plan fewer nodes at a time',
        },
      );
    }
    const digits = new Array<number>(radix.length).fill(0);
    for (let n = 0; n < total; n++) {
      let rest = n;
      for (let d = 0; d < radix.length; d++) {
        digits[d] = rest % radix[d]!;
        rest = Math.floor(rest / radix[d]!);
      }
      const pattern = new Map<Cls, Pattern>();
      moving.forEach((c, d) => pattern.set(c, patternOf(digits[d]!, c.members.length > 1)));
      const lag = new Map<Cls, Pattern>();
      lagging.forEach((c, d) => lag.set(c, patternOf(digits[moving.length + d]!, c.members.length > 1)));
      // nothing patched, nothing lags: skip the lag variants of a class with no patched member
      if (lagging.some((c) => pattern.get(c) === 'none' && lag.get(c) !== 'none')) continue;
      // only some patched members can be "some lagging"; one patched member lags or not
      if (lagging.some((c) => pattern.get(c) === 'some' && lag.get(c) === 'some' && c.members.length < 3)) continue;
      // the all-unpatched state of a later wave equals the complete state of the previous one
      if (wi > 0 && [...pattern.values()].every((p) => p === 'none')) continue;
      const ents: Entity[] = [];
      // An apiserver restarted (endpoint list changed) by now: workers may have re-registered with any
      // control-plane state seen so far.
      const triggered =
        restarts.waves.some((v) => v < wi) || restarts.classes.some((y) => y.wave === wi && pattern.get(y) !== 'none');
      const w = (c: Cls, st: EntityState): EntityState =>
        triggered && c.role === 'worker' ? reRegistered(st, seenCpStates(cps, restarts, wi)) : st;
      for (const c of classes) {
        if (c.wave < 0) ents.push(entity(c, 'unchanged', w(c, c.before)));
        else if (c.wave < wi) ents.push(entity(c, 'after', w(c, c.final!)));
        else if (c.wave > wi) ents.push(entity(c, 'before', w(c, c.before)));
        else {
          const p = pattern.get(c)!;
          if (p !== 'all') ents.push(entity(c, 'before', w(c, c.before)));
          if (p !== 'none') {
            const after = w(c, afterState(c, presence(c, cps, wi, pattern)));
            const l = lag.get(c) ?? 'none';
            if (l !== 'all') ents.push(entity(c, 'after', after));
            if (l !== 'none') ents.push(entity(c, 'lagging', { ...after, serving: c.before.serving }));
          }
        }
      }
      ctx.phase = { wave: wi, start: false, end: false, gate: false };
      ctx.podCas = podCasBefore(wi);
      evaluateEdges(ents, spec, ctx, false);
      states++;
    }
    // Histories once the wave is complete: the union over every order its nodes may have been patched in.
    const all = new Map<Cls, Pattern>(moving.map((c) => [c, 'all']));
    for (const c of moving) c.final = afterState(c, presence(c, cps, wi, all));
  }

  // The last apiserver restart re-registers every worker whose own Talos change did not come later; an
  // unpatched worker's history changes too.
  if (restarts.last >= 0) {
    for (const c of classes) {
      if (c.role !== 'worker' || (c.wave > restarts.last && c.target?.talosTouched)) continue;
      const own = c.wave < 0 ? c.before : c.final!;
      const trust = c.wave === restarts.last ? [c.before.talos, c.afterTrust.talos] : [c.afterTrust.talos];
      c.final = lastRegistration(
        own,
        trust,
        cpStatesAt(cps, restarts, restarts.last),
        c.wave === restarts.last && Boolean(c.target?.talosTouched),
      );
    }
  }
  ctx.podCas = podCasBefore(spec.waves.length);
  const endEnts = classes.map((c) =>
    c.wave < 0 ? entity(c, 'unchanged', c.final ?? c.before) : entity(c, 'after', c.final!),
  );
  if (spec.waves.length > 0) {
    ctx.phase = { wave: spec.waves.length - 1, start: false, end: true, gate: false };
    evaluateEdges(endEnts, spec, ctx, false);
  }
  ctx.phase = { wave: null, start: false, end: false, gate: true };
  evaluateEdges(endEnts, spec, ctx, true);

  const next = world.slice();
  for (const c of classes) {
    if (c.wave < 0 && !c.final) continue;
    const f = c.final!;
    const { role, endpoint } = c;
    const { talos, kube, grants, signers } = f;
    const key = stateKey({ role, endpoint, talos, kube, grants, signers });
    // a fixed-shape literal: object spread here dominated the cost of a 1000-node plan
    for (const i of c.memberIdx)
      next[i] = { address: world[i]!.address, role, endpoint, talos, kube, grants, signers, key };
  }
  return { findings: ctx.findings(), world: next, states, classes: classes.length };
}

/** Evaluate a single state (no patches): the edges failing in the cluster as it is. */
export function evaluateState(world: readonly ModelNode[], spec: Omit<StepSpec, 'waves'>, cas: CaIndex): Finding[] {
  return evaluateStep(world, { ...spec, waves: [] }, cas).findings;
}

function patternOf(digit: number, canBeSome: boolean): Pattern {
  if (digit === 0) return 'none';
  if (canBeSome) return digit === 1 ? 'some' : 'all';
  return 'all';
}

function buildClasses(world: readonly ModelNode[], spec: StepSpec): Cls[] {
  const index = new Map<string, number>();
  world.forEach((n, i) => index.set(n.address, i));
  const waveOf = new Int32Array(world.length).fill(-1);
  const targetOf: (ModelTarget | undefined)[] = new Array(world.length);
  spec.waves.forEach((wave, wi) => {
    for (const p of wave) {
      const i = index.get(p.address);
      if (i === undefined)
        throw new RotateError('PLAN_UNKNOWN_NODE', `a patch names ${p.address}, which is not a node of the cluster`, {
          source: 'internal',
        });
      if (waveOf[i] !== -1)
        throw new RotateError('PLAN_DUPLICATE_PATCH', `${p.address} is patched twice in one step`, {
          source: 'internal',
        });
      waveOf[i] = wi;
      targetOf[i] = p.target;
    }
  });
  // Group without building strings per node: node state key → wave → target object (targets are shared by
  // the nodes that get the same change).
  const byKey = new Map<string, Map<number, Map<ModelTarget | null, Cls>>>();
  const classes: Cls[] = [];
  world.forEach((n, i) => {
    const t = targetOf[i] ?? null;
    const w = waveOf[i]!;
    let byWave = byKey.get(n.key);
    if (!byWave) byKey.set(n.key, (byWave = new Map()));
    let byTarget = byWave.get(w);
    if (!byTarget) byWave.set(w, (byTarget = new Map()));
    let c = byTarget.get(t);
    if (!c) {
      c = {
        idx: classes.length,
        role: n.role,
        endpoint: n.endpoint,
        members: [],
        memberIdx: [],
        before: { talos: n.talos, kube: n.kube, serving: n.kube, grants: n.grants, signers: n.signers },
        wave: w,
        target: t,
        afterTrust: { talos: t?.talos ?? n.talos, kube: t?.kube ?? n.kube },
        final: null,
      };
      byTarget.set(t, c);
      classes.push(c);
    }
    c.members.push(n.address);
    c.memberIdx.push(i);
  });
  return mergeEqualTargets(classes);
}

/** Classes whose targets are distinct objects with equal content are one class. */
function mergeEqualTargets(classes: Cls[]): Cls[] {
  const seen = new Map<string, Cls>();
  const out: Cls[] = [];
  for (const c of classes) {
    const t = c.target;
    const b = c.before;
    const key =
      `${c.role}|${c.endpoint}|${b.talos.issuing}|${b.talos.trusted}|${b.kube.issuing}|${b.kube.trusted}|` +
      `${grantsKey(b.grants)}|${b.signers}|${c.wave}|` +
      (t
        ? `${t.talos?.issuing}/${t.talos?.trusted}/${t.talosTouched}/` +
          `${t.kube?.issuing}/${t.kube?.trusted}/${t.kubeTouched}`
        : '');
    const prev = seen.get(key);
    if (prev) {
      prev.members.push(...c.members);
      prev.memberIdx.push(...c.memberIdx);
    } else {
      c.idx = out.length;
      seen.set(key, c);
      out.push(c);
    }
  }
  for (const c of out) {
    if (c.memberIdx.length < 2) continue;
    const pairs = c.memberIdx.map((i, k) => [i, c.members[k]!] as const).sort((a, b) => a[0] - b[0]);
    c.memberIdx = pairs.map((p) => p[0]);
    c.members = pairs.map((p) => p[1]);
  }
  return out;
}

/**
 * One control-plane class as seen from a node being patched: the versions possibly present, and the minimal sets that
 * may be all that is present at one moment.
 */
interface CpPresence {
  present: TrustPair[];
  minimal: TrustPair[][];
  /** CAs its controller-manager may sign kubelet certificates with at that moment (bit mask). */
  signing: number;
}
interface TrustPair {
  talos: TrustState;
  kube: TrustState;
}

/**
 * Which control-plane states a member of `self` may have met when it was patched, given that the
 * current wave's classes are now in `pattern`: earlier waves are patched, later ones not; a class of the
 * current wave that is now untouched was untouched then, one that is (partly) patched may have been in
 * either version. The node itself is patched at that moment.
 */
function presence(self: Cls, cps: Cls[], wave: number, pattern: Map<Cls, Pattern>): CpPresence[] {
  return cps.map((y) => {
    const before: TrustPair = { talos: y.before.talos, kube: y.before.kube };
    const signsBefore = bit(y.before.serving.issuing);
    if (y.wave < 0 || y.wave > wave) return { present: [before], minimal: [[before]], signing: signsBefore };
    const after: TrustPair = y.afterTrust;
    // Earlier waves: apply waited for their static pods, so they sign with the new issuing CA.
    if (y.wave < wave) return { present: [after], minimal: [[after]], signing: bit(after.kube.issuing) };
    const p = pattern.get(y) ?? 'none';
    // Patched in this wave: its controller-manager may still sign with the old CA (static pods lagging).
    const signsEither = signsBefore | bit(after.kube.issuing);
    if (y === self) {
      if (y.members.length === 1) return { present: [after], minimal: [[after]], signing: signsEither };
      return { present: [before, after], minimal: p === 'all' ? [[after]] : [[before, after]], signing: signsEither };
    }
    if (p === 'none') return { present: [before], minimal: [[before]], signing: signsBefore };
    return { present: [before, after], minimal: p === 'all' ? [[before], [after]] : [[before]], signing: signsEither };
  });
}

function afterState(c: Cls, cps: CpPresence[]): EntityState {
  const t = c.target!;
  const talos = c.afterTrust.talos;
  const kube = c.afterTrust.kube;
  let grants = c.before.grants;
  if (c.role === 'worker' && t.talosTouched) {
    const trusted = (s: TrustPair): boolean => has(talos.trusted, s.talos.issuing);
    const fresh: TalosGrant[] = [];
    for (const y of cps)
      for (const s of y.present) if (trusted(s)) fresh.push({ signer: s.talos.issuing, bundle: s.talos.trusted });
    // keeps its old grant if at some moment no control plane's trustd was trusted
    const keepOld = cps.length === 0 || cps.every((y) => y.minimal.some((set) => set.every((s) => !trusted(s))));
    grants = canonicalGrants(keepOld ? [...fresh, ...c.before.grants] : fresh);
  }
  let signers = c.before.signers;
  if (t.kubeTouched) {
    const kept = signers & kube.trusted;
    const rebootstrap = signers === 0 || (signers & ~kube.trusted) !== 0;
    let leaders = 0;
    if (rebootstrap) for (const y of cps) leaders |= y.signing;
    signers = kept | leaders;
  }
  return { talos, kube, serving: kube, grants, signers };
}

/** Control-plane classes whose kube-apiserver restarts in this step (a Kubernetes CA change), and their waves. */
function apiserverRestarts(cps: Cls[]): { classes: Cls[]; waves: number[]; last: number } {
  const classes = cps.filter((y) => y.wave >= 0 && y.target?.kubeTouched);
  const waves = [...new Set(classes.map((y) => y.wave))];
  return { classes, waves, last: waves.length === 0 ? -1 : Math.max(...waves) };
}

/**
 * The control plane whose apiserver restart is the only one a wave can have: a single node, the only
 * restarting class of its wave. Its restart follows its own patch, so a worker re-registering on that
 * restart (or later) never sees it in its state from before the step.
 */
function soleRestarter(restarts: { classes: Cls[] }, wave: number): Cls | null {
  const inWave = restarts.classes.filter((y) => y.wave === wave);
  return inWave.length === 1 && inWave[0]!.members.length === 1 ? inWave[0]! : null;
}

/**
 * Every control-plane state a worker may meet when it re-registers because an apiserver restarted, up to
 * the end of wave `wave`: re-registrations follow the step's first restart, so a control plane patched
 * before it (an earlier wave, or the sole restarter of that wave) is never met in its state from before.
 */
function seenCpStates(cps: Cls[], restarts: { classes: Cls[]; waves: number[] }, wave: number): TrustPair[] {
  const first = restarts.waves.length === 0 ? -1 : Math.min(...restarts.waves);
  const sole = first >= 0 ? soleRestarter(restarts, first) : null;
  const out: TrustPair[] = [];
  for (const y of cps) {
    const patchedBeforeAnyRestart = first >= 0 && y.wave >= 0 && (y.wave < first || y === sole);
    if (!patchedBeforeAnyRestart) out.push({ talos: y.before.talos, kube: y.before.kube });
    if (y.wave >= 0 && y.wave <= wave) out.push(y.afterTrust);
  }
  return out;
}

/** Control-plane states that may be present from the last apiserver restart of the step, in wave `wave`, on. */
function cpStatesAt(cps: Cls[], restarts: { classes: Cls[] }, wave: number): TrustPair[] {
  const sole = soleRestarter(restarts, wave);
  const out: TrustPair[] = [];
  for (const y of cps) {
    if (y.wave < 0 || y.wave > wave) out.push({ talos: y.before.talos, kube: y.before.kube });
    else if (y.wave < wave || y === sole) out.push(y.afterTrust);
    else out.push({ talos: y.before.talos, kube: y.before.kube }, y.afterTrust);
  }
  return out;
}

/** What trustd would hand a worker trusting `trust` at a control plane in state `s`, if it trusts its trustd. */
function freshGrants(
  trust: readonly TrustState[],
  states: readonly TrustPair[],
): { grants: TalosGrant[]; untrusted: boolean } {
  const grants: TalosGrant[] = [];
  let untrusted = false;
  for (const t of trust) {
    for (const s of states) {
      if (has(t.trusted, s.talos.issuing)) grants.push({ signer: s.talos.issuing, bundle: s.talos.trusted });
      else untrusted = true;
    }
  }
  return { grants, untrusted };
}

/** A worker's possible grants while re-registrations triggered by apiserver restarts may have happened. */
function reRegistered(st: EntityState, seen: readonly TrustPair[]): EntityState {
  const { grants } = freshGrants([st.talos], seen);
  if (grants.length === 0) return st;
  return { ...st, grants: canonicalGrants([...st.grants, ...grants]) };
}

/**
 * A worker's grant after the last apiserver restart of the step: from a control plane as it was then; its
 * earlier grant stays possible when some endpoint may not be trusted (it keeps it until one answers) or
 * its own change may have come last (same wave).
 */
function lastRegistration(
  own: EntityState,
  trust: readonly TrustState[],
  states: readonly TrustPair[],
  mayBeOwn: boolean,
): EntityState {
  const { grants, untrusted } = freshGrants(trust, states);
  if (grants.length === 0) return own;
  return { ...own, grants: canonicalGrants(untrusted || mayBeOwn ? [...grants, ...own.grants] : grants) };
}

function entity(cls: Cls, version: Version, state: EntityState): Entity {
  return { cls, version, state, key: `${cls.idx}:${version}`, label: classLabel(cls, version) };
}

export function classLabel(cls: { role: NodeRole; members: readonly string[] }, version: Version | null): string {
  const n = cls.members.length;
  const noun =
    cls.role === 'controlplane' ? (n === 1 ? 'control plane' : 'control planes') : n === 1 ? 'worker' : 'workers';
  const list = n <= 3 ? cls.members.join(', ') : `${cls.members.slice(0, 3).join(', ')} +${n - 3} more`;
  const suffix =
    version === 'before'
      ? ' (not yet patched)'
      : version === 'after'
        ? ' (patched)'
        : version === 'lagging'
          ? ' (patched, kube-apiserver / controller-manager not yet re-created)'
          : '';
  return `${noun} ${list}${suffix}`;
}
