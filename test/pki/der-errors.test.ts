/** The DER reader and the CSR encoder fail with coded RotateErrors, not plain Errors. */
import { generateKeyPairSync } from 'node:crypto';
import t from 'tap';
import { RotateError } from '../../src/domain/errors.js';
import { readTlv } from '../../src/pki/der.js';
import { encodeCsr } from '../../src/pki/csr.js';

t.test('truncated DER: PKI_PARSE', async (t) => {
  const err = t.throws(() => readTlv(Uint8Array.from([0x30, 0x05, 0x01]), 0)) as unknown;
  t.ok(RotateError.is(err), 'a RotateError');
  t.equal((err as RotateError).code, 'PKI_PARSE');
});

t.test('a key type a CSR cannot be signed with: PKI_UNSUPPORTED_ALG', async (t) => {
  const { privateKey } = generateKeyPairSync('x25519');
  const err = t.throws(() =>
    encodeCsr({
      subjectDer: Buffer.from([0x30, 0x00]),
      spki: Buffer.alloc(0),
      privateKey,
      dnsNames: [],
      ipAddresses: [],
    }),
  ) as unknown;
  t.ok(RotateError.is(err), 'a RotateError');
  t.equal((err as RotateError).code, 'PKI_UNSUPPORTED_ALG');
  t.match((err as RotateError).message, /x25519/);
});
