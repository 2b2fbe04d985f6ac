/**
 * chainConfigs walks each node through its steps parsing every config once (the patch's self-check parse is
 * reused as the next step's input). What it produces must be byte for byte what the straightforward walk
 * produces: every step patched from the text with a fresh parse, and both texts redacted from a fresh parse
 * (kept here as the reference), for the legacy and the document layouts, control planes and workers.
 */
import t from 'tap';
import { RotateError } from '../../../src/domain/errors.js';
import type { Secret } from '../../../src/domain/secret.js';
import type { ApiKind, Fingerprint } from '../../../src/domain/types.js';
import { MachineConfigText, patchCaState, readCaState, redactSecrets } from '../../../src/machineconfig/index.js';
import { machineConfigParses } from '../../../src/machineconfig/documents.js';
import type { NodeApiStates, Plan } from '../../../src/plan/model/index.js';
import { generateKubernetesCa, generateTalosCa, type CaMaterial } from '../../../src/pki/index.js';
import { CaCatalog } from '../../../src/cluster/session/ca-catalog.js';
import {
  caChangeFor,
  chainConfigs,
  type ChainedConfig,
  type IssuingKeyLookup,
} from '../../../src/cluster/session/config-chain.js';
import { FIXTURES, loadFixture, type FixtureName } from '../../fixtures/machineconfig/helpers.js';

interface StepSpec {
  id: string;
  nodes: { address: string; target: NodeApiStates }[];
}

const planOf = (steps: StepSpec[]): Plan =>
  ({ steps: steps.map((s, i) => ({ id: s.id, index: i + 1, nodes: s.nodes })) }) as unknown as Plan;

/** The straightforward walk: step after step, every config parsed afresh for each use. */
async function reference(
  plan: Plan,
  configs: ReadonlyMap<string, string>,
  catalog: CaCatalog,
  keyFor: IssuingKeyLookup,
): Promise<ChainedConfig[]> {
  const current = new Map(configs);
  const out: ChainedConfig[] = [];
  for (const step of plan.steps) {
    for (const node of step.nodes) {
      const before = current.get(node.address)!;
      const source = `machine config of node ${node.address}`;
      const after = patchCaState(before, await caChangeFor(before, node.target, catalog, keyFor, source), source);
      out.push({
        stepId: step.id,
        stepIndex: step.index,
        address: node.address,
        before,
        after,
        redacted: { before: redactSecrets(before, source), after: redactSecrets(after, source) },
      });
      current.set(node.address, after);
    }
  }
  return out;
}

/** A config variant with comments and a blank line around the CA fields (kept by the patcher). */
function commented(config: string): string {
  return (
    `# node config, kept as written\n` +
    `${config.replace(/^(\s*)acceptedCAs:/m, '$1# trusted CAs below\n$1acceptedCAs:')}`
  );
}

interface Fleet {
  configs: Map<string, string>;
  steps: StepSpec[];
  catalog: CaCatalog;
  keyFor: IssuingKeyLookup;
  next: Record<ApiKind, CaMaterial>;
}

/** A full rotation of both APIs (accept, a step that changes nothing, issue one API at a time, drop). */
async function fleet(
  names: { address: string; fixture: FixtureName; variant?: (c: string) => string }[],
): Promise<Fleet> {
  const next = { talos: await generateTalosCa(), kubernetes: await generateKubernetesCa() };
  const catalog = new CaCatalog();
  catalog.add('talos', next.talos.fingerprint, next.talos.certPem);
  catalog.add('kubernetes', next.kubernetes.fingerprint, next.kubernetes.certPem);
  const configs = new Map<string, string>();
  const phases: Record<'accept' | 'issue' | 'drop', Map<string, Record<ApiKind, NodeApiStates[ApiKind]>>> = {
    accept: new Map(),
    issue: new Map(),
    drop: new Map(),
  };
  for (const n of names) {
    const config = (n.variant ?? ((c) => c))(loadFixture(n.fixture));
    configs.set(n.address, config);
    const state = readCaState(config);
    catalog.addConfig(state);
    const per = {} as Record<'accept' | 'issue' | 'drop', Record<ApiKind, NodeApiStates[ApiKind]>>;
    for (const phase of ['accept', 'issue', 'drop'] as const)
      per[phase] = {} as Record<ApiKind, NodeApiStates[ApiKind]>;
    for (const api of ['talos', 'kubernetes'] as const) {
      const s = state[api];
      const fresh = next[api].fingerprint as Fingerprint;
      const accepted = s.accepted.map((c) => c.fingerprint);
      if (s.issuing) {
        const cur = s.issuing.fingerprint;
        per.accept[api] = { issuing: cur, accepted: [...accepted, fresh] };
        per.issue[api] = { issuing: fresh, accepted: [cur, ...accepted] };
        per.drop[api] = { issuing: fresh, accepted: [] };
      } else {
        // document-style worker: the current CA heads acceptedCAs
        per.accept[api] = { issuing: null, accepted: [...accepted, fresh] };
        per.issue[api] = { issuing: null, accepted: [fresh, ...accepted] };
        per.drop[api] = { issuing: null, accepted: [fresh] };
      }
    }
    for (const phase of ['accept', 'issue', 'drop'] as const) phases[phase].set(n.address, per[phase]);
  }
  const addresses = names.map((n) => n.address);
  const steps: StepSpec[] = [
    { id: 'accept', nodes: addresses.map((a) => ({ address: a, target: { ...phases.accept.get(a)! } })) },
    { id: 'again', nodes: addresses.map((a) => ({ address: a, target: { ...phases.accept.get(a)! } })) },
    {
      id: 'issue-talos',
      nodes: [...addresses].reverse().map((a) => ({ address: a, target: { talos: phases.issue.get(a)!.talos } })),
    },
    {
      id: 'issue-kubernetes',
      nodes: addresses.map((a) => ({ address: a, target: { kubernetes: phases.issue.get(a)!.kubernetes } })),
    },
    { id: 'drop', nodes: addresses.map((a) => ({ address: a, target: { ...phases.drop.get(a)! } })) },
  ];
  const keyFor: IssuingKeyLookup = async (api, fp): Promise<Secret> => {
    if (fp !== next[api].fingerprint) throw new Error(`unexpected key request ${api} ${fp}`);
    return next[api].key;
  };
  return { configs, steps, catalog, keyFor, next };
}

