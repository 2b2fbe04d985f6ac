#!/usr/bin/env node
// After tsc: records what yargs prints for `--help`, `rotate completion` and completion callbacks into
// dist/cli/fast-path-table.json, which bin/rotate answers from without loading yargs (src/cli/fast-path.ts).
// Without it (a plain `tsc` build) bin/rotate still works, through yargs.
const { writeFastPathTable } = await import(new URL('../dist/cli/fast-path-table.js', import.meta.url).href);
await writeFastPathTable();
