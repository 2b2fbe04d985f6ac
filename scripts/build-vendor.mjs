#!/usr/bin/env node
// After tsc: bundles the parts of @kubernetes/client-node the product uses into dist/vendor/ (one file
// instead of about 830 modules to resolve and compile on every run; see src/cluster/kube/client-module.ts).
// Only declarations nothing uses are dropped; the package has no `sideEffects` claim, so esbuild keeps every
// module's top-level code.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { KUBE_CLIENT_EXPORTS, VENDORED_KUBE_CLIENT } = await import(
  new URL('../dist/cluster/kube/client-module.js', import.meta.url).href
);

await build({
  stdin: {
    contents: `export { ${KUBE_CLIENT_EXPORTS.join(', ')} } from '@kubernetes/client-node';\n`,
    resolveDir: root,
    sourcefile: 'kubernetes-client-node-entry.js',
    loader: 'js',
  },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: fileURLToPath(VENDORED_KUBE_CLIENT),
  // CommonJS dependencies inside the package require() Node's built-in modules.
  banner: {
    js: [
      "import { createRequire as __vendorRequire } from 'node:module';",
      'const require = __vendorRequire(import.meta.url);',
    ].join('\n'),
  },
  legalComments: 'eof',
  logLevel: 'warning',
});
