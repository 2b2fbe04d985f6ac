/**
 * The machine config each node would carry after each step of a plan: the observed config, patched step
 * after step with only the CA fields changed (src/machineconfig). Used for the server-side dry runs and
 * the per-node diffs of `rotate plan`; `rotate apply` patches the node's *live* config the same way.
 */
import type { Secret } from '../domain/secret.js';
import type { ApiKind, Fingerprint } from '../domain/types.js';
import { patchCaState, readCaState, type CaChange, type CaWrite } from '../machineconfig/index.js';
import type { ApiState, NodeApiStates, Plan } from '../plan/model/index.js';
import type { CaCatalog } from './ca-catalog.js';

/** Supplies the private key of a CA that becomes issuing on a control plane. */
export type IssuingKeyLookup = (api: ApiKind, fingerprint: Fingerprint) => Promise<Secret>;

export interface ChainedConfig {
  stepId: string;
  stepIndex: number;
  address: string;
  before: string;
  after: string;
}

/** Build the CA change that takes `config` to `target` (keys only where a control plane's issuing CA changes). */
export async function caChangeFor(
  config: string,
  target: NodeApiStates,
  catalog: CaCatalog,
  keyFor: IssuingKeyLookup,
  source: string,
): Promise<CaChange> {
  const current = readCaState(config, source);
  const change: CaChange = {};
  for (const api of ['talos', 'kubernetes'] as const) {
    const t = target[api];
    if (!t) continue;
    change[api] = await caWrite(api, t, current.role === 'controlplane' ? current[api].issuing?.fingerprint ?? null : null, current.role, catalog, keyFor);
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
    // (facts §1.5). The patcher writes the `issuing` of a CaWrite there, at position 0, so that the order
    // the plan asks for is what lands — passing `issuing: null` would keep the old order.
    const [first, ...rest] = target.accepted;
    if (!first) return { issuing: null, accepted: [] };
    return { issuing: { certPem: catalog.requirePem(first, `${api} CA`) }, accepted: rest.map((fp) => catalog.requirePem(fp, `${api} accepted CA`)) };
  }
  const certPem = catalog.requirePem(target.issuing, `${api} issuing CA`);
  // The patcher keeps the key already in the config when the issuing CA does not change; a control
  // plane whose issuing CA changes needs the new one's key. Workers never carry a key.
  const needsKey = role === 'controlplane' && target.issuing !== currentIssuing;
  const issuing: CaWrite['issuing'] = needsKey ? { certPem, key: await keyFor(api, target.issuing) } : { certPem };
  return { issuing, accepted: target.accepted.map((fp) => catalog.requirePem(fp, `${api} accepted CA`)) };
}

/** Every node's config before and after each step that touches it, in plan order. */
export async function chainConfigs(
  plan: Plan,
  configs: ReadonlyMap<string, string>,
  catalog: CaCatalog,
  keyFor: IssuingKeyLookup,
): Promise<ChainedConfig[]> {
  const current = new Map(configs);
  const out: ChainedConfig[] = [];
  for (const step of plan.steps) {
    for (const node of step.nodes) {
      const before = current.get(node.address);
      if (before === undefined) throw new Error(`internal: plan names node ${node.address} that was not observed`);
      const source = `machine config of node ${node.address}`;
      const after = patchCaState(before, await caChangeFor(before, node.target, catalog, keyFor, source), source);
      out.push({ stepId: step.id, stepIndex: step.index, address: node.address, before, after });
      current.set(node.address, after);
    }
  }
  return out;
}
