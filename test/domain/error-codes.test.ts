/**
 * The error-code registry (src/domain/error-codes.ts) is complete and docs/errors.md is generated from it:
 * every code written in src/ (a quoted UPPER_SNAKE string with a code prefix: RotateError codes, finding
 * and warning codes, state records) is listed, and every listed code is still used.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ERROR_CODES, ERROR_CODE_SECTIONS, renderErrorsDoc, sectionOf } from '../../src/domain/error-codes.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DOC = path.join(ROOT, 'docs/errors.md');

/** Quoted strings of a code's shape that are not codes (names of other things). */
const NOT_CODES = new Set(['TALOS_HOME']);

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(p)));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Every code-shaped quoted string in src/, with a file where it appears. */
async function codesInSource(): Promise<Map<string, string>> {
  const prefixes = Object.keys(ERROR_CODE_SECTIONS);
  const found = new Map<string, string>();
  for (const file of await sourceFiles(path.join(ROOT, 'src'))) {
    if (file.endsWith(path.join('domain', 'error-codes.ts'))) continue;
    const text = await fs.readFile(file, 'utf8');
    for (const m of text.matchAll(/['"]([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)['"]/g)) {
      const code = m[1]!;
      if (NOT_CODES.has(code) || !prefixes.includes(code.split('_')[0]!)) continue;
      if (!found.has(code)) found.set(code, path.relative(ROOT, file));
    }
  }
  return found;
}

t.test('every code used in src/ is in the registry, and every registered code is used', async (t) => {
  const used = await codesInSource();
  t.ok(used.size > 200, `the scan finds the codes (${used.size})`);
  const missing = [...used].filter(([code]) => !(code in ERROR_CODES)).map(([code, file]) => `${code} (${file})`);
  t.same(missing, [], 'unregistered codes: add them to src/domain/error-codes.ts');
  const unused = Object.keys(ERROR_CODES).filter((code) => !used.has(code));
  t.same(unused, [], 'registered codes no longer used: remove them');
  for (const code of Object.keys(ERROR_CODES)) t.ok(sectionOf(code), `${code} has a section`);
});

t.test('docs/errors.md is generated from the registry and up to date', async (t) => {
  const expected = renderErrorsDoc();
  if (process.env.ROTATE_UPDATE_DOCS === '1') await fs.writeFile(DOC, expected);
  const actual = await fs.readFile(DOC, 'utf8').catch(() => '');
  t.ok(
    actual === expected,
    'docs/errors.md matches renderErrorsDoc(); regenerate with ROTATE_UPDATE_DOCS=1 npx tap ' +
      'test/domain/error-codes.test.ts',
  );
  for (const code of Object.keys(ERROR_CODES)) t.ok(expected.includes(`\`${code}\``), `${code} documented`);
});
