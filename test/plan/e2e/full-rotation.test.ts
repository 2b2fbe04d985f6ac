/**
 * `rotate plan` against the lab (both Kubernetes CA styles), through the built CLI:
 * - the rotate.yaml `rotate lab up` wrote plans no change (`--detailed-exitcode` 0, and 0 without it);
 * - a full Talos + Kubernetes rotation (new CAs from `rotate ca new`) plans accept and issue as one step
 *   for both APIs, then each API's drop in its own step: exit 2 with `--detailed-exitcode`, 0 without;
 *   the `--json` saved-plan envelope; control planes first for accept, issue and the Talos drop (workers
 *   then re-register for a bundle without the old CA), workers first for the Kubernetes drop (kubelets
 *   re-bootstrap only when their own node drops the old CA); per-step gates and proofs; verdict
 *   safe-with-announced-disruption with the control-plane kubelet window announced in the Kubernetes drop;
 *   per-node targets (a document-style worker's Kubernetes CA: issuing null, the current CA first);
 * - the human output names each step, its waves, gate and proof verdict;
 * - then, on the same lab, apply-lock.test.ts's check (fixtures/dry-runs.ts): a full rotation with the lab
 *   CAs keeping their keys planned three times in a row, every node's dry runs one at a time.
 */
import { promises as fs } from 'node:fs';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import t from 'tap';

import type { Plan } from '../../../src/plan/model/index.js';
import {
  expectExit,
  fullRotation,
  labCaFingerprints,
  nextCas,
  planJson,
  requireBuild,
  rotate,
  startLab,
  stepById,
  STYLES,
  waveShape,
  writeDesired,
  type PlanLab,
  type Style,
  type CaState,
  type TapTest,
} from './fixtures/plan-lab.js';
import { REPO } from '../../lab/e2e/fixtures/cli.js';
import { fullRotationKeepingKeys, plansInARow, plansTitle } from './fixtures/dry-runs.js';

requireBuild(t);

const STEPS = ['talos-kubernetes-accept', 'talos-kubernetes-issue', 'talos-drop', 'kubernetes-drop'];
const STEP_APIS = [['talos', 'kubernetes'], ['talos', 'kubernetes'], ['talos'], ['kubernetes']];

