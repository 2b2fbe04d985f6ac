import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { RotateError } from '../domain/errors.js';
import type { ApiKind } from '../domain/types.js';
import {
  assertIsCa,
  assertSupportedAlgorithm,
  assertValidNow,
  decodeTalosBase64Pem,
  generateKubernetesCa,
  generateTalosCa,
  parseCaCertificate,
  privateKeyPemForNode,
  type CaCertificate,
} from '../pki/index.js';
import { writeFileAtomic, pathExists } from '../util/atomic-file.js';
import { DesiredStateError, validateDesiredFile } from '../desired/index.js';
import { addAuthority, type AuthorityUse } from '../desired/edit.js';
import { printJson, printResult } from './output.js';

function describeCa(ca: CaCertificate): Record<string, unknown> {
  return {
    fingerprint: ca.fingerprint,
    subject: ca.subject,
    algorithm: ca.algorithm,
    notBefore: ca.notBefore.toISOString(),
    notAfter: ca.notAfter.toISOString(),
  };
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface CaNewOptions {
  api: ApiKind;
  name: string;
  dir?: string | undefined;
  file?: string | undefined;
  makeIssuing?: boolean;
  keepPrevious?: boolean;
  json: boolean;
}

/** The desired-state file as read before the edit, checked to be valid (so the edit cannot hide a problem). */
async function readValidDesired(file: string): Promise<{ text: string; mode: number }> {
  const result = await validateDesiredFile(file);
  if (!result.valid) throw new DesiredStateError(result.file, result.errors, result.warnings);
  const [text, stat] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)]);
  return { text, mode: stat.mode & 0o777 };
}

/** A path as the desired-state file should reference it: relative to the file's folder when below it. */
function referenceFrom(desiredDir: string, target: string): string {
  const rel = path.relative(desiredDir, target);
  return rel.startsWith('..') || path.isAbsolute(rel) ? target : rel.split(path.sep).join('/');
}

/**
 * `rotate ca new`: generate a CA as Talos does; the key goes to a 0600 file and nowhere else. With `-f`,
 * the authority is added to the desired-state file (and with --make-issuing made issuing); the file must
 * be valid before, and is checked again after: if the edit does not validate, the file is put back and the
 * new CA files are removed, so that nothing is left half-done.
 */
