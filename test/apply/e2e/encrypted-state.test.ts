/**
 * Encrypted state (ROTATE_STATE_KEY): a rotation killed mid-run leaves only sealed secrets in the state
 * folder; without the key (or with another) apply and `state show` refuse and change nothing; with it the
 * run resumes, rolls back (escrowed keys and output backups decrypted), and `state decrypt` turns it plain.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';

import { childEnv, labDir, requireBuild, rotate, run, ROTATE } from '../../lab/e2e/fixtures/cli.js';

requireBuild(t);

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

t.test('killed, refused without the key, resumed and rolled back with it, decrypted', async (t) => {
  const dir = await labDir(t);
  const up = await rotate('lab', 'up', '--dir', dir, '--control-planes', '1', '--workers', '1', '--detach');
  t.equal(up.code, 0, up.stderr);
  const file = path.join(dir, 'rotate.yaml');
  t.equal((await rotate('ca', 'new', '-f', file, '--api', 'talos', '--name', 'talos-next', '--make-issuing')).code, 0);
  const key = randomBytes(32).toString('base64');
  const withKey = (...args: string[]) => run(ROTATE, args, { env: childEnv({ ROTATE_STATE_KEY: key }) });
  const noKey = (...args: string[]) => run(ROTATE, args, { env: childEnv({ ROTATE_STATE_KEY: '' }) });
  const otherKey = (...args: string[]) =>
    run(ROTATE, args, { env: childEnv({ ROTATE_STATE_KEY: randomBytes(32).toString('hex') }) });

  await new Promise<void>((resolve, reject) => {
    const child = spawn(
      '/usr/bin/env',
      ['-u', 'NODE_OPTIONS', ROTATE, 'apply', '-f', file, '--auto-approve', '--json', '--no-node-dry-run'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv({ ROTATE_STATE_KEY: key }) },
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

  const stateDir = path.join(dir, 'state');
  const stateFile = path.join(stateDir, 'rotate.state.json');
  const files = await filesUnder(stateDir);
  t.ok(
    files.some((f) => f.endsWith('.key')),
    'keys were escrowed',
  );
  for (const f of files) {
    const text = await fs.readFile(f, 'utf8');
    t.notMatch(text, /PRIVATE KEY|LS0tLS1CRUdJTi/, `${path.relative(stateDir, f)}: no key material in clear`);
    if (f === stateFile || f.endsWith('.key'))
      t.match(text, /^\{"format":"talos-rotate-sealed"/, `${path.relative(stateDir, f)} is sealed`);
  }

  const before = await fs.readFile(stateFile);
  const configChanges = async () =>
    (JSON.parse((await rotate('lab', 'inspect', '--dir', dir, '--json')).stdout) as { configChanges: number })
      .configChanges;
  const changes = await configChanges();
  const refused = await noKey('apply', '-f', file, '--auto-approve', '--no-node-dry-run');
  t.equal(refused.code, 1);
  t.match(
    refused.stderr,
    /error\[STATE_KEY_REQUIRED\]: state file .*rotate\.state\.json is encrypted, and no state key is given/,
  );
  const wrong = await otherKey('apply', '-f', file, '--auto-approve', '--no-node-dry-run');
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /error\[STATE_KEY_WRONG\]/);
  const show = await noKey('state', 'show', '-f', file);
  t.equal(show.code, 1);
  t.match(show.stderr, /STATE_KEY_REQUIRED/);
  t.same(await fs.readFile(stateFile), before, 'the state is untouched');
  t.equal(await configChanges(), changes, 'no node touched');
  t.notMatch(
    refused.stderr + wrong.stderr + show.stderr,
    new RegExp(key.replace(/[+/]/g, '.')),
    'the key is never printed',
  );

  const shown = await withKey('state', 'show', '-f', file, '--json');
  t.equal(shown.code, 0, shown.stderr);
  t.equal((JSON.parse(shown.stdout) as { state: { runs: { status: string }[] } }).state.runs[0]!.status, 'running');
  const resumed = await withKey('apply', '-f', file, '--auto-approve', '--no-node-dry-run');
  t.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
  const back = await withKey('rollback', '-f', file, '--auto-approve', '--no-node-dry-run');
  t.equal(back.code, 0, back.stdout + back.stderr);
  const status = await withKey('status', '-f', file, '--json');
  const cas = (JSON.parse(status.stdout) as { cas: { api: string; name: string; issuingOn: string[] }[] }).cas.filter(
    (c) => c.api === 'talos',
  );
  t.same(
    cas.map((c) => [c.name, c.issuingOn.length]),
    [['talos-lab', 2]],
    'rolled back to the lab CA, with the talosconfig restored from its sealed backup',
  );

  const decrypted = await withKey('state', 'decrypt', '-f', file);
  t.equal(decrypted.code, 0, decrypted.stderr);
  t.notOk((await fs.readFile(stateFile, 'utf8')).startsWith('{"format":"talos-rotate-sealed"'));
  t.equal((await noKey('state', 'show', '-f', file)).code, 0, 'plain again: no key needed');
});
