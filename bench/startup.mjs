#!/usr/bin/env node
// Start-up of the built CLI: the median wall time of `node -e 0` and of each command line pipelines and
// shells run often (`--version`, `--help`, completion), over RUNS runs each, interleaved so that a change
// of machine load hits every command alike. Prints a table and one "figure:" line per command with its
// ratio to bare node (issue 12 aims at 1.5× at most). Figures only; nothing is asserted.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RUNS = Number(process.env.STARTUP_RUNS ?? 20);
const rotate = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'rotate');
const cases = [
  ['node -e 0', [process.execPath, '-e', '0']],
  ['rotate --version', [process.execPath, rotate, '--version']],
  ['rotate --help', [process.execPath, rotate, '--help']],
  ['rotate plan --help', [process.execPath, rotate, 'plan', '--help']],
  ['rotate lab up --help', [process.execPath, rotate, 'lab', 'up', '--help']],
  ['rotate completion', [process.execPath, rotate, 'completion']],
  ['completion callback: rotate <TAB>', [process.execPath, rotate, '--get-yargs-completions', 'rotate', '']],
  [
    'completion callback: rotate plan --<TAB>',
    [process.execPath, rotate, '--get-yargs-completions', 'rotate', 'plan', '--'],
  ],
  ['rotate validate (yargs path, no file)', [process.execPath, rotate, 'validate', '-f', '/nonexistent/rotate.yaml']],
];

const times = cases.map(() => []);
for (let i = 0; i < RUNS; i++) {
  cases.forEach(([name, [cmd, ...args]], c) => {
    const start = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SHELL: '/bin/bash' } });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (r.status === null) throw new Error(`${name}: killed by ${r.signal}`);
    times[c].push(ms);
  });
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const base = median(times[0]);
process.stdout.write(
  `median of ${RUNS} runs each (load average ${(await import('node:os')).loadavg()[0].toFixed(2)}):\n`,
);
for (const [c, [name]] of cases.entries()) {
  const m = median(times[c]);
  process.stdout.write(`  ${name.padEnd(44)} ${m.toFixed(0).padStart(5)} ms  ${(m / base).toFixed(2)}×\n`);
}
for (const [c, [name]] of cases.entries()) {
  if (c === 0) continue;
  process.stdout.write(
    `figure: start-up ${name}: ${median(times[c]).toFixed(0)} ms = ${(median(times[c]) / base).toFixed(2)}× node -e ` +
      `0 (${base.toFixed(0)} ms)\n`,
  );
}