t.test(
  'every step config and redacted text is what the step-by-step re-parse produces (legacy and document layouts)',
  async (t) => {
    const f = await fleet([
      ...FIXTURES.map((fixture, i) => ({ address: `10.0.0.${i + 1}`, fixture })),
      ...FIXTURES.map((fixture, i) => ({ address: `10.0.1.${i + 1}`, fixture, variant: commented })),
      // two nodes with the same config text: each gets its own, identical, chain
      { address: '10.0.2.1', fixture: 'legacy-worker' as const },
      { address: '10.0.2.2', fixture: 'legacy-worker' as const },
    ]);
    const plan = planOf(f.steps);
    const want = await reference(plan, f.configs, f.catalog, f.keyFor);
    const got = await chainConfigs(plan, f.configs, f.catalog, f.keyFor);
    t.equal(got.length, want.length);
    for (let i = 0; i < want.length; i++) {
      const w = want[i]!;
      const g = got[i]!;
      const at = `${w.stepId} ${w.address}`;
      t.same([g.stepId, g.stepIndex, g.address], [w.stepId, w.stepIndex, w.address], `${at}: order`);
      t.ok(g.before === w.before && g.after === w.after, `${at}: configs byte-identical`);
      t.ok(
        g.redacted.before === w.redacted.before && g.redacted.after === w.redacted.after,
        `${at}: redacted texts byte-identical`,
      );
    }
    // The walk really rotates (a vacuous comparison would pass too) and the no-change step changes nothing.
    t.ok(
      want.filter((c) => c.stepId === 'accept').every((c) => c.after !== c.before),
      'accept changes every config',
    );
    t.ok(
      want.filter((c) => c.stepId === 'again').every((c) => c.after === c.before),
      'the repeated step changes nothing',
    );
    for (const c of want.filter((c) => c.stepId === 'drop')) {
      const state = readCaState(c.after);
      t.equal(state.talos.issuing?.fingerprint, f.next.talos.fingerprint, `${c.address}: new Talos CA issuing`);
    }
  },
);

t.test('each config of a node is parsed once along its chain', async (t) => {
  const f = await fleet(FIXTURES.map((fixture, i) => ({ address: `10.0.0.${i + 1}`, fixture })));
  const plan = planOf(f.steps);
  const before = machineConfigParses();
  const got = await chainConfigs(plan, f.configs, f.catalog, f.keyFor);
  const parses = machineConfigParses() - before;
  // one parse of each observed config, one of each changed result (its check); none for the no-change step
  const distinct = got.filter((c) => c.after !== c.before).length + f.configs.size;
  t.equal(parses, distinct, `${parses} parses for ${distinct} distinct configs`);
});

t.test('an observed config given with its parse is not parsed again', async (t) => {
  const f = await fleet(FIXTURES.map((fixture, i) => ({ address: `10.0.0.${i + 1}`, fixture })));
  const plan = planOf(f.steps);
  const observed = new Map(
    [...f.configs].map(([address, text]) => {
      const c = new MachineConfigText(text, `machine config of node ${address}`);
      void c.caState; // parsed when observed, as readLiveNode does
      return [address, c] as const;
    }),
  );
  const before = machineConfigParses();
  const got = await chainConfigs(plan, observed, f.catalog, f.keyFor);
  const parses = machineConfigParses() - before;
  t.equal(parses, got.filter((c) => c.after !== c.before).length, 'only the changed results (their checks)');
  const want = await chainConfigs(plan, f.configs, f.catalog, f.keyFor);
  t.same(got, want, 'the same chain as from the texts');
});

t.test('when several nodes fail, the error is the first in plan order', async (t) => {
  const f = await fleet([
    { address: '10.0.0.1', fixture: 'legacy-controlplane' },
    { address: '10.0.0.2', fixture: 'document-controlplane' },
  ]);
  // Issuing Kubernetes on 10.0.0.2 has no key; issuing Talos on 10.0.0.1 (later in plan order) neither.
  const keyFor: IssuingKeyLookup = async (api, fp) => {
    throw new RotateError('PLAN_NO_KEY', `no key for ${api} ${fp.slice(0, 8)}`);
  };
  const steps: StepSpec[] = [
    { id: 'accept', nodes: f.steps[0]!.nodes },
    { id: 'issue-kubernetes', nodes: f.steps[3]!.nodes.filter((n) => n.address === '10.0.0.2') },
    { id: 'issue-talos', nodes: f.steps[2]!.nodes },
  ];
  const plan = planOf(steps);
  const want = await reference(plan, f.configs, f.catalog, keyFor).then(
    () => null,
    (e: unknown) => e as RotateError,
  );
  const got = await chainConfigs(plan, f.configs, f.catalog, keyFor).then(
    () => null,
    (e: unknown) => e as RotateError,
  );
  t.ok(want && got, 'both fail');
  t.equal(got?.message, want?.message, 'the same error');
  t.match(got?.message, /kubernetes/);
});
