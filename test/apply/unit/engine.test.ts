/**
 * The engine with a fake cluster (no sockets): the Talos clients it opens come from an injected
 * `TalosConnect` whose clients talk to an in-memory cluster of control planes. Their configs are real
 * machine configs with real CAs, and every call passes the trust checks apid makes (talos-behaviour.md §3.2,
 * §4.2): the client trusts the endpoint's server certificate (signed by the endpoint's issuing Talos CA),
 * the endpoint accepts the client certificate (signed by a CA of its accepted list), and the endpoint
 * forwards to the node with a proxy certificate of its own issuing CA, which the node must accept. So a
 * client of the wrong kind fails, and a gate can fail. The journal and reporter record what they are told.
 * A Talos-only rotation keeps it to config reads, applies and Version calls. What is checked: every node is
 * recorded `started` before its config is sent and `done` after; Ctrl-C (the abort signal) lets the
 * operations in flight finish and be recorded and starts nothing new; a failing node stops the step before
 * its gate; a failing gate stops the run before the step's outputs; a node already at the target is skipped.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import type { RotateError } from '../../../src/domain/errors.js';
import type { Fingerprint } from '../../../src/domain/types.js';
import type { DesiredState } from '../../../src/desired/types.js';
import { GITIGNORE_TEXT } from '../../../src/state/state-dir.js';
import { executePlan, type ApplyReporter, type RunJournal } from '../../../src/apply/engine.js';
import { patchCaState, readCaState } from '../../../src/machineconfig/index.js';
import {
  fingerprintOfPem,
  generateTalosCa,
  isSignedBy,
  issueTalosClientCert,
  type CaMaterial,
} from '../../../src/pki/index.js';
import type { ObservedNode, Plan } from '../../../src/plan/model/index.js';
import { planRotation } from '../../../src/plan/planner/index.js';
import { CaCatalog } from '../../../src/cluster/session/ca-catalog.js';
import type { Session } from '../../../src/cluster/session/open-session.js';
import { bundleFingerprints } from '../../../src/cluster/session/operator-clients.js';
import { TalosApiError, type TalosErrorKind } from '../../../src/talos/errors.js';
import type { TalosApi, TalosClientConfig, TalosConnect } from '../../../src/talos/talos-api.js';
import {
  emptyTalosconfig,
  getContext,
  loadTalosconfig,
  saveTalosconfig,
  setContextCredentials,
  setCurrentContext,
} from '../../../src/talos/talosconfig.js';
import { loadFixture, type TapTest } from '../../fixtures/machineconfig/helpers.js';

const [OLD, NEW] = await Promise.all([generateTalosCa(), generateTalosCa()]);
const NAMES = { [OLD.fingerprint]: 'talos-old', [NEW.fingerprint]: 'talos-new' } as Record<Fingerprint, string>;
const BASE = patchCaState(
  loadFixture('legacy-controlplane'),
  { talos: { issuing: { certPem: OLD.certPem, key: OLD.key }, accepted: [] } },
  'fixture',
);

const talosOf = (yaml: string) => {
  const s = readCaState(yaml).talos;
  return { issuing: s.issuing?.fingerprint ?? null, accepted: s.accepted.map((c) => c.fingerprint) };
};

/** Control planes 127.0.0.10… as the planner observes them. */
function observed(count: number): ObservedNode[] {
  const k8s = readCaState(BASE).kubernetes;
  return Array.from({ length: count }, (_, i) => ({
    address: `127.0.0.${10 + i}`,
    nodeId: `id-${i}`,
    hostname: `cp-${i + 1}`,
    role: 'controlplane' as const,
    talosVersion: 'v1.13.9',
    configDigest: `digest-${i}`,
    talos: { issuing: OLD.fingerprint, accepted: [] },
    kubernetes: {
      style: k8s.style,
      issuing: k8s.issuing?.fingerprint ?? null,
      accepted: k8s.accepted.map((c) => c.fingerprint),
    },
    ready: true,
  }));
}

function talosRotation(nodes: ObservedNode[]): Plan {
  return planRotation({
    nodes,
    endpoints: [nodes[0]!.address],
    desired: { talos: { issuing: NEW.fingerprint, accepted: [], names: NAMES } },
    operator: { talos: { clientSigner: OLD.fingerprint, trusts: [OLD.fingerprint] }, kubernetes: null },
    options: { allowDisruption: false, maxUnavailable: 1, parallelism: 4 },
  });
}

