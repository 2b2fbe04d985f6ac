/**
 * The one-bundle build (scripts/build-bundle.mjs) that bin/rotate runs: `npm run build` writes
 * dist/bundle/main.js and daemon.js, bin/rotate loads the bundle instead of tsc's ~1,100 modules, and the bundle
 * still finds the package's own files (schemas/, proto/, package.json) although it sits at another depth
 * than the sources; the Kubernetes client's own one-file bundle (dist/vendor/) is what every layout loads. `npm test`
 * builds before tap runs. The end-to-end suites run every command through it.
 */
import t, { type TAP } from 'tap';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { PACKAGE_ROOT, packageUrl, PACKAGE_VERSION } from '../../src/package-root.js';
import { TOOL_VERSION } from '../../src/version.js';
import {
  KUBE_CLIENT_BUNDLE,
  builtBefore,
  loadKubeClient,
  type KubeClientModule,
} from '../../src/cluster/kube/client-module.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(REPO, 'bin/rotate');
const RECORDER = fileURLToPath(new URL('./fixtures/record-loads.mjs', import.meta.url));

/** `node_modules/<name>` or `node_modules/@scope/name` of a module URL (the last one, for nested installs). */
function packageOf(url: string): string {
  const [first = '', second = ''] = url.slice(url.lastIndexOf('/node_modules/') + '/node_modules/'.length).split('/');
  return first.startsWith('@') ? `${first}/${second}` : first;
}

