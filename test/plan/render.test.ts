import t from 'tap';
import { createTwoFilesPatch } from 'diff';
import { applyCommandFor } from '../../src/cli/commands/plan/run.js';
import { redactSecrets } from '../../src/machineconfig/index.js';
import { generateTalosCa, summarizeCertificateValue } from '../../src/pki/index.js';
import { planRotation } from '../../src/plan/planner/index.js';
import { parsePlanDocument, renderPlanJson, renderPlanText } from '../../src/plan/render/index.js';
import { cluster, desired, input, K_OLD, T_OLD } from './fixtures/cluster.js';

t.test('human rendering: steps, nodes, gates, proof', async (t) => {
  const plan = planRotation(input(cluster()));
  const text = renderPlanText(plan, { width: 1000 }); // line formats, unwrapped
  t.match(text, /^Plan: 4 step\(s\)/);
  t.match(
    text,
    new RegExp(
      /\n> step 1\/4: talos-kubernetes-accept — Talos API: accept talos-2026 \([0-9a-f]{16}\); /.source +
        /Kubernetes API: accept k8s-2026/.source,
    ),
  );
  t.match(
    text,
    new RegExp(
      /\n {2}- 127\.0\.0\.10 \(cp-1\): talos \+accept talos-2026 \([0-9a-f]{16}\); kubernetes \+accept /.source +
        /k8s-2026 \([0-9a-f]{16}\); kubelet restarts\n/.source,
    ),
  );
  t.match(text, /~issuing talos-2025 \([0-9a-f]{16}\) → talos-2026/);
  t.match(text, /-drop k8s-2025/);
  t.match(text, /wave 1\/2: workers, up to 1 at a time/, 'the drop step starts with workers');
  t.match(text, /gate: Talos Version on every node through 127\.0\.0\.10 with the intermediate talosconfig/);
  t.match(text, /then: write talosconfig \(new client\), kubeconfig, secretsBundle/);
  t.match(text, /proof: safe-with-announced-disruption/);
  t.match(
    text,
    /\n {4}~ kubelet-apiserver \[degraded\]: during wave 2 of step 4[^\n]*\n {8}kubelets of control planes? .* → /,
    'an edge: what and when, then between whom, then why',
  );
  t.match(text, /Verdict: safe-with-announced-disruption\. Apply with/);
  t.notMatch(text, /PRIVATE KEY|undefined|\[object Object\]/);
});

t.test('the per-node config diff slot is rendered when filled', async (t) => {
  const plan = planRotation(input(cluster({ controlPlanes: 1, workers: 0 })));
  t.notMatch(renderPlanText(plan), /machine:\n/);
  plan.steps[0]!.nodes[0]!.configDiff = '@@ machine.acceptedCAs\n+ - crt: LS0t…\n';
  t.match(renderPlanText(plan), /\n {6}@@ machine\.acceptedCAs\n {6}\+ - crt: LS0t…\n/);
});

t.test('no changes and refusals', async (t) => {
  const none = renderPlanText(
    planRotation(input(cluster(), { desired: { talos: desired(T_OLD), kubernetes: desired(K_OLD) } })),
  );
  t.match(none, /No changes\. The cluster matches the desired CA state\./);
  t.notMatch(none, /> step/);
  const refused = renderPlanText(planRotation(input(cluster(), { endpoints: ['127.0.0.20'] })));
  t.match(refused, /Refused \(1\):\n {2}! PLAN_ENDPOINT_IS_WORKER: endpoint 127\.0\.0\.20 is a worker/);
  t.match(refused, /This plan cannot be applied\./);
});

t.test('JSON document: plain, versioned, round-trips', async (t) => {
  const plan = planRotation(input(cluster()));
  const json = renderPlanJson(plan);
  t.ok(json.endsWith('\n'));
  t.same(parsePlanDocument(json), JSON.parse(json));
  t.same(parsePlanDocument(json), plan, 'nothing in a plan is lost by JSON (no undefined, no class instances)');
  t.throws(() => parsePlanDocument(json.replace('"formatVersion": 1', '"formatVersion": 2')), {
    code: 'PLAN_FORMAT_UNSUPPORTED',
  });
  t.throws(() => parsePlanDocument('{"formatVersion": 1}'), { code: 'PLAN_FORMAT_INVALID' });
  t.throws(() => parsePlanDocument('not json'), { code: 'PLAN_FORMAT_INVALID' });
});

