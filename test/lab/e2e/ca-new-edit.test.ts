/**
 * `rotate ca new -f FILE --make-issuing [--keep-previous]` on the lab's own rotate.yaml: the one-command way
 * to ask for a rotation. The plan that follows is the rotation asked for; refusals leave the file and the
 * pki folder as they were.
 */
import { execFileSync, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { parse } from 'yaml';

import { labDir, requireBuild, rotate, ROTATE, labUp } from './fixtures/cli.js';

requireBuild(t);

interface PlanJson {
  steps: { id: string }[];
}

t.test('full and staged rotations in one command each; refusals change nothing', async (t) => {
  const dir = await labDir(t);
  const up = await labUp(dir, '--control-planes', '1', '--workers', '1', '--kubernetes-ca-style', 'document');
  t.equal(up.code, 0, up.stderr);
  const file = path.join(dir, 'rotate.yaml');
  const original = await fs.readFile(file, 'utf8');

  const talos = await rotate(
    'ca',
    'new',
    '-f',
    file,
    '--api',
    'talos',
    '--name',
    'talos-next',
    '--make-issuing',
    '--json',
  );
  t.equal(talos.code, 0, talos.stderr);
  const made = JSON.parse(talos.stdout) as Record<string, unknown>;
  t.match(
    made,
    { use: 'issuing', previousIssuing: 'talos-lab', certificate: path.join(dir, 'pki', 'talos-next.crt') },
    'pki beside the file by default',
  );
  t.notMatch(talos.stdout, /PRIVATE KEY/, 'no key printed');
  t.equal((await fs.stat(path.join(dir, 'pki', 'talos-next.key'))).mode & 0o777, 0o600);
  const k8s = await rotate(
    'ca',
    'new',
    '-f',
    file,
    '--api',
    'kubernetes',
    '--name',
    'k8s-next',
    '--make-issuing',
    '--keep-previous',
  );
  t.equal(k8s.code, 0, k8s.stderr);
  t.match(k8s.stdout, /kubernetes: k8s-next issues, kubernetes-lab stays accepted/);

  const edited = await fs.readFile(file, 'utf8');
  const data = parse(edited) as { talos: unknown; kubernetes: unknown; authorities: Record<string, unknown> };
  t.same(data.talos, { issuing: 'talos-next', accepted: [] });
  t.same(data.kubernetes, { issuing: 'k8s-next', accepted: ['kubernetes-lab'] });
  t.same(
    data.authorities['talos-next'],
    { certificate: 'pki/talos-next.crt', key: { file: 'pki/talos-next.key' } },
    'relative references, never the key',
  );
  t.ok(
    edited.startsWith(original.slice(0, original.indexOf('talos:\n'))),
    'the file above the API sections is byte for byte what it was (comments included)',
  );

  const validate = await rotate('validate', '-f', file);
  t.equal(validate.code, 0, validate.stdout + validate.stderr);
  const plan = await rotate('plan', '-f', file, '--json', '--detailed-exitcode', '--no-node-dry-run');
  t.equal(plan.code, 2, `changes planned\n${plan.stderr}`);
  const steps = (JSON.parse(plan.stdout) as { plan: PlanJson }).plan.steps.map((s) => s.id);
  t.same(
    steps,
    ['talos-kubernetes-accept', 'talos-kubernetes-issue', 'talos-drop'],
    'Talos: accept, issue, drop; Kubernetes: accept, issue (old kept)',
  );

  // Invalid flag values are usage errors, not internal errors.
  for (const bad of [
    ['--parallelism', '0'],
    ['--parallelism', 'abc'],
    ['--max-unavailable', '-1'],
  ]) {
    const r = await rotate('plan', '-f', file, ...bad);
    t.equal(r.code, 1, `${bad.join(' ')}: exit 1`);
    t.match(
      r.stderr,
      new RegExp(`^error\\[CLI_USAGE\\]: ${bad[0]} .*is not valid: it must be a whole number of at least 1`),
      `${bad.join(' ')}: a usage error`,
    );
    t.notMatch(r.stderr, /internal error/);
  }

  // Declined at the prompt (a real terminal, from script(1)): exit 1, as Terraform, and nothing changed.
  const inspectBefore = await rotate('lab', 'inspect', '--dir', dir, '--json');
  const declined = await new Promise<{ code: number | null; out: string }>((resolve) => {
    // tap puts its loader into NODE_OPTIONS of every child: run the CLI as a user would (see fixtures/cli.ts).
    const child = spawn(
      'script',
      ['-qec', `/usr/bin/env -u NODE_OPTIONS ${ROTATE} apply -f ${file} --no-node-dry-run`, '/dev/null'],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      if (/\[y\/N\]/.test(out) && !child.stdin.writableEnded) child.stdin.end('no\n');
    });
    child.on('close', (code) => resolve({ code, out }));
  });
  t.equal(declined.code, 1, `a declined apply exits 1\n${declined.out}`);
  t.match(declined.out, /Not applied: nothing was changed/);
  const inspectAfter = await rotate('lab', 'inspect', '--dir', dir, '--json');
  t.equal(
    (JSON.parse(inspectAfter.stdout) as { configChanges: number }).configChanges,
    (JSON.parse(inspectBefore.stdout) as { configChanges: number }).configChanges,
    'no node touched',
  );

  // Refusals: the name exists; a desired file that is not valid. Nothing written, file unchanged.
  const before = await fs.readFile(file, 'utf8');
  const pkiBefore = (await fs.readdir(path.join(dir, 'pki'))).sort();
  const exists = await rotate(
    'ca',
    'new',
    '-f',
    file,
    '--api',
    'talos',
    '--name',
    'talos-lab',
    '--dir',
    path.join(dir, 'other'),
    '--make-issuing',
  );
  t.equal(exists.code, 1);
  t.match(exists.stderr, /error\[CA_DESIRED_EDIT\]: .*authorities\.talos-lab is already defined/);
  await t.rejects(fs.stat(path.join(dir, 'other')), 'no CA written for a refused edit');
  const broken = path.join(dir, 'broken.yaml');
  await fs.writeFile(broken, before.replace('version: 1', 'version: 7'));
  const invalid = await rotate('ca', 'new', '-f', broken, '--api', 'talos', '--name', 'talos-x', '--make-issuing');
  t.equal(invalid.code, 1);
  t.match(invalid.stderr, /broken\.yaml/);
  t.notMatch(invalid.stderr, /\n\s+at /, 'no stack trace');
  const flagOnly = await rotate('ca', 'new', '--api', 'talos', '--name', 'talos-y', '--make-issuing');
  t.equal(flagOnly.code, 1);
  t.match(flagOnly.stderr, /--make-issuing edits a desired-state file: name it with -f FILE/);
  t.equal(await fs.readFile(file, 'utf8'), before, 'rotate.yaml unchanged by the refusals');
  t.same((await fs.readdir(path.join(dir, 'pki'))).sort(), pkiBefore, 'pki unchanged by the refusals');
});

