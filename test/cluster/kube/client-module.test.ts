/**
 * Where @kubernetes/client-node comes from (src/cluster/kube/client-module.ts): the built CLI loads the one-file
 * bundle `npm run build` writes into dist/vendor/, the sources (tests under tsx) load the package. Both must
 * give the same exports, and the bundle must work as the package does. `npm test` builds before tap runs.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import * as pkg from '@kubernetes/client-node';
import {
  KUBE_CLIENT_EXPORTS,
  VENDORED_KUBE_CLIENT,
  loadKubeClient,
  type KubeClientModule,
} from '../../../src/cluster/kube/client-module.js';

const BUILT = new URL('../../../dist/cluster/kube/client-module.js', import.meta.url);
const BUNDLE = new URL('../../../dist/vendor/kubernetes-client-node.js', import.meta.url);

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: https://127.0.0.1:6443
contexts:
- name: admin@lab
  context: { cluster: lab, user: admin }
current-context: admin@lab
users:
- name: admin
  user: { token: not-a-secret }
`;

t.test('from the sources, the package itself is loaded (there is no vendor folder beside src/)', async (t) => {
  t.notOk(existsSync(VENDORED_KUBE_CLIENT), 'no bundle beside the sources');
  const m = await loadKubeClient();
  t.equal(m.KubeConfig, pkg.KubeConfig);
  t.equal(await loadKubeClient(), m, 'loaded once per process');
});

t.test('the build bundles exactly the listed exports, and the built CLI loads the bundle', async (t) => {
  t.ok(existsSync(BUNDLE), 'npm run build wrote dist/vendor/kubernetes-client-node.js');
  const bundle = (await import(BUNDLE.href)) as Record<string, unknown>;
  t.same(Object.keys(bundle).sort(), [...KUBE_CLIENT_EXPORTS].sort(), 'the listed names, no more');
  for (const name of KUBE_CLIENT_EXPORTS) {
    t.equal(typeof bundle[name], typeof pkg[name], `${name} has the package's kind`);
  }
  t.same(bundle.PatchStrategy, pkg.PatchStrategy, 'same patch content types');
  const built = (await import(BUILT.href)) as { loadKubeClient: () => Promise<KubeClientModule> };
  t.equal((await built.loadKubeClient()).KubeConfig, bundle.KubeConfig, 'dist/ loads the bundle, not the package');
});

t.test('the bundled client reads a kubeconfig and makes API clients as the package does', async (t) => {
  const bundle = (await import(BUNDLE.href)) as KubeClientModule;
  for (const k8s of [bundle, pkg as KubeClientModule]) {
    const kc = new k8s.KubeConfig();
    kc.loadFromString(KUBECONFIG);
    t.equal(kc.getCurrentCluster()?.server, 'https://127.0.0.1:6443');
    const api = kc.makeApiClient(k8s.CoreV1Api);
    t.type(api.listNode, 'function');
    t.type(kc.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease, 'function');
    t.type(kc.makeApiClient(k8s.AppsV1Api).patchNamespacedDaemonSet, 'function');
  }
});
