/**
 * Where the state lives. Default: `<dir of FILE>/state/<basename of FILE without extension>.state.json`
 * for the desired-state file FILE, so each desired-state file has its own state and its siblings (backup,
 * lock, escrowed keys) sit in one private folder.
 */
import * as path from 'node:path';
import type { StatePaths } from './types.js';

export const STATE_DIR_NAME = 'state';
export const STATE_SUFFIX = '.state.json';

/** `/a/b/rotate.yaml` → `/a/b/state/rotate.state.json` (absolute). */
export function defaultStatePath(desiredFile: string): string {
  const abs = path.resolve(desiredFile);
  const base = path.basename(abs, path.extname(abs)) || path.basename(abs);
  return path.join(path.dirname(abs), STATE_DIR_NAME, `${base}${STATE_SUFFIX}`);
}

/** `--state PATH` wins; otherwise the default for `-f FILE`. Always absolute. */
export function resolveStatePath(opts: { state?: string | undefined; file: string }): string {
  return opts.state ? path.resolve(opts.state) : defaultStatePath(opts.file);
}

export function statePaths(statePath: string): StatePaths {
  const state = path.resolve(statePath);
  const dir = path.dirname(state);
  return { state, dir, backup: `${state}.backup`, lock: `${state}.lock`, keysDir: path.join(dir, 'keys') };
}
