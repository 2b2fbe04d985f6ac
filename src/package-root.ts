/**
 * The installed package's root folder, where package.json, `proto/` and `schemas/` ship. Found from this
 * module's own place, because that place differs by how the code runs: `src/` (tests, under tsx), `dist/`
 * (tsc output) or `dist/bundle/` (the one-bundle build bin/rotate runs, scripts/build-bundle.mjs). A fixed
 * relative URL would be right in only some of them.
 */
import { readFileSync } from 'node:fs';

const PACKAGE_NAME = 'talos-rotate';

interface PackageJson {
  name?: string;
  version?: string;
}

function findRoot(start: URL): { root: URL; pkg: PackageJson } {
  for (let dir = start; ;) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as PackageJson;
      if (pkg.name === PACKAGE_NAME) return { root: dir, pkg };
    } catch {
      // No (readable) package.json here: look one folder up.
    }
    const up = new URL('..', dir);
    if (up.href === dir.href) {
      // Not installed as a package (files copied alone): the layout of src/ and dist/, one level up.
      return { root: new URL('..', start), pkg: {} };
    }
    dir = up;
  }
}

const found = findRoot(new URL('.', import.meta.url));

/** The package root, as a folder URL (ends in `/`). */
export const PACKAGE_ROOT: URL = found.root;

/** A file or folder of the package, by its path from the root (`proto/`, `schemas/rotate.schema.json`). */
export function packageUrl(path: string): URL {
  return new URL(path, PACKAGE_ROOT);
}

/** package.json's `version` (undefined only when the root was not found). */
export const PACKAGE_VERSION: string | undefined = found.pkg.version;
