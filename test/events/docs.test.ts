import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { EVENTS, QUESTIONS, renderEventsDoc } from '../../src/events/index.js';

const DOC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/events.md');

t.test('docs/events.md is generated from the registry and up to date', async (t) => {
  const expected = renderEventsDoc();
  if (process.env.ROTATE_UPDATE_DOCS === '1') await fs.writeFile(DOC, expected);
  const actual = await fs.readFile(DOC, 'utf8').catch(() => '');
  t.ok(
    actual === expected,
    'docs/events.md matches renderEventsDoc(); regenerate with ROTATE_UPDATE_DOCS=1 npx tap test/events/docs.test.ts',
  );
  for (const spec of [...Object.values(EVENTS), ...Object.values(QUESTIONS)])
    t.match(expected, spec.code, `${spec.code} documented`);
});