interface Hooks {
  /** Called as a config arrives at a node, before it is taken; throw to refuse it. */
  onApply?: (node: string, nth: number) => void;
}

/** A control plane's apid trust (talos-behaviour.md §4.2): it signs with `issuing`, accepts `issuing` + `accepted`. */
interface ApidTrust {
  issuing: Fingerprint;
  accepted: Fingerprint[];
}

function talosError(
  kind: TalosErrorKind,
  ctx: { node: string | undefined; endpoint: string; method: string },
  message: string,
): TalosApiError {
  return new TalosApiError({
    kind,
    grpcCode: 14,
    ...ctx,
    detail: message,
    message,
    hint: 'the fake cluster refused it',
  });
}

/**
 * The cluster behind the injected `TalosConnect`: configs in memory, every answered call logged. Each
 * node's apid takes the trust of its current config, unless it is frozen (`freezeApid`): an apid that kept
 * the certificates it started with, whatever its config says now — what the Talos gate exists to catch.
 */
class FakeCluster {
  readonly #frozen = new Map<string, ApidTrust>();
  #applies = 0;

  constructor(
    readonly configs: Map<string, string>,
    readonly log: string[],
    readonly hooks: Hooks = {},
  ) {}

  readonly connect: TalosConnect = (config) => new FakeClient(this, config);

  freezeApid(node: string): void {
    this.#frozen.set(node, this.apid(node));
  }

  apid(node: string): ApidTrust {
    const frozen = this.#frozen.get(node);
    if (frozen) return frozen;
    const { issuing, accepted } = talosOf(this.configs.get(node)!);
    return { issuing: issuing!, accepted };
  }

  apply(node: string, yaml: string): void {
    this.hooks.onApply?.(node, ++this.#applies);
    this.log.push(`apply ${node}`);
    this.configs.set(node, yaml);
  }
}

const accepts = (apid: ApidTrust, signer: Fingerprint | null): boolean =>
  signer !== null && (signer === apid.issuing || apid.accepted.includes(signer));

/** One client: its connection to the first endpoint is opened (handshaken) on its first call and kept. */
class FakeClient implements TalosApi {
  readonly #trusts: Fingerprint[];
  readonly #signer: Fingerprint | null;
  readonly #endpoint: string;
  #connected = false;
  #closed = false;

  constructor(
    private readonly cluster: FakeCluster,
    config: TalosClientConfig,
  ) {
    this.#trusts = bundleFingerprints(config.caPem);
    this.#signer = [OLD, NEW].find((ca) => isSignedBy(config.certPem, ca.certPem))?.fingerprint ?? null;
    this.#endpoint = config.endpoints[0]!;
  }

