/**
 * `--max-unavailable`: how many workers may have their kubelet restarting (or not yet confirmed back) at
 * once. A whole number of nodes, or a percentage of the cluster's workers, as a Kubernetes rolling update's
 * `maxUnavailable` (an integer percentage, 1%–100%, rounded down, here never below 1 so a rotation always
 * progresses). Pure: the CLI, the planner and the apply engine share it.
 */

/** A number of nodes, or a percentage of the workers such as `"10%"`. */
export type MaxUnavailable = number | `${number}%`;

/** 10% of the workers (at least one): a kubelet restart does not stop running pods (README, "Batch sizes"). */
export const DEFAULT_MAX_UNAVAILABLE: MaxUnavailable = '10%';

const PERCENT_RE = /^(\d{1,3})%$/;
const NUMBER_RE = /^\d+$/;

/**
 * Why a value is not a valid `--max-unavailable`, or null when it is one. Percentages above 100% are
 * refused, as Kubernetes refuses them for a rolling update; a number above the worker count is allowed
 * (it means "all of them").
 */
export function maxUnavailableProblem(value: unknown): string | null {
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 1
      ? null
      : 'it must be a whole number of at least 1 or a percentage of the workers from 1% to 100%';
  }
  if (typeof value !== 'string')
    return 'it must be a whole number of at least 1 or a percentage of the workers from 1% to 100%';
  if (NUMBER_RE.test(value)) return maxUnavailableProblem(Number(value));
  const m = PERCENT_RE.exec(value);
  if (!m) return 'it must be a whole number of at least 1 or a percentage of the workers from 1% to 100%';
  const pct = Number(m[1]);
  if (pct < 1 || pct > 100)
    return 'it must be a whole number of at least 1 or a percentage of the workers from 1% to 100%';
  return null;
}

/** The value as given on the command line (`"3"` → 3, `"10%"` kept), or null when it is not valid. */
export function parseMaxUnavailable(value: unknown): MaxUnavailable | null {
  if (maxUnavailableProblem(value) !== null) return null;
  if (typeof value === 'number') return value;
  return NUMBER_RE.test(value as string) ? Number(value) : (value as MaxUnavailable);
}

/** Nodes at once: a number as it is; a percentage of `workers`, rounded down, at least 1. */
export function resolveMaxUnavailable(value: MaxUnavailable, workers: number): number {
  if (typeof value === 'number') return value;
  if (!value.endsWith('%')) return Number(value); // "3" from a caller that did not parse it
  const pct = Number(value.slice(0, -1));
  return Math.max(1, Math.floor((pct * workers) / 100));
}
