/**
 * Issue 10 items 1 and 3, as a new user meets them: a lab's desired state in a real git repository (the
 * operator ignores the files the validate warning names), a full rotation with `rotate apply`, then
 * `git add -A` stages no file holding key material; the backups are in the state folder (0600, 0700,
 * git-ignored); the kubeconfig was merged (another cluster's context kept; the real kubectl reads it); and
 * rollback restores every file byte for byte from the state folder.
 */
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { run } from '../../lab/e2e/fixtures/cli.js';
import { requirePrerequisites, rotate } from './fixtures/proc.js';
import { RotationLab } from './fixtures/rotation-lab.js';

await requirePrerequisites(t);

const git = (dir: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.email=ops@example.org', '-c', 'user.name=ops', ...args], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

const OTHER_CLUSTER = {
  clusters: [{ name: 'other', cluster: { server: 'https://127.0.0.1:1', 'certificate-authority-data': Buffer.from('not a CA').toString('base64') } }],
  users: [{ name: 'other-user', user: { token: 'other-token' } }],
  contexts: [{ name: 'other-ctx', context: { cluster: 'other', user: 'other-user' } }],
};

/** Every secret of a file, as it would appear in a committed blob: PEM bodies and Talos's base64 fields. */
function secretsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:key|client-key-data):\s*([A-Za-z0-9+/=]{40,})/g)) {
    out.push(m[1]!.slice(0, 40));
    const pem = Buffer.from(m[1]!, 'base64').toString('utf8');
    for (const line of pem.split('\n')) if (/^[A-Za-z0-9+/=]{40,}$/.test(line)) out.push(line.slice(0, 40));
  }
  return out;
}

