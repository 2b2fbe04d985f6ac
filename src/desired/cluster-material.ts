/**
 * Offline checks of the files named under `cluster`: the talosconfig (its context and endpoints), the
 * secrets bundle apply updates, where the kubeconfig goes, and paths that would make apply overwrite one
 * file with another.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isSeq, type Node } from 'yaml';

import { RotateError, causeCode } from '../domain/errors.js';
import { contextNames, currentContextName, loadTalosconfig, resolveTalosconfigPath } from '../talos/talosconfig.js';
import { error, warning, type Finding, type Segment } from './diagnostics.js';
import { assertPrivateMode, Problem, readBundle, type MaterialContext } from './material.js';
import { resolveDesiredPath, showPath } from './paths.js';
import type { DesiredCluster } from './types.js';

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

/** The real path when the file exists (so symlinks and `..` compare equal), else the path itself. */
async function identity(p: string): Promise<string> {
  return fs.realpath(p).catch(() => path.resolve(p));
}

export interface ClusterFiles {
  talosconfig: string;
  talosconfigSource: DesiredCluster['talosconfigSource'];
  kubeconfig?: string;
  secretsBundle?: string;
}

/** Resolve the cluster's file paths (talosconfig as talosctl would when it is not written). */
export function resolveClusterFiles(cluster: Record<string, unknown>, ctx: MaterialContext): ClusterFiles {
  const out: ClusterFiles = { talosconfig: '', talosconfigSource: 'file' };
  if (typeof cluster.talosconfig === 'string') {
    out.talosconfig = resolveDesiredPath(cluster.talosconfig, ctx.dir, ctx.home);
  } else {
    const r = resolveTalosconfigPath({
      env: { TALOSCONFIG: ctx.env.TALOSCONFIG, TALOS_HOME: ctx.env.TALOS_HOME },
      home: ctx.home,
    });
    out.talosconfig = path.resolve(r.path);
    out.talosconfigSource = r.source === 'flag' ? 'file' : r.source;
  }
  if (typeof cluster.kubeconfig === 'string')
    out.kubeconfig = resolveDesiredPath(cluster.kubeconfig, ctx.dir, ctx.home);
  if (typeof cluster.secretsBundle === 'string')
    out.secretsBundle = resolveDesiredPath(cluster.secretsBundle, ctx.dir, ctx.home);
  return out;
}

async function checkTalosconfig(
  cluster: Record<string, unknown>,
  files: ClusterFiles,
  findings: Finding[],
): Promise<void> {
  const written = typeof cluster.talosconfig === 'string' ? cluster.talosconfig : undefined;
  const at: Segment[] = written !== undefined ? ['cluster', 'talosconfig'] : ['cluster'];
  const onKey = written === undefined;
  const shown =
    written !== undefined
      ? showPath(written, files.talosconfig)
      : `${files.talosconfig} (talosctl's default` +
        `${files.talosconfigSource === 'home' ? '' : `, from $${files.talosconfigSource}`})`;
  let cfg;
  try {
    cfg = await loadTalosconfig(files.talosconfig);
  } catch (err) {
    if (!RotateError.is(err)) throw err;
    if (err.code === 'TALOSCONFIG_READ' && causeCode(err) === 'ENOENT') {
      findings.push(
        warning(
          'DESIRED_TALOSCONFIG_MISSING',
          at,
          `talosconfig ${shown} does not exist; plan and apply need it to reach the cluster`,
          'fix cluster.talosconfig, or run validate where the talosconfig is available',
          { onKey, field: ['cluster', 'talosconfig'] },
        ),
      );
      return;
    }
    findings.push(
      error('DESIRED_TALOSCONFIG_INVALID', at, err.message, err.hint ?? 'check the talosconfig', {
        onKey,
        field: ['cluster', 'talosconfig'],
      }),
    );
    return;
  }
  const names = contextNames(cfg);
  const listed = names.length ? names.join(', ') : '(none)';
  const wanted = typeof cluster.context === 'string' ? cluster.context : undefined;
  if (wanted !== undefined && !names.includes(wanted)) {
    findings.push(
      error(
        'DESIRED_TALOSCONFIG_CONTEXT',
        ['cluster', 'context'],
        `talosconfig ${shown} has no context ${JSON.stringify(wanted)} (contexts: ${listed})`,
        names.length ? `use one of: ${listed}` : 'generate the talosconfig with `talosctl gen config`',
      ),
    );
    return;
  }
  const name = wanted ?? currentContextName(cfg);
  if (name === undefined || !names.includes(name)) {
    findings.push(
      error(
        'DESIRED_TALOSCONFIG_CONTEXT',
        ['cluster'],
        `talosconfig ${shown} has no current context`,
        `set cluster.context to one of: ${listed}`,
        { onKey: true, field: ['cluster', 'context'] },
      ),
    );
    return;
  }
  if (!Array.isArray(cluster.endpoints)) {
    const node = cfg.doc.getIn(['contexts', name, 'endpoints'], true) as Node | undefined;
    const hasEndpoints = isSeq(node) && node.items.length > 0;
    const target = cfg.doc.getIn(['contexts', name, 'target']);
    if (!hasEndpoints && !(typeof target === 'string' && target !== '')) {
      findings.push(
        error(
          'DESIRED_NO_ENDPOINTS',
          ['cluster'],
          `neither cluster.endpoints nor context ${JSON.stringify(name)} of talosconfig ${shown} lists any endpoint`,
          'add `endpoints: [<control-plane address>, ...]` under cluster',
          {
            onKey: true,
            field: ['cluster', 'endpoints'],
          },
        ),
      );
    }
  }
}

