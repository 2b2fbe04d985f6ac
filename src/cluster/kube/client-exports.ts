/**
 * The parts of @kubernetes/client-node the product uses, and the only module that imports its values.
 * The package is about 830 ES modules; the bundle bin/rotate runs (scripts/build-bundle.mjs) keeps only what
 * these names reach, and loading it lazily (client-module.ts) keeps it out of commands that need no
 * Kubernetes call.
 */
export {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
