import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { RotateError } from '../../../domain/errors.js';
import type { ApiKind } from '../../../domain/types.js';
import {
  assertIsCa,
  assertSupportedAlgorithm,
  assertValidNow,
  decodeTalosBase64Pem,
  generateKubernetesCa,
  generateTalosCa,
  isSignedBy,
  loadCa,
  parseCaCertificate,
  privateKeyPemForNode,
  type CaCertificate,
} from '../../../pki/index.js';
import { writeFileAtomic, pathExists, readTextFile } from '../../../util/atomic-file.js';
import { Secret } from '../../../domain/secret.js';
import { DesiredStateError, validateDesiredFile } from '../../../desired/index.js';
import { addAuthority, type AuthorityUse } from '../../../desired/edit.js';
import { printJson, printResult } from '../../output.js';

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
    throw new RotateError(
      'CLI_USAGE',
      `--${args.makeIssuing ? 'make-issuing' : 'keep-previous'} edits a desired-state file: name it with -f FILE`,
      { hint: 'e.g. rotate ca new -f rotate.yaml --api talos --name talos-2027 --make-issuing' },
    );
  }
  if (args.keepPrevious && !args.makeIssuing) {
    throw new RotateError('CLI_USAGE', '--keep-previous only makes sense with --make-issuing', {
      hint: 'add --make-issuing, or leave out --keep-previous to only define the authority',
    });
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
    const made = addAuthority(before.text, args.file!, {
      api: args.api,
      name: args.name,
      certificate: referenceFrom(desiredDir, certPath),
      keyFile: referenceFrom(desiredDir, keyPath),
      use,
    });
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
          : `${args.api}: ${args.name} issues, ${edit.previousIssuing} stays accepted (staged: ` +
            `empty \`accepted\` in a later commit)`;
    lines.push(`  ${args.file}: ${what}`, `Next: rotate plan -f ${args.file}`);
  }
  printResult(lines.join('\n'));
}

export interface CaImportOptions {
  api: ApiKind;
  name: string;
  cert: string;
  key?: string | undefined;
  file: string;
  makeIssuing?: boolean;
  keepPrevious?: boolean;
  json: boolean;
}

/**
 * `rotate ca import`: bring an existing CA (e.g. from the organisation's PKI) into the desired state. The
 * certificate must be a self-signed CA that Talos can use for that API, valid now, not already defined
 * under another name; the key, when given, must be its key in a 0600 file, and is referenced, never copied.
 * A subordinate CA is refused: Go's verifier (Talos, kubelets) accepts an intermediate as a root, Node's TLS
 * (this tool, and many clients) only with allowPartialTrustChain, and no lab rotation has proved it.
 */