export interface AuthorityPaths {
  name: string;
  /** Referenced as issuing by some API. */
  issuing: boolean;
  /** Referenced at all. */
  used: boolean;
  certificate?: { path: string; at: Segment[] };
  key?: { path: string; at: Segment[] };
}

/** Every check on the cluster's files. */
export async function checkClusterFiles(
  cluster: Record<string, unknown>,
  files: ClusterFiles,
  opts: { kubernetesManaged: boolean; authorities: AuthorityPaths[]; tainted: (at: Segment[]) => boolean },
  ctx: MaterialContext,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  if (!opts.tainted(['cluster', 'talosconfig']) && !opts.tainted(['cluster', 'context']))
    await checkTalosconfig(cluster, files, findings);

  if (files.secretsBundle && !opts.tainted(['cluster', 'secretsBundle'])) {
    const at: Segment[] = ['cluster', 'secretsBundle'];
    try {
      await readBundle(ctx, cluster.secretsBundle as string, at);
      await assertPrivateMode(
        files.secretsBundle,
        showPath(cluster.secretsBundle as string, files.secretsBundle),
        at,
        'secrets bundle',
      );
    } catch (err) {
      if (!(err instanceof Problem)) throw err;
      const f = err.finding;
      findings.push(f.code === 'DESIRED_KEY_FILE_MODE' ? { ...f, code: 'DESIRED_BUNDLE_MODE' } : f);
    }
  }

  if (files.kubeconfig && opts.kubernetesManaged && !opts.tainted(['cluster', 'kubeconfig'])) {
    const folder = path.dirname(files.kubeconfig);
    if (!(await exists(folder))) {
      findings.push(
        warning(
          'DESIRED_KUBECONFIG_DIR',
          ['cluster', 'kubeconfig'],
          `the folder ${folder} does not exist; apply writes the new kubeconfig there`,
          `create it first (mkdir -p ${JSON.stringify(folder)})`,
        ),
      );
    }
  }

  // Files apply writes must not be each other, nor the CA material it reads.
  // Reported at the later one of a pair: the kubeconfig (a new file) rather than the talosconfig.
  const outputs: { field: string; at: Segment[]; path: string }[] = [];
  const talosconfigAt: Segment[] = typeof cluster.talosconfig === 'string' ? ['cluster', 'talosconfig'] : ['cluster'];
  outputs.push({ field: 'cluster.talosconfig', at: talosconfigAt, path: await identity(files.talosconfig) });
  if (files.secretsBundle)
    outputs.push({
      field: 'cluster.secretsBundle',
      at: ['cluster', 'secretsBundle'],
      path: await identity(files.secretsBundle),
    });
  if (files.kubeconfig)
    outputs.push({
      field: 'cluster.kubeconfig',
      at: ['cluster', 'kubeconfig'],
      path: await identity(files.kubeconfig),
    });
  for (let i = 0; i < outputs.length; i++) {
    for (let j = 0; j < i; j++) {
      if (outputs[i]!.path === outputs[j]!.path) {
        findings.push(
          error(
            'DESIRED_PATH_CONFLICT',
            outputs[i]!.at,
            `is the same file as ${outputs[j]!.field} (${outputs[i]!.path}); apply writes both, one over the other`,
            'give each its own file',
            {
              onKey: outputs[i]!.at.length === 1,
              field: [outputs[i]!.field.split('.')[0]!, outputs[i]!.field.split('.')[1]!],
            },
          ),
        );
      }
    }
  }
  const kubeconfig = outputs.find((o) => o.field === 'cluster.kubeconfig');
  const bundle = outputs.find((o) => o.field === 'cluster.secretsBundle');
  for (const a of opts.authorities) {
    for (const [kind, material] of [
      ['certificate', a.certificate],
      ['key', a.key],
    ] as const) {
      if (!material) continue;
      const real = await identity(material.path);
      for (const out of [kubeconfig, outputs.find((o) => o.field === 'cluster.talosconfig')]) {
        if (out && out.path === real) {
          findings.push(
            error(
              'DESIRED_PATH_CONFLICT',
              out.at,
              `is the same file as CA material of authority ${a.name} (${real}); apply would overwrite it`,
              'give it its own file',
              { onKey: out.at.length === 1, field: out.field.split('.') },
            ),
          );
        }
      }
      // The bundle apply rewrites with the new CAs would make this authority name the new CA afterwards. A
      // key read from it only becomes "not available" (material.ts checkKey): a non-issuing CA needs none.
      if (kind === 'certificate' && bundle && bundle.path === real && !a.issuing) {
        const message =
          `reads cluster.secretsBundle (${real}), which apply rewrites with the new CAs: ` +
          `afterwards ${a.name} would name the new ` +
          `CA${a.used ? ' and the next plan would stop accepting the old one' : ''}`;
        const hint =
          `copy the bundle before the rotation (cp -p ${JSON.stringify(real)} secrets.pre-rotation.yaml) ` +
          `and point ${a.name} at the copy`;
        findings.push(
          a.used
            ? error('DESIRED_BUNDLE_REWRITTEN', material.at, message, hint)
            : warning('DESIRED_BUNDLE_REWRITTEN', material.at, message, hint),
        );
      }
    }
  }
  return findings;
}
