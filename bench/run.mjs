#!/usr/bin/env node
// Runs every benchmark in bench/ (each `*.mjs` file except this runner and the `*-hook.mjs` files) one after
// the other, each in its own node process, and ends with the figures each one printed on lines starting with
// "figure:".
// Benchmarks drive the built CLI: `npm run bench` builds first.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const benches = readdirSync(here)
  // Not the runner itself, nor the hooks other benches load into the processes they measure.
  .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs' && !f.endsWith('-hook.mjs'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

const figures = [];
let failed = 0;
for (const file of benches) {
  process.stdout.write(`\n=== ${file}\n`);
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, [join(here, file)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buffered = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.startsWith('figure: ')) figures.push(`${file}: ${line.slice(8)}`);
      }
    });
    child.on('exit', (c) => resolve(c ?? 1));
  });
  if (code !== 0) {
    failed += 1;
    figures.push(`${file}: FAILED (exit ${code})`);
  }
}
process.stdout.write(`\n=== figures\n${figures.join('\n')}\n`);
process.exitCode = failed ? 1 : 0;
