/**
 * Every file under test/desired/bad/ through the real CLI (`node bin/rotate validate -f FILE`, after `npm
 * run build`): exit 1, the expected code, field and line on stderr, no stack trace, no key material in
 * any output, nothing created or modified. Each bad file states what it expects in `# expect: CODE FIELD
 * line N` comments; the exact set of errors is checked in-process (and through `--json` for a few files,
 * which keeps the number of node processes down). test/desired/good/ exits 0.
 *
 * The material they point at is generated into a temp folder per run; `__NAME__` placeholders (the inline
 * key files) are filled there too, so no private key is ever committed.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';

import { validateDesiredFile } from '../../src/desired/index.js';
import { encodeTalosBase64Pem } from '../../src/pki/index.js';
import {
  builtCli,
  fillPlaceholders,
  keyFileText,
  leakNeedles,
  REPO,
  runCli,
  snapshot,
  tempDir,
  writeMaterial,
  type CliResult,
  type Material,
  removeTempDirs,
} from './fixtures/helpers.js';

t.teardown(removeTempDirs);

interface Expectation {
  code: string;
  field: string;
  line: number;
}

function expectations(text: string): Expectation[] {
  const out: Expectation[] = [];
  for (const m of text.matchAll(/^# expect: (\S+) (\S*) line (\d+)$/gm))
    out.push({ code: m[1]!, field: m[2] === '-' ? '' : m[2]!, line: Number(m[3]) });
  return out;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const STACK = /^\s+at .+(:\d+:\d+\)?|\(node:)/m;

const BAD = path.join(REPO, 'test/desired/bad');
const files = (await fs.readdir(BAD)).filter((f) => f.endsWith('.yaml')).sort();

let material: Material;
let dir: string;

interface Outcome {
  text: string;
  human: CliResult;
  json?: CliResult;
}

/** Run `tasks` with at most `limit` at a time (each CLI run is a node process). */
async function pool<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]!();
      }
    }),
  );
  return results;
}

t.test('the bad set covers the cases it must', async (t) => {
  for (const name of [
    'malformed-yaml',
    'unknown-key',
    'wrong-version',
    'inline-key',
    'key-file-mode',
    'key-mismatch',
    'leaf-certificate',
    'expired-ca',
    'unknown-authority',
    'same-address-twice',
    'address-in-both-lists',
    'address-with-port',
    'missing-kubeconfig',
    'missing-env',
    'bundle-entry-missing',
  ]) {
    t.ok(files.includes(`${name}.yaml`), name);
  }
  for (const f of files)
    t.ok(expectations(await fs.readFile(path.join(BAD, f), 'utf8')).length > 0, `${f} states its expectations`);
});

t.test(
  'bad files fail validation precisely',
  { skip: !(await builtCli()) && 'run `npm run build` first' },
  async (t) => {
    dir = await tempDir('desired-bad-');
    material = await writeMaterial(dir);
    const values = {
      TALOS_2026_KEY_PEM: keyFileText(material.talosNew),
      K8S_2026_KEY_B64: encodeTalosBase64Pem(material.k8sNew.key.reveal()),
    };
    const texts = new Map<string, string>();
    for (const f of files) {
      const text = fillPlaceholders(await fs.readFile(path.join(BAD, f), 'utf8'), values);
      texts.set(f, text);
      await fs.writeFile(path.join(dir, f), text);
    }
    const before = await snapshot(dir);
    const JSON_RUNS = new Set([
      'malformed-yaml.yaml',
      'inline-key.yaml',
      'key-file-mode.yaml',
      'address-with-port.yaml',
    ]);
    const outcomes = await pool(
      files.map((f) => async (): Promise<Outcome> => ({
        text: texts.get(f)!,
        human: await runCli(['validate', '-f', f], dir),
        ...(JSON_RUNS.has(f) ? { json: await runCli(['validate', '-f', f, '--json'], dir) } : {}),
      })),
      2,
    );
    t.same(await snapshot(dir), before, 'no file created or modified by any run');
    const needles = leakNeedles(material.keyPems);

    for (const [i, f] of files.entries()) {
      const { text, human, json } = outcomes[i]!;
      // The same checks in-process give the exact list of errors (cheaper than a second CLI run per file).
      const result = await validateDesiredFile(path.join(dir, f), { env: { HOME: dir }, displayName: f });
      await t.test(f, async (t) => {
        const expected = expectations(text);
        t.equal(human.code, 1, 'exit 1');
        t.equal(human.stdout, '', 'nothing on stdout');
        t.match(
          human.stderr,
          /^(warning: .*\n( {4}hint: .*\n)?)*error\[DESIRED_INVALID\]: /,
          'one DESIRED_INVALID error',
        );
        for (const e of expected) {
          const field = e.field ? `${escape(e.field)}: ` : '';
          t.match(
            human.stderr,
            new RegExp(`${escape(f)}:${e.line}:\\d+: ${field}.*\\[${e.code}\\]\\n\\s+hint: \\S`),
            `${e.code} at line ${e.line}${e.field ? ` on ${e.field}` : ''}, with a hint`,
          );
        }
        t.notMatch(human.stderr, STACK, 'no stack trace');
        t.notMatch(human.stderr, /internal error/, 'not reported as a bug');

        t.equal(result.valid, false);
        t.same(
          result.errors.map((e) => `${e.code} ${e.path} ${e.line}`).sort(),
          expected.map((e) => `${e.code} ${e.field} ${e.line}`).sort(),
          'exactly the expected errors',
        );
        for (const e of result.errors) {
          t.ok(e.hint.length > 0, 'every error has a hint');
          t.ok(e.line > 0 && e.column > 0, 'every error has a position');
        }

        if (json) {
          t.equal(json.code, 1, '--json: exit 1');
          const report = JSON.parse(json.stdout) as {
            valid: boolean;
            file: string;
            errors: { code: string; path: string; line: number }[];
            warnings: unknown[];
          };
          t.equal(report.valid, false);
          t.equal(report.file, f);
          t.same(
            report.errors.map((e) => `${e.code} ${e.path} ${e.line}`).sort(),
            expected.map((e) => `${e.code} ${e.field} ${e.line}`).sort(),
            '--json lists the same errors',
          );
          t.equal(json.stderr, '', '--json: nothing on stderr');
        }
        const outputs = [human.stderr, human.stdout, json?.stdout ?? '', json?.stderr ?? ''];
        const leaked = needles.filter((n) => outputs.some((o) => o.includes(n)));
        t.same(
          leaked.map((n) => n.slice(0, 6)),
          [],
          'no key material in any output',
        );
      });
    }
  },
);

t.test('a good file exits 0', { skip: !(await builtCli()) && 'run `npm run build` first' }, async (t) => {
  const dir = await tempDir('desired-good-');
  await writeMaterial(dir);
  await fs.copyFile(path.join(REPO, 'test/desired/good/rotate.yaml'), path.join(dir, 'rotate.yaml'));
  const before = await snapshot(dir);
  const run = await runCli(['validate'], dir);
  t.equal(run.code, 0, run.stderr);
  t.match(
    run.stdout,
    /^rotate\.yaml is valid\n {2}talos {7}issuing talos-2026 \(ed25519, [0-9a-f]{16}\); also accepted: talos-2016/,
  );
  t.equal(run.stderr, '', 'no warnings');
  const json = await runCli(['validate', '--json'], dir);
  t.equal(json.code, 0);
  t.same(JSON.parse(json.stdout), { valid: true, file: 'rotate.yaml', errors: [], warnings: [] });
  t.same(await snapshot(dir), before, 'nothing written');
});
