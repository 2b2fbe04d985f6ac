/**
 * Issue 14, on one 1+1 lab with `--workloads standard` (Kubernetes API CA only), as a sequence:
 *
 * 1. A run killed (SIGKILL) during the workload phase, then resumed, restarts no workload twice: the
 *    resumed run sends the restartedAt value the killed run recorded, never a new one (the lab's template
 *    keeps the first value, one generation bump), waits for the rollouts, and records them `restarted`.
 * 2. The rollback bullet: a rollback of the Kubernetes API CA breaks the pods the apply restarted (they
 *    loaded only the new CA), so rollback has its own workload phase. `rollback --workloads restart`,
 *    SIGKILLed right after its first restart was recorded and resumed. Afterwards every workload the apply
 *    restarted was restarted by the rollback after its revert step (all its pods started after that step),
 *    each once: the resumed rollback sends the restartedAt value the killed one recorded, and a
 *    Deployment's template changed once per run (generation 1 → 2 → 3).
 *
 * (Part 1 was workloads-resume.test.ts, on a lab of its own; the rollback needs a completed apply anyway.)
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import {
  childEnv,
  FAST_TIMINGS,
  labDir,
  requireBuild,
  rotate,
  ROTATE,
  withoutNodeOptions,
  labUp,
} from './fixtures/cli.js';

requireBuild(t);

interface Ev {
  type: string;
  '@timestamp'?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  status?: string;
  detail?: string | null;
  stepId?: string;
  index?: number;
  operation?: string;
  afterStep?: number | null;
  mode?: string;
  modeSource?: string;
  podsStartedAfter?: string | null;
}

/** `rotate <command> --json` in `dir`, SIGKILLed as soon as `killWhen` sees an event (if given). */
function runJson(
  dir: string,
  command: 'apply' | 'rollback',
  killWhen?: (e: Ev) => boolean,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; events: Ev[]; stderr: string }> {
  return new Promise((resolve) => {
    const [file, args] = withoutNodeOptions(ROTATE, [
      command,
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

interface RecordLike {
  namespace: string;
  kind: string;
  name: string;
  status: string;
  restartedAt?: string;
}
interface RunLike {
  id: string;
  operation: string;
  status: string;
  workloads?: RecordLike[];
  plan: PlanLike;
  resumes: { replanned?: { plan: PlanLike } }[];
}
type PlanLike = { workloadPhase?: { afterStep: number; afterStepId: string; mode: string; podsStartedAfter?: string } };

t.test(
  'apply, then rollback, --workloads restart, each killed in its workload phase and resumed: each restarts once',
  async (t) => {
    const dir = await labDir(t);
    const up = await labUp(dir, '--control-planes', '1', '--workers', '1', '--workloads', 'standard', ...FAST_TIMINGS);
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

    const key = (e: { kind?: string; namespace?: string; name?: string }) => `${e.kind} ${e.namespace}/${e.name}`;

    // 1. The apply, killed right after the first restart annotation was recorded and sent (before its
    //    rollout completed), then resumed: no workload restarted twice.
    const killed = await runJson(dir, 'apply', (e) => e.type === 'workload' && e.status === 'started');
    t.equal(killed.signal, 'SIGKILL', `the first run was killed in the workload phase (${killed.stderr.slice(-500)})`);
    const startedByKilled = killed.events.filter((e) => e.type === 'workload' && e.status === 'started');
    t.ok(startedByKilled.length >= 1, 'it had started a restart');

    const apply = await runJson(dir, 'apply');
    t.equal(apply.code, 0, apply.stderr.slice(-2000));
    t.ok(
      apply.events.some((e) => e.type === 'run-resume'),
      'the second run resumed the first',
    );
    // A `started` the killed run recorded may be said again (its patch may not have gone out), but only with
    // the same restartedAt value: the template then changes once, whatever the kill hit.
    for (const e of apply.events.filter((x) => x.type === 'workload' && x.status === 'started')) {
      const before = startedByKilled.find((f) => key(f) === key(e));
      if (before) t.equal(e.detail, before.detail, `${key(e)}: resumed with the recorded restartedAt, not a new one`);
    }
    const restartedByResume = apply.events.filter((e) => e.type === 'workload' && e.status === 'restarted');
    for (const e of startedByKilled) {
      const done = restartedByResume.find((r) => key(r) === key(e));
      t.ok(done, `${key(e)}: its rollout was waited for and recorded`);
      t.equal(done?.detail, e.detail, `${key(e)}: with the restartedAt value the killed run sent`);
    }
    // The lab agrees: each restarted workload carries the first run's annotation, set by one patch.
    const afterApply = JSON.parse((await rotate('lab', 'inspect', '--dir', dir, '--json')).stdout) as {
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
    for (const e of startedByKilled) {
      const w = afterApply.pods.workloads?.find((x) => key(x) === key(e));
      t.equal(w?.restartedAt, e.detail, `${key(e)}: the lab's template holds the first annotation`);
      if (e.kind === 'Deployment') t.equal(w?.generation, 2, `${key(e)}: one spec change (generation 1 → 2)`);
    }

    // 2. The rollback, killed right after its first restart annotation was recorded.
    const first = await runJson(dir, 'rollback', (e) => e.type === 'workload' && e.status === 'started');
    t.equal(
      first.signal,
      'SIGKILL',
      `the first rollback was killed in its workload phase (${first.stderr.slice(-500)})`,
    );
    const phase = first.events.find((e) => e.type === 'workload-phase');
    t.match(
      phase,
      { operation: 'rollback', mode: 'restart', modeSource: 'flag' },
      'the rollback announced its workload phase',
    );
    t.ok(phase?.podsStartedAfter, 'with the time from which pods hold the CA it takes away');
    // Announced right after the step it follows finished (the revert step), before any workload event.
    const order = first.events.filter(
      (e) => e.type === 'step-complete' || e.type === 'workload-phase' || e.type === 'workload',
    );
    const at = order.findIndex((e) => e.type === 'workload-phase');
    t.equal(order[at - 1]?.type, 'step-complete', 'the phase follows a completed step');
    t.equal(order[at - 1]?.index, phase?.afterStep, 'the step the event names');
    t.notOk(
      order.slice(0, at).some((e) => e.type === 'workload'),
      'no workload touched before the phase',
    );
    const revertDone = Date.parse(order[at - 1]!['@timestamp']!);
    const startedFirst = first.events.filter((e) => e.type === 'workload' && e.status === 'started');

    const second = await runJson(dir, 'rollback');
    t.equal(second.code, 0, second.stderr.slice(-2000));
    t.ok(
      second.events.some((e) => e.type === 'run-resume' && e.operation === 'rollback'),
      'the second rollback resumed the first',
    );
    for (const e of second.events.filter((x) => x.type === 'workload' && x.status === 'started')) {
      const before = startedFirst.find((f) => key(f) === key(e));
      if (before) t.equal(e.detail, before.detail, `${key(e)}: resumed with the recorded restartedAt, not a new one`);
    }

    const state = JSON.parse(await fs.readFile(path.join(dir, 'state', 'rotate.state.json'), 'utf8')) as {
      runs: RunLike[];
    };
    const applyRun = state.runs.find((r) => r.operation === 'apply')!;
    const rollbackRun = state.runs.find((r) => r.operation === 'rollback')!;
    t.equal(rollbackRun.status, 'complete');
    t.equal(applyRun.status, 'rolled-back');
    // Its first plan (the resume re-planned without the revert step, which was done) says where its phase runs.
    const firstPlan = rollbackRun.resumes[0]?.replanned?.plan ?? rollbackRun.plan;
    t.match(
      firstPlan.workloadPhase,
      { afterStep: phase?.afterStep, mode: 'restart', podsStartedAfter: phase?.podsStartedAfter },
      "the rollback's plan says where its phase runs",
    );
    const restartedByApply = (applyRun.workloads ?? []).filter((r) => r.status === 'restarted');
    t.ok(restartedByApply.length >= 3, 'the apply restarted workloads');
    const rollbackRecords = rollbackRun.workloads ?? [];

    const inspect = JSON.parse((await rotate('lab', 'inspect', '--dir', dir, '--json')).stdout) as {
      pods: {
        workloads?: {
          kind: string;
          namespace: string;
          name: string;
          restartedAt: string | null;
          generation: number | null;
          pods: { startedAt: string | null }[];
        }[];
      };
    };
    for (const a of restartedByApply) {
      const r = rollbackRecords.find((x) => key(x) === key(a));
      t.equal(r?.status, 'restarted', `${key(a)}: restarted by the rollback too`);
      t.not(r?.restartedAt, a.restartedAt, `${key(a)}: with a restartedAt of its own`);
      const w = inspect.pods.workloads?.find((x) => key(x) === key(a));
      t.equal(w?.restartedAt, r?.restartedAt, `${key(a)}: the lab's template holds the rollback's annotation`);
      t.ok(
        w && w.pods.length > 0 && w.pods.every((p) => p.startedAt !== null && Date.parse(p.startedAt) > revertDone),
        `${key(a)}: every pod started after the rollback's revert step`,
      );
      if (a.kind === 'Deployment')
        t.equal(w?.generation, 3, `${key(a)}: one template change per run (generation 1 → 2 → 3)`);
    }
    // The killed rollback's restarts, finished by the resumed one with the same value.
    for (const e of startedFirst)
      t.equal(
        rollbackRecords.find((x) => key(x) === key(e))?.restartedAt,
        e.detail ?? undefined,
        `${key(e)}: recorded with the killed rollback's restartedAt`,
      );
  },
);
