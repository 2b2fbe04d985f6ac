/**
 * Where @kubernetes/client-node is loaded from. Its package is about 830 ES modules (most of them the
 * generated API), and resolving and compiling them cost every `rotate plan`/`apply` about 0.8 s of CPU before
 * its first Kubernetes call. `npm run build` therefore bundles the parts listed here into one file,
 * dist/vendor/kubernetes-client-node.js (scripts/build-vendor.mjs, esbuild; only unused declarations dropped,
 * every module's side effects kept). Running from the sources (tests under tsx) or from a plain `tsc` build,
 * there is no such file and the package itself is loaded: the same code either way.
 */
import type * as KubernetesClientNode from '@kubernetes/client-node';

/**
 * The exports the product uses. The build bundles exactly these, and the type below makes any other use a
 * compile error, so the list cannot fall behind the code.
 */
export const KUBE_CLIENT_EXPORTS = [
  'KubeConfig',
  'CoreV1Api',
  'AppsV1Api',
  'CoordinationV1Api',
  'PatchStrategy',
  'setHeaderOptions',
] as const satisfies readonly (keyof typeof KubernetesClientNode)[];

export type KubeClientModule = Pick<typeof KubernetesClientNode, (typeof KUBE_CLIENT_EXPORTS)[number]>;

/** The bundle's place in dist/, from this module's place in dist/cluster/kube/. */
export const VENDORED_KUBE_CLIENT = new URL('../../vendor/kubernetes-client-node.js', import.meta.url);

let loading: Promise<KubeClientModule> | undefined;

/** Loads the client once per process: the vendored bundle when the build made one, else the package. */
export function loadKubeClient(): Promise<KubeClientModule> {
  loading ??= import(VENDORED_KUBE_CLIENT.href).then(
    (m: KubeClientModule) => m,
    (err: { code?: string }) => {
      if (err.code !== 'ERR_MODULE_NOT_FOUND') throw err;
      return import('@kubernetes/client-node');
    },
  );
  return loading;
}
