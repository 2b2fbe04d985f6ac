/**
 * talosctl-style `--talosconfig`, `--context` and `--endpoints` on every command that talks to a cluster:
 * they win over the desired state's `cluster` section for this invocation, as talosctl's flags win over
 * its config. Pure. Apply then also updates the talosconfig named by the flag, and a run records the
 * values it used, so a later rollback reaches the cluster the same way.
 */
import * as path from 'node:path';
import type { DesiredState } from '../../desired/types.js';

export interface ClusterOverrides {
  talosconfig?: string | undefined;
  context?: string | undefined;
  endpoints?: readonly string[] | undefined;
}

/** A list flag given comma-separated or repeated (`-e a,b -e c` → [a, b, c]), each once; undefined when not given. */
export function commaList(values: readonly string[] | undefined): string[] | undefined {
  if (values === undefined) return undefined;
  const list = values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
  return list.length > 0 ? [...new Set(list)] : undefined;
}

export function applyClusterOverrides(
  desired: DesiredState,
  o: ClusterOverrides,
  cwd: string = process.cwd(),
): DesiredState {
  const endpoints = commaList(o.endpoints);
  if (!o.talosconfig && !o.context && !endpoints) return desired;
  return {
    ...desired,
    cluster: {
      ...desired.cluster,
      ...(o.talosconfig ? { talosconfig: path.resolve(cwd, o.talosconfig), talosconfigSource: 'flag' as const } : {}),
      ...(o.context ? { context: o.context } : {}),
      ...(endpoints ? { endpoints } : {}),
    },
  };
}
