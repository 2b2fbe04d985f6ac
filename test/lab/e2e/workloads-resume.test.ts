/**
 * Issue 14: a run killed (SIGKILL) during the workload phase, then resumed, restarts no workload twice:
 * the resumed run sends the restartedAt value the killed run recorded, never a new one (the lab's template
 * keeps the first value, one generation bump), waits for the rollouts, and records them `restarted`. A 1+1 lab with
 * `--workloads standard`, Kubernetes API CA only.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { childEnv, labDir, requireBuild, rotate, ROTATE, withoutNodeOptions } from './fixtures/cli.js';

requireBuild(t);

interface Ev {
  type: string;
  kind?: string;
  namespace?: string;
  name?: string;
  status?: string;
  detail?: string | null;
}

/** `rotate apply --json` in `dir`, SIGKILLed as soon as `killWhen` sees an event (if given). */
function applyJson(
  dir: string,
  killWhen?: (e: Ev) => boolean,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; events: Ev[]; stderr: string }> {
  return new Promise((resolve) => {
    const [file, args] = withoutNodeOptions(ROTATE, [
      'apply',
      '-f',
      path.join(dir, 'rotate.yaml'),
      '--auto-approve',
      '--workloads',
      'restart',
      '--json',
    ]);
    const child = spawn(file, args, { cwd: dir, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const events: Ev[] = [];
    let buf = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const e = JSON.parse(line) as Ev;
          events.push(e);
          if (killWhen?.(e)) child.kill('SIGKILL');
        } catch {
          /* not an event line */
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code, signal) => resolve({ code, signal, events, stderr }));
  });
}

t.test('kill during the workload phase, resume: no workload restarted twice', async (t) => {
  const dir = await labDir(t);
  const up = await rotate(
    'lab',
    'up',
    '--dir',
    dir,
    '--control-planes',
    '1',
    '--workers',
    '1',
    '--workloads',
    'standard',
    '--detach',
  );
  t.equal(up.code, 0, up.stderr);
  t.equal(
    (await rotate('ca', 'new', '--api', 'kubernetes', '--name', 'k8s-next', '--dir', path.join(dir, 'pki'))).code,
    0,
  );
  const file = path.join(dir, 'rotate.yaml');
  let text = await fs.readFile(file, 'utf8');
  text = text
    .replace('  issuing: kubernetes-lab\n', '  issuing: k8s-next\n')
    .replace(
      'authorities:\n',
      'authorities:\n  k8s-next: { certificate: pki/k8s-next.crt, key: { file: pki/k8s-next.key } }\n',
    );
  await fs.writeFile(file, text);

  // Killed right after the first restart annotation was recorded and sent (before its rollout completed).
  const first = await applyJson(dir, (e) => e.type === 'workload' && e.status === 'started');
  t.equal(first.signal, 'SIGKILL', `the first run was killed in the workload phase (${first.stderr.slice(-500)})`);
  const startedFirst = first.events.filter((e) => e.type === 'workload' && e.status === 'started');
  t.ok(startedFirst.length >= 1, 'it had started a restart');

  const second = await applyJson(dir);
  t.equal(second.code, 0, second.stderr.slice(-2000));
  t.ok(
    second.events.some((e) => e.type === 'run-resume'),
    'the second run resumed the first',
  );
  const key = (e: Ev) => `${e.kind} ${e.namespace}/${e.name}`;
  // A `started` the killed run recorded may be said again (its patch may not have gone out), but only with
  // the same restartedAt value: the template then changes once, whatever the kill hit.
  for (const e of second.events.filter((x) => x.type === 'workload' && x.status === 'started')) {
    const before = startedFirst.find((f) => key(f) === key(e));
    if (before) t.equal(e.detail, before.detail, `${key(e)}: resumed with the recorded restartedAt, not a new one`);
  }
  const restarted = second.events.filter((e) => e.type === 'workload' && e.status === 'restarted');
  for (const e of startedFirst) {
    const done = restarted.find((r) => key(r) === key(e));
    t.ok(done, `${key(e)}: its rollout was waited for and recorded`);
    t.equal(done?.detail, e.detail, `${key(e)}: with the restartedAt value the killed run sent`);
  }

  // The lab agrees: each restarted workload carries the first run's annotation, set by one patch.
  const inspect = JSON.parse((await rotate('lab', 'inspect', '--dir', dir, '--json')).stdout) as {
    pods: {
      workloads?: {
        kind: string;
        namespace: string;
        name: string;
        restartedAt: string | null;
        generation: number | null;
      }[];
    };
  };
  for (const e of startedFirst) {
    const w = inspect.pods.workloads?.find((x) => `${x.kind} ${x.namespace}/${x.name}` === key(e));
    t.equal(w?.restartedAt, e.detail, `${key(e)}: the lab's template holds the first annotation`);
    if (e.kind === 'Deployment') t.equal(w?.generation, 2, `${key(e)}: one spec change (generation 1 → 2)`);
  }
});
