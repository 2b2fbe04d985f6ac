/**
 * The extension-apiserver-authentication step end to end, through the built CLI on a 1 + 1 lab: a full
 * Kubernetes API CA rotation (`rotate ca new --make-issuing`, plan, apply) leaves the ConfigMap with no
 * certificate of the dropped CA, still none after the lab apiservers synced again (they write the union of what
 * it holds and what they trust; the lab counts their syncs, so the test waits for them, not for a time), never
 * deleted; the real kubectl reads the same. A rollback then leaves the original CA alone in it.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import type { InspectReport, LabFile } from '../../../src/lab/process/contracts.js';
import { labInspect } from '../../../src/lab/process/control-client.js';
import type { ExtensionAuthView } from '../../../src/lab/kube/extension-auth.js';
import type { Plan } from '../../../src/plan/model/index.js';
import { DEFAULT_LAB_RESYNC_MS } from '../../../src/lab/kube/extension-auth.js';
import { splitPemBlocks, fingerprintOfDer } from '../../../src/pki/index.js';
import { FAST_TIMINGS, labDir, requireBuild, rotate, sleep, labUp } from './fixtures/cli.js';

requireBuild(t);

const KUBECTL = '/usr/bin/kubectl';

/** The lab's view of the ConfigMap and its controllers, through the control API (cheap enough to poll). */
async function extNow(dir: string): Promise<ExtensionAuthView> {
  const lab = JSON.parse(await fs.readFile(path.join(dir, 'lab.json'), 'utf8')) as LabFile;
  return (await labInspect(lab)).extensionApiserverAuthentication!;
}

/**
 * Until every apiserver's controller has run `n` more syncs than in `since` (the lab counts them): waiting for the
 * apiservers to have looked at the ConfigMap again instead of sleeping through resync periods. A sync decides from
 * the informer's copy and the apiserver's own CAs alone, so once that copy holds the last write every later sync
 * is the same: one that ran on it is enough. n = 1 when the last write is older than the informer's delay (ms);
 * n = 2 right after a write (at most one periodic resync can run on the copy from before it).
 */
async function syncedAgain(dir: string, since: ExtensionAuthView, n: 1 | 2): Promise<void> {
  const base = new Map(since.controllers.map((c) => [c.apiserver, c.syncs]));
  const deadline = Date.now() + 30 * DEFAULT_LAB_RESYNC_MS;
  for (;;) {
    const view = await extNow(dir);
    const running = view.controllers.filter((c) => c.running);
    if (running.length > 0 && running.every((c) => c.syncs >= (base.get(c.apiserver) ?? 0) + n)) return;
    if (Date.now() > deadline) throw new Error(`the apiservers did not sync ${n} more times: ${JSON.stringify(view)}`);
    await sleep(100);
  }
}

