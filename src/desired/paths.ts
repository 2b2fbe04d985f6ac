/** Paths in the desired-state file: relative to the file's folder, `~/` to the home folder. Pure. */
import * as path from 'node:path';

export function resolveDesiredPath(value: string, dir: string, home: string): string {
  if (value === '~') return home;
  if (value.startsWith('~/')) return path.join(home, value.slice(2));
  return path.resolve(dir, value);
}

/** The path as written, plus where it resolved to when that is not obvious (relative paths confuse). */
export function showPath(written: string, resolved: string): string {
  return path.isAbsolute(written) || written === resolved ? resolved : `${written} (${resolved})`;
}
