/**
 * The test processes run TypeScript through tsx only. tap builds its test module with the plugins of
 * `tap.plugin` lazily, on its first run, after its runner has already chosen the loaders for the test
 * processes from the stock build: on a fresh `npm ci` every file of that run would also carry the ts-node
 * loader of the plugin `tap.plugin` switches off (measured: 14.7 s of CPU for a unit file that needs 3.3 s).
 * `npm test` therefore runs `tap build` first. This file fails if a test process carries that loader again.
 */
import t from 'tap';

const loaders = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].filter((a) =>
  a.startsWith('--import'),
);

t.ok(
  loaders.some((a) => /(^|[=/])tsx($|\/)/.test(a)),
  'tsx is a loader of this test process',
  { execArgv: process.execArgv },
);
t.notOk(
  loaders.some((a) => a.includes('@tapjs/typescript')),
  "tap's ts-node plugin is not a loader of this test process (run `npx tap build` once, as `npm test` does)",
  { execArgv: process.execArgv },
);
