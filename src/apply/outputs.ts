/**
 * Files a run writes for the operator (issue: Outputs): the talosconfig with the minted admin client
 * (other contexts and fields intact), the admin kubeconfig fetched through the Talos `Kubeconfig` API
 * (merged into the file, other clusters and contexts intact, written only when it changes), and the
 * secrets bundle's `certs.os` / `certs.k8s`. Every write is atomic and 0600; the file a run replaces first
 * is kept once as a 0600 backup in the state folder (`backups/<run id>/`, 0700, git-ignored), so rollback
 * can restore it; the backups of the last runs are kept (see pruneBackups).
 */
import { configuredStateCipher, isSealed, openIfSealed } from '../state/encryption.js';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Secret } from '../domain/secret.js';
import { ensureIgnoredPrivateDir } from '../state/state-dir.js';
import { loadSecretsBundle, saveSecretsBundle, setBundleCa, type BundleCaEntry } from '../talos/secrets-bundle.js';
import { loadTalosconfig, saveTalosconfig, setContextCredentials } from '../talos/talosconfig.js';
import { writeFileAtomic, pathExists } from '../util/atomic-file.js';
import type { ClientCredentials } from './clients.js';
import { mergeKubeconfig } from './kubeconfig-merge.js';

export type OutputFileKind = 'talosconfig' | 'kubeconfig' | 'secretsBundle';

export interface WrittenOutput {
  kind: OutputFileKind;
  path: string;
  /** The copy of the file as it was before this run first replaced it; null if there was none. */
  backupPath: string | null;
}

/** Where a run keeps the files it replaces: its state folder and its id. */
export interface BackupPlace {
  stateDir: string;
  runId: string;
}

export const BACKUPS_DIR_NAME = 'backups';
/** Backups of this many most recent runs of a state are kept (and always those of the last apply run). */
export const BACKUP_RUNS_KEPT = 3;

/**
 * `<state dir>/backups/<run id>/<kind>-<file name>`: one backup per file per run, taken the first time the
 * run replaces the file (the kind keeps ~/.talos/config and ~/.kube/config apart).
 */
export function backupPathFor(place: BackupPlace, kind: OutputFileKind, file: string): string {
  return path.join(place.stateDir, BACKUPS_DIR_NAME, place.runId, `${kind}-${path.basename(file)}`);
}

/** Back up `file` unless this run already did (the backup must hold the file as it was BEFORE the run). */
async function backupOnce(file: string, kind: OutputFileKind, place: BackupPlace): Promise<string | null> {
  const backup = backupPathFor(place, kind, file);
  if (await pathExists(backup)) return backup;
  const previous = await fs.readFile(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (previous === null) return null;
  await ensureIgnoredPrivateDir(path.join(place.stateDir, BACKUPS_DIR_NAME));
  await ensureIgnoredPrivateDir(path.dirname(backup));
  // Sealed when a state key is configured: a talosconfig, kubeconfig or bundle holds private keys.
  const cipher = configuredStateCipher();
  await writeFileAtomic(backup, cipher ? cipher.seal(previous, 'output-backup') : previous, { mode: 0o600 });
  return backup;
}

/**
 * Retention: remove the backup folders of runs of this state other than the `BACKUP_RUNS_KEPT` most recent
 * ones and the last apply run (the one `rotate rollback` restores from). Folders of runs this state does
 * not list (another state sharing the folder) are left alone. Returns the run ids whose backups went.
 */
export async function pruneBackups(
  stateDir: string,
  runs: readonly { id: string; operation: string }[],
): Promise<string[]> {
  const keep = new Set(runs.slice(-BACKUP_RUNS_KEPT).map((r) => r.id));
  const lastApply = [...runs].reverse().find((r) => r.operation === 'apply');
  if (lastApply) keep.add(lastApply.id);
  const root = path.join(stateDir, BACKUPS_DIR_NAME);
  const present = await fs.readdir(root).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const run of runs) {
    if (keep.has(run.id) || run.id !== path.basename(run.id) || !present.includes(run.id)) continue;
    await fs.rm(path.join(root, run.id), { recursive: true, force: true });
    removed.push(run.id);
  }
  return removed;
}

export async function writeTalosconfigOutput(
  file: string,
  contextName: string,
  creds: ClientCredentials,
  place: BackupPlace,
): Promise<WrittenOutput> {
  const backupPath = await backupOnce(file, 'talosconfig', place);
  const cfg = await loadTalosconfig(file);
  setContextCredentials(cfg, contextName, creds);
  await saveTalosconfig(cfg, file);
  return { kind: 'talosconfig', path: file, backupPath };
}

/** Merge the fetched admin kubeconfig into `file`; null (nothing written) when the file already says the same. */
export async function writeKubeconfigOutput(
  file: string,
  kubeconfig: string,
  place: BackupPlace,
): Promise<WrittenOutput | null> {
  const existing = await fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  const merged = mergeKubeconfig(existing, kubeconfig);
  if (!merged.changed) return null;
  const backupPath = await backupOnce(file, 'kubeconfig', place);
  await writeFileAtomic(file, merged.text, { mode: 0o600 });
  return { kind: 'kubeconfig', path: file, backupPath };
}

export async function writeSecretsBundleOutput(
  file: string,
  entries: { entry: BundleCaEntry; certPem: string; key: Secret }[],
  place: BackupPlace,
): Promise<WrittenOutput> {
  const backupPath = await backupOnce(file, 'secretsBundle', place);
  const bundle = await loadSecretsBundle(file);
  for (const e of entries) setBundleCa(bundle, e.entry, { certPem: e.certPem, key: e.key });
  await saveSecretsBundle(bundle, file);
  return { kind: 'secretsBundle', path: file, backupPath };
}

/** Put a backed-up file back (rollback), atomically and 0600. */
export async function restoreBackup(output: WrittenOutput): Promise<boolean> {
  if (!output.backupPath || !(await pathExists(output.backupPath))) return false;
  const stored = await fs.readFile(output.backupPath);
  const text = stored.toString('utf8');
  const content = isSealed(text)
    ? Buffer.from(openIfSealed(text, 'output-backup', `backup ${output.backupPath}`), 'utf8')
    : stored;
  await writeFileAtomic(output.path, content, { mode: 0o600 });
  return true;
}
