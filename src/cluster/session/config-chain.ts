/**
 * The machine config each node would carry after each step of a plan: the observed config, patched step
 * after step with only the CA fields changed (src/machineconfig). Used for the server-side dry runs and
 * the per-node diffs of `rotate plan`; `rotate apply` patches the node's *live* config the same way.
 */
import { internalError } from '../../domain/errors.js';
import type { Secret } from '../../domain/secret.js';
import type { ApiKind, Fingerprint } from '../../domain/types.js';
import {
  MachineConfigText,
  patchConfig,
  readCaState,
  type CaChange,
  type CaWrite,
  type MachineConfigCaState,
} from '../../machineconfig/index.js';
import type { ApiState, NodeApiStates, Plan, Step } from '../../plan/model/index.js';
import type { CaCatalog } from './ca-catalog.js';

/** Supplies the private key of a CA that becomes issuing on a control plane. */
export type IssuingKeyLookup = (api: ApiKind, fingerprint: Fingerprint) => Promise<Secret>;

export interface ChainedConfig {
  stepId: string;
  stepIndex: number;
  address: string;
  before: string;
  after: string;
  /** Both texts with every secret shown as `(sensitive)` (redactSecrets). */
  redacted: { before: string; after: string };
}

/** Build the CA change that takes `config` to `target` (keys only where a control plane's issuing CA changes). */
export async function caChangeFor(
  config: string,
  target: NodeApiStates,
  catalog: CaCatalog,
  keyFor: IssuingKeyLookup,
  source: string,
): Promise<CaChange> {
  return caChangeOf(readCaState(config, source), target, catalog, keyFor);
}

/** caChangeFor from the config's CA state. */
async function caChangeOf(
  current: MachineConfigCaState,
  target: NodeApiStates,
  catalog: CaCatalog,
  keyFor: IssuingKeyLookup,
): Promise<CaChange> {
  const change: CaChange = {};
  for (const api of ['talos', 'kubernetes'] as const) {
    const t = target[api];
    if (!t) continue;
    change[api] = await caWrite(
      api,
      t,
      current.role === 'controlplane' ? (current[api].issuing?.fingerprint ?? null) : null,
      current.role,
      catalog,
      keyFor,
    );
  }
  return change;
}

async function caWrite(
  api: ApiKind,
  target: ApiState,
  currentIssuing: Fingerprint | null,
  role: 'controlplane' | 'worker',
  catalog: CaCatalog,
  keyFor: IssuingKeyLookup,
): Promise<CaWrite> {
  if (!target.issuing) {
    // A document-style Kubernetes worker has no issuing CA; its current CA is the first accepted entry
    // (talos-behaviour.md §2.3). The patcher writes the `issuing` of a CaWrite there, at position 0, so that the order
    // the plan asks for is what lands — passing `issuing: null` would keep the old order.
    const [first, ...rest] = target.accepted;
    if (!first) return { issuing: null, accepted: [] };
    return {
      issuing: { certPem: catalog.requirePem(first, `${api} CA`) },
      accepted: rest.map((fp) => catalog.requirePem(fp, `${api} accepted CA`)),
    };
  }
  const certPem = catalog.requirePem(target.issuing, `${api} issuing CA`);
  // The patcher keeps the key already in the config when the issuing CA does not change; a control
  // plane whose issuing CA changes needs the new one's key. Workers never carry a key.
  const needsKey = role === 'controlplane' && target.issuing !== currentIssuing;
  const issuing: CaWrite['issuing'] = needsKey ? { certPem, key: await keyFor(api, target.issuing) } : { certPem };
  return { issuing, accepted: target.accepted.map((fp) => catalog.requirePem(fp, `${api} accepted CA`)) };
}

/**
 * Every node's config before and after each step that touches it, in plan order, with both texts also
 * redacted (for diffs). A node's chain depends on no other node, so each node is walked through its steps on
 * its own: every config is parsed once (the patch's own check parses its result, which is the next step's
 * input; an observed config given as a MachineConfigText brings the parse its observation made) and only
 * one node's patched parses are held at a time. When several configs cannot be built, the error is the one
 * the first of them in plan order raises, as a step-by-step walk would.
 */
export async function chainConfigs(
  plan: Plan,
  configs: ReadonlyMap<string, MachineConfigText | string>,
  catalog: CaCatalog,
  keyFor: IssuingKeyLookup,
): Promise<ChainedConfig[]> {
  const byNode = new Map<string, { step: Step; target: NodeApiStates; position: number }[]>();
  let position = 0;
  for (const step of plan.steps) {
    for (const node of step.nodes) {
      let steps = byNode.get(node.address);
      if (!steps) byNode.set(node.address, (steps = []));
      steps.push({ step, target: node.target, position: position++ });
    }
  }
  const out: (ChainedConfig | undefined)[] = new Array(position);
  let failure: { position: number; error: unknown } | undefined;
  for (const [address, steps] of byNode) {
    const observed = configs.get(address);
    if (observed === undefined)
      throw internalError('SESSION_INTERNAL', `the plan names node ${address}, which was not observed`);
    let current =
      typeof observed === 'string' ? new MachineConfigText(observed, `machine config of node ${address}`) : observed;
    for (const { step, target, position: at } of steps) {
      if (failure && failure.position < at) break;
      let next: MachineConfigText;
      try {
        next = patchConfig(current, await caChangeOf(current.caState, target, catalog, keyFor));
      } catch (error) {
        failure = { position: at, error };
        break;
      }
      out[at] = {
        stepId: step.id,
        stepIndex: step.index,
        address,
        before: current.text,
        after: next.text,
        redacted: { before: current.redacted, after: next.redacted },
      };
      current = next;
    }
  }
  if (failure) throw failure.error;
  return out as ChainedConfig[];
}