function kubectlGet(kubeconfig: string, home: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      KUBECTL,
      [
        '--kubeconfig',
        kubeconfig,
        '--request-timeout=15s',
        'get',
        'cm',
        '-n',
        'kube-system',
        'extension-apiserver-authentication',
        '-o',
        'yaml',
      ],
      { env: { HOME: home, PATH: process.env.PATH ?? '/usr/bin:/bin' } },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

t.test(
  'a full Kubernetes CA rotation removes the dropped CA from extension-apiserver-authentication, for good',
  async (t) => {
    const dir = await labDir(t);
    const up = await labUp(dir, '--control-planes', '1', '--workers', '1', ...FAST_TIMINGS, '--pods-per-node', '0');
    t.equal(up.code, 0, 'lab up', { stderr: up.stderr });
    if (up.code !== 0) return;
    const desired = path.join(dir, 'rotate.yaml');
    const inspect = async (): Promise<InspectReport> => {
      const r = await rotate('lab', 'inspect', '--dir', dir, '--json');
      if (r.code !== 0) throw new Error(`lab inspect: ${r.stderr}`);
      return JSON.parse(r.stdout) as InspectReport;
    };
    const ext = async () => (await inspect()).extensionApiserverAuthentication!;

    const start = await inspect();
    const old = start.nodes.find((n) => n.role === 'controlplane')!.kubernetes.issuing!;
    t.same((await ext()).clientCa, [old], 'at start: the lab CA, written by the apiserver');
    const requestHeaderCa = (await ext()).requestHeaderCa;
    t.equal(requestHeaderCa.length, 1, 'and the aggregator CA as request-header CA');

    const made = await rotate(
      'ca',
      'new',
      '-f',
      desired,
      '--api',
      'kubernetes',
      '--name',
      'k8s-next',
      '--make-issuing',
      '--json',
    );
    t.equal(made.code, 0, 'rotate ca new --make-issuing', { stderr: made.stderr });
    const next = (JSON.parse(made.stdout) as { fingerprint: string }).fingerprint;

    const planned = await rotate('plan', '-f', desired, '--json');
    t.ok(planned.code === 0 || planned.code === 2, 'plan', { stderr: planned.stderr });
    const plan = (JSON.parse(planned.stdout) as { plan: Plan }).plan;
    t.equal(plan.extensionAuth?.afterStep, 'kubernetes-drop', 'the plan places the step after the Kubernetes drop');
    t.same(plan.extensionAuth?.clientCa, [next]);
    t.same(plan.extensionAuth?.removes, [old]);

    const applied = await rotate('apply', '-f', desired, '--auto-approve', '--json');
    t.equal(applied.code, 0, 'apply', { stderr: applied.stderr.slice(-3000) });
    const events = applied.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const written = events.find((e) => e.type === 'configmap-written');
    t.match(
      written,
      {
        stepId: 'kubernetes-drop',
        name: 'extension-apiserver-authentication',
        written: true,
        removed: [old],
        trusted: [next],
      },
      'the run reports the write',
    );

    const after = await ext();
    t.same(after.clientCa, [next], 'only the new CA after apply');
    t.same(after.requestHeaderCa, requestHeaderCa, 'request-header CA untouched');
    t.ok(after.keys.includes('requestheader-allowed-names'), 'other keys kept');
    const rv = after.resourceVersion;
    // apply's own gate watched it for its settle window after writing: every apiserver's informer has its write.
    await syncedAgain(dir, after, 1);
    const later = await ext();
    t.same(later.clientCa, [next], 'still only the new CA after every apiserver synced again (a resync)');
    t.equal(later.resourceVersion, rv, 'no apiserver wrote it since');
    t.equal(later.deletions, 0, 'never deleted');
    t.ok(later.controllers.length === 1 && later.controllers.every((c) => c.running), 'the apiserver controller runs');

    // The real kubectl, with the kubeconfig apply updated.
    const home = await fs.mkdtemp(path.join(dir, '..', 'kubectl-home-'));
    const got = await kubectlGet(path.join(dir, 'kubeconfig'), home);
    t.equal(got.code, 0, 'kubectl get cm', { stderr: got.stderr });
    const pem = /client-ca-file: \|\n((?: {4}.*\n)+)/.exec(got.stdout)?.[1]?.replace(/^ {4}/gm, '') ?? '';
    t.same(
      splitPemBlocks(pem).map((b) => fingerprintOfDer(b.der)),
      [next],
      'kubectl sees only the new CA in client-ca-file',
    );

    const rolledBack = await rotate('rollback', '-f', desired, '--auto-approve', '--json');
    t.equal(rolledBack.code, 0, 'rollback', { stderr: rolledBack.stderr.slice(-3000) });
    const restored = await ext();
    t.same(
      restored.clientCa,
      [old],
      'after rollback: the original CA alone (re-added by the apiserver when it trusted it again, the new one removed)',
    );
    t.equal(restored.deletions, 0, 'never deleted');
  },
);

function kubectlRun(
  kubeconfig: string,
  home: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      KUBECTL,
      ['--kubeconfig', kubeconfig, '--request-timeout=15s', ...args],
      { env: { HOME: home, PATH: process.env.PATH ?? '/usr/bin:/bin' } },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

t.test(
  'nothing dropped, but a CA no apiserver trusts left in client-ca-file: the plan offers the cleaning step, ' +
    'apply removes only it',
  async (t) => {
    const dir = await labDir(t);
    const up = await labUp(
      dir,
      '--control-planes',
      '1',
      '--workers',
      '1',
      '--kubelet-restart-ms',
      '300',
      '--pods-per-node',
      '0',
    );
    t.equal(up.code, 0, 'lab up', { stderr: up.stderr });
    if (up.code !== 0) return;
    const desired = path.join(dir, 'rotate.yaml');
    const kubeconfig = path.join(dir, 'kubeconfig');
    const home = await fs.mkdtemp(path.join(dir, '..', 'kubectl-home-'));
    const ext = async () => {
      const r = await rotate('lab', 'inspect', '--dir', dir, '--json');
      return (JSON.parse(r.stdout) as InspectReport).extensionApiserverAuthentication!;
    };
    const [current] = (await ext()).clientCa;

    // A CA from an "earlier rotation" that no apiserver trusts: the apiservers' union rule keeps it there.
    const made = await rotate(
      'ca',
      'new',
      '--api',
      'kubernetes',
      '--name',
      'k8s-2016',
      '--dir',
      path.join(dir, 'stale'),
      '--json',
    );
    t.equal(made.code, 0, 'a stale CA', { stderr: made.stderr });
    const stale = (JSON.parse(made.stdout) as { fingerprint: string }).fingerprint;
    // Written as a user would: get, edit, replace (a PUT; lab-cli.test.ts patches and applies with kubectl).
    const got = await kubectlRun(kubeconfig, home, [
      'get',
      'cm',
      '-n',
      'kube-system',
      'extension-apiserver-authentication',
      '-o',
      'json',
    ]);
    t.equal(got.code, 0, got.stderr);
    const cm = JSON.parse(got.stdout) as { data: Record<string, string> };
    cm.data['client-ca-file'] += await fs.readFile(path.join(dir, 'stale', 'k8s-2016.crt'), 'utf8');
    const file = path.join(dir, 'ext-auth.json');
    await fs.writeFile(file, JSON.stringify(cm));
    const replaced = await kubectlRun(kubeconfig, home, ['replace', '--validate=false', '-f', file]);
    t.equal(replaced.code, 0, replaced.stderr);
    await syncedAgain(dir, await extNow(dir), 2);
    t.same([...(await ext()).clientCa].sort(), [current, stale].sort(), 'kept by the apiservers (union rule)');

    const planned = await rotate('plan', '-f', desired, '--json', '--detailed-exitcode');
    t.equal(planned.code, 2, 'a change to apply', { stderr: planned.stderr });
    const plan = (JSON.parse(planned.stdout) as { plan: Plan }).plan;
    t.same(plan.steps, [], 'no node step');
    t.match(plan.extensionAuth, { afterStep: null, mode: 'replace', removes: [stale], clientCa: [current] });

    const applied = await rotate('apply', '-f', desired, '--auto-approve', '--json');
    t.equal(applied.code, 0, 'apply', { stderr: applied.stderr.slice(-3000) });
    // As above: apply's gate watched its write for the settle window.
    await syncedAgain(dir, await extNow(dir), 1);
    const after = await ext();
    t.same(after.clientCa, [current], 'only the CA the apiservers trust, still after re-syncs');
    t.equal(after.deletions, 0, 'never deleted');
    const again = await rotate('plan', '-f', desired, '--json', '--detailed-exitcode');
    t.equal(again.code, 0, 'then no changes', { stderr: again.stderr });
  },
);
