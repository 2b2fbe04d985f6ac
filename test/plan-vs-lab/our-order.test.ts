/**
 * Model versus lab for our own order: the desired state the lab wrote (DIR/rotate.yaml) plans no change;
 * edited as its comments say into a full rotation of both CAs, `planRotation` gives three steps (accept,
 * issue, drop; both APIs in each), executed here wave by wave, node by node, with the Talos client each step
 * names and its gate client dialled at the step's end. Both Kubernetes CA styles.
 *
 * Expected (and checked against the lab's ledger, group by group): no Talos-edge failure at all, no
 * client-apiserver failure for freshly fetched kubeconfigs, and kubelet rejections only in the drop step's
 * control-plane wave (the announced window: a control plane that dropped OLD rejects the OLD-signed kubelet
 * certificates of the control planes not yet patched), no Node NotReady. Every lab failure must also be
 * inside the plan's own proof of its step.
 */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { validateDesiredFile, type DesiredState } from '../../src/desired/index.js';
import type { Fingerprint } from '../../src/domain/types.js';
import { writeLabDirFiles } from '../../src/lab/process/dir-files.js';
import type { DesiredApi, ObservedNode, OperatorClient, PlanInput } from '../../src/plan/model/input.js';
import type { Plan } from '../../src/plan/model/plan.js';
import { planRotation } from '../../src/plan/planner/index.js';
import type { CaMaterial } from '../../src/pki/index.js';
import { compare, kindMismatches, outcomePairs, PlanVsLab, type ApiTarget, type Group } from './fixtures/harness.js';

const GRACE_MS = 5_000;

function planInput(
  state: DesiredState,
  nodes: ObservedNode[],
  endpoints: string[],
  operator: OperatorClient,
): PlanInput {
  const names: Record<Fingerprint, string> = {};
  for (const a of Object.values(state.authorities)) names[a.certificate.fingerprint] = a.name;
  const api = (d: DesiredState['talos']): DesiredApi | undefined =>
    d
      ? {
          issuing: d.issuing.certificate.fingerprint,
          accepted: d.accepted.map((a) => a.certificate.fingerprint),
          names,
        }
      : undefined;
  const talos = api(state.talos);
  const kubernetes = api(state.kubernetes);
  return {
    nodes,
    endpoints,
    desired: { ...(talos ? { talos } : {}), ...(kubernetes ? { kubernetes } : {}) },
    operator: { talos: operator, kubernetes: null },
    options: { allowDisruption: false, maxUnavailable: 1, parallelism: 1 },
  };
}

async function validState(t: Tap, file: string): Promise<DesiredState> {
  const result = await validateDesiredFile(file);
  t.same(result.errors, [], `${path.basename(file)} is valid`);
  if (!result.state) throw new Error(`${file} is not valid`);
  return result.state;
}

type Tap = { same(found: unknown, wanted: unknown, message: string): unknown };

/** The plan's steps as harness groups: one node per group, in wave order. */
function planGroups(h: PlanVsLab, plan: Plan): Group[] {
  const byFp = new Map<string, CaMaterial>(Object.values(h.cas).map((c: CaMaterial) => [c.fingerprint, c]));
  const target = (s: { issuing: string | null; accepted: string[] } | undefined): ApiTarget | undefined =>
    s
      ? { issuing: s.issuing ? byFp.get(s.issuing)! : null, accepted: s.accepted.map((fp) => byFp.get(fp)!) }
      : undefined;
  const groups: Group[] = [];
  for (const step of plan.steps) {
    const nodes = step.waves.flatMap((w) => w.nodes.map((address) => step.nodes.find((n) => n.address === address)!));
    nodes.forEach((n, i) => {
      const last = i === nodes.length - 1;
      const gate = step.gate.talos?.client;
      const talos = target(n.target.talos);
      const kubernetes = target(n.target.kubernetes);
      groups.push({
        phase: step.id,
        address: n.address,
        client: step.talosClient,
        ...(talos ? { talos } : {}),
        ...(kubernetes ? { kubernetes } : {}),
        // The Talos gate at the end of the step, with the client the plan names for it.
        ...(last && gate && gate !== step.talosClient ? { probeClients: [gate] } : {}),
      });
    });
  }
  return groups;
}