/** yargs and every package it depends on, resolved through the installed node_modules folders as Node does. */
function yargsClosure(): Set<string> {
  const names = new Set<string>();
  const seen = new Set<string>();
  const visit = (name: string, from: string) => {
    // Node's lookup: from/node_modules/name, then each enclosing node_modules folder.
    let dir = from;
    let found: string | undefined;
    for (;;) {
      const candidate = join(dir, 'node_modules', name);
      if (existsSync(join(candidate, 'package.json'))) {
        found = candidate;
        break;
      }
      if (dir === REPO || dirname(dir) === dir) break;
      dir = dirname(dir);
    }
    if (!found || seen.has(found)) return;
    seen.add(found);
    names.add(name);
    const pkg = JSON.parse(readFileSync(join(found, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, found);
  };
  visit('yargs', REPO);
  return names;
}

t.test('the package root is found from the sources as from the build', async (t) => {
  t.equal(fileURLToPath(PACKAGE_ROOT), REPO);
  t.ok(existsSync(packageUrl('schemas/rotate.schema.json')));
  t.ok(existsSync(packageUrl('proto/machine/machine.proto')));
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
  t.equal(PACKAGE_VERSION, pkg.version);
  t.equal(TOOL_VERSION, pkg.version);
});

t.test('bin/rotate runs the bundle, which finds the schema from dist/bundle/', async (t) => {
  t.ok(existsSync(join(REPO, 'dist/bundle/main.js')), 'npm run build wrote dist/bundle/main.js');
  t.ok(existsSync(join(REPO, 'dist/bundle/daemon.js')), 'and the lab daemon entry daemon-launch.ts starts');
  const dir = mkdtempSync(join(tmpdir(), 'rotate-bundle-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const desired = join(dir, 'rotate.yaml');
  writeFileSync(desired, 'version: 1\n');
  const loads = join(dir, 'loads.txt');
  // `env -u NODE_OPTIONS`: tap's process tracker puts a hook into every child's NODE_OPTIONS that loads the
  // extensionless bin/rotate as CommonJS.
  const argv = ['-u', 'NODE_OPTIONS', process.execPath, '--import', RECORDER, BIN, 'validate', '-f', desired];
  const r = spawnSync('/usr/bin/env', argv, {
    env: { PATH: process.env.PATH, HOME: dir, LANG: 'C', RECORD_LOADS: loads },
    encoding: 'utf8',
  });
  // Checked against the schema (not a DESIRED_SCHEMA_MISSING): the bundle found schemas/.
  t.equal(r.status, 1, r.stderr);
  t.match(r.stderr, /error\[DESIRED_INVALID\]/);
  t.match(r.stderr, /cluster: is required but missing \[DESIRED_MISSING_FIELD\]/);
  const loaded = readFileSync(loads, 'utf8').trim().split('\n');
  t.ok(
    loaded.some((u) => u.endsWith('/dist/bundle/main.js')),
    'the bundle ran',
  );
  const unbundled = loaded.filter((u) => u.includes('/dist/') && !u.includes('/dist/bundle/'));
  t.same(
    unbundled.map((u) => u.slice(u.indexOf('/dist/'))),
    ['/dist/cli/fast-path.js'],
    'no tsc output but the fast path',
  );
  const packages = new Set(loaded.filter((u) => u.includes('/node_modules/')).map(packageOf));
  t.same(
    [...packages].filter((p) => !yargsClosure().has(p)),
    [],
    'no package module but yargs and its dependencies (kept external: yargs reads its translations from its folder)',
  );
});

t.test('the Kubernetes client is loaded from its one-file bundle, which exports what the package does', async (t) => {
  t.ok(existsSync(KUBE_CLIENT_BUNDLE), 'npm run build wrote dist/vendor/kubernetes-client-node.js');
  const bundled = (await import(KUBE_CLIENT_BUNDLE.href)) as KubeClientModule;
  const loaded = await loadKubeClient();
  t.equal(loaded.KubeConfig, bundled.KubeConfig, 'loaded from the bundle, also from the sources');
  t.equal(await loadKubeClient(), loaded, 'once per process');
  const pkg = await import('../../src/cluster/kube/client-exports.js');
  t.same(Object.keys(bundled).sort(), Object.keys(pkg).sort(), 'the names client-exports.ts lists');
  t.same(bundled.PatchStrategy, pkg.PatchStrategy);
  const kubeconfig = [
    'apiVersion: v1',
    'kind: Config',
    'clusters: [{ name: lab, cluster: { server: "https://127.0.0.1:6443" } }]',
    'contexts: [{ name: admin@lab, context: { cluster: lab, user: admin } }]',
    'current-context: admin@lab',
    'users: [{ name: admin, user: { token: not-a-secret } }]',
  ].join('\n');
  for (const k8s of [bundled, pkg]) {
    const kc = new k8s.KubeConfig();
    kc.loadFromString(kubeconfig);
    t.equal(kc.getCurrentCluster()?.server, 'https://127.0.0.1:6443');
    t.type(kc.makeApiClient(k8s.CoreV1Api).listNode, 'function');
    t.type(kc.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease, 'function');
    t.type(kc.makeApiClient(k8s.AppsV1Api).patchNamespacedDaemonSet, 'function');
  }
});

t.test("the CLI's bundle holds the Kubernetes client once: its fallback is the vendor file", async (t) => {
  const dir = join(REPO, 'dist/bundle');
  const files = readdirSync(dir).filter((f) => f.endsWith('.js'));
  const holding = files.filter((f) =>
    readFileSync(join(dir, f), 'utf8').includes('node_modules/@kubernetes/client-node/'),
  );
  t.same(holding, [], 'no chunk bundles @kubernetes/client-node');
  const loader = files.filter((f) =>
    readFileSync(join(dir, f), 'utf8').includes('import("../vendor/kubernetes-client-node.js")'),
  );
  t.equal(loader.length, 1, 'the loader imports dist/vendor/ instead');
});

t.test("bin/rotate never runs a bundle older than tsc's output (a `tsc`-only rebuild)", async (t) => {
  // A package of stubs: which main() bin/rotate imports shows in what it prints.
  const dir = mkdtempSync(join(tmpdir(), 'rotate-bin-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'bin'));
  mkdirSync(join(dir, 'dist/cli'), { recursive: true });
  copyFileSync(BIN, join(dir, 'bin/rotate'));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  writeFileSync(join(dir, 'dist/cli/fast-path.js'), 'export function fastAnswer() { return null; }\n');
  const stub = (path: string, said: string) =>
    writeFileSync(join(dir, path), `export async function main() { process.stdout.write('${said}\\n'); return 0; }\n`);
  const run = () =>
    spawnSync('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, join(dir, 'bin/rotate'), 'plan'], {
      env: { PATH: process.env.PATH, HOME: dir, LANG: 'C' },
      encoding: 'utf8',
    });
  const at = (path: string, seconds: number) => utimesSync(join(dir, path), seconds, seconds);

  const none = run();
  t.equal(none.status, 1);
  t.match(none.stderr, /error\[CLI_NOT_BUILT\]/, 'nothing built');

  stub('dist/cli/main.js', 'tsc');
  t.equal(run().stdout, 'tsc\n', 'no bundle: tsc output');

  mkdirSync(join(dir, 'dist/bundle'));
  stub('dist/bundle/main.js', 'bundle');
  at('dist/cli/main.js', 1_000_000);
  at('dist/bundle/main.js', 1_000_001);
  t.equal(run().stdout, 'bundle\n', 'bundle built after tsc: the bundle');
  at('dist/cli/main.js', 1_000_002);
  t.equal(run().stdout, 'tsc\n', 'tsc ran again after the bundle: tsc output, not the stale bundle');
});

/** Starts a dial thread's entry from `entry` (bundle or tsc output), sends it `message`, returns its first answer. */
async function firstAnswer(t: Pick<TAP, 'ok' | 'teardown'>, entry: string, message: unknown): Promise<unknown> {
  const file = join(REPO, entry);
  t.ok(existsSync(file), `npm run build wrote ${entry}`);
  const worker = new Worker(file);
  t.teardown(() => worker.terminate());
  return new Promise<unknown>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', resolve);
    worker.postMessage(message);
  });
}

t.test("the lab's dial thread starts from the bundle and from tsc's output, and answers a job", async (t) => {
  for (const entry of ['dist/bundle/dial-worker.js', 'dist/lab/talos/dial-worker.js']) {
    // A refused port: the answer shows the thread loaded its modules and the protocol definitions.
    const outcome = await firstAnswer(t, entry, {
      id: 7,
      job: {
        dial: { from: '127.0.0.1', host: '127.0.0.1', port: 1, ca: [] },
        method: 'machine.Version',
        request: {},
        metadata: {},
        timeoutMs: 2_000,
      },
    });
    t.match(outcome, { id: 7, outcome: { kind: 'dial-failed', failure: { ok: false, kind: 'unavailable' } } }, entry);
  }
});

t.test("the lab's Kubernetes dial thread starts from the bundle and from tsc's output, and answers", async (t) => {
  for (const entry of ['dist/bundle/kube-dial-worker.js', 'dist/lab/kube/kube-dial-worker.js']) {
    // A refused port: what the socket saw comes back under the request's id.
    const outcome = await firstAnswer(t, entry, {
      type: 'request',
      id: 7,
      job: {
        from: '127.0.0.1',
        to: '127.0.0.1',
        port: 1,
        tls: { ca: '' },
        method: 'GET',
        path: '/version',
        timeoutMs: 2_000,
        verifyHost: 'localhost',
      },
    });
    t.match(outcome, { type: 'outcome', id: 7, outcome: { kind: 'error', code: 'ECONNREFUSED' } }, entry);
  }
});

t.test(
  'a Kubernetes client bundle older than its source is not loaded (sources changed since the build)',
  async (t) => {
    const dir = t.testdir({ 'bundle.js': '', 'client-exports.ts': '' });
    const bundle = pathToFileURL(join(dir, 'bundle.js'));
    const source = pathToFileURL(join(dir, 'client-exports.ts'));
    const at = (ms: number) => new Date(ms);
    utimesSync(bundle, at(2_000_000_000_000), at(2_000_000_000_000));
    utimesSync(source, at(1_000_000_000_000), at(1_000_000_000_000));
    t.equal(await builtBefore(bundle, source), false, 'built after its source: used');
    utimesSync(source, at(2_000_000_001_000), at(2_000_000_001_000));
    t.equal(await builtBefore(bundle, source), true, 'the source changed since: not used');
    t.equal(await builtBefore(bundle, pathToFileURL(join(dir, 'missing.ts'))), false, 'no sources (installed)');
  },
);