for (const style of STYLES) {
  t.test(`${style}: rotate plan against a 3 + 2 lab`, async (t) => {
    const lab = await startLab(t, { style });

    await t.test('the rotate.yaml lab up wrote plans no change', async (t) => {
      const detailed = await rotate('plan', '-f', lab.desired, '--detailed-exitcode');
      expectExit(t, detailed, 0, '--detailed-exitcode without changes');
      t.match(detailed.stdout, /^Plan: No changes/);
      t.match(detailed.stdout, /^No changes\. The cluster matches the desired CA state\.$/m);
      t.equal(detailed.stderr, '', 'no warning either');
      const { saved } = await planJson(lab.desired);
      t.same(
        {
          changes: saved.plan.changes,
          applyable: saved.plan.applyable,
          verdict: saved.plan.verdict,
          steps: saved.plan.steps,
          refused: saved.plan.refused,
        },
        { changes: false, applyable: false, verdict: 'safe', steps: [], refused: undefined },
      );
      t.same(
        saved.plan.basedOn.nodes.map((n) => [n.address, n.role, n.hostname]),
        lab.file.nodes.map((n) => [n.address, n.role, n.hostname]),
        'based on every node of the lab, with its role and hostname',
      );
    });

    const cas = await nextCas(lab);
    const full = await writeDesired(lab, 'full', fullRotation(cas));
    const old = await labCaFingerprints(lab);

    await t.test('rotate validate accepts the full-rotation file', async (t) => {
      const v = await rotate('validate', '-f', full);
      expectExit(t, v, 0, 'rotate validate');
      t.match(v.stdout, /talos {7}issuing talos-next .*also accepted: none/);
      t.match(v.stdout, /kubernetes {2}issuing kubernetes-next .*also accepted: none/);
    });

    await t.test(
      '--detailed-exitcode exits 2; the human output names each step, its waves, gate and proof verdict',
      async (t) => {
        const run = await rotate('plan', '-f', full, '--detailed-exitcode');
        expectExit(t, run, 2, '--detailed-exitcode with changes');
        checkHumanOutput(t, run.stdout, lab);
      },
    );

    await t.test('--json (exit 0 without --detailed-exitcode): the saved-plan envelope and the plan', async (t) => {
      const { saved } = await planJson(full);
      const pkg = JSON.parse(await fs.readFile(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
      t.equal(saved.kind, 'talos-rotate/plan');
      t.equal(saved.savedPlanVersion, 1);
      t.equal(saved.toolVersion, pkg.version);
      t.ok(Number.isFinite(Date.parse(saved.createdAt)), 'createdAt is a timestamp');
      t.equal(saved.desired.file, path.resolve(full));
      t.equal(
        saved.desired.digest,
        createHash('sha256')
          .update(await fs.readFile(full))
          .digest('hex'),
        'desired.digest is the SHA-256 of the file',
      );
      t.same(saved.cluster, {
        talosconfig: path.join(lab.dir, 'talosconfig'),
        context: lab.file.clusterName,
        endpoints: lab.cps,
      });
      checkFullPlan(t, saved.plan, lab, style, {
        oldTalos: old.talos,
        oldKube: old.kubernetes,
        newTalos: cas.talos.fingerprint,
        newKube: cas.kubernetes.fingerprint,
      });
    });

    // Plans change no node: the lab is shared, and the dry runs are counted from what it saw before.
    const keepingKeys = await fullRotationKeepingKeys(lab, cas);
    await t.test(plansTitle({ controlPlanes: 3, workers: 2 }, style), (t) => plansInARow(t, lab, keepingKeys));
  });
}

interface Fps {
  oldTalos: string;
  oldKube: string;
  newTalos: string;
  newKube: string;
}

function checkFullPlan(t: TapTest, plan: Plan, lab: PlanLab, style: Style, f: Fps): void {
  t.equal(plan.formatVersion, 1);
  t.same(
    { changes: plan.changes, applyable: plan.applyable, verdict: plan.verdict },
    { changes: true, applyable: true, verdict: 'safe-with-announced-disruption' },
  );
  t.equal(plan.refused, undefined, 'nothing refused');
  t.same(
    plan.steps.map((s) => s.id),
    STEPS,
    'accept and issue for both APIs together, then each API drops in its own order',
  );
  t.same(plan.summary.phases, { talos: ['accept', 'issue', 'drop'], kubernetes: ['accept', 'issue', 'drop'] });
  t.equal(plan.summary.nodesChanged, lab.nodes.length);
  t.equal(plan.summary.brokenEdges, 0);
  t.ok(plan.summary.announcedDisruptions >= 1, 'the drop step announces a disruption');
  t.same(
    plan.authorities.map((a) => [a.api, a.name, a.fingerprint, a.disposition]).sort(),
    [
      ['kubernetes', 'kubernetes-lab', f.oldKube, 'dropped'],
      ['kubernetes', 'kubernetes-next', f.newKube, 'issuing'],
      ['talos', 'talos-lab', f.oldTalos, 'dropped'],
      ['talos', 'talos-next', f.newTalos, 'issuing'],
    ].sort(),
    'authorities: the new CAs issue, the lab CAs are dropped (fingerprints from the bundle and `rotate ca new`)',
  );
  t.same(plan.basedOn.endpoints, lab.cps);
  t.same(
    plan.basedOn.nodes.map((n) => n.address),
    lab.nodes,
  );
  for (const n of plan.basedOn.nodes) t.match(n.configDigest, /^[0-9a-f]{64}$/, `config digest of ${n.address}`);

  const cpsThenWorkers = [`controlplane:${lab.cps.join(',')}`, `worker:${lab.workers.join(',')}`];
  const workersThenCps = [`worker:${lab.workers.join(',')}`, `controlplane:${lab.cps.join(',')}`];
  const accept = stepById(plan, STEPS[0]!);
  const issue = stepById(plan, STEPS[1]!);
  const talosDrop = stepById(plan, STEPS[2]!);
  const kubeDrop = stepById(plan, STEPS[3]!);
  t.same(waveShape(accept), cpsThenWorkers, 'accept: control planes first, then workers');
  t.same(waveShape(issue), cpsThenWorkers, 'issue: control planes first, then workers');
  t.same(waveShape(talosDrop), cpsThenWorkers, 'Talos drop: control planes first, then workers');
  t.same(waveShape(kubeDrop), workersThenCps, 'Kubernetes drop: workers first, then control planes');
  t.equal(kubeDrop.order.kubernetes?.chosen, 'workers-first', "the Kubernetes drop order is the safety model's choice");
  t.match(kubeDrop.order.kubernetes?.reason ?? '', /controlplanes-first would be unsafe/, 'and says why');
  t.same(
    kubeDrop.order.kubernetes?.alternatives.map((a) => [a.order, a.verdict]),
    [['controlplanes-first', 'unsafe']],
    'the alternative is proved unsafe',
  );
  t.same(
    talosDrop.order.talos?.alternatives.map((a) => [a.order, a.verdict, a.stale]),
    [['workers-first', 'safe', true]],
    "workers first would be as safe for the Talos drop, but leave the dropped CA in the workers' apid bundles",
  );
  t.notOk(
    plan.notices.some((n) => /still accept Talos API client certificates/.test(n)),
    'no worker is left trusting the dropped Talos CA',
  );

  for (const [i, step] of plan.steps.entries()) {
    const what = step.id;
    t.equal(step.index, i + 1, `${what}: index`);
    const talos = STEP_APIS[i]!.includes('talos');
    const kube = STEP_APIS[i]!.includes('kubernetes');
    t.same(step.apis, STEP_APIS[i], `${what}: its APIs`);
    t.same(
      step.dependsOn,
      i === 0 ? [] : i === 3 ? [STEPS[1], STEPS[2]] : [STEPS[i - 1]],
      `${what}: depends on the previous step(s) of its APIs and nodes`,
    );
    t.same(
      [...step.kubeletRestarts].sort(),
      kube ? [...lab.nodes].sort() : [],
      `${what}: ${kube ? 'every kubelet restarts' : 'no kubelet restarts'}`,
    );
    t.same(step.gate.talos?.endpoints, talos ? lab.cps : undefined, `${what}: Talos gate through the endpoints`);
    t.equal(step.gate.talos?.nodes, talos ? 'all' : undefined, `${what}: Talos gate on every node`);
    t.equal(step.gate.kubernetes?.nodesReady, kube ? 'all' : undefined, `${what}: every Node Ready`);
    t.same(
      [...(step.gate.kubernetes?.kubeletRestartsObserved ?? [])].sort(),
      kube ? [...lab.nodes].sort() : [],
      `${what}: a kubelet restart observed on every node`,
    );
    t.ok(step.proof.statesChecked > 0 && step.proof.classes > 0, `${what}: the proof checked states`);
    t.ok(
      step.proof.edges.some((e) => e.status === 'ok'),
      `${what}: the proof lists the edge kinds checked`,
    );
    t.notOk(
      step.proof.edges.some((e) => e.status === 'broken'),
      `${what}: no broken edge`,
    );
    for (const n of step.nodes) t.type(n.configDiff, 'string', `${what}: ${n.address} has its config diff`);
    t.same(step.nodes.map((n) => n.address).sort(), [...lab.nodes].sort(), `${what}: every node changes`);
  }
  t.same(
    plan.steps.map((s) => s.talosClient),
    ['current', 'intermediate', 'new', 'new'],
    'Talos clients: current, intermediate, new, new',
  );
  t.same(
    plan.steps.map((s) => s.gate.talos?.client),
    ['intermediate', 'new', 'new', undefined],
    'gate clients',
  );
  t.same(
    plan.steps.map((s) => s.proof.verdict),
    ['safe', 'safe-with-announced-disruption', 'safe', 'safe-with-announced-disruption'],
    'per-step verdicts',
  );

  // The announced disruptions: in-cluster clients from the Kubernetes issue step (pods trust only the
  // issuing CA, talos-behaviour.md §5), and control-plane kubelets during the control-plane wave of the drop.
  const failing = plan.steps.flatMap((s) =>
    s.proof.edges.filter((e) => e.status !== 'ok').map((e) => ({ step: s.index, ...e })),
  );
  t.ok(failing.length > 0, 'a non-ok edge is announced');
  const pods = failing.filter((e) => e.kind === 'pod-apiserver');
  t.ok(pods.length > 0, 'the pod disruption is announced');
  for (const e of pods) {
    t.same(
      { step: e.step, status: e.status },
      { step: 2, status: 'degraded' },
      `announced in the issue step: ${e.from} → ${e.to}`,
    );
    t.ok(
      e.toNodes.every((n) => lab.cps.includes(n)),
      'refused by control-plane apiservers',
    );
  }
  for (const e of failing.filter((x) => x.kind !== 'pod-apiserver')) {
    t.same(
      { step: e.step, kind: e.kind, status: e.status, waves: e.waves, persists: e.persists },
      { step: 4, kind: 'kubelet-apiserver', status: 'degraded', waves: [2], persists: false },
      `announced: ${e.from} → ${e.to}`,
    );
    t.ok(
      e.fromNodes.length > 0 && e.fromNodes.every((n) => lab.cps.includes(n)),
      'kubelets of control planes only (workers dropped first)',
    );
    t.ok(
      e.toNodes.every((n) => lab.cps.includes(n)),
      'refused by patched control planes',
    );
    t.match(e.window, /wave 2 of step 4/, 'the window is the control-plane wave of the Kubernetes drop');
  }

  // Per-node targets.
  const T = (issuing: string | null, accepted: string[]): CaState => ({ issuing, accepted });
  const docWorker = (role: string) => style === 'document' && role === 'worker';
  const expected = (
    role: string,
    phase: 'before' | 'accept' | 'issue' | 'drop',
    apis: readonly string[],
  ): { talos?: CaState; kubernetes?: CaState } => {
    const talos = {
      before: T(f.oldTalos, []),
      accept: T(f.oldTalos, [f.newTalos]),
      issue: T(f.newTalos, [f.oldTalos]),
      drop: T(f.newTalos, []),
    }[phase];
    const kubernetes = docWorker(role)
      ? {
          before: T(null, [f.oldKube]),
          accept: T(null, [f.oldKube, f.newKube]),
          issue: T(null, [f.newKube, f.oldKube]),
          drop: T(null, [f.newKube]),
        }[phase]
      : {
          before: T(f.oldKube, []),
          accept: T(f.oldKube, [f.newKube]),
          issue: T(f.newKube, [f.oldKube]),
          drop: T(f.newKube, []),
        }[phase];
    return { ...(apis.includes('talos') ? { talos } : {}), ...(apis.includes('kubernetes') ? { kubernetes } : {}) };
  };
  const phases = [
    [accept, 'before', 'accept'],
    [issue, 'accept', 'issue'],
    [talosDrop, 'issue', 'drop'],
    [kubeDrop, 'issue', 'drop'],
  ] as const;
  for (const [step, from, to] of phases) {
    for (const n of step.nodes) {
      t.same(
        { current: n.current, target: n.target },
        { current: expected(n.role, from, step.apis), target: expected(n.role, to, step.apis) },
        `${step.id}: ${n.role} ${n.address}: ${from} → ${to}`,
      );
    }
  }
  if (style === 'document') {
    const w = issue.nodes.find((n) => n.role === 'worker')!;
    t.equal(w.target.kubernetes?.issuing, null, 'document-style worker: no issuing Kubernetes CA');
    t.equal(w.target.kubernetes?.accepted[0], f.newKube, 'document-style worker: the new CA first after issue');
  }
}

function stepBlocks(text: string): string[] {
  return text.split(/^(?=> step )/m).slice(1);
}

function checkHumanOutput(t: TapTest, text: string, lab: PlanLab): void {
  t.match(text, /^Plan: 4 step\(s\) \(talos: accept → issue → drop; kubernetes: accept → issue → drop\)/);
  const blocks = stepBlocks(text);
  t.equal(blocks.length, 4, 'four steps');
  const waves = {
    cpsFirst: ['wave 1/2: control planes', 'wave 2/2: workers'],
    workersFirst: ['wave 1/2: workers', 'wave 2/2: control planes'],
  };
  // One gate: line per check, each wrapped at 100 columns (continuations indented 8).
  const both = new RegExp(
    /^ {2}gate: Talos Version on every node through [^\n]*(?:\n {8}\S[^\n]*)*\n {2}gate: Kubernetes: /.source +
      /kubelet restart observed on 5 node\(s\), every Node Ready/.source,
    'm',
  );
  const expected: [string, string[], string, RegExp, RegExp][] = [
    [STEPS[0]!, waves.cpsFirst, 'safe', /Talos API: .*; Kubernetes API: /, both],
    [STEPS[1]!, waves.cpsFirst, 'safe-with-announced-disruption', /Talos API: .*; Kubernetes API: /, both],
    [
      STEPS[2]!,
      waves.cpsFirst,
      'safe',
      /Talos API: drop talos-lab /,
      /^ {2}gate: Talos Version on every node through [^;]*$/m,
    ],
    [
      STEPS[3]!,
      waves.workersFirst,
      'safe-with-announced-disruption',
      /Kubernetes API: drop kubernetes-lab /,
      /^ {2}gate: Kubernetes: kubelet restart observed on 5 node\(s\), every Node Ready/m,
    ],
  ];
  for (const [i, [id, waveLines, verdict, title, gate]] of expected.entries()) {
    const b = blocks[i] ?? '';
    t.match(
      b.replace(/\n {4}(?=\S)/g, ' '),
      new RegExp(`^> step ${i + 1}/4: ${id} — ${title.source}`),
      `step ${i + 1} is ${id}, with its title`,
    );
    const shown = b
      .split('\n')
      .filter((l) => /^ {2}wave \d/.test(l))
      .map((l) => l.replace(/,.*$/, '').trim());
    t.same(shown, waveLines, `${id}: its waves in order`);
    for (const n of lab.nodes)
      t.match(b, new RegExp(`^ {2}- ${n.replace(/\./g, '\\.')} \\(`, 'm'), `${id}: names node ${n}`);
    t.match(b, gate, `${id}: its gate`);
    t.match(
      b,
      new RegExp(`^ {2}proof: ${verdict} \\(\\d+ state\\(s\\), \\d+ node class\\(es\\)`, 'm'),
      `${id}: proof verdict ${verdict}`,
    );
  }
  t.match(
    blocks[3] ?? '',
    new RegExp(
      /^ {4}~ kubelet-apiserver \[degraded\]: during wave 2 of step /.source +
        /4[^\n]*(?:\n {10}\S[^\n]*)*\n {8}kubelets of control planes /.source,
      'm',
    ),
    'the Kubernetes drop announces the control-plane kubelet window',
  );
  const long = text.split('\n').filter((l) => l.length > 100 && !/^ {6}[-+ @]/.test(l) && !l.startsWith('Verdict: '));
  t.same(long, [], 'apart from config diffs and the verdict, no line over 100 columns (a pipe: 100)');
  t.match(
    text,
    /^Verdict: safe-with-announced-disruption\. Apply with `rotate apply -f [^`]+`\.$/m,
    'the hint names the desired-state file',
  );
  let inDiff = false;
  const diffLines = text
    .split('\n')
    .filter((l) => (inDiff = l.startsWith('      --- ') || (inDiff && l.startsWith('      '))));
  t.ok(diffLines.length > 0, 'per-node config diffs are shown');
  t.same(
    diffLines.filter((l) => l.length > 200),
    [],
    'no config-diff line over 200 characters (CA fields decoded, not base64)',
  );
  t.match(
    text,
    /^ {6}\+ .*certificate talos-next \([0-9a-f]{16}\), subject O=talos, not after \d{4}-\d\d-\d\dT/m,
    'the new Talos CA is named and decoded',
  );
  t.match(text, /^ {6}[-+ ] .*key: \(sensitive\)$/m, 'keys stay (sensitive)');
}
