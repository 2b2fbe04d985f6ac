/**
 * `rotate status` against the lab: all well (0), expiring within the window (4), drift (2), an apply killed
 * mid-run (3), resumed to the end (0 again, the new CA named). Human, JSON and Prometheus outputs.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import t from 'tap';

import { labDir, requireBuild, rotate, ROTATE, labUp } from './fixtures/cli.js';

requireBuild(t);

interface Report {
  exitCode: number;
  conditions: Record<string, boolean>;
  cas: { api: string; name: string | null; issuingOn: string[]; acceptedOn: string[] }[];
  nodes: { address: string }[];
  clients: { kind: string; daysLeft: number | null }[];
  drift: { steps: string[] };
  run: { status: string } | null;
  warnings: { code: string }[];
}

t.test('status through a rotation: 0, 4, 2, 3, 0', async (t) => {
  const dir = await labDir(t);
  const up = await labUp(dir, '--control-planes', '1', '--workers', '1');
  t.equal(up.code, 0, up.stderr);
  const file = path.join(dir, 'rotate.yaml');
  const status = async (...extra: string[]): Promise<{ code: number; report: Report }> => {
    const r = await rotate('status', '-f', file, '--json', ...extra);
    t.equal(r.stderr.includes('internal error'), false, r.stderr);
    return { code: r.code, report: JSON.parse(r.stdout) as Report };
  };

  const ok = await status();
  t.equal(ok.code, 0);
  t.same(
    ok.report.cas.map((c) => [c.api, c.name, c.issuingOn.length]),
    [
      ['talos', 'talos-lab', 2],
      ['kubernetes', 'kubernetes-lab', 2],
    ],
  );
  t.equal(ok.report.nodes.length, 2);
  t.same(
    ok.report.clients.map((c) => c.kind),
    ['talosconfig', 'kubeconfig'],
  );
  t.ok(
    ok.report.clients.every((c) => c.daysLeft !== null && c.daysLeft > 300),
    'both client certificates read, a year left',
  );
  const human = await rotate('status', '-f', file);
  t.equal(human.code, 0);
  t.match(human.stdout, /Status: OK/);

  // The lab's client certificates last a year: a 400-day window flags them.
  const soon = await status('--warn-days', '400');
  t.equal(soon.code, 4);
  t.ok(soon.report.warnings.some((w) => w.code === 'STATUS_EXPIRING'));

  t.equal((await rotate('ca', 'new', '-f', file, '--api', 'talos', '--name', 'talos-next', '--make-issuing')).code, 0);
  const drift = await status();
  t.equal(drift.code, 2);
  t.same(drift.report.drift.steps, ['talos-accept', 'talos-issue', 'talos-drop']);

  // An apply killed (SIGKILL) after its first node is done leaves an unfinished run.
  await new Promise<void>((resolve, reject) => {
    const child = spawn(
      '/usr/bin/env',
      ['-u', 'NODE_OPTIONS', ROTATE, 'apply', '-f', file, '--auto-approve', '--json', '--no-node-dry-run'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      if (/"type":"node-done"/.test(out)) child.kill('SIGKILL');
    });
    child.on('close', (_code, signal) =>
      signal === 'SIGKILL' ? resolve() : reject(new Error(`apply was not killed mid-run:\n${out}`)),
    );
  });
  const unfinished = await status();
  t.equal(unfinished.code, 3);
  t.equal(unfinished.report.run?.status, 'running');
  const prom = await rotate('status', '-f', file, '--prometheus');
  t.equal(prom.code, 3);
  t.match(prom.stdout, /^talos_rotate_unfinished_run 1$/m);
  t.match(prom.stdout, /^talos_rotate_status_exit_code 3$/m);

  const resumed = await rotate('apply', '-f', file, '--auto-approve', '--no-node-dry-run');
  t.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
  const done = await status();
  t.equal(done.code, 0, JSON.stringify(done.report.warnings));
  t.same(
    done.report.cas.filter((c) => c.api === 'talos').map((c) => [c.name, c.issuingOn.length, c.acceptedOn.length]),
    [['talos-next', 2, 0]],
  );
});