export async function runCaImport(args: CaImportOptions): Promise<void> {
  if (!NAME_RE.test(args.name)) {
    throw new RotateError('CA_BAD_NAME', `--name ${JSON.stringify(args.name)} is not a plain name`, {
      hint: 'use letters, digits, ".", "_" and "-" only, e.g. --name corp-talos-2027',
    });
  }
  if (args.keepPrevious && !args.makeIssuing) {
    throw new RotateError('CLI_USAGE', '--keep-previous only makes sense with --make-issuing', {
      hint: 'add --make-issuing, or leave out --keep-previous to only define the authority',
    });
  }
  if (args.makeIssuing && !args.key) {
    throw new RotateError('CA_IMPORT_NO_KEY', `--make-issuing needs the CA's key: control planes sign with it`, {
      hint: 'add --key FILE (mode 0600); the file is referenced from the desired state, never copied',
    });
  }
  const certPath = path.resolve(args.cert);
  const text = await readTextFile(certPath, 'CA_READ', args.cert, 'check the path');
  if (!text.includes('-----BEGIN CERTIFICATE-----')) {
    throw new RotateError('CA_IMPORT_NOT_PEM', `${args.cert} is not a PEM certificate`, {
      hint: 'convert it first, e.g. `openssl x509 -in CERT -out cert.pem` (or `base64 -d` for Talos base64-of-PEM)',
    });
  }
  const ca = parseCaCertificate(text, args.cert);
  assertIsCa(ca, args.cert);
  assertSupportedAlgorithm(ca, args.cert);
  assertValidNow(ca, args.cert);
  if (!isSignedBy(ca.certPem, ca.certPem)) {
    throw new RotateError(
      'CA_IMPORT_SUBORDINATE',
      `${args.cert} (${ca.subject || 'no subject'}) is not self-signed: a subordinate CA`,
      {
        hint:
          "Talos's Go code would trust it as a root, but Node's TLS (this tool's own checks, and other clients) " +
          'does not without allowPartialTrustChain, and no lab rotation has proved every client; ' +
          'import the root CA instead, or generate one with `rotate ca new`',
      },
    );
  }
  if (args.api === 'talos' && ca.algorithm !== 'ed25519') {
    process.stderr.write(
      `warning: ${args.cert} is ${ca.algorithm}; Talos makes Talos API CAs with Ed25519 (it accepts others) ` +
        `[CA_IMPORT_ALGORITHM]\n`,
    );
  }
  if (args.api === 'kubernetes' && ca.algorithm === 'ed25519') {
    process.stderr.write(
      `warning: ${args.cert} is Ed25519; kube-controller-manager cannot sign kubelet certificates with it (Talos ` +
        `makes Kubernetes CAs with ECDSA P-256) [CA_IMPORT_ED25519_KUBERNETES]\n`,
    );
  }
  let keyPath: string | null = null;
  if (args.key) {
    keyPath = path.resolve(args.key);
    let st;
    try {
      st = await fs.stat(keyPath);
    } catch (err) {
      throw new RotateError(
        'CA_READ',
        `cannot read key file ${args.key}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
        { hint: 'check the path' },
      );
    }
    if ((st.mode & 0o077) !== 0) {
      throw new RotateError(
        'CA_KEY_FILE_MODE',
        `key file ${args.key} is readable by others than its owner (mode 0${(st.mode & 0o777).toString(8)})`,
        { hint: `chmod 600 ${JSON.stringify(keyPath)}` },
      );
    }
    // Checked against the certificate here and dropped: the key itself goes nowhere.
    await loadCa(ca.certPem, new Secret(await fs.readFile(keyPath, 'utf8')), `key file ${args.key}`);
  }

  const desiredFile = path.resolve(args.file);
  const before = await readValidDesired(desiredFile);
  const current = await validateDesiredFile(desiredFile);
  const twin = Object.values(current.state?.authorities ?? {}).find(
    (a) => a.certificate.fingerprint === ca.fingerprint,
  );
  if (twin) {
    throw new RotateError(
      'CA_IMPORT_DUPLICATE',
      `${args.cert} is already defined in ${args.file} as authorities.${twin.name}`,
      { hint: `use the name ${twin.name}; one CA has one name` },
    );
  }
  const use: AuthorityUse = args.makeIssuing ? (args.keepPrevious ? 'staged' : 'issuing') : 'define';
  const dir = path.dirname(desiredFile);
  const made = addAuthority(before.text, args.file, {
    api: args.api,
    name: args.name,
    certificate: referenceFrom(dir, certPath),
    keyFile: keyPath ? referenceFrom(dir, keyPath) : null,
    use,
  });
  await writeFileAtomic(desiredFile, made.text, { mode: before.mode });
  const after = await validateDesiredFile(desiredFile);
  if (!after.valid) {
    await writeFileAtomic(desiredFile, before.text, { mode: before.mode });
    throw new DesiredStateError(after.file, after.errors, after.warnings);
  }
  const result = {
    api: args.api,
    name: args.name,
    certificate: certPath,
    key: keyPath,
    ...describeCa(ca),
    desiredFile,
    use,
    previousIssuing: made.previousIssuing,
  };
  if (args.json) {
    printJson(result);
    return;
  }
  printResult(
    [
      `Imported ${ca.subject || 'a CA'} as authorities.${args.name} ` +
        `in ${args.file}${keyPath ? ' (key referenced, not copied)' : ' (no key: it can be accepted, not issuing)'}`,
      `  fingerprint  ${ca.fingerprint}`,
      `  valid        ${ca.notBefore.toISOString()} → ${ca.notAfter.toISOString()}`,
      ...(use === 'define'
        ? []
        : [
            `  ${args.api}: ${args.name} issues, ` +
              `${made.previousIssuing} ${use === 'staged' ? 'stays accepted' : 'dropped'}`,
          ]),
      `Next: rotate plan -f ${args.file}`,
    ].join('\n'),
  );
}

/** `rotate ca show FILE`: describe a CA certificate and run the checks the planner runs. */
export async function runCaShow(args: { file: string; json: boolean }): Promise<void> {
  const text = await readTextFile(args.file, 'CA_READ', args.file, 'check the path');
  const pem = text.includes('-----BEGIN') ? text : decodeTalosBase64Pem(text.trim(), args.file);
  const ca = parseCaCertificate(pem, args.file);
  const problems: string[] = [];
  for (const check of [
    () => assertIsCa(ca, args.file),
    () => assertSupportedAlgorithm(ca, args.file),
    () => assertValidNow(ca, args.file),
  ]) {
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
        '  checks       ' +
          (problems.length === 0 ? 'ok (CA, supported algorithm, within validity)' : problems.join('; ')),
      ].join('\n'),
    );
  }
  if (problems.length > 0) process.exitCode = 1;
}
