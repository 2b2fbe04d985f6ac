#!/usr/bin/env node
// Builds the real talosctl (the client we did not write) for the test suite, once per Talos tag and Go
// version, into a cache outside the clone:
//   ${XDG_CACHE_HOME:-~/.cache}/talos-rotate/talosctl/<tag>-<goversion>/talosctl
//
// Sources: the Go module cache only (whatever GOPROXY/GOFLAGS the machine has). Nothing from Talos is copied
// into this repository.
//
// Talos's go.mod carries replace and exclude directives, so `go install …@tag` is refused. Per tag we write a
// small wrapper module that requires github.com/siderolabs/talos and github.com/siderolabs/talos/pkg/machinery
// at that tag and repeats the directives, read from Talos's own go.mod files (`go mod download -json` gives
// the .mod path, `go mod edit -json` parses it). The relative `./pkg/machinery` replace is dropped: the
// machinery module is tagged at the same versions.
//
// Build settings as upstream (Talos Makefile: CGO_ENABLED ?= 0, GO_BUILDTAGS_TALOSCTL ?= grpcnotrace,
// GO_LDFLAGS += -s -w when not WITH_DEBUG; Dockerfile: GOTOOLCHAIN=local). The version tag is not an ldflag
// upstream: it is embedded from pkg/machinery/gendata/data/tag, which the machinery module ships (the Dockerfile
// writes it before tagging). So `talosctl version --client` must print `Tag: <tag>`; this script checks it.
// Added here: -trimpath, so the binary does not depend on where the module cache lives.
//
// Substitutions: the module proxy of this workplace refuses a few module versions Talos pins. For those, and
// only while the pinned version is refused (the script asks first), scripts/talosctl-substitutions.json names
// a served version, with the reason it cannot change what the tests observe. Every substitution applied is
// printed and recorded in build.json beside the binary; a cached binary built under a different set is rebuilt.
//
// Usage:
//   node scripts/build-talosctl.mjs           build what is missing (takes a lock; used by `npm run pretest`)
//   node scripts/build-talosctl.mjs --paths   print {"<tag>": "<path>"} as JSON; fails if a binary is missing
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The talosctl lines the tests run: v1.13.9 (legacy Kubernetes CA layout) and the newest v1.14 tag the
 * module proxy serves with its machinery module (KubeAPIServerCAConfig document layout). The proxy lists no
 * versions of github.com/siderolabs/talos (`go list -m -versions` is refused) and answers "not available" for
 * every v1.14.0 pre-release and for pkg/machinery@v1.14.0; it serves both modules at v1.14.1.
 * Override with TALOSCTL_TAGS="v1.13.9 v1.14.1".
 */
export const TALOSCTL_TAGS = Object.freeze(
  (process.env.TALOSCTL_TAGS ?? 'v1.13.9 v1.14.1').split(/[\s,]+/).filter(Boolean),
);
/** The Go release the suite needs (Talos v1.13/v1.14 declare go 1.26.x in go.mod). */
const MIN_GO = [1, 26];

const TALOS = 'github.com/siderolabs/talos';
const MACHINERY = 'github.com/siderolabs/talos/pkg/machinery';

const goEnv = { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOWORK: 'off' };

class BuildError extends Error {}

/** Throws; main() prints the message and exits 1 (after `finally` blocks have removed work directories). */
function fail(message) {
  throw new BuildError(message);
}

function goRequiredMessage(detail) {
  return (
    `Go ${MIN_GO.join('.')}+ is required to run the test suite (it builds the real talosctl from the Go ` +
    `module cache; the talos-rotate CLI itself needs only Node.js). ${detail}`
  );
}

