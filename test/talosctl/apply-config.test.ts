/**
 * Conformance: the real talosctl applies a node's own config back to it through the endpoint, as a
 * server-side dry run and as a real `--mode no-reboot` apply, on a worker and on a control plane, for both
 * Kubernetes CA styles with the matching talosctl line. What Talos answers
 * (internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go, same text in v1.13.9 and v1.14.1):
 * a dry run reports "Dry run summary:", the would-be mode "(skipped in dry-run)" and "Config diff:" with
 * "No changes." when the documents are equal, and changes nothing; a real apply answers "Applied
 * configuration without a reboot" (talosctl prints the mode details on stderr, helpers/mode.go) and stores the config
 * again (SetConfig updates the MachineConfig resource, so its version moves by one even when the text is the same). A
 * dry run of a changed config shows Talos's unified diff of the re-encoded documents.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { requireBuild } from '../lab/e2e/fixtures/cli.js';
import { talosctlLab, yamlResources, type Style } from './fixtures/lab.js';

requireBuild(t);

function applyOf(style: Style): void {
  t.test(`talosctl apply-config with the unchanged config, ${style}-style lab`, async (t) => {
    const lab = await talosctlLab(t, style);
    const machineConfig = (node: string) => {
      const r = lab.run(lab.cp1, node, ['get', 'machineconfig', '-o', 'yaml']);
      t.equal(r.code, 0, `get machineconfig of ${node} (stderr: ${r.stderr.trim()})`);
      const d = yamlResources(r.stdout)[0]!;
      return { text: d.spec as string, version: Number(d.metadata.version) };
    };
    for (const node of [lab.worker, lab.cp2]) {
      const before = machineConfig(node);
      const file = path.join(lab.dir, `config-${node}.yaml`);
      writeFileSync(file, before.text, { mode: 0o600 });

      const dry = lab.run(lab.cp1, node, ['apply-config', '-f', file, '--dry-run']);
      t.equal(dry.code, 0, `dry run on ${node} (stderr: ${dry.stderr.trim()})`);
      t.match(
        dry.stderr,
        'Dry run summary:\nApplied configuration without a reboot (skipped in dry-run).\nConfig diff:\n\nNo changes.',
      );
      const afterDry = machineConfig(node);
      t.equal(afterDry.version, before.version, 'a dry run stores nothing');
      t.equal(afterDry.text, before.text);

      const real = lab.run(lab.cp1, node, ['apply-config', '-f', file, '--mode', 'no-reboot']);
      t.equal(real.code, 0, `no-reboot apply on ${node} (stderr: ${real.stderr.trim()})`);
      t.match(real.stderr, 'Applied configuration without a reboot');
      t.notMatch(real.stderr, 'Dry run');
      const after = machineConfig(node);
      t.equal(after.version, before.version + 1, 'the config was stored again');
      t.equal(after.text, before.text, 'as it was sent');
      const version = lab.run(lab.cp1, node, ['version']);
      t.equal(version.code, 0, `the node still answers through the endpoint (stderr: ${version.stderr.trim()})`);
    }

    // A changed config in a dry run: Talos's unified diff (pkg/machinery/textdiff), still nothing stored.
    const current = machineConfig(lab.worker);
    const san = '10.255.0.1';
    const changed = current.text.replace(/^( {4}certSANs:\n)/m, `$1        - ${san}\n`);
    t.not(changed, current.text, 'the test config gained a certSAN');
    const file = path.join(lab.dir, 'config-changed.yaml');
    writeFileSync(file, changed, { mode: 0o600 });
    const dry = lab.run(lab.cp1, lab.worker, ['apply-config', '-f', file, '--dry-run']);
    t.equal(dry.code, 0, `dry run of a change (stderr: ${dry.stderr.trim()})`);
    t.match(dry.stderr, /Config diff:\n\n--- a\n\+\+\+ b\n@@ -\d+,\d+ \+\d+,\d+ @@\n/);
    t.match(dry.stderr, `\n+        - ${san}\n`);
    t.equal(machineConfig(lab.worker).version, current.version, 'a dry run stores nothing');
  });
}

applyOf('legacy');
applyOf('document');
