/**
 * yaml's debug switches: with LOG_TOKENS (or LOG_STREAM) set in the environment, the library prints every token
 * it parses to stdout, key material included. The CLI drops both before it parses anything, so that a pipeline
 * that sets them for another tool never prints a key (src/domain/yaml-debug-switches.ts).
 */
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { parse } from 'yaml';

import { decodeTalosBase64Pem } from '../../src/pki/index.js';
import { dropYamlDebugSwitches, YAML_DEBUG_SWITCHES } from '../../src/domain/yaml-debug-switches.js';
import { leakNeedles } from '../desired/fixtures/helpers.js';
import { OLD_CLUSTER_SA_KEY, REPO, ROTATE, childEnv, labDir, requireBuild, run } from '../lab/e2e/fixtures/cli.js';

requireBuild(t);

const SWITCHES_ON = Object.fromEntries(YAML_DEBUG_SWITCHES.map((name) => [name, '1']));

t.test('the hazard: yaml itself prints what it parses when LOG_TOKENS is set', async (t) => {
  const r = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', "import { parse } from 'yaml'; parse('key: not-a-real-secret-4711\\n');"],
    { cwd: REPO, env: { PATH: process.env.PATH, LOG_TOKENS: '1' }, encoding: 'utf8' },
  );
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /not-a-real-secret-4711/, 'the parsed value is on stdout (what the CLI must prevent)');
});

t.test('dropYamlDebugSwitches removes both switches and nothing else', async (t) => {
  const env: NodeJS.ProcessEnv = { ...SWITCHES_ON, PATH: '/bin', LOG_LEVEL: 'debug' };
  dropYamlDebugSwitches(env);
  t.same(env, { PATH: '/bin', LOG_LEVEL: 'debug' });
});

t.test('with both switches set, lab up, validate and plan print no token and no key', async (t) => {
  const dir = await labDir(t);
  const env = childEnv(SWITCHES_ON);
  const up = await run(
    ROTATE,
    ['lab', 'up', '--dir', dir, '--detach', ...OLD_CLUSTER_SA_KEY, '--control-planes', '1', '--workers', '1'],
    { env },
  );
  t.equal(up.code, 0, up.stderr);
  // Every private key of the cluster: the secrets bundle's (base64 PEM under certs.*.key and the like).
  const keys: string[] = [];
  const collect = (x: unknown, at: string): void => {
    if (typeof x === 'string' && /\.key$/.test(at)) keys.push(decodeTalosBase64Pem(x, at));
    else if (x && typeof x === 'object') for (const [k, v] of Object.entries(x)) collect(v, `${at}.${k}`);
  };
  collect(parse(await fs.readFile(path.join(dir, 'secrets.yaml'), 'utf8')), 'secrets');
  t.ok(keys.length >= 3, `the lab's secrets bundle holds keys (${keys.length})`);
  const needles = leakNeedles(keys);
  const desired = path.join(dir, 'rotate.yaml');
  const validate = await run(ROTATE, ['validate', '-f', desired], { env });
  t.equal(validate.code, 0, validate.stderr);
  // The plan reads every node's machine config, a control plane's CA keys included.
  const plan = await run(ROTATE, ['plan', '-f', desired, '--detailed-exitcode'], { env });
  t.equal(plan.code, 0, plan.stderr);
  const outputs = {
    'lab up': up.stdout + up.stderr,
    validate: validate.stdout + validate.stderr,
    plan: plan.stdout + plan.stderr,
    "the lab's log": await fs.readFile(path.join(dir, 'lab.log'), 'utf8'),
  };
  for (const [name, out] of Object.entries(outputs)) {
    t.notMatch(out, /^\| "/m, `${name}: no yaml token lines`);
    t.same(
      needles.filter((n) => out.includes(n)),
      [],
      `${name}: no key material`,
    );
  }
});
