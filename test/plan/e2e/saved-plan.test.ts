/**
 * The saved plan (`rotate plan --out FILE`) against the lab, both Kubernetes CA styles:
 * - written 0600; it holds no private key material (no `PRIVATE KEY`, none of the lab's keys, tokens or
 *   cluster secrets from secrets.yaml, nor the new CAs' keys), and neither does the printed plan; its
 *   per-node diffs show secrets as `(sensitive)`, also in context lines (`.machine.ca.key`,
 *   `.machine.token`, `.cluster.token` or the KubeAPIServerCAConfig issuing CA's key);
 * - a node whose live config changed after the plan makes it stale: `rotate apply FILE` exits 1 with
 *   PLAN_STALE naming that node, and changes nothing (configs, talosconfig, kubeconfig, secrets bundle,
 *   no run and no escrowed key).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';

import type { SavedPlan } from '../../../src/cluster/session/saved-plan.js';
import {
  assertCleanError,
  configDigests,
  expectExit,
  filesUnder,
  fullRotation,
  labClient,
  labSecretValues,
  liveConfigs,
  newKeyValues,
  nextCas,
  requireBuild,
  rotate,
  startLab,
  STYLES,
  tamperConfig,
  writeDesired,
  type PlanLab,
  type SecretValue,
  type Style,
  type TapTest,
} from './fixtures/plan-lab.js';

requireBuild(t);

/** Field names whose values must never show in a diff (anything but `(sensitive)`, or a worker's empty key). */
const SECRET_FIELD = new RegExp(
  /^[ +-]\s*(?:- )?/.source +
    /(key|token|secret|secretboxEncryptionSecret|aescbcEncryptionSecret|privateKey|bootstrapToken)/.source +
    /:\s*(.*)$/.source,
);

