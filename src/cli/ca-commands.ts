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

/** `rotate ca new`: generate a CA as Talos does; the key goes to a 0600 file and nowhere else. */
export async function runCaNew(args: { api: ApiKind; name: string; dir: string; json: boolean }): Promise<void> {
  if (!NAME_RE.test(args.name)) {
    throw new RotateError('CA_BAD_NAME', `--name ${JSON.stringify(args.name)} is not a plain file stem`, {
      hint: 'use letters, digits, ".", "_" and "-" only, e.g. --name talos-2026',
    });
  }
  const dir = path.resolve(args.dir);
  const certPath = path.join(dir, `${args.name}.crt`);
  const keyPath = path.join(dir, `${args.name}.key`);
  for (const p of [certPath, keyPath]) {
    if (await pathExists(p)) {
      throw new RotateError('CA_FILE_EXISTS', `${p} already exists; refusing to overwrite a CA`, {
        hint: 'choose another --name or --dir; a CA key that may still be in use must never be replaced',
      });
    }
  }
  const ca = args.api === 'talos' ? await generateTalosCa() : await generateKubernetesCa();
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  // Key first and exclusively: if anything fails after this, the key exists and nothing pretends otherwise.
  // Written as PKCS#8/SEC1 that OpenSSL reads (Talos's `ED25519 PRIVATE KEY` label is relabelled).
  await writeFileAtomic(keyPath, privateKeyPemForNode(ca.key.reveal()), { mode: 0o600, exclusive: true });
  await writeFileAtomic(certPath, ca.certPem, { mode: 0o644, exclusive: true });
  const result = { api: args.api, certificate: certPath, key: keyPath, ...describeCa(ca) };
  if (args.json) {
    printJson(result);
    return;
  }
  printResult(
    [
      `Generated a ${args.api === 'talos' ? 'Talos API' : 'Kubernetes API'} CA (${ca.algorithm}, ${ca.subject})`,
      `  fingerprint  ${ca.fingerprint}`,
      `  valid        ${ca.notBefore.toISOString()} → ${ca.notAfter.toISOString()}`,
      `  certificate  ${certPath} (0644)`,
      `  key          ${keyPath} (0600, never printed; keep it out of git)`,
    ].join('\n'),
  );
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

