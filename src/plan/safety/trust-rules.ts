/**
 * The trust rules of the safety model: one function per kind of edge, each checking every pair of
 * entities it concerns in one state and recording what fails. The engine (engine.ts) enumerates the
 * states; these functions only judge one.
 *
 * Rules (talos-behaviour.md §4.2, §4.3):
 * - control-plane apid: server and proxy-client certs signed by its issuing Talos CA; trusts client certs
 *   signed by any CA of its trusted set. Re-issued as soon as the config changes.
 * - worker apid: server cert and client-CA bundle from a control plane's trustd (signer = that control
 *   plane's issuing CA, bundle = its trusted set), re-requested whenever the worker's own Talos CA fields
 *   change, from any control plane whose trustd cert the worker trusts; if none, it keeps the old grant.
 *   Also re-requested whenever the apiserver endpoint list changes (talos-behaviour.md §5.3), i.e. whenever a control
 *   plane's kube-apiserver restarts on a Kubernetes CA change, from whichever listed control plane answers:
 *   during such a step a worker may hold a grant from any control-plane state seen so far, and at its end
 *   one from the control planes as they were at the last restart, unless its own Talos change came after.
 *   This assumes a step's wave ends only once its apiservers restarted (apply waits for them).
 * - kube-apiserver: serving cert signed by its node's issuing Kubernetes CA, client CAs = trusted set — as
 *   its static pod was started with: after a control plane's Kubernetes CA change, its kube-apiserver and
 *   kube-controller-manager keep the old state until Talos re-creates them, some time after the apply
 *   returned (talos-behaviour.md §5.5). A patched control plane of the wave being applied may therefore be `lagging`:
 *   config (and kubelet) new, apiserver serving and controller-manager signing with the old state. Apply
 *   waits for them before the next node, so earlier waves are caught up.
 * - kubelet: client cert signed by some CA S; reaches every apiserver (KubePrism); works against one iff S
 *   is in its trusted set and its issuing CA is in the node's own trusted set. Restarts on any change of its
 *   node's Kubernetes CA fields and re-bootstraps when S is no longer in its node's trusted set, getting a
 *   cert from the controller-manager leader (any control plane present at that moment, signing with the CA
 *   its running controller-manager has, which for a control plane patched in this wave may be the old one).
 * - in-cluster clients ("pods", talos-behaviour.md §5.4): trust only the `kube-root-ca.crt` ConfigMap, which the
 *   controller-manager leader overwrites with its issuing Kubernetes CA alone; a pod may hold any issuing
 *   CA a control plane had since the step began (it loaded it then and has not re-read it yet). A pod
 *   holding P fails against every apiserver serving from another CA: an announced disruption (degraded,
 *   possible), since every change of the issuing CA causes it and only re-reading ca.crt heals it.
 */
import type { EdgeKind } from '../model/plan.js';
import { bit, bitsOf, has, NO_CA, type CaIndex } from './cas.js';
import type { Entity, Finding, ModelClient, StepSpec, Version } from './step-types.js';

export interface PhaseInfo {
  wave: number | null;
  start: boolean;
  end: boolean;
  gate: boolean;
}

interface RawFinding {
  kind: EdgeKind;
  fromKey: string;
  from: string;
  fromNodes: readonly string[];
  fromVersion: Version | null;
  to: Entity;
  excludeSelf: boolean;
  status: 'degraded' | 'broken';
  certain: boolean;
  reason: string;
  notice?: boolean;
}

export class Recorder {
  readonly cas: CaIndex;
  phase: PhaseInfo = { wave: null, start: true, end: false, gate: false };
  /** Issuing Kubernetes CAs a pod's ca.crt may hold in the states being evaluated (besides the current ones). */
  podCas = 0;
  readonly #map = new Map<string, Finding>();

  constructor(cas: CaIndex) {
    this.cas = cas;
  }