t.test(
  'config diffs: a base64 CA field renders as one decoded line; keys stay (sensitive); JSON keeps the bytes',
  async (t) => {
    const [oldCa, newCa] = [await generateTalosCa(), await generateTalosCa()];
    const b64 = (pem: string) => Buffer.from(pem).toString('base64');
    const config = (ca: typeof oldCa, accepted: string[]) =>
      [
        'version: v1alpha1',
        'machine:',
        '  type: controlplane',
        '  ca:',
        `    crt: ${b64(ca.certPem)}`,
        `    key: ${b64(ca.key.reveal())}`,
        ...(accepted.length ? ['  acceptedCAs:', ...accepted.map((p) => `    - crt: ${b64(p)}`)] : []),
        'cluster:',
        '  token: abc.def',
        '',
      ].join('\n');
    const diff = createTwoFilesPatch(
      'before',
      'after',
      redactSecrets(config(oldCa, [])),
      redactSecrets(config(newCa, [oldCa.certPem])),
      undefined,
      undefined,
      { context: 3 },
    );
    t.ok(
      diff.split('\n').some((l) => l.length > 200),
      'the raw diff has the long base64 lines this is about',
    );

    const plan = planRotation(input(cluster({ controlPlanes: 1, workers: 0 })));
    plan.authorities.push({ api: 'talos', fingerprint: newCa.fingerprint, name: 'talos-2027', disposition: 'issuing' });
    plan.steps[0]!.nodes[0]!.configDiff = diff;
    const text = renderPlanText(plan, { describeCertificate: summarizeCertificateValue });
    const short = (fp: string) => fp.slice(0, 16);
    const notAfter = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
    t.match(
      text,
      `\n      -    crt: certificate (${short(oldCa.fingerprint)}), subject O=talos, not ` +
        `after ${notAfter(oldCa.notAfter)}\n`,
      'an authority the plan does not name: fingerprint only',
    );
    t.match(
      text,
      `\n      +    crt: certificate talos-2027 (${short(newCa.fingerprint)}), subject O=talos, not ` +
        `after ${notAfter(newCa.notAfter)}\n`,
      'named from the desired state',
    );
    t.match(text, `\n      +    - crt: certificate (${short(oldCa.fingerprint)}), subject O=talos`, 'a list entry too');
    t.match(text, /\n {6}[-+ ] {4}key: \(sensitive\)\n/, 'keys stay (sensitive)');
    t.notMatch(text, /LS0t|PRIVATE KEY/);
    const lines = text.split('\n');
    const first = lines.findIndex((l) => l.startsWith('      --- before'));
    const end = lines.findIndex((l, i) => i > first && !l.startsWith('      '));
    t.ok(first > 0 && end - first > 10, 'the diff is rendered');
    t.same(
      lines.slice(first, end).filter((l) => l.length > 200),
      [],
      'no diff line over 200 characters',
    );
    t.ok(renderPlanJson(plan).includes(b64(newCa.certPem)), 'the JSON plan keeps the exact bytes');
    t.match(renderPlanText(plan), /crt: LS0t/, 'without a decoder the value is left as it is');
  },
);

t.test('the closing hint names the command that applies this plan, and none inside apply/rollback', async (t) => {
  const plan = planRotation(input(cluster()));
  t.match(renderPlanText(plan), /^Verdict: safe-with-announced-disruption\. Apply with `rotate apply`\.$/m, 'default');
  t.match(
    renderPlanText(plan, { applyCommand: applyCommandFor({ out: 'plan.json', file: 'rotate.yaml' }) }),
    /^Verdict: [^\n]*\. Apply with `rotate apply plan\.json`\.$/m,
    'after --out: the saved file',
  );
  t.match(
    renderPlanText(plan, { applyCommand: applyCommandFor({ file: 'prod/rotate.yaml' }) }),
    /Apply with `rotate apply -f prod\/rotate\.yaml`\./,
    'another desired-state file: named',
  );
  t.equal(applyCommandFor({ out: 'my plan.json', file: 'rotate.yaml' }), `rotate apply 'my plan.json'`, 'shell-quoted');
  const inApply = renderPlanText(plan, { applyCommand: null });
  t.match(inApply, /^Verdict: safe-with-announced-disruption\.$/m, 'inside apply: the verdict alone');
  t.notMatch(inApply, /Apply with/);
});