/** `go env GOVERSION`, checked against MIN_GO; fails with the prerequisite message otherwise. */
export function goVersion() {
  const r = spawnSync('go', ['env', 'GOVERSION'], { env: goEnv, encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    fail(
      goRequiredMessage(
        r.error ? `No 'go' on PATH (${r.error.code}).` : `'go env GOVERSION' failed: ${r.stderr.trim()}`,
      ),
    );
  }
  const v = r.stdout.trim();
  const m = /^go(\d+)\.(\d+)/.exec(v);
  if (!m || Number(m[1]) < MIN_GO[0] || (Number(m[1]) === MIN_GO[0] && Number(m[2]) < MIN_GO[1])) {
    fail(goRequiredMessage(`Found ${v || 'an unknown version'}.`));
  }
  return v;
}

export function cacheRoot() {
  const xdg = process.env.XDG_CACHE_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache');
  return join(base, 'talos-rotate', 'talosctl');
}

export function binaryPath(tag, goVer) {
  return join(cacheRoot(), `${tag}-${goVer}`, 'talosctl');
}

/** module@version that the module proxy refused to serve, from go's error output. */
export function refusedModules(stderr) {
  const refused = new Set();
  for (const m of stderr.matchAll(
    /reading \w+:\/\/[^/\s]+\/(\S+?)\/@v\/(\S+?)\.(?:info|mod|zip): (?:403|404|410)\b/g,
  )) {
    refused.add(`${m[1]}@${m[2]}`);
  }
  return [...refused].sort();
}

function go(args, cwd) {
  const r = spawnSync('go', args, { cwd, env: goEnv, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    const refused = refusedModules(r.stderr);
    const why = refused.length
      ? `\nThe Go module proxy this machine uses does not serve ${refused.join(', ')}; talosctl cannot be built ` +
        'from the module cache here until it does, or until scripts/talosctl-substitutions.json names a served ' +
        'version ' +
        'for each (with the reason the substitute cannot change what the tests observe).'
      : '';
    const errors = r.stderr
      .split('\n')
      .filter((l) => !l.startsWith('go: downloading '))
      .join('\n');
    fail(`go ${args.join(' ')} failed (exit ${r.status}):\n${errors}${why}`);
  }
  return r.stdout;
}

/** Path of a module's go.mod in the module cache, downloading it if needed. */
function downloadedGoMod(mod, tag, cwd) {
  const info = JSON.parse(go(['mod', 'download', '-json', `${mod}@${tag}`], cwd));
  if (info.Error || !info.GoMod) fail(`cannot download ${mod}@${tag}: ${info.Error ?? 'no go.mod reported'}`);
  return info.GoMod;
}

const modRef = (m) => (m.Version ? `${m.Path}@${m.Version}` : m.Path);

/** The directives of the wrapper module: Talos's own, then the machinery module's where Talos has none. */
export function wrapperEditArgs(tag, talosMod, machineryMod) {
  const args = [`-go=${talosMod.Go}`, `-require=${TALOS}@${tag}`, `-require=${MACHINERY}@${tag}`];
  const replaced = new Set();
  for (const r of [...(talosMod.Replace ?? []), ...(machineryMod.Replace ?? [])]) {
    const key = modRef(r.Old);
    if (replaced.has(key)) continue;
    replaced.add(key);
    // A relative replacement (./pkg/machinery) points inside Talos's tree; the tagged module replaces it.
    if (r.New.Path.startsWith('./') || r.New.Path.startsWith('../')) continue;
    args.push(`-replace=${key}=${modRef(r.New)}`);
  }
  const excluded = new Set();
  for (const e of [...(talosMod.Exclude ?? []), ...(machineryMod.Exclude ?? [])]) {
    const key = modRef(e);
    if (!excluded.has(key)) args.push(`-exclude=${key}`);
    excluded.add(key);
  }
  for (const g of talosMod.Godebug ?? []) args.push(`-godebug=${g.Key}=${g.Value}`);
  return args;
}

const SUBSTITUTIONS = fileURLToPath(new URL('./talosctl-substitutions.json', import.meta.url));

/** The substitution entries of a tag (see talosctl-substitutions.json). */
export function substitutionsFor(tag) {
  const all = JSON.parse(readFileSync(SUBSTITUTIONS, 'utf8'));
  return all[tag] ?? [];
}

/** The module@version an entry is about: what Talos pins. */
export function pinnedRef(entry) {
  return entry.kind === 'require' ? `${entry.module}@${entry.pinned}` : entry.pinned;
}

/**
 * Fails when an entry no longer describes Talos's go.mod (a stale table must not silently change a build):
 * a 'require' entry names a requirement of the Talos or machinery module at exactly the pinned version, a
 * 'replace' entry a replace directive old => pinned.
 */
export function checkSubstitution(tag, entry, talosMod, machineryMod) {
  const mods = [talosMod, machineryMod];
  if (entry.kind === 'require') {
    const found = mods.some((m) =>
      (m.Require ?? []).some((r) => r.Path === entry.module && r.Version === entry.pinned),
    );
    if (!found)
      fail(
        `talosctl-substitutions.json: ${tag} requires no ${entry.module}@${entry.pinned}; remove or correct the entry`,
      );
  } else if (entry.kind === 'replace') {
    const found = mods.some((m) =>
      (m.Replace ?? []).some((r) => r.Old.Path === entry.old && modRef(r.New) === entry.pinned),
    );
    if (!found)
      fail(
        `talosctl-substitutions.json: ${tag} has no replace ${entry.old} => ${entry.pinned}; ` +
          'remove or correct the entry',
      );
  } else {
    fail(`talosctl-substitutions.json: ${tag}: unknown kind ${JSON.stringify(entry.kind)}`);
  }
}

/** `go mod edit` arguments that apply an entry (after Talos's own directives, so they win). */
export function substitutionEditArgs(entry) {
  if (entry.kind === 'require') return [`-replace=${entry.module}=${entry.module}@${entry.use}`];
  return entry.use === null ? [`-dropreplace=${entry.old}`] : [`-replace=${entry.old}=${entry.use}`];
}

/**
 * Whether the module proxy serves module@version (asks for its .info, downloads nothing else): true, false
 * (refused), or null when it could not be asked (no network): then only a cached build can be used.
 */
function served(ref, cwd) {
  const r = spawnSync('go', ['list', '-m', '-json', ref], {
    cwd,
    env: { ...goEnv, GOFLAGS: `${process.env.GOFLAGS ?? ''} -mod=mod`.trim() },
    encoding: 'utf8',
  });
  if (r.status === 0) return true;
  if (refusedModules(r.stderr).length) return false;
  process.stderr.write(`build-talosctl: cannot ask the module proxy about ${ref}: ${r.stderr.trim()}\n`);
  return null;
}

/** Runs `talosctl version --client` and returns the Tag line's value. */
export function clientTag(bin) {
  const out = execFileSync(bin, ['version', '--client'], { encoding: 'utf8' });
  return /^\s*Tag:\s*(\S+)\s*$/m.exec(out)?.[1];
}

/** build.json beside a binary: what it was built from. */
export function manifestPath(tag, goVer) {
  return join(cacheRoot(), `${tag}-${goVer}`, 'build.json');
}

function readManifest(tag, goVer) {
  try {
    return JSON.parse(readFileSync(manifestPath(tag, goVer), 'utf8'));
  } catch {
    return null;
  }
}

const substitutionKey = (list) => JSON.stringify(list.map((e) => [e.kind, e.module ?? e.old, e.pinned, e.use]));

function build(tag, goVer) {
  const dest = binaryPath(tag, goVer);
  mkdirSync(cacheRoot(), { recursive: true });
  const work = mkdtempSync(join(cacheRoot(), `.build-${tag}-`));
  try {
    const talosMod = JSON.parse(go(['mod', 'edit', '-json', downloadedGoMod(TALOS, tag, work)], work));
    const machineryMod = JSON.parse(go(['mod', 'edit', '-json', downloadedGoMod(MACHINERY, tag, work)], work));
    const applied = [];
    let unknown = false;
    for (const entry of substitutionsFor(tag)) {
      checkSubstitution(tag, entry, talosMod, machineryMod);
      const answer = served(pinnedRef(entry), work);
      if (answer === null) unknown = true;
      if (!answer) applied.push(entry);
    }
    const manifest = existsSync(dest) ? readManifest(tag, goVer) : null;
    if (unknown) {
      // Offline: a finished build is still the build it was; nothing new can be built without the proxy.
      if (!manifest) fail(`talosctl ${tag} is not built and the module proxy cannot be asked (see above)`);
      if (clientTag(dest) !== tag)
        fail(`cached ${dest} does not report Tag ${tag} and the module proxy cannot be asked`);
      process.stdout.write(
        `build-talosctl: ${tag} (${goVer}) cached at ${dest}, ` +
          `proxy not asked${describe(manifest.substitutions ?? [])}\n`,
      );
      return;
    }
    if (manifest && substitutionKey(manifest.substitutions ?? []) === substitutionKey(applied)) {
      const got = clientTag(dest);
      if (got === tag) {
        process.stdout.write(`build-talosctl: ${tag} (${goVer}) cached at ${dest}${describe(applied)}\n`);
        return;
      }
      process.stderr.write(`build-talosctl: cached ${dest} reports Tag ${got}; rebuilding\n`);
    } else if (existsSync(dest)) {
      process.stderr.write(`build-talosctl: cached ${dest} was built with other substitutions; rebuilding\n`);
    }
    rmSync(dest, { force: true });
    const started = Date.now();
    process.stdout.write(
      `build-talosctl: building ${tag} with ${goVer} (a cold build takes tens of minutes)${describe(applied)}\n`,
    );
    go(['mod', 'init', 'talos-rotate.invalid/talosctl-build'], work);
    go(
      ['mod', 'edit', ...wrapperEditArgs(tag, talosMod, machineryMod), ...applied.flatMap(substitutionEditArgs)],
      work,
    );
    go(['get', `${TALOS}/cmd/talosctl@${tag}`], work);
    // Minimal version selection must keep both modules at the tag (a higher requirement elsewhere would win).
    for (const mod of [TALOS, MACHINERY]) {
      const v = go(['list', '-m', '-f', '{{.Version}}', mod], work).trim();
      if (v !== tag) fail(`${mod} resolved to ${v}, not ${tag}`);
    }
    const out = join(work, 'talosctl');
    go(['build', '-trimpath', '-tags', 'grpcnotrace', '-ldflags', '-s -w', '-o', out, `${TALOS}/cmd/talosctl`], work);
    const got = clientTag(out);
    if (got !== tag) fail(`built talosctl reports Tag ${got ?? '(none)'}, expected ${tag}`);
    mkdirSync(join(cacheRoot(), `${tag}-${goVer}`), { recursive: true });
    chmodSync(out, 0o755);
    // The manifest first, then the binary: a binary without its manifest is rebuilt, never trusted.
    const tmp = join(work, 'build.json');
    writeFileSync(
      tmp,
      `${JSON.stringify(
        { tag, goVersion: goVer, builtAt: new Date().toISOString(), substitutions: applied },
        null,
        2,
      )}\n`,
    );
    renameSync(tmp, manifestPath(tag, goVer));
    renameSync(out, dest);
    const secs = Math.round((Date.now() - started) / 1000);
    process.stdout.write(`build-talosctl: built ${tag} with ${goVer} in ${secs}s -> ${dest}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function describe(applied) {
  if (!applied.length) return '';
  return `; substitutions (pinned version refused by the module proxy):\n${applied
    .map(
      (e) =>
        `  ${pinnedRef(e)} -> ` +
        (e.kind === 'require' ? `${e.module}@${e.use}` : (e.use ?? `(no replace: upstream ${e.old})`)),
    )
    .join('\n')}`;
}

function main() {
  const args = process.argv.slice(2);
  const goVer = goVersion();
  if (args.includes('--paths')) {
    const paths = {};
    for (const tag of TALOSCTL_TAGS) {
      const p = binaryPath(tag, goVer);
      // A binary without its build.json was not built (or not finished) by this script.
      if (!existsSync(p) || !existsSync(manifestPath(tag, goVer))) {
        fail(
          `talosctl ${tag} is not built for ${goVer} (${p} missing). Run \`npm run pretest\` (or \`node ` +
            `scripts/build-talosctl.mjs\`) first.`,
        );
      }
      paths[tag] = p;
    }
    process.stdout.write(`${JSON.stringify(paths)}\n`);
    return;
  }
  // One build at a time on this machine: concurrent runs (two clones, CI) wait for the lock, then find the
  // cached binary. flock(1) holds the lock for the lifetime of the child.
  if (process.env.TALOS_ROTATE_TALOSCTL_LOCKED !== '1') {
    mkdirSync(cacheRoot(), { recursive: true });
    const lock = join(cacheRoot(), '.lock');
    if (!existsSync(lock)) writeFileSync(lock, '', { flag: 'a' });
    const r = spawnSync('flock', [lock, process.execPath, fileURLToPath(import.meta.url), ...args], {
      stdio: 'inherit',
      env: { ...process.env, TALOS_ROTATE_TALOSCTL_LOCKED: '1' },
    });
    if (r.error) fail(`cannot run flock(1) (util-linux): ${r.error.message}`);
    process.exit(r.status ?? 1);
  }
  for (const tag of TALOSCTL_TAGS) build(tag, goVer);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    main();
  } catch (err) {
    if (!(err instanceof BuildError)) throw err;
    process.stderr.write(`build-talosctl: ${err.message}\n`);
    process.exit(1);
  }
}