for (const style of STYLES) {
  t.test(`${style}: rotate plan --out, then a tampered node`, async (t) => {
    const lab = await startLab(t, { style });
    const cas = await nextCas(lab);
    const full = await writeDesired(lab, 'full', fullRotation(cas));
    const planFile = path.join(lab.dir, 'plan.json');
    const client = await labClient(t, lab);

    await t.test('--out writes the plan 0600, without any key', async (t) => {
      const run = await rotate('plan', '-f', full, '--out', planFile);
      expectExit(t, run, 0, 'rotate plan --out');
      t.match(run.stderr, `Saved the plan to ${planFile} (0600)`);
      t.equal((await fs.stat(planFile)).mode & 0o777, 0o600, 'mode 0600');
      const text = await fs.readFile(planFile, 'utf8');
      const saved = JSON.parse(text) as SavedPlan;
      t.equal(saved.kind, 'talos-rotate/plan');
      t.same(
        saved.plan.steps.map((s) => s.id),
        ['talos-kubernetes-accept', 'talos-kubernetes-issue', 'talos-drop', 'kubernetes-drop'],
      );

      const secrets = [...(await labSecretValues(lab)), ...(await newKeyValues(lab, [cas.talos, cas.kubernetes]))];
      t.ok(secrets.length >= 10, 'the bundle keys, tokens and secrets, and the two new keys');
      // The check can fail: the configs the plan was made from hold the lab's Talos CA key and tokens.
      const cpConfig = (await liveConfigs(client, [lab.cps[0]!])).get(lab.cps[0]!)!;
      const osKey = secrets.find((s) => s.what === 'certs.os.key (base64)')!;
      t.ok(cpConfig.includes(osKey.value), 'the control plane config the plan read holds the Talos CA key');
      t.ok(cpConfig.includes(secrets.find((s) => s.what === 'trustdinfo.token')!.value), 'and the trustd token');

      noKeyMaterial(t, text, secrets, 'the saved plan');
      t.match(run.stdout, /^> step 1\/4: talos-kubernetes-accept/m, 'the plan is printed too');
      noKeyMaterial(t, run.stdout + run.stderr, secrets, 'the printed plan');

      checkDiffs(t, saved, lab, style);
    });

    await t.test('a node whose config changed makes the saved plan stale', async (t) => {
      const target = lab.workers[0]!;
      const before = await configDigests(client, lab.nodes);
      const files = await snapshot(lab);

      const edited = await tamperConfig(client, target);
      t.match(edited, /# edited by hand after the plan was made\n$/, 'the node took the edit');
      const tampered = await configDigests(client, lab.nodes);
      t.not(tampered[target], before[target], `${target}'s config changed`);
      t.same({ ...tampered, [target]: before[target] }, before, 'no other node changed');

      const apply = await rotate('apply', planFile);
      assertCleanError(
        t,
        apply,
        'PLAN_STALE',
        [planFile, `the machine config of node ${target} changed since the plan`],
        'rotate apply of the stale plan',
      );
      t.notMatch(apply.stderr, new RegExp(`node (?!${target.replace(/\./g, '\\.')}\\b)127\\.`), 'names that node only');

      t.same(await configDigests(client, lab.nodes), tampered, 'no node config changed');
      t.same(await snapshot(lab), files, 'talosconfig, kubeconfig and secrets.yaml unchanged');
      const state = await filesUnder(path.join(lab.dir, 'state'));
      t.same(
        state.filter((f) => !/\.lock$|lock\//.test(f)),
        [],
        'no state file, run or escrowed key was written',
      );
    });

    await t.test('an edited desired-state file makes the saved plan stale too', async (t) => {
      const again = path.join(lab.dir, 'plan-again.json');
      expectExit(t, await rotate('plan', '-f', full, '--out', again), 0, 'rotate plan --out (after the edit by hand)');
      await fs.appendFile(full, '# a comment added after the plan\n');
      const before = await configDigests(client, lab.nodes);
      const apply = await rotate('apply', again);
      assertCleanError(
        t,
        apply,
        'PLAN_STALE',
        [again, `${full} changed since the plan was made`],
        'rotate apply after the desired state changed',
      );
      t.same(await configDigests(client, lab.nodes), before, 'no node config changed');
    });
  });
}

function noKeyMaterial(t: TapTest, text: string, secrets: SecretValue[], what: string): void {
  t.notMatch(text, /PRIVATE KEY/, `${what}: no PEM private key`);
  const found = secrets.filter((s) => text.includes(s.value)).map((s) => s.what);
  t.same(found, [], `${what}: none of the lab's secrets nor the new keys`);
}

function checkDiffs(t: TapTest, saved: SavedPlan, lab: PlanLab, style: Style): void {
  const diffs = saved.plan.steps.flatMap((s) =>
    s.nodes.map((n) => ({ step: s.id, node: n.address, role: n.role, diff: n.configDiff ?? '' })),
  );
  t.equal(diffs.filter((d) => d.diff === '').length, 0, 'every node of every step has a diff');
  const leaks: string[] = [];
  let redacted = 0;
  for (const d of diffs) {
    for (const line of d.diff.split('\n')) {
      const m = SECRET_FIELD.exec(line);
      if (!m) continue;
      if (m[2] === '(sensitive)') redacted += 1;
      else if (m[2] !== '""') leaks.push(`${d.step} ${d.node}: ${line.slice(0, 60)}`);
    }
  }
  t.same(leaks, [], 'every secret field in the diffs shows (sensitive)');
  t.ok(redacted > 0, 'secret fields do show up in the diffs');

  const issueCp = diffs.find((d) => d.step === 'talos-kubernetes-issue' && d.node === lab.cps[0])!.diff;
  t.match(
    issueCp,
    /^\+ {8}crt: \S+\n {9}key: \(sensitive\)\n {5}acceptedCAs:\n- {8}- crt: \S+\n\+ {8}- crt: \S+\n {5}certSANs:$/m,
    'issue, control plane: .machine.ca.key as a (sensitive) context line',
  );
  t.match(
    issueCp,
    /^ {5}type: controlplane\n {5}token: \(sensitive\)$/m,
    '.machine.token as a (sensitive) context line',
  );
  if (style === 'legacy') {
    t.match(
      issueCp,
      /^ {5}token: \(sensitive\)\n {5}secretboxEncryptionSecret: \(sensitive\)\n {5}ca:$/m,
      '.cluster.token and .cluster.secretboxEncryptionSecret as (sensitive) context lines',
    );
    t.match(
      issueCp,
      new RegExp(
        /^- {8}crt: \S+\n\+ {8}crt: \S+\n {9}key: \(sensitive\)\n {5}acceptedCAs:\n- {8}- crt: /.source +
          /\S+\n\+ {8}- crt: \S+\n {5}aggregatorCA:$/.source,
        'm',
      ),
      '.cluster.ca.key as a (sensitive) context line',
    );
  } else {
    t.match(issueCp, /^ issuingCA:\n {5}cert: \|$/m, 'the KubeAPIServerCAConfig document changes');
    t.match(
      issueCp,
      /^ {9}-----END CERTIFICATE-----\n {5}key: \(sensitive\)$/m,
      'KubeAPIServerCAConfig issuingCA.key as a (sensitive) context line',
    );
  }
  const issueWorker = diffs.find((d) => d.step === 'talos-kubernetes-issue' && d.node === lab.workers[0])!.diff;
  t.match(issueWorker, /^ {9}key: ""$/m, 'a worker has no Talos CA key');
}

/** The files apply would write, byte for byte. */
async function snapshot(lab: PlanLab): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of ['talosconfig', 'kubeconfig', 'secrets.yaml', 'rotate.yaml'])
    out[f] = await fs.readFile(path.join(lab.dir, f), 'utf8');
  return out;
}
