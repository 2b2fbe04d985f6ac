#!/usr/bin/env node
// After tsc: records what yargs prints for `--help`, `rotate completion` and completion callbacks into
// dist/cli/fast-path-table.json, which bin/rotate answers from without loading yargs (src/cli/fast-path.ts),
// and which of the V8 flags the CLI sets this Node's V8 knows into dist/cli/v8-flags.json (src/cli/v8-flags.ts).
// Without them (a plain `tsc` build) bin/rotate still works, through yargs and with V8's defaults.
import { execFileSync } from 'node:child_process';

const { writeFastPathTable } = await import(new URL('../dist/cli/fast-path-table.js', import.meta.url).href);
await writeFastPathTable();
const { writeV8FlagRecord } = await import(new URL('../dist/cli/v8-flags.js', import.meta.url).href);
writeV8FlagRecord(execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8', maxBuffer: 16 << 20 }));