/** openssl, as an organisation's PKI would make its CAs (a real peer tool, not our generator). */
function openssl(cwd: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

t.test(
  'rotate ca import: a self-signed CA from elsewhere, checked and referenced; refusals change nothing',
  async (t) => {
    const dir = await labDir(t);
    const up = await labUp(dir, '--control-planes', '1', '--workers', '1', '--kubernetes-ca-style', 'legacy');
    t.equal(up.code, 0, up.stderr);
    const file = path.join(dir, 'rotate.yaml');
    const corp = path.join(dir, 'corp');
    await fs.mkdir(corp, { mode: 0o700 });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '365'];
    openssl(
      corp,
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'root.key',
      '-out',
      'root.crt',
      '-subj',
      '/O=corp-kubernetes',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    );
    openssl(
      corp,
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'leaf.key',
      '-out',
      'leaf.crt',
      '-subj',
      '/O=not-a-ca',
      '-addext',
      'basicConstraints=critical,CA:FALSE',
    );
    openssl(corp, 'req', ...ec, '-keyout', 'int.key', '-out', 'int.csr', '-subj', '/O=corp-intermediate');
    await fs.writeFile(
      path.join(corp, 'int.ext'),
      'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\n',
    );
    openssl(
      corp,
      'x509',
      '-req',
      '-in',
      'int.csr',
      '-CA',
      'root.crt',
      '-CAkey',
      'root.key',
      '-CAcreateserial',
      '-out',
      'int.crt',
      '-days',
      '300',
      '-extfile',
      'int.ext',
    );
    for (const k of ['root.key', 'leaf.key', 'int.key']) await fs.chmod(path.join(corp, k), 0o600);
    const before = await fs.readFile(file, 'utf8');

    const refusals: [string, string[], RegExp][] = [
      [
        'a subordinate CA',
        ['--cert', 'corp/int.crt', '--key', 'corp/int.key'],
        /error\[CA_IMPORT_SUBORDINATE\]: .*not self-signed/,
      ],
      ['not a CA', ['--cert', 'corp/leaf.crt', '--key', 'corp/leaf.key'], /error\[PKI_NOT_CA\]/],
      ['a key that is not its own', ['--cert', 'corp/root.crt', '--key', 'corp/int.key'], /error\[PKI_KEY_MISMATCH\]/],
      ['--make-issuing without a key', ['--cert', 'corp/root.crt', '--make-issuing'], /error\[CA_IMPORT_NO_KEY\]/],
    ];
    for (const [what, extra, re] of refusals) {
      const r = await rotate(
        'ca',
        'import',
        '-f',
        file,
        '--api',
        'kubernetes',
        '--name',
        'corp',
        ...extra.map((a) => (a.startsWith('corp/') ? path.join(dir, a) : a)),
      );
      t.equal(r.code, 1, `${what}: refused`);
      t.match(r.stderr, re, what);
      t.notMatch(r.stderr, /PRIVATE KEY|\n\s+at /, `${what}: no key, no stack`);
    }
    await fs.chmod(path.join(corp, 'root.key'), 0o644);
    const loose = await rotate(
      'ca',
      'import',
      '-f',
      file,
      '--api',
      'kubernetes',
      '--name',
      'corp',
      '--cert',
      path.join(corp, 'root.crt'),
      '--key',
      path.join(corp, 'root.key'),
    );
    t.match(loose.stderr, /error\[CA_KEY_FILE_MODE\]/, 'a key file others can read is refused');
    await fs.chmod(path.join(corp, 'root.key'), 0o600);
    const labCa = (parse(before) as { authorities: Record<string, { certificate: string }> }).authorities[
      'kubernetes-lab'
    ]!.certificate;
    await fs.writeFile(path.join(corp, 'lab.crt'), labCa);
    const dup = await rotate(
      'ca',
      'import',
      '-f',
      file,
      '--api',
      'kubernetes',
      '--name',
      'again',
      '--cert',
      path.join(corp, 'lab.crt'),
    );
    t.match(dup.stderr, /error\[CA_IMPORT_DUPLICATE\]: .*authorities\.kubernetes-lab/, 'one CA has one name');
    t.equal(await fs.readFile(file, 'utf8'), before, 'rotate.yaml unchanged by the refusals');

    const ok = await rotate(
      'ca',
      'import',
      '-f',
      file,
      '--api',
      'kubernetes',
      '--name',
      'corp-k8s',
      '--cert',
      path.join(corp, 'root.crt'),
      '--key',
      path.join(corp, 'root.key'),
      '--make-issuing',
      '--json',
    );
    t.equal(ok.code, 0, ok.stderr);
    t.notMatch(ok.stdout, /PRIVATE KEY/);
    const data = parse(await fs.readFile(file, 'utf8')) as {
      kubernetes: unknown;
      authorities: Record<string, unknown>;
    };
    t.same(data.kubernetes, { issuing: 'corp-k8s', accepted: [] });
    t.same(
      data.authorities['corp-k8s'],
      { certificate: 'corp/root.crt', key: { file: 'corp/root.key' } },
      'referenced where it is, never copied',
    );
    const plan = await rotate('plan', '-f', file, '--json', '--detailed-exitcode', '--no-node-dry-run');
    t.equal(plan.code, 2, plan.stderr);
    t.same(
      (JSON.parse(plan.stdout) as { plan: PlanJson }).plan.steps.map((s) => s.id),
      ['kubernetes-accept', 'kubernetes-issue', 'kubernetes-drop'],
    );
  },
);
