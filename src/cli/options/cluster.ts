import type { Argv } from 'yargs';

/** talosctl-style overrides of the desired state's `cluster` section, on every command that talks to a cluster. */
export interface ClusterOverrideArgs {
  talosconfig?: string;
  context?: string;
  endpoints?: string[];
}

export function clusterOverrideOptions<T>(y: Argv<T>): Argv<T & ClusterOverrideArgs> {
  return y
    .option('talosconfig', {
      type: 'string',
      describe: 'talosconfig to use instead of cluster.talosconfig (apply updates this file)',
    })
    .option('context', { type: 'string', describe: 'talosconfig context instead of cluster.context' })
    .option('endpoints', {
      alias: 'e',
      type: 'string',
      array: true,
      describe: 'control-plane endpoints instead of cluster.endpoints (comma-separated or repeated)',
    }) as unknown as Argv<T & ClusterOverrideArgs>;
}

export function clusterOverridesOf(args: ClusterOverrideArgs): {
  talosconfig?: string;
  context?: string;
  endpoints?: string[];
} {
  return {
    ...(args.talosconfig ? { talosconfig: args.talosconfig } : {}),
    ...(args.context ? { context: args.context } : {}),
    ...(args.endpoints ? { endpoints: args.endpoints } : {}),
  };
}
