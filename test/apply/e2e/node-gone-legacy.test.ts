/**
 * A node gone for good (issue 10 item 6): `rotate apply` is killed after step 1; a worker is then removed
 * from the cluster for good (the lab's `remove` fault: off, no longer a discovery member nor a Kubernetes
 * Node, as `talosctl reset` + `kubectl delete node` leave it) and dropped from the desired state. The resume
 * re-plans without it, says what it checked (event node-dropped: not a Talos member, not a Kubernetes Node),
 * completes the rotation on the other nodes, and records the run's cluster without it.
 */
import { promises as fs } from 'node:fs';
import t from 'tap';
import { labFault } from '../../../src/lab/process/control-client.js';
import { requirePrerequisites, spawnRotate, on } from './fixtures/proc.js';
import { RotationLab, STATIC_POD_DELAY_MS } from './fixtures/rotation-lab.js';
import type { StateDocument } from '../../../src/state/index.js';

await requirePrerequisites(t);

t.test('a worker removed for good mid-run: the resume goes on without it and says what it checked', async (t) => {
  const lab = await RotationLab.up(t, { style: 'legacy', staticPodDelayMs: STATIC_POD_DELAY_MS });
  const gone = lab.workers[lab.workers.length - 1]!;

  const first = spawnRotate(t, ...lab.cmd('apply', '--auto-approve', '--json'));
  first.signalOn(on.stepComplete(1), 'SIGKILL');
  t.equal((await first.exited).signal, 'SIGKILL', 'the first apply was killed after step 1');

  const removed = await labFault(lab.labFile, { node: gone, remove: true });
  t.equal(removed.removed, true, `${gone} removed from the lab cluster`);
  const text = await fs.readFile(lab.desired, 'utf8');
  const workersLine = /^ {2}workers: \[(.*)\]$/m.exec(text);
  t.ok(workersLine, 'the desired state lists the workers on one line');
  const kept = workersLine![1]!
    .split(',')
    .map((s) => s.trim())
    .filter((a) => a !== gone);
  await fs.writeFile(lab.desired, text.replace(workersLine![0], `  workers: [${kept.join(', ')}]`));

  const resume = spawnRotate(t, ...lab.cmd('apply', '--auto-approve', '--json'));
  const x = await resume.exited;
  t.equal(x.code, 0, `the resume completes (stderr: ${resume.stderr})`);
  t.equal(resume.ofType('run-resume').length, 1, 'it resumed the killed run');
  const dropped = resume.ofType('node-dropped');
  t.same(
    dropped.map((e) => ({
      address: e.address,
      role: e.role,
      talosMember: e.talosMember,
      kubernetesNode: e.kubernetesNode,
    })),
    [{ address: gone, role: 'worker', talosMember: 'absent', kubernetesNode: 'absent' }],
    'says which node it went on without and what it checked',
  );
  t.match(String(dropped[0]?.['@message'] ?? ''), /not a Talos cluster member, not a Kubernetes Node/);
  t.equal(resume.ofType('run-complete').length, 1, 'the run completed');
  t.notOk(
    resume.ofType('node-started').some((e) => e.address === gone),
    'the removed node was not touched',
  );

  const report = await lab.inspect();
  for (const n of report.nodes.filter((n) => n.address !== gone)) {
    t.equal(n.talos.issuing, lab.newCas.talos, `${n.address}: the new Talos CA issues`);
    t.same(n.talos.accepted, [], `${n.address}: the old Talos CA is dropped`);
  }
  const state = JSON.parse(await fs.readFile(lab.stateFile, 'utf8')) as StateDocument;
  t.notOk(state.runs[0]?.cluster?.workers.includes(gone), 'the run records its cluster without the removed node');
});