  /** The checks of one call to `node` through the endpoint. */
  #reach(method: string, node: string): void {
    if (this.#closed) throw new Error(`${method} on a closed client`);
    const ctx = { node, endpoint: `${this.#endpoint}:50000`, method };
    const endpoint = this.cluster.apid(this.#endpoint);
    if (!this.#connected) {
      if (!this.#trusts.includes(endpoint.issuing))
        throw talosError(
          'tls-untrusted-server',
          ctx,
          `cannot reach node ${node}: the endpoint's server certificate is not signed by a CA the talosconfig trusts`,
        );
      if (!accepts(endpoint, this.#signer))
        throw talosError(
          'tls-client-rejected',
          ctx,
          `node ${node} (via endpoint ${ctx.endpoint}) rejected the talosconfig client certificate`,
        );
      this.#connected = true;
    }
    // apid forwards even to itself, with a proxy certificate from its own issuing CA (talos-behaviour.md §3.2).
    const target = this.cluster.apid(node);
    if (!accepts(target, endpoint.issuing) || !accepts(endpoint, target.issuing)) {
      throw talosError(
        'unreachable',
        ctx,
        `${method} on node ${node} failed: unavailable: the endpoint and the node do not trust each other`,
      );
    }
  }

  getMachineConfig: TalosApi['getMachineConfig'] = async (node) => {
    this.#reach('/cosi.resource.State/Get', node!);
    return { yaml: this.cluster.configs.get(node!)!, version: '1' } as Awaited<
      ReturnType<TalosApi['getMachineConfig']>
    >;
  };

  applyConfiguration: TalosApi['applyConfiguration'] = async (node, yaml, opts) => {
    if (opts.mode !== 'NO_REBOOT' || opts.dryRun) throw new Error(`unexpected apply mode ${JSON.stringify(opts)}`);
    this.#reach('/machine.MachineService/ApplyConfiguration', node!);
    this.cluster.apply(node!, String(yaml));
    return { messages: [] } as unknown as Awaited<ReturnType<TalosApi['applyConfiguration']>>;
  };

  version: TalosApi['version'] = async (node) => {
    this.#reach('/machine.MachineService/Version', node!);
    this.cluster.log.push(`version ${node}`);
    return { tag: 'v1.13.9' } as Awaited<ReturnType<TalosApi['version']>>;
  };

  close(): void {
    this.#closed = true;
  }

  // Not called in a Talos-only rotation of control planes.
  kubeconfig = notModelled('kubeconfig');
  getResource = notModelled('getResource');
  getIdentity = notModelled('getIdentity');
  getApiCertificates = notModelled('getApiCertificates');
  getSecretsStatus = notModelled('getSecretsStatus');
  listMembers = notModelled('listMembers');
  watchKubeletService = notModelled('watchKubeletService');
}

function notModelled(name: string): (...args: unknown[]) => never {
  return () => {
    throw new Error(`the fake cluster does not model ${name}`);
  };
}

function recordingJournal(log: string[]): RunJournal {
  return {
    stepStarted: async (s) => void log.push(`journal stepStarted ${s}`),
    nodeStarted: async (s, a) => void log.push(`journal nodeStarted ${s} ${a}`),
    nodeFinished: async (s, a, r) => void log.push(`journal nodeFinished ${s} ${a} ${r.status}`),
    gateFinished: async (s, kind, status) => void log.push(`journal gateFinished ${s} ${kind} ${status}`),
    stepFinished: async (s, status) => void log.push(`journal stepFinished ${s} ${status}`),
    outputWritten: async (s, o) => void log.push(`journal outputWritten ${s} ${o.kind}`),
  };
}

/** Every reporter call, as `report NAME step address` (whatever the interface grows). */
function recordingReporter(log: string[]): ApplyReporter {
  return new Proxy({} as ApplyReporter, {
    get: (_target, name) => (step: { id: string }, node?: { address?: string }) => {
      log.push(
        `report ${String(name)} ${step?.id ?? ''}` +
          `${node && typeof node === 'object' && 'address' in node ? ` ${node.address}` : ''}`,
      );
    },
  });
}

async function session(t: TapTest, nodes: ObservedNode[], admin: CaMaterial, connect: TalosConnect): Promise<Session> {
  const dir = t.testdir();
  const file = path.join(dir, 'talosconfig');
  const cert = await issueTalosClientCert(admin, { roles: ['os:admin'] });
  const cfg = emptyTalosconfig(file);
  setContextCredentials(cfg, 'lab', {
    caPem: admin.certPem,
    certPem: cert.certPem,
    key: cert.key,
    endpoints: [nodes[0]!.address],
  });
  setCurrentContext(cfg, 'lab');
  await saveTalosconfig(cfg, file);
  const talosconfig = await loadTalosconfig(file);
  const context = getContext(talosconfig, 'lab');
  const endpoints = [nodes[0]!.address];
  const desired = {
    file: path.join(dir, 'rotate.yaml'),
    dir,
    digest: '',
    version: 1,
    cluster: {
      talosconfig: file,
      talosconfigSource: 'file',
      context: 'lab',
      endpoints,
      controlPlanes: nodes.map((n) => n.address),
      workers: [],
    },
    authorities: {},
  } as unknown as DesiredState;
  const client = connect({ endpoints, caPem: context.caPem, certPem: context.certPem, key: context.key });
  return { desired, warnings: [], talosconfig, context, endpoints, client, connect, close: () => client.close() };
}

interface Setup {
  plan: Plan;
  configs: Map<string, string>;
  log: string[];
  run: (
    signal?: AbortSignal,
    parallelism?: number,
    extra?: { operation?: 'apply' | 'rollback'; workloadPhase?: { afterStep: number | null; run(): Promise<void> } },
  ) => Promise<void>;
  session: Session;
  cluster: FakeCluster;
}

async function setup(t: TapTest, count: number, hooks: Hooks = {}): Promise<Setup> {
  const nodes = observed(count);
  const plan = talosRotation(nodes);
  const configs = new Map(nodes.map((n) => [n.address, BASE]));
  const log: string[] = [];
  const cluster = new FakeCluster(configs, log, hooks);
  const catalog = new CaCatalog();
  for (const ca of [OLD, NEW]) catalog.add('talos', ca.fingerprint, ca.certPem);
  const s = await session(t, nodes, OLD, cluster.connect);
  const keys = new Map([
    [OLD.fingerprint, OLD.key],
    [NEW.fingerprint, NEW.key],
  ]);
  return {
    plan,
    configs,
    log,
    session: s,
    cluster,
    run: (
      signal = new AbortController().signal,
      parallelism = 1,
      extra: {
        operation?: 'apply' | 'rollback';
        workloadPhase?: { afterStep: number | null; run(): Promise<void> };
      } = {},
    ) =>
      executePlan({
        session: s,
        plan,
        catalog,
        keyFor: async (_api, fp) => keys.get(fp)!,
        runId: 'run-1',
        stateDir: path.join(path.dirname(s.desired.cluster.talosconfig), 'state'),
        journal: recordingJournal(log),
        reporter: recordingReporter(log),
        parallelism,
        signal,
        ...extra,
      }),
  };
}

const only = (log: string[], prefix: string) => log.filter((l) => l.startsWith(prefix));

t.test('a complete run: each node recorded started before its config is sent, done after', async (t) => {
  const { plan, configs, log, run, session: s } = await setup(t, 3);
  t.same(
    plan.steps.map((st) => st.id),
    ['talos-accept', 'talos-issue', 'talos-drop'],
    'the plan: accept, issue, drop',
  );
  await run();

  const expected: string[] = [];
  for (const step of plan.steps) {
    expected.push(`journal stepStarted ${step.id}`);
    for (const o of step.outputsBefore) expected.push(`journal outputWritten ${step.id} ${o}`);
    for (const node of step.nodes)
      expected.push(
        `journal nodeStarted ${step.id} ${node.address}`,
        `apply ${node.address}`,
        `journal nodeFinished ${step.id} ${node.address} done`,
      );
    if (step.gate.talos) expected.push(`journal gateFinished ${step.id} talos passed`);
    // The session has a talosconfig only: no kubeconfig or secrets bundle to write.
    for (const o of step.outputsAfter) if (o === 'talosconfig') expected.push(`journal outputWritten ${step.id} ${o}`);
    expected.push(`journal stepFinished ${step.id} done`);
  }
  t.same(
    log.filter((l) => l.startsWith('journal') || l.startsWith('apply')),
    expected,
    'journal and applies in order',
  );

  for (const step of plan.steps) {
    for (const node of step.nodes) {
      const recorded = log.indexOf(`journal nodeStarted ${step.id} ${node.address}`);
      const reported = log.indexOf(`report nodeStarted ${step.id} ${node.address}`);
      t.ok(
        recorded < reported && reported < log.indexOf(`apply ${node.address}`, recorded),
        `${step.id} ${node.address}: node-started is reported once recorded, before the config is sent`,
      );
    }
  }
  t.equal(
    only(log, 'version').length,
    plan.steps.filter((st) => st.gate.talos).length * 3,
    'each gate called Version on every node',
  );
  for (const [address, yaml] of configs)
    t.same(talosOf(yaml), { issuing: NEW.fingerprint, accepted: [] }, `${address} ends on the new CA only`);

  const written = getContext(await loadTalosconfig(s.desired.cluster.talosconfig), 'lab');
  t.equal(fingerprintOfPem(written.caPem), NEW.fingerprint, 'the talosconfig written last trusts the new CA');
  const dir = path.dirname(s.desired.cluster.talosconfig);
  t.same(
    (await fs.readdir(dir)).filter((f) => f.startsWith('talosconfig')),
    ['talosconfig'],
    'no backup beside the talosconfig',
  );
  const runBackups = path.join(dir, 'state', 'backups', 'run-1');
  t.same(
    (await fs.readdir(runBackups)).sort(),
    ['.gitignore', 'talosconfig-talosconfig'],
    'one backup of the talosconfig in the state folder, taken the first time',
  );
  t.equal((await fs.stat(path.join(runBackups, 'talosconfig-talosconfig'))).mode & 0o777, 0o600, 'the backup is 0600');
  t.equal((await fs.stat(runBackups)).mode & 0o777, 0o700, 'its folder is 0700');
  t.equal(
    await fs.readFile(path.join(dir, 'state', 'backups', '.gitignore'), 'utf8'),
    GITIGNORE_TEXT,
    'backups/ ignores everything in git',
  );
});

t.test('Ctrl-C: the node in flight finishes and is recorded; nothing new starts', async (t) => {
  const controller = new AbortController();
  const { plan, log, run } = await setup(t, 3, { onApply: (_node, nth) => nth === 1 && controller.abort() });
  const step = plan.steps[0]!;
  await t.rejects(run(controller.signal), { code: 'APPLY_INTERRUPTED', exitCode: 130 });
  const first = step.nodes[0]!.address;
  t.same(
    log.filter((l) => l.startsWith('journal') || l.startsWith('apply')),
    [
      `journal stepStarted ${step.id}`,
      `journal nodeStarted ${step.id} ${first}`,
      `apply ${first}`,
      `journal nodeFinished ${step.id} ${first} done`,
      `journal stepFinished ${step.id} interrupted`,
    ],
    'the first node is done; the others never started; the step is left interrupted',
  );
  t.equal(only(log, 'version').length, 0, 'no gate ran');
});

t.test('Ctrl-C with two nodes in flight: both finish and are recorded, the third never starts', async (t) => {
  const controller = new AbortController();
  const { plan, log, run } = await setup(t, 3, { onApply: (_node, nth) => nth === 1 && controller.abort() });
  const step = plan.steps[0]!;
  t.ok(step.waves[0]!.maxConcurrent >= 2, 'the wave allows two at once');
  await t.rejects(run(controller.signal, 2), { code: 'APPLY_INTERRUPTED' });
  const [a, b, c] = step.nodes.map((n) => n.address);
  for (const n of [a, b]) t.ok(log.includes(`journal nodeFinished ${step.id} ${n} done`), `${n} done`);
  t.notOk(
    log.some((l) => l.includes(`${c}`) && (l.startsWith('journal nodeStarted') || l.startsWith('apply'))),
    `${c} never started`,
  );
  t.equal(log.at(-1), `journal stepFinished ${step.id} interrupted`);
});

t.test('an aborted signal before the run starts nothing', async (t) => {
  const controller = new AbortController();
  controller.abort();
  const { log, run } = await setup(t, 2);
  await t.rejects(run(controller.signal), { code: 'APPLY_INTERRUPTED' });
  t.same(log, [], 'no step started');
});

t.test('a node that refuses its config stops the step before its gate; no later step runs', async (t) => {
  const { plan, log, run } = await setup(t, 3, {
    onApply: (node) => {
      if (node === '127.0.0.11')
        throw talosError(
          'invalid-argument',
          { node, endpoint: '127.0.0.10:50000', method: '/machine.MachineService/ApplyConfiguration' },
          'config refused',
        );
    },
  });
  const step = plan.steps[0]!;
  const err = await run().catch((e: unknown) => e as { code: string; message: string });
  t.equal(err?.code, 'APPLY_NODE_FAILED');
  t.match(
    err?.message,
    /step 1\/3 \(talos-accept\) stopped: 1 node\(s\) failed:\n {2}- 127\.0\.0\.11: /,
    'names the step and the node',
  );
  t.ok(log.includes(`journal nodeFinished ${step.id} 127.0.0.11 failed`), 'the failure is recorded');
  t.ok(log.includes(`report stepFailed ${step.id}`), 'step-failed is reported');
  t.notOk(
    log.some((l) => l.startsWith('journal nodeStarted') && l.endsWith('127.0.0.12')),
    'the node after it in the wave never started',
  );
  t.equal(log.filter((l) => l.startsWith('journal')).at(-1), `journal stepFinished ${step.id} failed`);
  t.equal(only(log, 'version').length, 0, 'no gate ran');
  t.notOk(
    log.some((l) => l.startsWith(`journal stepStarted ${plan.steps[1]!.id}`)),
    'no later step',
  );
});

t.test('a node already at the target is skipped without sending anything', async (t) => {
  const { plan, configs, log, run } = await setup(t, 2);
  const step = plan.steps[0]!;
  const done = step.nodes[0]!;
  // As after a reply lost once the node had applied the config: it already runs the step's target.
  configs.set(
    done.address,
    patchCaState(BASE, { talos: { issuing: { certPem: OLD.certPem }, accepted: [NEW.certPem] } }),
  );
  await run();
  const inStep = log.slice(0, log.indexOf(`journal stepFinished ${step.id} done`));
  t.ok(inStep.includes(`journal nodeFinished ${step.id} ${done.address} skipped`), 'recorded skipped');
  t.notOk(inStep.includes(`journal nodeStarted ${step.id} ${done.address}`), 'never recorded started');
  t.equal(inStep.filter((l) => l === `apply ${done.address}`).length, 0, 'no config sent to it in that step');
  t.ok(inStep.includes(`report nodeFinished ${step.id} ${done.address}`), 'reported as finished (node-skipped)');
});

t.test("a stopped rollback names rollback's own commands, an apply apply's (issue 10 item 4)", async (t) => {
  for (const operation of ['apply', 'rollback'] as const) {
    const controller = new AbortController();
    controller.abort();
    const { run } = await setup(t, 2);
    const err = (await run(controller.signal, 1, { operation }).catch((e: unknown) => e)) as RotateError;
    t.equal(err.code, 'APPLY_INTERRUPTED');
    t.match(
      err.message,
      new RegExp(`^${operation} interrupted during step`),
      `${operation}: says what was interrupted`,
    );
    if (operation === 'rollback') {
      t.match(err.hint, /^run `rotate rollback` again to resume it/, 'rollback: resume with rollback');
      t.notMatch(err.hint, /run `rotate apply`/, 'rollback: never tells to run apply');
    } else
      t.match(err.hint, /^run `rotate apply` again to resume .*, or `rotate rollback`$/, 'apply: resume, or roll back');
  }
});

t.test(
  'the workload phase runs right after its step, or after the last step when that step is not in the plan',
  async (t) => {
    const { plan, log, run } = await setup(t, 2);
    const issue = plan.steps.find((st) => st.id === 'talos-issue')!;
    await run(undefined, 1, {
      workloadPhase: { afterStep: issue.index, run: async () => void log.push('workload phase') },
    });
    const at = log.indexOf('workload phase');
    t.ok(
      at > log.indexOf('journal stepFinished talos-issue done'),
      'after the step finished (gate passed, outputs written)',
    );
    t.ok(at < log.indexOf('journal stepStarted talos-drop'), 'before the next step starts');
    t.equal(log.filter((l) => l === 'workload phase').length, 1, 'once');

    const again = await setup(t, 2);
    await again.run(undefined, 1, {
      workloadPhase: { afterStep: null, run: async () => void again.log.push('workload phase') },
    });
    t.equal(again.log[again.log.length - 1], 'workload phase', 'a resume past the issue step: after the last step');
  },
);

t.test(
  'a failing Talos gate stops the run: the step is recorded failed, its outputs are not written, no later step runs',
  async (t) => {
    const { plan, configs, log, run, cluster, session: s } = await setup(t, 3);
    const [accept, issue] = plan.steps;
    t.equal(
      accept!.gate.talos?.client,
      'intermediate',
      'the accept step is gated with the intermediate client (signed by the new CA)',
    );
    t.ok(accept!.outputsAfter.includes('talosconfig'), 'and would write the intermediate talosconfig after its gate');
    // The endpoint's apid keeps the trust it started with (old CA only): its config accepts the new CA, so
    // every patch is confirmed, but a client signed by the new CA is refused at the handshake.
    cluster.freezeApid('127.0.0.10');

    const err = (await run().catch((e: unknown) => e)) as RotateError;
    t.equal(err?.code, 'GATE_TALOS_FAILED');
    t.match(
      err.message,
      new RegExp(
        /^the Talos API gate failed with the intermediate talosconfig: 3 node\(s\) failed:\n {2}- /.source +
          /127\.0\.0\.10: .*rejected the talosconfig client certificate/.source,
      ),
      'names the client and the nodes',
    );
    t.match(err.hint, /run `rotate apply` again to resume, or `rotate rollback`/);
    for (const [address, yaml] of configs)
      t.same(
        talosOf(yaml),
        { issuing: OLD.fingerprint, accepted: [NEW.fingerprint] },
        `${address} was patched (accepts the new CA)`,
      );
    const journal = log.filter((l) => l.startsWith('journal'));
    t.same(
      journal.slice(-2),
      [`journal gateFinished ${accept!.id} talos failed`, `journal stepFinished ${accept!.id} failed`],
      'the gate and the step are recorded failed, last',
    );
    t.notOk(
      journal.some((l) => l.startsWith(`journal outputWritten ${accept!.id}`)),
      "the step's talosconfig is not written",
    );
    t.notOk(
      log.some((l) => l.includes(issue!.id)),
      'the next step never started',
    );
    t.ok(
      log.includes(`report gateFailed ${accept!.id}`) && log.includes(`report stepFailed ${accept!.id}`),
      'gate-failed and step-failed are reported',
    );
    t.equal(only(log, 'version').length, 0, 'no node answered the gate');
    t.equal(
      fingerprintOfPem(getContext(await loadTalosconfig(s.desired.cluster.talosconfig), 'lab').caPem),
      OLD.fingerprint,
      'the talosconfig still trusts the old CA only',
    );
  },
);
