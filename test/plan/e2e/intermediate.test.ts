/**
 * Plans of intermediate desired states against the lab, both Kubernetes CA styles:
 * (a) the new CAs only accepted (`issuing: old, accepted: [new]`) → only the accept step, safe;
 * (b) the new CAs issuing, the old ones still accepted → accept + issue; only the in-cluster client disruption
 * announced; (c) after one change applied by hand (the new Talos CA accepted on the control planes only, with our
 *     client and src/machineconfig), the plan continues from where each node is: every step's `current`
 *     is what the lab itself says the node holds, the control planes are not patched again for accept.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';

import type { Plan } from '../../../src/plan/model/index.js';
import {
  acceptTalosCaOn,
  expectExit,
  fullRotation,
  inspectLab,
  labCaFingerprints,
  labClient,
  LAB_KUBERNETES,
  LAB_TALOS,
  nextCas,
  planJson,
  requireBuild,
  rotate,
  startLab,
  stepById,
  STYLES,
  waveShape,
  writeDesired,
  type CaState,
  type TapTest,
} from './fixtures/plan-lab.js';

requireBuild(t);

const T = (issuing: string | null, accepted: string[]): CaState => ({ issuing, accepted });

for (const style of STYLES) {
  t.test(`${style}: plans of intermediate desired states`, async (t) => {
    const lab = await startLab(t, { style });
    const cas = await nextCas(lab);
    const old = await labCaFingerprints(lab);
    const docWorker = (role: string) => style === 'document' && role === 'worker';
    const cpsThenWorkers = [`controlplane:${lab.cps.join(',')}`, `worker:${lab.workers.join(',')}`];

    await t.test('(a) issuing old, accepted [new]: only the accept step', async (t) => {
      const file = await writeDesired(lab, 'accept-only', {
        talos: { issuing: LAB_TALOS, accepted: [cas.talos.name] },
        kubernetes: { issuing: LAB_KUBERNETES, accepted: [cas.kubernetes.name] },
        add: [
          { name: cas.talos.name, certificate: cas.talos.certificate },
          { name: cas.kubernetes.name, certificate: cas.kubernetes.certificate },
        ],
      });
      const { saved } = await planJson(file, ['--detailed-exitcode'], 2);
      const plan = saved.plan;
      t.same(
        plan.steps.map((s) => s.id),
        ['talos-kubernetes-accept'],
      );
      t.same(plan.summary.phases, { talos: ['accept'], kubernetes: ['accept'] });
      t.same(
        { verdict: plan.verdict, applyable: plan.applyable, refused: plan.refused },
        { verdict: 'safe', applyable: true, refused: undefined },
      );
      const step = plan.steps[0]!;
      t.same(waveShape(step), cpsThenWorkers, 'control planes first');
      t.same(
        [step.talosClient, step.gate.talos?.client],
        ['current', 'current'],
        "no issuing change: the operator's talosconfig is kept",
      );
      t.same(step.outputsAfter, [], 'nothing to write');
      for (const n of step.nodes) {
        t.same(
          n.target,
          {
            talos: T(old.talos, [cas.talos.fingerprint]),
            kubernetes: docWorker(n.role)
              ? T(null, [old.kubernetes, cas.kubernetes.fingerprint])
              : T(old.kubernetes, [cas.kubernetes.fingerprint]),
          },
          `${n.role} ${n.address}: the new CAs accepted`,
        );
      }
      t.same(
        plan.authorities
          .filter((a) => a.disposition === 'accepted')
          .map((a) => a.name)
          .sort(),
        [cas.kubernetes.name, cas.talos.name],
        'the new CAs are named as accepted',
      );
    });

    await t.test('(b) issuing new, accepted [old]: accept + issue, safe', async (t) => {
      const file = await writeDesired(lab, 'issue-keep-old', {
        talos: { issuing: cas.talos.name, accepted: [LAB_TALOS] },
        kubernetes: { issuing: cas.kubernetes.name, accepted: [LAB_KUBERNETES] },
        add: [cas.talos, cas.kubernetes],
        dropKeys: [LAB_TALOS, LAB_KUBERNETES],
      });
      const validate = await rotate('validate', '-f', file);
      expectExit(t, validate, 0, 'rotate validate');
      t.equal(validate.stderr, '', 'no warning');
      const { saved } = await planJson(file, ['--detailed-exitcode'], 2);
      const plan = saved.plan;
      t.same(
        plan.steps.map((s) => s.id),
        ['talos-kubernetes-accept', 'talos-kubernetes-issue'],
      );
      // Making the new Kubernetes CA issuing is the in-cluster client disruption (pods trust kube-root-ca.crt,
      // the issuing CA alone): announced, never safe; nothing else fails in any state.
      t.same(
        { verdict: plan.verdict, refused: plan.refused },
        { verdict: 'safe-with-announced-disruption', refused: undefined },
      );
      t.ok(plan.summary.announcedDisruptions > 0, 'announced disruptions counted');
      t.same(
        plan.steps.map((s) => s.proof.verdict),
        ['safe', 'safe-with-announced-disruption'],
      );
      t.same(
        [
          ...new Set(
            plan.steps.flatMap((s) =>
              s.proof.edges.filter((e) => e.status !== 'ok').map((e) => `${s.id} ${e.kind} ${e.status}`),
            ),
          ),
        ],
        ['talos-kubernetes-issue pod-apiserver degraded'],
        'only the pod edge, only in the issue step',
      );
      for (const s of plan.steps) t.same(waveShape(s), cpsThenWorkers, `${s.id}: control planes first`);
      for (const n of stepById(plan, 'talos-kubernetes-issue').nodes) {
        t.same(
          n.target,
          {
            talos: T(cas.talos.fingerprint, [old.talos]),
            kubernetes: docWorker(n.role)
              ? T(null, [cas.kubernetes.fingerprint, old.kubernetes])
              : T(cas.kubernetes.fingerprint, [old.kubernetes]),
          },
          `${n.role} ${n.address}: the new CA issues, the old one stays accepted`,
        );
      }
    });

    await t.test('(c) after the new Talos CA was accepted on the control planes by hand', async (t) => {
      const client = await labClient(t, lab);
      const pem = await fs.readFile(path.join(lab.dir, cas.talos.certificate), 'utf8');
      await acceptTalosCaOn(client, lab.cps, pem);
      const seen = await inspectLab(lab);
      for (const n of seen.nodes) {
        t.same(
          n.talos,
          lab.cps.includes(n.address) ? T(old.talos, [cas.talos.fingerprint]) : T(old.talos, []),
          `the lab sees ${n.role} ${n.address} as changed by hand`,
        );
      }
      const labState = new Map(seen.nodes.map((n) => [n.address, n]));

      // Talos only: the accept step patches only the workers.
      const talosOnly = await writeDesired(lab, 'talos-only', {
        talos: { issuing: cas.talos.name, accepted: [] },
        add: [cas.talos],
        dropKeys: [LAB_TALOS],
      });
      const talosPlan = (await planJson(talosOnly, ['--detailed-exitcode'], 2)).saved.plan;
      t.same(
        talosPlan.steps.map((s) => s.id),
        ['talos-accept', 'talos-issue', 'talos-drop'],
      );
      t.equal(talosPlan.refused, undefined, 'nothing refused');
      const accept = stepById(talosPlan, 'talos-accept');
      t.same(waveShape(accept), [`worker:${lab.workers.join(',')}`], 'accept: only the workers are left');
      t.equal(accept.order.talos?.chosen, 'workers-only');
      t.same(waveShape(stepById(talosPlan, 'talos-issue')), cpsThenWorkers, 'issue: every node, control planes first');
      currentMatchesLab(t, talosPlan, labState, 'talos');

      // Both APIs: accept and issue merged, each API's drop in its own order; the control planes' Talos CAs left alone
      // in accept.
      const full = await writeDesired(lab, 'full', fullRotation(cas));
      const fullPlan = (await planJson(full)).saved.plan;
      t.same(
        fullPlan.steps.map((s) => s.id),
        ['talos-kubernetes-accept', 'talos-kubernetes-issue', 'talos-drop', 'kubernetes-drop'],
      );
      const both = stepById(fullPlan, 'talos-kubernetes-accept');
      t.equal(both.order.talos?.chosen, 'workers-only', 'Talos accept: workers only');
      for (const n of both.nodes) {
        if (n.role === 'controlplane')
          t.same(Object.keys(n.target), ['kubernetes'], `${n.address}: only its Kubernetes CA changes in accept`);
        else t.same(Object.keys(n.target).sort(), ['kubernetes', 'talos'], `${n.address}: both CAs change in accept`);
      }
      currentMatchesLab(t, fullPlan, labState, 'talos');
      currentMatchesLab(t, fullPlan, labState, 'kubernetes');

      // The lab's own rotate.yaml now plans the way back: drop the CA on the control planes.
      const back = (await planJson(lab.desired, ['--detailed-exitcode'], 2)).saved.plan;
      t.same(
        back.steps.map((s) => s.id),
        ['talos-drop'],
      );
      t.same(waveShape(back.steps[0]!), [`controlplane:${lab.cps.join(',')}`], 'only the control planes hold it');
      t.same(
        back.authorities.filter((a) => a.disposition === 'dropped').map((a) => [a.fingerprint, a.name]),
        [[cas.talos.fingerprint, null]],
        'the CA rotate.yaml does not name is dropped',
      );
    });
  });
}

/**
 * The `current` state of every node in the first step that patches it, for `api`, is what the lab reads
 * from the node's applied config.
 */
function currentMatchesLab(
  t: TapTest,
  plan: Plan,
  labState: Map<string, { talos: CaState; kubernetes: CaState }>,
  api: 'talos' | 'kubernetes',
): void {
  const seen = new Set<string>();
  for (const step of plan.steps) {
    for (const n of step.nodes) {
      const current = n.current[api];
      if (!current || seen.has(n.address)) continue;
      seen.add(n.address);
      t.same(current, labState.get(n.address)?.[api], `${step.id}: ${n.address}'s current ${api} CAs are the lab's`);
    }
  }
  t.ok(seen.size > 0, `the plan patches ${api} CAs`);
}
