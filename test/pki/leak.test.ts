import t from 'tap';
import { inspect } from 'node:util';
import { createPrivateKey } from 'node:crypto';
import { formatError, RotateError } from '../../src/domain/errors.js';
import { Secret } from '../../src/domain/secret.js';
import {
  assertKeyMatches,
  decodeTalosBase64Pem,
  encodePem,
  encodeTalosBase64Pem,
  fingerprintOfPem,
  generateKubernetesCa,
  generateTalosCa,
  issueTalosClientCert,
  loadCa,
  parseCaCertificate,
  signCsr,
  createCsr,
  splitPemBlocks,
  type CaMaterial,
} from '../../src/pki/index.js';

/** Every form in which key material could leak: whole PEM, body lines, Talos base64, DER hex/base64. */
function leakNeedles(keyPem: string): string[] {
  const block = splitPemBlocks(keyPem)[0]!;
  const der = Buffer.from(block.der);
  const body = keyPem.split('\n').filter((l) => l && !l.startsWith('-----'));
  return [
    keyPem.trim(),
    ...body.map((l) => l.slice(0, 24)),
    encodeTalosBase64Pem(keyPem).slice(40, 80),
    der.toString('hex').slice(20, 60),
    der.toString('base64').slice(10, 40),
    // The raw private scalar/seed: last 32 bytes of the Ed25519 PKCS#8, in hex and base64.
    der.subarray(der.length - 32).toString('hex'),
    der
      .subarray(der.length - 32)
      .toString('base64')
      .slice(0, 24),
  ];
}

function renderings(err: unknown): string[] {
  const e = err as RotateError;
  return [
    String(e.message),
    String(e.hint ?? ''),
    String(e),
    String(e.stack ?? ''),
    JSON.stringify(e),
    JSON.stringify(e, Object.getOwnPropertyNames(e)),
    inspect(e, { depth: Infinity, showHidden: true }),
    RotateError.is(e) ? formatError(e) : '',
    e.cause === undefined ? '' : inspect(e.cause, { depth: Infinity, showHidden: true }),
  ];
}

async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

t.test('no error reachable with key material contains the key', async (t) => {
  const a = await generateTalosCa();
  const b = await generateTalosCa();
  const k = await generateKubernetesCa();
  const aKey = a.key.reveal();
  const bKey = b.key.reveal();
  const kKey = k.key.reveal();
  const bodyOf = (pem: string) => Buffer.from(splitPemBlocks(pem)[0]!.der);
  const truncated = encodePem('ED25519 PRIVATE KEY', bodyOf(bKey).subarray(0, 40));
  const ecUnderEdLabel = encodePem(
    'ED25519 PRIVATE KEY',
    bodyOf(createPrivateKey(kKey).export({ type: 'pkcs8', format: 'pem' }) as string),
  );
  const csr = await createCsr({ algorithm: 'ed25519', commonName: 'x' });

  const cases: [string, string, () => unknown][] = [
    ['mismatched key', bKey, () => loadCa(a.certPem, bKey, '.machine.ca')],
    ['mismatched key (Secret)', bKey, () => loadCa(a.certPem, new Secret(bKey), '.machine.ca')],
    ['truncated key', bKey, () => loadCa(a.certPem, truncated, '.machine.ca')],
    ['EC key under Ed25519 label', kKey, () => loadCa(k.certPem, ecUnderEdLabel, '.cluster.ca')],
    ['two keys', aKey, () => loadCa(a.certPem, aKey + bKey, '.machine.ca')],
    ['key where the cert goes', aKey, () => loadCa(aKey, aKey, '.machine.ca')],
    ['key parsed as CA cert', aKey, () => parseCaCertificate(aKey, '.machine.acceptedCAs[0]')],
    ['key fingerprinted', aKey, () => fingerprintOfPem(aKey)],
    ['assertKeyMatches', bKey, () => assertKeyMatches(a.certPem, b.key, '.machine.ca')],
    ['plain PEM key in a base64 field', aKey, () => decodeTalosBase64Pem(aKey, '.machine.ca.key')],
    [
      'base64 of a truncated key PEM',
      aKey,
      () => decodeTalosBase64Pem(Buffer.from(aKey.slice(0, -20)).toString('base64'), '.machine.ca.key'),
    ],
    ['key with a corrupted body', aKey, () => splitPemBlocks(aKey.replace(/\n([A-Za-z0-9+/]{10})/, '\n$1!'))],
    [
      'issuing with a wrong CA key',
      bKey,
      () => issueTalosClientCert({ ...a, key: b.key } as CaMaterial, { roles: ['os:admin'] }),
    ],
    [
      'signing a CSR with a wrong CA key',
      bKey,
      () => signCsr({ ...a, key: b.key } as CaMaterial, csr.csrPem, { usages: ['serverAuth'] }),
    ],
    ['CSR signing with a key as CSR', aKey, () => signCsr(a, aKey, { usages: ['serverAuth'] })],
  ];
  // The detector itself must be able to fail: a planted leak is found in every form.
  const aDer = bodyOf(aKey);
  const plantedCause = new Error(
    [encodeTalosBase64Pem(aKey), aDer.toString('hex'), aDer.subarray(aDer.length - 32).toString('base64')].join(' '),
  );
  const planted = renderings(new RotateError('X', `bad key ${aKey}`, { cause: plantedCause })).join('\n');
  t.equal(
    leakNeedles(aKey).filter((n) => planted.includes(n)).length,
    leakNeedles(aKey).length,
    'planted leak detected',
  );

  for (const [name, keyPem, fn] of cases) {
    const err = await caught(fn);
    t.ok(RotateError.is(err), `${name}: a RotateError (${(err as Error).message})`);
    const texts = renderings(err).join('\n');
    const leaked = leakNeedles(keyPem).filter((needle) => texts.includes(needle));
    t.same(leaked, [], `${name}: no key material in message, hint, JSON, inspect, stack or cause`);
  }
});

t.test('CA and issued cert objects render keys as (sensitive)', async (t) => {
  const ca = await generateTalosCa();
  const leaf = await issueTalosClientCert(ca, { roles: ['os:admin'] });
  for (const [name, obj, keyPem] of [
    ['CA', ca, ca.key.reveal()],
    ['leaf', leaf, leaf.key.reveal()],
  ] as const) {
    const texts = [JSON.stringify(obj), inspect(obj, { depth: Infinity }), `${obj.key}`].join('\n');
    t.same(
      leakNeedles(keyPem).filter((n) => texts.includes(n)),
      [],
      `${name} renders without its key`,
    );
    t.match(JSON.stringify(obj), /"key":"\(sensitive\)"/);
  }
});
