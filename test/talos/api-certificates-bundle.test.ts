/**
 * Reading a worker's ApiCertificates: ONE accepted entry holding the whole trustd bundle
 * (secrets/api.go generateWorker, talos-behaviour.md §5). Every certificate of it counts, not only the first; and
 * since apid joins entries with no separator, a block whose END line runs into the next entry counts for
 * nothing, together with that next block (talos-behaviour.md §5.1).
 */
import { createHash } from 'node:crypto';
import t from 'tap';
import { decodeApiCertificates } from '../../src/talos/resources.js';
import { bytes, ld, msg } from './fixtures/wire.js';

const A = '-----BEGIN CERTIFICATE-----\nQUFBQQ==\n-----END CERTIFICATE-----\n';
const B = '-----BEGIN CERTIFICATE-----\nQkJCQg==\n-----END CERTIFICATE-----\n';
const C = '-----BEGIN CERTIFICATE-----\nQ0NDQw==\n-----END CERTIFICATE-----\n';
const sha = (body: string) => createHash('sha256').update(Buffer.from(body, 'base64')).digest('hex');
const decode = (...entries: string[]) =>
  decodeApiCertificates({
    metadata: { id: 'api', version: '3' },
    spec: { proto_spec: bytes(...entries.map((e) => msg(4, ld(1, e)))) },
  });

t.test("a worker's single entry: every block is an accepted CA", async (t) => {
  const w = decode(A + B);
  t.same(w.acceptedEntries, [A + B], 'one entry, as the resource holds it');
  t.same(
    w.acceptedCAs.map((c) => c.fingerprint),
    [sha('QUFBQQ=='), sha('QkJCQg==')],
    'both certificates, in order',
  );
});

t.test('a control plane: one entry per CA', async (t) => {
  const cp = decode(A, B, C);
  t.equal(cp.acceptedEntries.length, 3);
  t.same(
    cp.acceptedCAs.map((c) => c.fingerprint),
    [sha('QUFBQQ=='), sha('QkJCQg=='), sha('Q0NDQw==')],
  );
});

t.test('an entry without its final newline loses itself and the next block, as apid reads them', async (t) => {
  const cut = A.replace(/\n$/, '');
  t.same(
    decode(cut, B, C).acceptedCAs.map((c) => c.fingerprint),
    [sha('Q0NDQw==')],
    'two entries: A and B lost',
  );
  t.same(
    decode(cut + B + C).acceptedCAs.map((c) => c.fingerprint),
    [sha('Q0NDQw==')],
    'inside one bundle: the same',
  );
  t.same(
    decode(A, B.replace(/\n$/, '')).acceptedCAs.map((c) => c.fingerprint),
    [sha('QUFBQQ=='), sha('QkJCQg==')],
    'the last one is harmless',
  );
});