t.test('a PEM certificate written out over several diff lines (document style) is one line', async (t) => {
  const plan = planRotation(input(cluster({ controlPlanes: 1, workers: 0 })));
  const ca = await generateTalosCa();
  const pem = ca.certPem.trim().split('\n');
  plan.steps[0]!.nodes[0]!.configDiff = [
    '@@ KubeAPIServerCAConfig',
    ' acceptedCAs:',
    '-  - cert: |-',
    ...pem.map((l) => `+      ${l}`),
    ...pem.map((l) => ` ${l}`),
    '',
  ].join('\n');
  const text = renderPlanText(plan, { describeCertificate: summarizeCertificateValue });
  const short = ca.fingerprint.slice(0, 16);
  t.match(
    text,
    new RegExp(
      `\\n {6}\\+ {6}certificate \\(${short}\\), subject O=talos, not after ` +
        `\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\n {6} certificate \\(${short}\\)`,
    ),
  );
  t.notMatch(text, /BEGIN CERTIFICATE/, 'no PEM line is left');
  t.match(text, /\n {6}- {2}- cert: \|-\n/, 'other lines as they were');
  plan.steps[0]!.nodes[0]!.configDiff = [`+      ${pem[0]}`, `+      ${pem[1]}`, ''].join('\n');
  t.match(
    renderPlanText(plan, { describeCertificate: summarizeCertificateValue }),
    /BEGIN CERTIFICATE/,
    'a block without its END line is left as it is',
  );
});

t.test('prose wraps at the width (100 by default) with a hanging indent; diffs and the verdict never do', async (t) => {
  const plan = planRotation(input(cluster({ controlPlanes: 3, workers: 12 })));
  plan.steps[0]!.nodes[0]!.configDiff = `@@ machine.acceptedCAs\n+ - crt: ${'A'.repeat(150)}\n`;
  const wide = renderPlanText(plan, { width: 1000 });
  t.ok(
    wide.split('\n').some((l) => l.length > 120),
    'unwrapped, the plan has lines over 120 columns (the problem)',
  );
  for (const width of [100, 120]) {
    const text = width === 100 ? renderPlanText(plan) : renderPlanText(plan, { width });
    const lines = text.split('\n');
    const long = lines.filter((l) => l.length > width);
    t.same(
      long.filter((l) => !/^ {6}[-+ @]/.test(l) && !l.startsWith('Verdict: ')),
      [],
      `at ${width}: only diff lines or the verdict are longer`,
    );
    t.ok(lines.includes(`      + - crt: ${'A'.repeat(150)}`), `at ${width}: a diff line is left whole`);
    t.equal(text.replace(/\n +/g, ' '), wide.replace(/\n +/g, ' '), `at ${width}: the same words in the same order`);
    // Continuations are indented deeper than the line they continue, and never at 6 columns (diff lines).
    const continuations = lines.filter((l) => l.trim() !== '' && !wide.split('\n').includes(l));
    t.ok(continuations.length > 10, `at ${width}: lines were wrapped`);
    t.same(
      continuations.filter((l) => /^ {6}\S/.test(l)),
      [],
      `at ${width}: no continuation at column 6`,
    );
  }
  const gates = wide.split('\n').filter((l) => l.startsWith('  gate: '));
  t.ok(
    gates.some((l) => l.startsWith('  gate: Talos Version')) && gates.some((l) => l.startsWith('  gate: Kubernetes: ')),
    'one gate: line per check',
  );
  t.notOk(
    gates.some((l) => l.includes('; Kubernetes: ')),
    'checks are not joined on one line',
  );
});
