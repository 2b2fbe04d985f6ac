/**
 * Loads @kubernetes/client-node (the parts client-exports.ts names) once per process, on first use: about
 * 0.25 s of CPU in the bundle, about 1 s from the package's own modules, which a command that makes no
 * Kubernetes call should not pay.
 */
export type KubeClientModule = typeof import('./client-exports.js');

let loading: Promise<KubeClientModule> | undefined;

export function loadKubeClient(): Promise<KubeClientModule> {
  loading ??= import('./client-exports.js');
  return loading;
}
