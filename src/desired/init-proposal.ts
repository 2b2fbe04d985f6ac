/**
 * `rotate init`, the pure half: from the CAs every node's machine config holds, the desired state that
 * matches the cluster (so that `rotate plan` says "no changes"), or, where nodes disagree (an aborted
 * rotation left an extra CA on some), one that converges safely: every CA trusted anywhere stays accepted,
 * so nothing loses trust, and the plan only adds what some nodes lack. Control planes that issue from
 * different CAs are refused: which one should issue is the operator's decision, not ours.
 */
import { RotateError } from '../domain/errors.js';
import type { ApiKind, Fingerprint, NodeRole } from '../domain/types.js';
import { shortFingerprint } from '../domain/types.js';
import type { ApiCaState } from '../machineconfig/ca-state.js';

export interface InitNode {
  address: string;
  role: NodeRole;
  talos: ApiCaState;
  kubernetes: ApiCaState;
}

/** A CA one or more nodes hold, as init names it. */
export interface InitCa {
  api: ApiKind;
  name: string;
  fingerprint: Fingerprint;
  certPem: string;
  notBefore: Date;
  notAfter: Date;
}

export interface InitApi {
  issuing: Fingerprint;
  accepted: Fingerprint[];
}

/** Nodes that do not hold what the proposal asks for: the plan will change them. */
export interface InitDisagreement {
  api: ApiKind;
  node: string;
  /** CAs the proposal trusts that this node does not (the plan adds them). */
  missing: Fingerprint[];
  /** A worker whose `.machine.ca` / Kubernetes CA is not the control planes' issuing CA. */
  issuing: Fingerprint | null;
}

export interface InitProposal {
  talos: InitApi;
  kubernetes: InitApi;
  /** Every CA to define, in the order the file lists them: per API, issuing first. */
  cas: InitCa[];
  /** CAs some node trusts that are expired: left out (nothing signed by them verifies any more). */
  expired: InitCa[];
  disagreements: InitDisagreement[];
}

/** Certificate facts the pure code needs; the caller parses the PEM. */
export type DescribeCa = (certPem: string) => { notBefore: Date; notAfter: Date };

/** The CAs one node trusts for one API, current issuing first (a document-style worker's current CA is accepted[0]). */
function trustedBy(state: ApiCaState): {
  current: Fingerprint | null;
  all: { fingerprint: Fingerprint; certPem: string }[];
} {
  const all = [...(state.issuing ? [state.issuing] : []), ...state.accepted];
  const current = state.issuing?.fingerprint ?? state.accepted[0]?.fingerprint ?? null;
  return { current, all };
}

const API_LABEL: Record<ApiKind, string> = {
  talos: 'Talos API (.machine.ca)',
  kubernetes: 'Kubernetes API (.cluster.ca / KubeAPIServerCAConfig)',
};
const NAME_PREFIX: Record<ApiKind, string> = { talos: 'talos', kubernetes: 'kubernetes' };

export function proposeDesiredState(
  nodes: readonly InitNode[],
  describe: DescribeCa,
  now: Date = new Date(),
): InitProposal {
  const controlPlanes = nodes.filter((n) => n.role === 'controlplane');
  if (controlPlanes.length === 0) {
    throw new RotateError(
      'INIT_NO_CONTROLPLANE',
      'no control plane among the nodes read: the issuing CAs are read from control planes',
      {
        hint: 'list at least one control plane with --control-planes, or let init discover the nodes',
      },
    );
  }
  const cas: InitCa[] = [];
  const expired: InitCa[] = [];
  const disagreements: InitDisagreement[] = [];
  const apis = {} as Record<ApiKind, InitApi>;
  const usedNames = new Set<string>();

  for (const api of ['talos', 'kubernetes'] as const) {
    const issuers = new Map<Fingerprint, string[]>();
    for (const cp of controlPlanes) {
      const issuing = cp[api].issuing;
      if (!issuing) {
        throw new RotateError(
          'INIT_CONTROLPLANE_WITHOUT_CA',
          `control plane ${cp.address} has no issuing ${API_LABEL[api]} CA in its machine config`,
          {
            hint: 'is it a control plane of this cluster? Talos requires one; fix the node before declaring its state',
          },
        );
      }
      issuers.set(issuing.fingerprint, [...(issuers.get(issuing.fingerprint) ?? []), cp.address]);
    }
    if (issuers.size > 1) {
      const lines = [...issuers].map(([fp, who]) => `  - ${shortFingerprint(fp)}…: ${who.join(', ')}`);
      throw new RotateError(
        'INIT_ISSUING_DISAGREES',
        `the control planes issue from ${issuers.size} different ${API_LABEL[api]} CAs (a rotation stopped ` +
          `halfway?):\n${lines.join('\n')}`,
        {
          hint:
            'finish or roll back that rotation first (`rotate apply` / `rotate rollback` resume it if it was ' +
            'ours), then run init again; init does not choose which CA issues',
        },
      );
    }
    const issuing = [...issuers.keys()][0]!;

    // Every CA any node trusts, in first-seen order (control planes first, as listed).
    const seen = new Map<Fingerprint, string>();
    for (const n of [...controlPlanes, ...nodes.filter((x) => x.role === 'worker')]) {
      for (const ca of trustedBy(n[api]).all) if (!seen.has(ca.fingerprint)) seen.set(ca.fingerprint, ca.certPem);
    }
    const accepted: Fingerprint[] = [];
    const mine: InitCa[] = [];
    for (const [fp, certPem] of seen) {
      const { notBefore, notAfter } = describe(certPem);
      const ca: InitCa = { api, name: '', fingerprint: fp, certPem, notBefore, notAfter };
      if (fp !== issuing && notAfter.getTime() <= now.getTime()) {
        expired.push(ca);
        continue;
      }
      if (fp === issuing) mine.unshift(ca);
      else {
        mine.push(ca);
        accepted.push(fp);
      }
    }
    cas.push(...mine);
    apis[api] = { issuing, accepted };

    const wanted = [issuing, ...accepted];
    for (const n of nodes) {
      const held = trustedBy(n[api]);
      const have = new Set(held.all.map((c) => c.fingerprint));
      const missing = wanted.filter((fp) => !have.has(fp));
      const wrongIssuing = held.current !== issuing ? held.current : null;
      if (missing.length > 0 || wrongIssuing)
        disagreements.push({ api, node: n.address, missing, issuing: wrongIssuing });
    }
  }

  for (const ca of [...cas, ...expired])
    ca.name = uniqueName(`${NAME_PREFIX[ca.api]}-${ca.notBefore.getUTCFullYear()}`, ca.fingerprint, usedNames);
  return { talos: apis.talos, kubernetes: apis.kubernetes, cas, expired, disagreements };
}

/** `talos-2025`, or `talos-2025-1a2b3c4d` when that name is taken (two CAs of one year). */
function uniqueName(base: string, fp: Fingerprint, used: Set<string>): string {
  let name = used.has(base) ? `${base}-${fp.slice(0, 8)}` : base;
  for (let n = 12; used.has(name); n += 4) name = `${base}-${fp.slice(0, n)}`;
  used.add(name);
  return name;
}