t.test('a desired state in a git repository: after a full rotation, git add -A stages no key', async (t) => {
  const lab = await RotationLab.up(t, { style: 'document' });
  const dir = lab.dir;
  git(dir, 'init', '-q');

  // Before anything is ignored, validate names every file that holds a key, with one code.
  const first = await lab.run('validate');
  t.equal(first.code, 0, 'validate: exit 0', { stderr: first.stderr });
  const warned = first.stderr.split('\n').filter((l) => l.includes('[DESIRED_KEY_IN_GIT]'));
  t.equal(warned.length, 1, 'one warning');
  for (const f of ['talosconfig', 'kubeconfig', 'secrets.yaml', 'pki/talos-next.key', 'pki/k8s-next.key']) t.match(first.stderr, `${f} (`, `it names ${f}`);

  // The operator ignores what the warning named (as its hint says), but nothing for backups or state.
  await fs.writeFile(path.join(dir, '.gitignore'), '/talosconfig\n/kubeconfig\n/secrets.yaml\n/pki/*.key\n/lab.json\n/lab.log\n/lab.pid\n');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'desired state');
  const clean = await lab.run('validate');
  t.notMatch(clean.stderr, /DESIRED_KEY_IN_GIT/, 'nothing left to warn about');

  // Another cluster in the kubeconfig: apply merges, it does not overwrite.
  const kubeconfigText = await fs.readFile(lab.file('kubeconfig'), 'utf8');
  const doc = parseYaml(kubeconfigText) as Record<string, unknown[]>;
  for (const k of ['clusters', 'users', 'contexts'] as const) doc[k] = [...(doc[k] ?? []), ...OTHER_CLUSTER[k]];
  const { stringify } = await import('yaml');
  await fs.writeFile(lab.file('kubeconfig'), stringify(doc), { mode: 0o600 });
  const before: Record<string, Buffer> = {};
  for (const f of ['talosconfig', 'kubeconfig', 'secrets.yaml']) before[f] = await fs.readFile(lab.file(f));

  const apply = await lab.run('apply', '--auto-approve', '--json');
  t.equal(apply.code, 0, `apply: exit 0\n${apply.stderr}`);
  const outputs = apply.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((e) => e.type === 'output-written');
  t.ok(outputs.length >= 3, 'outputs were written');
  const stateDir = path.join(dir, 'state');
  for (const o of outputs) {
    const backup = o.backupPath as string | null;
    if (backup === null) continue;
    t.ok(backup.startsWith(path.join(stateDir, 'backups') + path.sep), `${String(o.kind)}: backupPath ${backup} is in the state folder`);
    t.equal((await fs.stat(backup)).mode & 0o777, 0o600, `${String(o.kind)}: backup 0600`);
    t.equal((await fs.stat(path.dirname(backup))).mode & 0o777, 0o700, `${String(o.kind)}: its folder 0700`);
  }
  t.same((await fs.readdir(dir)).filter((f) => f.includes('.before-')), [], 'no backup beside the files');
  t.equal(await fs.readFile(path.join(stateDir, '.gitignore'), 'utf8').then((s) => s.split('\n').includes('*')), true, 'the state folder ignores everything');

  // The real kubectl reads the merged kubeconfig: ours is current, the other cluster is still there.
  const kubectl = (...args: string[]) =>
    run('kubectl', ['--kubeconfig', lab.file('kubeconfig'), '--request-timeout', '15s', ...args], { env: { ...process.env, HOME: path.join(lab.root, 'kubectl-home'), KUBECONFIG: '' }, timeoutMs: 60_000 });
  const contexts = await kubectl('config', 'get-contexts', '-o', 'name');
  t.same(contexts.stdout.split('\n').filter(Boolean).sort(), ['admin@lab', 'other-ctx'].sort(), 'both contexts, merged');
  const nodes = await kubectl('get', 'nodes', '-o', 'name');
  t.equal(nodes.code, 0, `kubectl get nodes with the merged kubeconfig\n${nodes.stderr}`);
  t.equal(nodes.stdout.split('\n').filter(Boolean).length, lab.nodes.length, 'every node listed');

  // git add -A: nothing staged holds a key.
  git(dir, 'add', '-A');
  const staged = git(dir, 'diff', '--cached', '--name-only', '-z').split('\0').filter(Boolean);
  t.comment(`staged after apply: ${staged.join(', ') || '(nothing)'}`);
  t.same(staged.filter((f) => f.startsWith('state/') || f.includes('.before-')), [], 'neither the state folder nor a backup is staged');
  const needles = new Set<string>();
  for (const f of ['talosconfig', 'kubeconfig', 'secrets.yaml']) {
    for (const s of secretsOf(before[f]!.toString('utf8'))) needles.add(s);
    for (const s of secretsOf(await fs.readFile(lab.file(f), 'utf8'))) needles.add(s);
  }
  for (const k of ['talos-next.key', 'k8s-next.key']) for (const line of (await fs.readFile(path.join(dir, 'pki', k), 'utf8')).split('\n')) if (line.length >= 40) needles.add(line.slice(0, 40));
  t.ok(needles.size >= 8, `the secrets to look for (${needles.size})`);
  for (const f of staged) {
    const blob = git(dir, 'show', `:${f}`);
    t.notMatch(blob, /PRIVATE KEY/, `${f}: no PEM private key`);
    t.ok(![...needles].some((n) => blob.includes(n)), `${f}: none of the bundle, talosconfig, kubeconfig or CA keys`);
  }

  const after = await lab.run('plan');
  t.notMatch(after.stderr, /DESIRED_KEY_IN_GIT/, 'plan after apply: no key exposed');

  // Rollback restores every file from the state folder, byte for byte.
  const rollback = await lab.run('rollback', '--auto-approve', '--json');
  t.equal(rollback.code, 0, `rollback: exit 0\n${rollback.stderr}`);
  for (const f of ['talosconfig', 'kubeconfig', 'secrets.yaml']) t.ok((await fs.readFile(lab.file(f))).equals(before[f]!), `${f} restored byte for byte`);

  // Without cluster.secretsBundle: the plan announces no bundle write, and warns once why that matters.
  const noBundle = lab.file('rotate-no-bundle.yaml');
  const desiredText = await fs.readFile(lab.desired, 'utf8');
  t.match(desiredText, /^ {2}secretsBundle: \.\/secrets\.yaml\n/m);
  await fs.writeFile(noBundle, desiredText.replace(/^ {2}secretsBundle: \.\/secrets\.yaml\n/m, ''));
  const plan = await rotate('plan', '-f', noBundle, '--no-node-dry-run');
  t.equal(plan.code, 0, `plan without a bundle\n${plan.stderr}`);
  t.match(plan.stdout, /then: write .*kubeconfig/, 'the plan still announces what it writes');
  t.notMatch(plan.stdout, /then: write[^\n]*secretsBundle/, 'but never a secrets bundle it would not write');
  t.equal(plan.stderr.match(/names no secrets bundle/g)?.length, 1, 'one warning about configs generated from the old bundle');
});
