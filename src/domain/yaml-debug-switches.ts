/**
 * yaml (the library) prints every token it parses to stdout when LOG_TOKENS is set in the environment, and
 * every parsed item when LOG_STREAM is: machine configs, secrets bundles and key files included. Other tools
 * use the same names, so a pipeline may well have them set. The CLI (cli/main.ts) and the lab's daemon
 * (lab/process/daemon.ts) drop both before they parse anything; worker threads and the processes they start
 * inherit the environment without them.
 */
export const YAML_DEBUG_SWITCHES = ['LOG_TOKENS', 'LOG_STREAM'] as const;

export function dropYamlDebugSwitches(env: NodeJS.ProcessEnv = process.env): void {
  for (const name of YAML_DEBUG_SWITCHES) delete env[name];
}
