/**
 * yaml (the library) prints every token it parses to stdout when LOG_TOKENS is set in the environment, and
 * every parsed item when LOG_STREAM is: machine configs, secrets bundles and key files included. Other tools
 * use the same names, so a pipeline may well have them set. Every process of the product drops both before
 * it parses anything; worker threads and the lab's daemon inherit the environment without them. The bundle
 * also compiles yaml's reads of them out (scripts/build-bundle.mjs).
 */
export const YAML_DEBUG_SWITCHES = ['LOG_TOKENS', 'LOG_STREAM'] as const;

export function dropYamlDebugSwitches(env: NodeJS.ProcessEnv = process.env): void {
  for (const name of YAML_DEBUG_SWITCHES) delete env[name];
}