  add(r: RawFinding): void {
    const key = `${r.kind}|${r.fromKey}|${r.to.key}`;
    let f = this.#map.get(key);
    if (!f) {
      f = {
        kind: r.kind,
        from: r.from,
        to: r.to.label,
        fromNodes: [...r.fromNodes],
        toNodes: [...r.to.cls.members],
        excludeSelf: r.excludeSelf,
        status: r.status,
        certain: r.certain,
        reason: r.reason,
        waves: [],
        inStart: false,
        inEnd: false,
        atGate: false,
        notice: r.notice ?? false,
        fromVersion: r.fromVersion,
        toVersion: r.to.version,
      };
      this.#map.set(key, f);
    } else {
      if (r.status === 'broken' && f.status !== 'broken') {
        f.status = 'broken';
        f.reason = r.reason;
      }
      f.certain ||= r.certain;
    }
    const p = this.phase;
    if (p.wave !== null && !p.gate && !f.waves.includes(p.wave)) f.waves.push(p.wave);
    if (p.start) f.inStart = true;
    if (p.end) f.inEnd = true;
    if (p.gate) f.atGate = true;
  }

  findings(): Finding[] {
    return [...this.#map.values()].map((f) => ({ ...f, waves: f.waves.sort((a, b) => a - b) }));
  }
}

/** One state as the rules see it: the entities, where findings go, and CA names for reasons. */
interface RuleContext {
  ents: readonly Entity[];
  cps: readonly Entity[];
  rec: Recorder;
  d(id: number): string;
  dm(mask: number): string;
}

type TrustRule = (x: RuleContext) => void;

/** The operator's talosconfig against each endpoint control plane's apid (during the step, or at the gate). */
function operatorApid(x: RuleContext, client: ModelClient): void {
  const { rec, d, dm } = x;
  for (const c of x.cps) {
    if (!c.cls.endpoint) continue;
    const t = c.state.talos;
    const clientOk = has(t.trusted, client.signer);
    const serverOk = has(client.trusts, t.issuing);
    if (clientOk && serverOk) continue;
    const reason = !clientOk
      ? `apid on ${c.label} does not accept client certificates signed by ${d(client.signer)} (trusts ${dm(t.trusted)})`
      : `the ${client.label} trusts ${dm(client.trusts)}, not ${c.label}'s server certificate signed ` +
        `by ${d(t.issuing)}`;
    rec.add({
      kind: 'operator-apid',
      ...operatorSide(`op:${client.label}`, client),
      to: c,
      reason,
    });
  }
}

/** The `from` side of a finding about a node's own client certificate. */
const nodeSide = (e: Entity) => ({ fromKey: e.key, from: e.label, fromNodes: e.cls.members, fromVersion: e.version });

/** The `from` side of a finding about one of the operator's own clients: always broken and certain. */
const operatorSide = (fromKey: string, client: ModelClient) =>
  ({
    fromKey,
    from: `operator (${client.label})`,
    fromNodes: ['operator'],
    fromVersion: null,
    excludeSelf: false,
    status: 'broken',
    certain: true,
  }) as const;

/** A control plane's apid proxying to every node: mutual TLS with its proxy client certificate. */
const apidProxy: TrustRule = ({ ents, cps, rec, d, dm }) => {
  for (const a of cps) {
    const imp = a.state.talos.issuing;
    for (const b of ents) {
      const excludeSelf = a.cls === b.cls && a !== b;
      const broken = (certain: boolean, reason: string) =>
        rec.add({ kind: 'apid-proxy', ...nodeSide(a), to: b, excludeSelf, status: 'broken', certain, reason });
      if (b.cls.role === 'controlplane') {
        const cOk = has(b.state.talos.trusted, imp);
        const sOk = has(a.state.talos.trusted, b.state.talos.issuing);
        if (cOk && sOk) continue;
        const reason = !cOk
          ? `apid on ${b.label} does not accept ${a.label}'s proxy client certificate (signed by ${d(imp)}; ` +
            `trusts ${dm(b.state.talos.trusted)})`
          : `${a.label} does not trust ${b.label}'s server certificate (signed by ${d(b.state.talos.issuing)}; ` +
            `trusts ${dm(a.state.talos.trusted)})`;
        broken(true, reason);
      } else {
        // A worker's apid serves and trusts what trustd granted it; it may hold any of several grants.
        const grants = b.state.grants;
        let failing = 0;
        let reason = '';
        for (const g of grants) {
          const cOk = has(g.bundle, imp);
          const sOk = has(a.state.talos.trusted, g.signer);
          if (cOk && sOk) continue;
          failing++;
          reason ||= !cOk
            ? `apid on ${b.label} trusts the bundle trustd gave it, ${dm(g.bundle)}, ` +
              `which lacks ${d(imp)} that signs ${a.label}'s proxy client certificate`
            : `${a.label} does not trust ${b.label}'s server certificate (signed by ${d(g.signer)} through trustd; ` +
              `trusts ${dm(a.state.talos.trusted)})`;
        }
        if (failing === 0) continue;
        broken(failing === grants.length, reason);
      }
    }
  }
};

/** A worker asking each control plane's trustd for its apid certificate. */
const workerTrustd: TrustRule = ({ ents, cps, rec, d, dm }) => {
  for (const w of ents) {
    if (w.cls.role !== 'worker') continue;
    for (const c of cps) {
      if (has(w.state.talos.trusted, c.state.talos.issuing)) continue;
      const reason =
        `${w.label} trusts ${dm(w.state.talos.trusted)}, not trustd's certificate on ${c.label} ` +
        `(signed by ${d(c.state.talos.issuing)})`;
      rec.add({
        kind: 'worker-trustd',
        ...nodeSide(w),
        to: c,
        excludeSelf: false,
        status: 'broken',
        certain: true,
        reason,
      });
    }
  }
};

/** Every kubelet against every kube-apiserver (through KubePrism): broken only when no apiserver works. */
const kubeletApiserver: TrustRule = ({ ents, cps, rec, d, dm }) => {
  for (const n of ents) {
    const sigs = n.state.signers === 0 ? [NO_CA] : bitsOf(n.state.signers);
    const works = (s: number, c: Entity): boolean =>
      has(c.state.serving.trusted, s) && has(n.state.kube.trusted, c.state.serving.issuing);
    const stranded = new Set(sigs.filter((s) => !cps.some((c) => works(s, c))));
    for (const c of cps) {
      const fail = sigs.filter((s) => !works(s, c));
      if (fail.length === 0) continue;
      const broken = fail.some((s) => stranded.has(s));
      const s0 = fail.find((s) => stranded.has(s)) ?? fail[0]!;
      const why = !has(n.state.kube.trusted, c.state.serving.issuing)
        ? `the kubelet of ${n.label} trusts ${dm(n.state.kube.trusted)}, not ${c.label}'s serving certificate ` +
          `(signed by ${d(c.state.serving.issuing)})`
        : s0 === NO_CA
          ? `the kubelet of ${n.label} has no client certificate`
          : `kube-apiserver on ${c.label} does not accept the kubelet client certificate of ${n.label} (signed ` +
            `by ${d(s0)}; client CAs ${dm(c.state.serving.trusted)})`;
      const reason = broken
        ? `${why}; no apiserver accepts it in this state: Node NotReady after the grace period`
        : `${why}; another apiserver still serves it through KubePrism`;
      rec.add({
        kind: 'kubelet-apiserver',
        fromKey: n.key,
        from: `kubelets of ${n.label}`,
        fromNodes: n.cls.members,
        fromVersion: n.version,
        to: c,
        excludeSelf: n.cls === c.cls && n !== c,
        status: broken ? 'broken' : 'degraded',
        certain: fail.length === sigs.length,
        reason,
      });
    }
  }
};

/** In-cluster clients holding one issuing CA (their ca.crt) against every kube-apiserver. */
const podApiserver: TrustRule = ({ cps, rec, d }) => {
  let pods = rec.podCas;
  // A leader publishes the CA its running controller-manager has.
  for (const c of cps) pods |= bit(c.state.serving.issuing);
  for (const p of bitsOf(pods)) {
    for (const c of cps) {
      const serving = c.state.serving.issuing; // what its running apiserver serves (lagging: the old CA)
      if (serving === p || serving === NO_CA) continue;
      const reason =
        'in-cluster clients whose ca.crt (kube-root-ca.crt) ' +
        `holds ${d(p)} alone do not trust ${c.label}'s serving certificate (signed by ${d(serving)})`;
      rec.add({
        kind: 'pod-apiserver',
        fromKey: `pod:${p}`,
        from: `pods trusting ${d(p)}`,
        fromNodes: ['pods'],
        fromVersion: null,
        to: c,
        excludeSelf: false,
        status: 'degraded',
        certain: false,
        reason,
      });
    }
  }
};

/** The operator's own kubeconfig against every kube-apiserver: announced (a notice), never counted. */
function operatorKubeconfig(x: RuleContext, kc: ModelClient): void {
  const { rec, d, dm } = x;
  for (const c of x.cps) {
    const clientOk = has(c.state.serving.trusted, kc.signer);
    const serverOk = has(kc.trusts, c.state.serving.issuing);
    if (clientOk && serverOk) continue;
    const reason = !clientOk
      ? `kube-apiserver on ${c.label} does not accept client certificates signed by ${d(kc.signer)}`
      : `the ${kc.label} trusts ${dm(kc.trusts)}, not ${c.label}'s serving certificate signed ` +
        `by ${d(c.state.serving.issuing)}`;
    rec.add({
      kind: 'client-apiserver',
      ...operatorSide(`kc:${kc.label}`, kc),
      to: c,
      reason,
      notice: true,
    });
  }
}

/** At the gate: an admin kubeconfig fetched from any control plane against every kube-apiserver. */
const gateKubeconfig: TrustRule = ({ cps, rec, d, dm }) => {
  for (const a of cps) {
    for (const b of cps) {
      const ok =
        has(b.state.serving.trusted, a.state.kube.issuing) && has(a.state.kube.trusted, b.state.serving.issuing);
      if (ok) continue;
      const reason = !has(b.state.serving.trusted, a.state.kube.issuing)
        ? `a kubeconfig fetched from ${a.label} carries a cert signed by ${d(a.state.kube.issuing)}, ` +
          `which kube-apiserver on ${b.label} does not accept`
        : `a kubeconfig fetched from ${a.label} trusts ${dm(a.state.kube.trusted)}, ` +
          `not ${b.label}'s serving certificate (signed by ${d(b.state.serving.issuing)})`;
      rec.add({
        kind: 'client-apiserver',
        fromKey: `gate:${a.key}`,
        from: `admin kubeconfig fetched from ${a.label}`,
        fromNodes: a.cls.members,
        fromVersion: a.version,
        to: b,
        excludeSelf: false,
        status: 'broken',
        certain: true,
        reason,
      });
    }
  }
};

/**
 * Apply every rule that concerns this step to one state. `gate`: the end state as the step's gate checks it
 * (only the clients the gate uses); otherwise a state during or at the end of the step.
 */
export function evaluateEdges(ents: Entity[], spec: StepSpec, rec: Recorder, gate: boolean): void {
  const cas = rec.cas;
  const x: RuleContext = {
    ents,
    cps: ents.filter((e) => e.cls.role === 'controlplane'),
    rec,
    d: (id) => cas.describe(id),
    dm: (m) => cas.describeMask(m),
  };
  const client = gate ? spec.gateTalosClient : spec.talosClient;
  if (client) operatorApid(x, client);
  if (gate) {
    if (spec.gateKubeconfig) gateKubeconfig(x);
    return;
  }
  if (spec.apis.has('talos')) {
    apidProxy(x);
    workerTrustd(x);
  }
  if (spec.apis.has('kubernetes')) {
    kubeletApiserver(x);
    podApiserver(x);
  }
  if (spec.operatorKubeconfig) operatorKubeconfig(x, spec.operatorKubeconfig);
}
