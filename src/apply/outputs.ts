/**
 * Files a run writes for the operator (issue: Outputs): the talosconfig with the minted admin client
 * (other contexts and fields intact), the admin kubeconfig fetched through the Talos `Kubeconfig` API, and
 * the secrets bundle's `certs.os` / `certs.k8s`. Every write is atomic and 0600; the file a run replaces
 * first is kept once as a 0600 backup, so rollback can restore it.
 */
import { promises as fs } from 'node:fs';
import type { Secret } from '../domain/secret.js';
import { loadSecretsBundle, saveSecretsBundle, setBundleCa, type BundleCaEntry } from '../talos/secrets-bundle.js';
import { loadTalosconfig, saveTalosconfig, setContextCredentials } from '../talos/talosconfig.js';
import { writeFileAtomic, pathExists } from '../util/atomic-file.js';
import type { ClientCredentials } from './clients.js';

export interface WrittenOutput {
  kind: 'talosconfig' | 'kubeconfig' | 'secretsBundle';
  path: string;
  /** The copy of the file as it was before this run first replaced it; null if there was none. */
  backupPath: string | null;
}

/** `<file>.before-<run id>`: one backup per run, taken the first time the run replaces the file. */
export function backupPathFor(file: string, runId: string): string {
  return `${file}.before-${runId}`;
}


/** Back up `file` unless this run already did (the backup must hold the file as it was BEFORE the run). */
async function backupOnce(file: string, runId: string): Promise<string | null> {
  const backup = backupPathFor(file, runId);
  if (await pathExists(backup)) return backup;
  const previous = await fs.readFile(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (previous === null) return null;
  await writeFileAtomic(backup, previous, { mode: 0o600 });
  return backup;
}

export async function writeTalosconfigOutput(file: string, contextName: string, creds: ClientCredentials, runId: string): Promise<WrittenOutput> {
  const backupPath = await backupOnce(file, runId);
  const cfg = await loadTalosconfig(file);
  setContextCredentials(cfg, contextName, creds);
  await saveTalosconfig(cfg, file);
  return { kind: 'talosconfig', path: file, backupPath };
}

export async function writeKubeconfigOutput(file: string, kubeconfig: string, runId: string): Promise<WrittenOutput> {
  const backupPath = await backupOnce(file, runId);
  await writeFileAtomic(file, kubeconfig, { mode: 0o600 });
  return { kind: 'kubeconfig', path: file, backupPath };
}

export async function writeSecretsBundleOutput(
  file: string,
  entries: { entry: BundleCaEntry; certPem: string; key: Secret }[],
  runId: string,
): Promise<WrittenOutput> {
  const backupPath = await backupOnce(file, runId);
  const bundle = await loadSecretsBundle(file);
  for (const e of entries) setBundleCa(bundle, e.entry, { certPem: e.certPem, key: e.key });
  await saveSecretsBundle(bundle, file);
  return { kind: 'secretsBundle', path: file, backupPath };
}

/** Put a backed-up file back (rollback), atomically and 0600. */
export async function restoreBackup(output: WrittenOutput): Promise<boolean> {
  if (!output.backupPath || !(await pathExists(output.backupPath))) return false;
  await writeFileAtomic(output.path, await fs.readFile(output.backupPath), { mode: 0o600 });
  return true;
}
