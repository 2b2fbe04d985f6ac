/**
 * Loads @kubernetes/client-node (the parts client-exports.ts names) once per process, on first use, so that a
 * command that makes no Kubernetes call does not pay for it. `npm run build` also writes those parts as one
 * file, dist/vendor/kubernetes-client-node.js (scripts/build-bundle.mjs), and it is loaded first wherever the
 * code runs from: about 0.25 s of CPU, where the package's ~830 modules cost about 1 s from tsc's output and
 * about 3 s from the sources under tsx (tests), whose loader hooks see every module. Without a build, the
 * package itself is loaded: the same code either way. So is it when the bundle is older than client-exports.ts
 * (sources changed since the last build, e.g. a `tsc`-only rebuild or a pull): it could lack a name the
 * sources use.
 */
import { stat } from 'node:fs/promises';
import { packageUrl } from '../../package-root.js';

export type KubeClientModule = typeof import('./client-exports.js');

/** The one-file bundle of client-exports.ts the build writes. */
export const KUBE_CLIENT_BUNDLE: URL = packageUrl('dist/vendor/kubernetes-client-node.js');

/** What the bundle is built from (absent from an installed package, which ships no sources). */
const KUBE_CLIENT_SOURCE: URL = packageUrl('src/cluster/kube/client-exports.ts');

/** Is `bundle` older than `source`? False when either is missing. */
export async function builtBefore(bundle: URL, source: URL): Promise<boolean> {
  try {
    const [b, s] = await Promise.all([stat(bundle), stat(source)]);
    return b.mtimeMs < s.mtimeMs;
  } catch {
    return false;
  }
}

let loading: Promise<KubeClientModule> | undefined;

export function loadKubeClient(): Promise<KubeClientModule> {
  loading ??= (async () => {
    if (await builtBefore(KUBE_CLIENT_BUNDLE, KUBE_CLIENT_SOURCE)) return import('./client-exports.js');
    try {
      return (await import(KUBE_CLIENT_BUNDLE.href)) as KubeClientModule;
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
      return import('./client-exports.js');
    }
  })();
  return loading;
}
