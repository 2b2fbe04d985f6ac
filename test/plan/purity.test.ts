import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SPEC_RE = new RegExp(
  /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/.source +
    '|' +
    /import\(\s*['"]([^'"]+)['"]\s*\)/.source +
    '|' +
    /require\(\s*['"]([^'"]+)['"]\s*\)/.source,
  'g',
);

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function specifiers(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(SPEC_RE)].map((m) => (m[1] ?? m[2] ?? m[3])!);
}

/** Every file reachable through relative imports, with every bare (package or node:) specifier met. */
function closure(entries: string[]): { files: Set<string>; bare: Map<string, string[]> } {
  const files = new Set<string>();
  const bare = new Map<string, string[]>();
  const todo = [...entries];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (files.has(f)) continue;
    files.add(f);
    for (const s of specifiers(f)) {
      if (s.startsWith('.')) todo.push(resolve(dirname(f), s.replace(/\.js$/, '.ts')));
      else bare.set(s, [...(bare.get(s) ?? []), relative(root, f)]);
    }
  }
  return { files, bare };
}

t.test('the import scanner sees imports at all', async (t) => {
  t.same(
    specifiers(join(root, 'test/plan/purity.test.ts'))
      .filter((s) => s.startsWith('node:'))
      .sort(),
    ['node:fs', 'node:path', 'node:url'],
  );
});

for (const area of ['model', 'safety', 'planner', 'render']) {
  t.test(`src/plan/${area} reaches no I/O module (fs, net, gRPC, Kubernetes client, any package)`, async (t) => {
    const { files, bare } = closure(tsFiles(join(root, 'src/plan', area)));
    t.same(Object.fromEntries(bare), {}, 'no package or node: import anywhere in the closure');
    const outside = [...files].map((f) => relative(root, f)).filter((f) => !f.startsWith('src/plan/'));
    const allowed = ['src/domain/errors.ts', 'src/domain/types.ts', 'src/domain/max-unavailable.ts'];
    t.same(
      outside.filter((f) => !allowed.includes(f)),
      [],
      'only domain types and errors from outside src/plan',
    );
    t.notOk(
      [...files].some((f) => relative(root, f).startsWith('src/desired/')),
      'the planner does not import the desired-state loader',
    );
  });
}