for (const style of ['legacy', 'document'] as const) {
  t.test(
    `${style}: the lab's rotate.yaml plans nothing; a full rotation in our order breaks nothing but the ` +
      `announced window`,
    async (t) => {
      const h = await PlanVsLab.start({ style, nodeGraceMs: GRACE_MS });
      t.teardown(() => h.stop());
      const dir = await fs.mkdtemp(path.join(tmpdir(), 'plan-vs-lab-'));
      t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
      await writeLabDirFiles(dir, h.lab, 'start');
      await writeLabDirFiles(dir, h.lab, 'ready');
      const initial = await h.observe();
      const operator = h.operatorClient('current');

      // 1. As written by the lab: nothing to do.
      const asIs = planRotation(
        planInput(await validState(t, path.join(dir, 'rotate.yaml')), initial, [h.endpoint], operator),
      );
      t.equal(asIs.changes, false, 'rotate.yaml matches the lab: no change planned');
      t.same(asIs.steps, []);

      // 2. The edit its comments describe, for both CAs, to the end of a rotation.
      await fs.mkdir(path.join(dir, 'pki'));
      const write = async (name: string, ca: CaMaterial) => {
        await fs.writeFile(path.join(dir, 'pki', `${name}.crt`), ca.certPem, { mode: 0o644 });
        await fs.writeFile(path.join(dir, 'pki', `${name}.key`), ca.key.reveal(), { mode: 0o600 });
      };
      await write('talos-next', h.cas.talosNew);
      await write('kubernetes-next', h.cas.k8sNew);
      const text = await fs.readFile(path.join(dir, 'rotate.yaml'), 'utf8');
      const edited = text
        .replace('  issuing: talos-lab\n', '  issuing: talos-next\n')
        .replace('  issuing: kubernetes-lab\n', '  issuing: kubernetes-next\n')
        .replace(/ {4}key: \{ secretsBundle: \.\/secrets\.yaml, entry: (os|k8s) \}\n/g, '')
        .replace(
          'authorities:\n',
          'authorities:\n  talos-next: { certificate: pki/talos-next.crt, key: { file: pki/talos-next.key } ' +
            '}\n  kubernetes-next: { certificate: pki/kubernetes-next.crt, key: { file: pki/kubernetes-next.key ' +
            '} }\n',
        );
      await fs.writeFile(path.join(dir, 'rotate.yaml'), edited);
      const plan = planRotation(
        planInput(await validState(t, path.join(dir, 'rotate.yaml')), initial, [h.endpoint], operator),
      );
      t.same(
        plan.steps.map((s) => [s.id, s.talosClient, s.waves.map((w) => w.role)]),
        [
          ['talos-kubernetes-accept', 'current', ['controlplane', 'worker']],
          ['talos-kubernetes-issue', 'intermediate', ['controlplane', 'worker']],
          ['talos-drop', 'new', ['controlplane', 'worker']],
          ['kubernetes-drop', 'new', ['worker', 'controlplane']],
        ],
        'four steps: the Talos drop with control planes first, the Kubernetes drop with workers first',
      );
      t.equal(plan.verdict, 'safe-with-announced-disruption');
      t.same(plan.refused ?? [], []);

      // 3. The model asked about exactly the sequence the lab is driven through, then the lab.
      const groups = planGroups(h, plan);
      const outcomes = h.predict(initial, groups, { kubeconfigGate: true });
      const observed = await h.run(groups, { kubeconfigGate: true, log: (m) => t.comment(m) });
      const cmp = compare(outcomes, observed, h.endpoint);
      t.comment(cmp.table);

      t.same(
        cmp.unpredicted,
        [],
        'every trust failure in the ledger is predicted by the model (same group, same node pair)',
      );
      t.same(cmp.unobserved, [], 'every certain failure the model predicts is in the ledger');
      t.same(kindMismatches(cmp.rows), [], 'per step, the same edge kinds fail and stay clean');

      // The plan's own claims, against the lab.
      const snap = h.lab.cluster.ledger.snapshot();
      t.same(
        {
          'operator-apid': snap.trustFailures['operator-apid'],
          'apid-proxy': snap.trustFailures['apid-proxy'],
          'worker-trustd': snap.trustFailures['worker-trustd'],
          'client-apiserver': snap.trustFailures['client-apiserver'],
        },
        { 'operator-apid': 0, 'apid-proxy': 0, 'worker-trustd': 0, 'client-apiserver': 0 },
        'lab: zero Talos-edge failures, fresh kubeconfigs always accepted',
      );
      t.same(
        observed.flatMap((o) => o.probeFailures),
        [],
        'every step and gate client connects',
      );
      const dropStep = plan.steps.find((s) => s.phase.kubernetes === 'drop')!;
      const cpWave = dropStep.waves.find((w) => w.role === 'controlplane')!;
      const kubelet = observed.filter((o) => o.counts['kubelet-apiserver'] > 0);
      t.ok(kubelet.length > 0, 'lab: the announced window did happen');
      t.ok(
        kubelet.every((o) => o.phase === dropStep.id && cpWave.nodes.includes(groups[o.group]!.address)),
        'lab: kubelet rejections only while the drop step patches control planes',
      );
      const rejected = [...new Set(observed.flatMap((o) => [...o.pairs]))];
      t.ok(
        rejected.every(
          (p) =>
            /^kubelet-apiserver /.test(p) &&
            h.cps.some((cp) => p.includes(`${cp}->`)) &&
            h.cps.some((cp) => p.endsWith(`->${cp}`)),
        ),
        `lab: only control-plane kubelets, only by control planes (${rejected.join(', ')})`,
      );
      for (const step of plan.steps) {
        const proof = outcomePairs(
          step.proof.edges
            .filter((e) => e.status !== 'ok')
            .map((e) => ({
              ...e,
              group: 0,
              excludeSelf: false,
              notice: false,
              preExisting: e.preExisting,
              certainty: e.certainty,
              status: e.status as 'degraded' | 'broken',
            })),
          h.endpoint,
        );
        const seen = observed.filter((o) => o.phase === step.id).flatMap((o) => [...o.pairs]);
        t.same(
          seen.filter((p) => !proof.has(p)),
          [],
          `step ${step.index} (${step.id}): every lab failure is in the step's proof (${step.proof.verdict})`,
        );
      }
      t.equal(snap.notReadyEvents, 0, 'lab: no Node turned NotReady');
      t.ok(h.lab.allReady());

      // And the cluster is where the desired state says.
      const end = await h.observe('new');
      const probe = h.client('new');
      for (const n of end) {
        t.same(n.talos, { issuing: h.cas.talosNew.fingerprint, accepted: [] }, `${n.address}: Talos API CA rotated`);
        // A worker's apid trusts the bundle trustd gave it, not its config (talos-behaviour.md §4.2): it must not hold
        // the old CA.
        const apid = await probe.getApiCertificates(n.address);
        t.same(
          apid.acceptedCAs.map((c) => c.fingerprint),
          [h.cas.talosNew.fingerprint],
          `${n.address}: apid accepts client certificates of the new Talos CA only`,
        );
        const k8s =
          n.role === 'worker' && style === 'document'
            ? { issuing: null, accepted: [h.cas.k8sNew.fingerprint] }
            : { issuing: h.cas.k8sNew.fingerprint, accepted: [] };
        t.same(
          { issuing: n.kubernetes.issuing, accepted: n.kubernetes.accepted },
          k8s,
          `${n.address}: Kubernetes API CA rotated`,
        );
      }
    },
  );
}
