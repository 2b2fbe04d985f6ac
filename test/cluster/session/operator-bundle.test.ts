/**
 * The CA bundle of a talosconfig or kubeconfig, as the Go clients (talosctl, client-go) read it: every
 * certificate, except one whose END line runs into the next block, which is lost with that block (talos-behaviour.md
 * §5.1).
 */
import t from 'tap';
import { generateTalosCa } from '../../../src/pki/index.js';
import { bundleFingerprints } from '../../../src/cluster/session/operator-clients.js';

const [A, B, C] = await Promise.all([generateTalosCa(), generateTalosCa(), generateTalosCa()]);
const nl = (p: string) => (p.endsWith('\n') ? p : `${p}\n`);
const cut = (p: string) => p.replace(/\n$/, '');

t.test('every certificate of a bundle, in order', async (t) => {
  t.same(bundleFingerprints(nl(A.certPem) + nl(B.certPem) + nl(C.certPem)), [
    A.fingerprint,
    B.fingerprint,
    C.fingerprint,
  ]);
});

t.test('a certificate without its final newline, followed by another: both lost, the rest kept', async (t) => {
  t.same(bundleFingerprints(cut(A.certPem) + nl(B.certPem) + nl(C.certPem)), [C.fingerprint]);
  t.same(
    bundleFingerprints(nl(A.certPem) + cut(B.certPem)),
    [A.fingerprint, B.fingerprint],
    'the last one may lack it',
  );
});

t.test('what the tool writes: every END line ends with a newline, also between blocks run together', async (t) => {
  const { concatPem, encodeTalosBase64Pem, terminatePemLines } = await import('../../../src/pki/index.js');
  const joined = cut(A.certPem) + cut(B.certPem);
  t.same(bundleFingerprints(joined), [], 'as given, a Go reader finds nothing');
  t.same(bundleFingerprints(terminatePemLines(joined)), [A.fingerprint, B.fingerprint]);
  t.same(
    bundleFingerprints(Buffer.from(encodeTalosBase64Pem(joined), 'base64').toString('utf8')),
    [A.fingerprint, B.fingerprint],
    'base64 encoding',
  );
  t.same(
    bundleFingerprints(concatPem([joined, cut(C.certPem)])),
    [A.fingerprint, B.fingerprint, C.fingerprint],
    'concatenation',
  );
});
