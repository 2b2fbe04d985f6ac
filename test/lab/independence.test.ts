/**
 * The lab is the judge of the planner's claims (docs/lab-design.md): nothing it reaches through its imports
 * may come from the desired-state, planning, apply or state code, nor from src/machineconfig (the lab reads
 * configs with its own reading of Talos's rules).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SPEC_RE =
  /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
const FORBIDDEN = [
  'src/desired/',
  'src/plan/',
  'src/apply/',
  'src/state/',
  'src/cluster/session/',
  'src/machineconfig/',
];

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every source file reachable from `entries` through relative imports (type-only ones too). */
function closure(entries: string[]): Set<string> {
  const files = new Set<string>();
  const todo = [...entries];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (files.has(f)) continue;
    files.add(f);
    for (const m of readFileSync(f, 'utf8').matchAll(SPEC_RE)) {
      const s = (m[1] ?? m[2])!;
      if (s.startsWith('.')) todo.push(resolve(dirname(f), s.replace(/\.js$/, '.ts')));
    }
  }
  return files;
}

t.test('src/lab reaches none of the planner-side code', async (t) => {
  const reached = [...closure(tsFiles(join(root, 'src/lab')))].map((f) => relative(root, f));
  t.ok(
    reached.includes('src/talos/client.ts') && reached.includes('src/lab/process/desired-file.ts'),
    'the scan follows imports',
  );
  t.same(
    reached.filter((f) => FORBIDDEN.some((p) => f.startsWith(p))),
    [],
  );
});
