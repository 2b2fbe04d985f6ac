#!/usr/bin/env node
// After tsc: bundles the CLI and the lab daemon with their dependencies into dist/bundle/ (esbuild, ES modules
// split per lazily imported command), which bin/rotate runs. Node 20 has no compile cache, and resolving and
// compiling about 1,100 small modules (830 of them @kubernetes/client-node's) cost every command 0.1–0.6 s of
// CPU. Only declarations nothing reaches are dropped; no package claims `sideEffects: false`, so every
// module's top-level code is kept. yargs stays external: it reads its translations from its own folder.
// dist/ keeps tsc's unbundled output too (tests import it, and bin/rotate falls back to it).
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = (path) => fileURLToPath(new URL(`../dist/${path}`, import.meta.url));
const outdir = dist('bundle');

rmSync(outdir, { recursive: true, force: true });
rmSync(dist('vendor'), { recursive: true, force: true });
const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // CommonJS dependencies require() Node's built-in modules.
  banner: {
    js: [
      "import { createRequire as __bundleRequire } from 'node:module';",
      'const require = __bundleRequire(import.meta.url);',
    ].join('\n'),
  },
  legalComments: 'eof',
  logLevel: 'warning',
};

// client-module.ts loads the Kubernetes client from dist/vendor/ (built below, with this bundle) and falls back to
// `./client-exports.js`: in the bundle that fallback is the same code as the vendor file, so it points there
// instead of bundling the package a second time (5.6 MB no command ran).
const kubeClientFromVendor = {
  name: 'kube-client-from-vendor',
  setup(b) {
    b.onResolve({ filter: /^\.\/client-exports\.js$/ }, (args) =>
      /[\\/]cluster[\\/]kube[\\/]client-module\.js$/.test(args.importer)
        ? { path: '../vendor/kubernetes-client-node.js', external: true }
        : undefined,
    );
  },
};

await build({
  ...common,
  // These names matter: daemon-launch.ts starts `daemon.js` beside itself, and the lab's dial threads
  // (lab/talos/dial-thread.ts, lab/kube/dial-thread.ts) `dial-worker.js` and `kube-dial-worker.js`, in the
  // bundle as in tsc's output.
  entryPoints: {
    main: dist('cli/main.js'),
    daemon: dist('lab/process/daemon.js'),
    'dial-worker': dist('lab/talos/dial-worker.js'),
    'kube-dial-worker': dist('lab/kube/kube-dial-worker.js'),
  },
  outdir,
  splitting: true,
  external: ['yargs', 'yargs/*'],
  plugins: [kubeClientFromVendor],
});

// The Kubernetes client alone, as one file: src/cluster/kube/client-module.ts loads it first wherever the code
// runs from (tests under tsx included, where the package's ~830 modules cost about 3 s of CPU per process).
await build({
  ...common,
  entryPoints: [dist('cluster/kube/client-exports.js')],
  outfile: dist('vendor/kubernetes-client-node.js'),
});
