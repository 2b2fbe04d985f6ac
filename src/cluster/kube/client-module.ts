/**
 * Loads @kubernetes/client-node (the parts client-exports.ts names) once per process, on first use, so that a
 * command that makes no Kubernetes call does not pay for it. `npm run build` also writes those parts as one
 * file, dist/vendor/kubernetes-client-node.js (scripts/build-bundle.mjs), and it is loaded first wherever the
 * code runs from: about 0.25 s of CPU, where the package's ~830 modules cost about 1 s from tsc's output and
 * about 3 s from the sources under tsx (tests), whose loader hooks see every module. Without a build, the
 * package itself is loaded: the same code either way.
 */
import { packageUrl } from '../../package-root.js';

export type KubeClientModule = typeof import('./client-exports.js');

/** The one-file bundle of client-exports.ts the build writes. */
export const KUBE_CLIENT_BUNDLE: URL = packageUrl('dist/vendor/kubernetes-client-node.js');

let loading: Promise<KubeClientModule> | undefined;

export function loadKubeClient(): Promise<KubeClientModule> {
  loading ??= (import(KUBE_CLIENT_BUNDLE.href) as Promise<KubeClientModule>).catch((err: { code?: string }) => {
    if (err.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    return import('./client-exports.js');
  });
  return loading;
}
