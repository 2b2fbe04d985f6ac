#!/usr/bin/env node
/**
 * Prints the failed assertions of a TAP stream (tap's own output, read from the file given) with the path of
 * subtests that leads to each and its diagnostics, so that the end of a CI log names what failed: the
 * stream itself is 10,000 lines long and a log viewer often shows only its tail. A subtest's closing `not ok`
 * is left out when a failure inside it was printed; one that failed with nothing failed inside (a crashed
 * file, a timeout, a wrong plan) is printed itself.
 *
 *   node scripts/tap-failures.mjs tap.log [--max N]
 */
import { readFileSync } from 'node:fs';

const MAX_DIAG_LINES = 40;
// `source:` repeats the test's code around the line `at:` names already; it is left out to keep the digest short.
const SKIPPED_DIAG_KEYS = new Set(['source']);

const [file, ...rest] = process.argv.slice(2);
if (!file) {
  console.error('usage: tap-failures.mjs TAP_LOG [--max N]');
  process.exit(2);
}
const maxAt = rest.indexOf('--max');
const max = maxAt >= 0 ? Number(rest[maxAt + 1]) : 10;

const lines = readFileSync(file, 'utf8').split('\n');
const indentOf = (line) => line.length - line.trimStart().length;

/** Subtests open at each indentation: their names and how many failures were found before they opened. */
const open = new Map();
const failures = [];
for (let i = 0; i < lines.length; i += 1) {
  const line = lines[i];
  const indent = indentOf(line);
  const text = line.trim();
  const subtest = /^# Subtest: (.*)$/.exec(text);
  if (subtest) {
    open.set(indent, { name: subtest[1], failuresBefore: failures.length });
    for (const k of [...open.keys()]) if (k > indent) open.delete(k);
  } else if (/^(not )?ok \d+/.test(text)) {
    // A test line at the indentation of an open `# Subtest:` line closes that subtest.
    const closed = open.get(indent);
    for (const k of [...open.keys()]) if (k >= indent) open.delete(k);
    if (text.startsWith('not ok') && (!closed || failures.length === closed.failuresBefore)) {
      const path = [...open.entries()]
        .filter(([k]) => k < indent)
        .sort(([a], [b]) => a - b)
        .map(([, o]) => o.name);
      const diag = [];
      if (lines[i + 1]?.trim() === '---') {
        let skipping = false;
        for (let j = i + 2; j < lines.length; j += 1) {
          const d = lines[j];
          if (d.trim() === '...') break;
          const key = /^\s*([A-Za-z]+):/.exec(d);
          if (key && indentOf(d) === indent + 2) skipping = SKIPPED_DIAG_KEYS.has(key[1]);
          if (!skipping) diag.push(d.slice(Math.min(indent + 2, indentOf(d))));
        }
      }
      failures.push({ path, text, diag });
    }
  }
}

if (failures.length === 0) process.exit(0);
console.log(`\nFailed (${failures.length}${failures.length > max ? `, the first ${max}` : ''}):`);
for (const f of failures.slice(0, max)) {
  console.log(`\n- ${[...f.path, f.text].join('\n  > ')}`);
  const shown = f.diag.slice(0, MAX_DIAG_LINES);
  for (const d of shown) console.log(`    ${d}`);
  if (f.diag.length > shown.length) console.log(`    (${f.diag.length - shown.length} more lines in the log above)`);
}
console.log('');
