/**
 * The files a lab writes into DIR for operators and tests. Each entry says when it can be written:
 * `start` files right after the cluster is assembled, `ready` files once the cluster serves (they come
 * from its APIs). lab.json is not listed: it is written after all of these, as the readiness signal
 * (lab-dir.ts). A new file is one more entry here.
 */
import * as path from 'node:path';
import {
  emptyTalosconfig,
  renderTalosconfig,
  setContextCredentials,
  setCurrentContext,
} from '../../talos/talosconfig.js';
import { writeFileAtomic } from '../../util/atomic-file.js';
import type { RunningLab, TalosAdminCredentials } from '../index.js';
import { renderLabDesiredState } from './desired-file.js';

export interface LabDirFile {
  /** Key in lab.json's `files`. */
  kind: string;
  name: string;
  mode: number;
  phase: 'start' | 'ready';
  render(lab: RunningLab): Promise<string> | string;
}

/** talosconfig as talosctl writes it: one context named after the cluster, endpoints = control planes. */
export function renderLabTalosconfig(admin: TalosAdminCredentials): string {
  const cfg = emptyTalosconfig();
  // endpoints and nodes first (talosctl's key order), then the credentials.
  cfg.doc.setIn(
    ['contexts', admin.context],
    cfg.doc.createNode({ endpoints: [...admin.endpoints], nodes: [...admin.nodes] }),
  );
  setContextCredentials(cfg, admin.context, { caPem: admin.caPem, certPem: admin.certPem, key: admin.key });
  setCurrentContext(cfg, admin.context);
  return renderTalosconfig(cfg);
}

/** rotate.yaml for the lab as it starts (its CAs as the first control plane derives them from its config). */
export function renderLabDesiredFile(lab: RunningLab): string {
  const cluster = lab.cluster;
  const k8s = cluster.controlPlanes[0]?.roots.kubernetes.issuingCert;
  if (!k8s) throw new Error('the lab has no control plane with a Kubernetes API CA');
  return renderLabDesiredState({
    context: lab.talosAdmin.context,
    controlPlanes: cluster.controlPlanes.map((n) => n.address),
    workers: cluster.workers.map((n) => n.address),
    talosCaPem: lab.talosAdmin.caPem,
    kubernetesCaPem: k8s.certPem,
  });
}

export const LAB_DIR_FILES: readonly LabDirFile[] = [
  { kind: 'secrets', name: 'secrets.yaml', mode: 0o600, phase: 'start', render: (lab) => lab.secretsBundle },
  {
    kind: 'talosconfig',
    name: 'talosconfig',
    mode: 0o600,
    phase: 'start',
    render: (lab) => renderLabTalosconfig(lab.talosAdmin),
  },
  { kind: 'kubeconfig', name: 'kubeconfig', mode: 0o600, phase: 'ready', render: (lab) => lab.fetchKubeconfig() },
  // No secret in it (keys are referenced, never written): readable like any file meant for git.
  { kind: 'desired', name: 'rotate.yaml', mode: 0o644, phase: 'start', render: renderLabDesiredFile },
];

/** Write the files of one phase; returns kind → file name for lab.json. */
export async function writeLabDirFiles(
  dir: string,
  lab: RunningLab,
  phase: LabDirFile['phase'],
): Promise<Record<string, string>> {
  const written: Record<string, string> = {};
  for (const file of LAB_DIR_FILES.filter((f) => f.phase === phase)) {
    await writeFileAtomic(path.join(dir, file.name), await file.render(lab), { mode: file.mode });
    written[file.kind] = file.name;
  }
  return written;
}
