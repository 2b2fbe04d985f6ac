/**
 * The README's Architecture table is the map a newcomer reads first: every top-level folder of src/ is on
 * it, and every `src/...` folder it names exists.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
const section = readme.slice(
  readme.indexOf('## Architecture'),
  readme.indexOf('\n## ', readme.indexOf('## Architecture') + 5),
);
const rows = section.split('\n').filter((l) => l.startsWith('| `'));
const named = new Set(
  rows.flatMap((r) => [...r.split('|')[1]!.matchAll(/`(src\/[^`]+)`/g)].map((m) => m[1]!.replace(/\/$/, ''))),
);

t.test('every top-level folder of src/ has a row in the README map', async (t) => {
  t.ok(rows.length > 5, 'the Architecture table was found');
  const folders = readdirSync(path.join(root, 'src')).filter((f) => statSync(path.join(root, 'src', f)).isDirectory());
  for (const f of folders) t.ok(named.has(`src/${f}`), `src/${f} is on the map`);
});

t.test('every src/ folder the map names exists', async (t) => {
  for (const p of named) t.ok(statSync(path.join(root, p), { throwIfNoEntry: false })?.isDirectory(), `${p} exists`);
});
