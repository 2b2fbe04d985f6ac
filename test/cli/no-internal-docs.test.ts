/**
 * Issue 10 item 4: user-facing text cites no document users do not have. The project's notes on Talos
 * (`talos-facts.md`, cited as "facts §N", and `stack-notes.md`) live outside the repository: the README, the
 * docs and every string the CLI can print (source outside the lab, comments left out) must not cite them.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CITATION = /facts §|talos-facts|stack-notes/;

async function files(dir: string, ext: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(p, ext)));
    else if (e.name.endsWith(ext)) out.push(p);
  }
  return out;
}

/** Code without comments: block comments, whole-line `//` and trailing ` // …` comments removed. */
function withoutComments(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .split('\n')
    .map((l) => (/^\s*\/\//.test(l) ? '' : l.replace(/\s\/\/\s.*$/, '')))
    .join('\n');
}

t.test('README, docs and CLI strings cite no document outside the repository', async (t) => {
  const docs = [
    path.join(REPO, 'README.md'),
    ...(await files(path.join(REPO, 'docs'), '.md')).filter((f) => !f.endsWith('CONTRIBUTING-helpers.md')),
  ];
  const sources = (await files(path.join(REPO, 'src'), '.ts')).filter((f) => !f.includes(`${path.sep}lab${path.sep}`));
  t.ok(docs.length > 3 && sources.length > 50, 'the files were found');
  const found: string[] = [];
  for (const f of docs)
    for (const [i, l] of (await fs.readFile(f, 'utf8')).split('\n').entries())
      if (CITATION.test(l)) found.push(`${path.relative(REPO, f)}:${i + 1}: ${l.trim()}`);
  for (const f of sources)
    for (const [i, l] of withoutComments(await fs.readFile(f, 'utf8'))
      .split('\n')
      .entries())
      if (CITATION.test(l)) found.push(`${path.relative(REPO, f)}:${i + 1}: ${l.trim()}`);
  t.same(found, [], 'no citation of talos-facts / stack-notes');
});
