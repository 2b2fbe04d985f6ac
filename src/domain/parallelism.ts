/**
 * `--parallelism`: how many nodes are read, dry-run, checked or patched at once where nothing restarts.
 * Unset, it is 10, or a tenth of the cluster's nodes when that is more: waves that restart a kubelet are
 * sized by `--max-unavailable` (a share of the workers), and a fixed 10 left the Talos-only waves as the
 * one part of an apply whose rounds grew with the cluster (20 rounds at 200 nodes, 100 at 1,000). Those
 * waves restart nothing and their proof covers any batch size (README, "Batch sizes"). Pure.
 */

/** The default's floor, and what it is up to 109 nodes. */
export const DEFAULT_PARALLELISM_FLOOR = 10;

/** How the default reads in `--help`. */
export const DEFAULT_PARALLELISM_TEXT = '10, or 10% of the nodes when that is more';

/** The default for a cluster of `nodes` nodes: 10, or a tenth of them (rounded down) when that is more. */
export function defaultParallelism(nodes: number): number {
  return Math.max(DEFAULT_PARALLELISM_FLOOR, Math.floor(nodes / 10));
}

/** The number a run uses: the one given, else the default for the cluster's size. */
export function resolveParallelism(given: number | undefined, nodes: number): number {
  return given ?? defaultParallelism(nodes);
}