export async function runCaNew(args: CaNewOptions): Promise<void> {
  if (!NAME_RE.test(args.name)) {
    throw new RotateError('CA_BAD_NAME', `--name ${JSON.stringify(args.name)} is not a plain file stem`, {
      hint: 'use letters, digits, ".", "_" and "-" only, e.g. --name talos-2026',
    });
  }
  if ((args.makeIssuing || args.keepPrevious) && !args.file) {
    throw new RotateError('CLI_USAGE', `--${args.makeIssuing ? 'make-issuing' : 'keep-previous'} edits a desired-state file: name it with -f FILE`, { hint: 'e.g. rotate ca new -f rotate.yaml --api talos --name talos-2027 --make-issuing' });
  }
  if (args.keepPrevious && !args.makeIssuing) {
    throw new RotateError('CLI_USAGE', '--keep-previous only makes sense with --make-issuing', { hint: 'add --make-issuing, or leave out --keep-previous to only define the authority' });
  }
  const desiredFile = args.file ? path.resolve(args.file) : null;
  const dir = path.resolve(args.dir ?? (desiredFile ? path.join(path.dirname(desiredFile), 'pki') : 'pki'));
  const certPath = path.join(dir, `${args.name}.crt`);
  const keyPath = path.join(dir, `${args.name}.key`);
  for (const p of [certPath, keyPath]) {
    if (await pathExists(p)) {
      throw new RotateError('CA_FILE_EXISTS', `${p} already exists; refusing to overwrite a CA`, {
        hint: 'choose another --name or --dir; a CA key that may still be in use must never be replaced',
      });
    }
  }
  // Everything about the file is checked before a key exists.
  const use: AuthorityUse = args.makeIssuing ? (args.keepPrevious ? 'staged' : 'issuing') : 'define';
  let edit: { before: string; mode: number; after: string; previousIssuing: string | null } | null = null;
  if (desiredFile) {
    const before = await readValidDesired(desiredFile);
    const desiredDir = path.dirname(desiredFile);
    const made = addAuthority(before.text, args.file!, { api: args.api, name: args.name, certificate: referenceFrom(desiredDir, certPath), keyFile: referenceFrom(desiredDir, keyPath), use });
    edit = { before: before.text, mode: before.mode, after: made.text, previousIssuing: made.previousIssuing };
  }

  const ca = args.api === 'talos' ? await generateTalosCa() : await generateKubernetesCa();
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  // Key first and exclusively: if anything fails after this, the key exists and nothing pretends otherwise.
  // Written as PKCS#8/SEC1 that OpenSSL reads (Talos's `ED25519 PRIVATE KEY` label is relabelled).
  await writeFileAtomic(keyPath, privateKeyPemForNode(ca.key.reveal()), { mode: 0o600, exclusive: true });
  await writeFileAtomic(certPath, ca.certPem, { mode: 0o644, exclusive: true });

  if (desiredFile && edit) {
    await writeFileAtomic(desiredFile, edit.after, { mode: edit.mode });
    const after = await validateDesiredFile(desiredFile);
    if (!after.valid) {
      await writeFileAtomic(desiredFile, edit.before, { mode: edit.mode });
      await Promise.all([fs.rm(certPath, { force: true }), fs.rm(keyPath, { force: true })]);
      throw new DesiredStateError(after.file, after.errors, after.warnings);
    }
  }
  const result = {
    api: args.api,
    certificate: certPath,
    key: keyPath,
    ...describeCa(ca),
    ...(desiredFile && edit ? { desiredFile, use, previousIssuing: edit.previousIssuing } : {}),
  };
  if (args.json) {
    printJson(result);
    return;
  }
  const lines = [
    `Generated a ${args.api === 'talos' ? 'Talos API' : 'Kubernetes API'} CA (${ca.algorithm}, ${ca.subject})`,
    `  fingerprint  ${ca.fingerprint}`,
    `  valid        ${ca.notBefore.toISOString()} → ${ca.notAfter.toISOString()}`,
    `  certificate  ${certPath} (0644)`,
    `  key          ${keyPath} (0600, never printed; keep it out of git)`,
  ];
  if (desiredFile && edit) {
    const what =
      use === 'define'
        ? `defined authorities.${args.name}`
        : use === 'issuing'
          ? `${args.api}: ${args.name} issues, ${edit.previousIssuing} dropped (a full rotation)`
          : `${args.api}: ${args.name} issues, ${edit.previousIssuing} stays accepted (staged: empty \`accepted\` in a later commit)`;
    lines.push(`  ${args.file}: ${what}`, `Next: rotate plan -f ${args.file}`);
  }
  printResult(lines.join('\n'));
}

/** `rotate ca show FILE`: describe a CA certificate and run the checks the planner runs. */
export async function runCaShow(args: { file: string; json: boolean }): Promise<void> {
  let text: string;
  try {
    text = await fs.readFile(args.file, 'utf8');
  } catch (err) {
    throw new RotateError('CA_READ', `cannot read ${args.file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
      hint: 'check the path',
    });
  }
  const pem = text.includes('-----BEGIN') ? text : decodeTalosBase64Pem(text.trim(), args.file);
  const ca = parseCaCertificate(pem, args.file);
  const problems: string[] = [];
  for (const check of [() => assertIsCa(ca, args.file), () => assertSupportedAlgorithm(ca, args.file), () => assertValidNow(ca, args.file)]) {
    try {
      check();
    } catch (err) {
      if (!RotateError.is(err)) throw err;
      problems.push(`${err.code}: ${err.message}`);
    }
  }
  if (args.json) {
    printJson({ file: args.file, ...describeCa(ca), isCa: ca.isCa, problems });
  } else {
    printResult(
      [
        `${args.file}`,
        `  fingerprint  ${ca.fingerprint}`,
        `  subject      ${ca.subject}`,
        `  algorithm    ${ca.algorithm}`,
        `  valid        ${ca.notBefore.toISOString()} → ${ca.notAfter.toISOString()}`,
        `  checks       ${problems.length === 0 ? 'ok (CA, supported algorithm, within validity)' : problems.join('; ')}`,
      ].join('\n'),
    );
  }
  if (problems.length > 0) process.exitCode = 1;
}

