import t from 'tap';
import { RotateError } from '../../src/domain/errors.js';
import {
  concatPem,
  decodeTalosBase64Pem,
  encodePem,
  encodeTalosBase64Pem,
  ensureTrailingNewline,
  generateTalosCa,
  privateKeyPemForNode,
  splitPemBlocks,
} from '../../src/pki/index.js';
import { createPrivateKey } from 'node:crypto';

const der = new Uint8Array(Array.from({ length: 100 }, (_, i) => i));

t.test('splitPemBlocks finds every block, ignores text around, re-encodes canonically', async (t) => {
  const a = encodePem('CERTIFICATE', der);
  const b = encodePem('EC PRIVATE KEY', der.slice(0, 10));
  // Unwrapped body, CRLF line ends and chatter between blocks (as people paste them).
  const messy =
    `junk before\r\n-----BEGIN CERTIFICATE-----\r\n${Buffer.from(der).toString('base64')}\r\n` +
    `-----END CERTIFICATE-----\r\nbetween\n${b}trailing`;
  const blocks = splitPemBlocks(messy);
  t.same(
    blocks.map((x) => x.label),
    ['CERTIFICATE', 'EC PRIVATE KEY'],
  );
  t.same(Array.from(blocks[0]!.der), Array.from(der));
  t.equal(blocks[0]!.pem, a);
  t.ok(blocks[0]!.pem.endsWith('-----END CERTIFICATE-----\n'));
  t.ok(
    a.split('\n').every((line) => line.length <= 64),
    'lines are 64 columns',
  );
  t.same(splitPemBlocks('no pem here'), []);
});

t.test('splitPemBlocks rejects truncated and non-base64 blocks with PKI_PARSE, naming only the label', async (t) => {
  const body = Buffer.from(der).toString('base64');
  t.throws(() => splitPemBlocks(`-----BEGIN CERTIFICATE-----\n${body}\n`), { code: 'PKI_PARSE' });
  t.throws(() => splitPemBlocks(`-----BEGIN CERTIFICATE-----\n${body}\n-----END PRIVATE KEY-----\n`), {
    code: 'PKI_PARSE',
  });
  const encrypted =
    `-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n${body}\n` +
    `-----END RSA PRIVATE KEY-----\n`;
  try {
    splitPemBlocks(encrypted);
    t.fail('should throw');
  } catch (err) {
    t.ok(RotateError.is(err));
    t.equal((err as RotateError).code, 'PKI_PARSE');
    t.notMatch((err as Error).message, body.slice(0, 20));
  }
});

t.test('Talos base64-of-PEM round trip', async (t) => {
  const pem = encodePem('CERTIFICATE', der);
  const b64 = encodeTalosBase64Pem(pem);
  t.match(b64, /^LS0tLS1CRUdJTi/, 'base64 of "-----BEGIN"');
  t.equal(decodeTalosBase64Pem(b64, '.machine.ca.crt'), pem);
  // Go's StdEncoding ignores line breaks.
  t.equal(decodeTalosBase64Pem(b64.replace(/(.{76})/g, '$1\n'), '.machine.ca.crt'), pem);
  t.equal(
    Buffer.from(encodeTalosBase64Pem(pem.trimEnd()), 'base64').toString(),
    pem,
    'encoding adds the final newline',
  );
});

t.test('decodeTalosBase64Pem rejects non-base64-of-PEM with PKI_BAD_ENCODING naming the field', async (t) => {
  const pem = encodePem('CERTIFICATE', der);
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['******', /redacted/],
    [pem, /plain PEM/],
    ['not base64 at all!', /not standard base64/],
    ['abc', /not standard base64/],
    [Buffer.from('hello world').toString('base64'), /not of PEM/],
    [Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n').toString('base64'), /malformed PEM/],
  ];
  for (const [input, why] of cases) {
    t.throws(
      () => decodeTalosBase64Pem(input, '.machine.ca.crt'),
      { code: 'PKI_BAD_ENCODING', message: why },
      JSON.stringify(input.slice(0, 20)),
    );
    try {
      decodeTalosBase64Pem(input, '.cluster.ca.key');
    } catch (err) {
      t.match((err as Error).message, /^\.cluster\.ca\.key /);
      t.ok((err as RotateError).hint, 'has a hint');
    }
  }
});

t.test('ensureTrailingNewline and concatPem build bundles OpenSSL reads', async (t) => {
  t.equal(ensureTrailingNewline('x'), 'x\n');
  t.equal(ensureTrailingNewline('x\n'), 'x\n');
  const a = encodePem('CERTIFICATE', der).trimEnd();
  const b = encodePem('CERTIFICATE', der.slice(1)).trimEnd();
  const bundle = concatPem([a, '', b]);
  t.equal(bundle, `${a}\n${b}\n`);
  t.equal(splitPemBlocks(bundle).length, 2);
});

t.test('privateKeyPemForNode relabels only the Ed25519 label, keeping the PKCS#8 bytes', async (t) => {
  const ca = await generateTalosCa();
  const talosPem = ca.key.reveal();
  t.match(talosPem, /^-----BEGIN ED25519 PRIVATE KEY-----\n/);
  t.throws(() => createPrivateKey(talosPem), 'OpenSSL refuses the Talos label');
  const nodePem = privateKeyPemForNode(talosPem);
  t.match(nodePem, /^-----BEGIN PRIVATE KEY-----\n[\s\S]*-----END PRIVATE KEY-----\n$/);
  t.equal(createPrivateKey(nodePem).asymmetricKeyType, 'ed25519');
  t.same(Array.from(splitPemBlocks(nodePem)[0]!.der), Array.from(splitPemBlocks(talosPem)[0]!.der));
  const ec = '-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n';
  t.equal(privateKeyPemForNode(ec), ec);
});
