// The real talosctl for the benches that run it beside `rotate apply` (rotate-ca.mjs, apply-scale.mjs): its
// binary for a lab style and the `talosctl rotate-ca` command line for a lab's nodes.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

let builtPaths = null;

/**
 * The talosctl of the line a lab style matches (legacy: v1.13, document: v1.14), as built by
 * scripts/build-talosctl.mjs (`npm test` builds them; asked once per process); throws naming the fix when it is
 * not built.
 */
export function talosctlFor(style) {
  const paths = (builtPaths ??= JSON.parse(
    execFileSync(process.execPath, [join(repo, 'scripts', 'build-talosctl.mjs'), '--paths'], { encoding: 'utf8' }),
  ));
  const line = style === 'legacy' ? 'v1.13.' : 'v1.14.';
  const hit = Object.entries(paths).find(([tag]) => tag.startsWith(line));
  if (!hit) throw new Error(`no talosctl of the ${line}x line is built; run npm run build:talosctl`);
  return { tag: hit[0], path: hit[1] };
}

/**
 * `talosctl rotate-ca` for a lab's nodes (`lab.json`'s `nodes`), through its first control plane, with explicit
 * node lists; `apis` says which rotations it makes. `out` is where it writes the new talosconfig.
 */
export function rotateCaArgs({ talosconfig, nodes, apis, out }) {
  const cps = nodes.filter((n) => n.role === 'controlplane').map((n) => n.address);
  const workers = nodes.filter((n) => n.role === 'worker').map((n) => n.address);
  return [
    'rotate-ca',
    '--talosconfig',
    talosconfig,
    '-e',
    cps[0],
    '-n',
    cps[0],
    '--control-plane-nodes',
    cps.join(','),
    '--worker-nodes',
    workers.join(','),
    `--talos=${apis.includes('talos')}`,
    `--kubernetes=${apis.includes('kubernetes')}`,
    '--dry-run=false',
    '-o',
    out,
  ];
}

/**
 * talosctl prints the new CA private key among its step output: a bench shows only its step headers, never
 * the rest of its stdout or stderr.
 */
export function lastStepHeader(stdout) {
  return (
    stdout
      .split('\n')
      .filter((l) => l.startsWith('> '))
      .pop() ?? '(none)'
  );
}
