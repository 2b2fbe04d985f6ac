/**
 * acceptedCAs entries holding several PEM blocks (talos-behaviour.md §5.2: Talos trusts every block of every entry) and
 * entries whose PEM text lacks its final newline (talos-behaviour.md §5.1: Talos joins entries with no separator, so
 * such an entry followed by another loses both). Reading splits every entry into all its certificates;
 * dropping one CA rewrites only its entry with the remaining blocks in order; a patched site is repaired;
 * every PEM written ends with "\n".
 */
import t from 'tap';
import { parseAllDocuments } from 'yaml';

import { RotateError } from '../../src/domain/errors.js';
import { patchCaState, readCaState } from '../../src/machineconfig/index.js';
import { generateKubernetesCa, generateTalosCa, type CaMaterial } from '../../src/pki/index.js';
import { changesOutsideCaFields, loadFixture } from '../fixtures/machineconfig/helpers.js';

const [A, B, C, D] = await Promise.all([generateTalosCa(), generateTalosCa(), generateTalosCa(), generateTalosCa()]);
const [KA, KB] = await Promise.all([generateKubernetesCa(), generateKubernetesCa()]);
const nl = (p: string) => (p.endsWith('\n') ? p : `${p}\n`);
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const fps = (l: readonly { fingerprint: string }[]) => l.map((c) => c.fingerprint);

const worker = loadFixture('legacy-worker');
const workerState = readCaState(worker);
const ISSUING = workerState.talos.issuing!;
const EXTRA = workerState.talos.accepted[0]!;

/** The legacy worker with `.machine.acceptedCAs` replaced by entries holding these PEM texts. */
function workerWith(entries: string[]): string {
  const list = entries.map((text) => `  - crt: ${b64(text)}`).join('\n');
  return worker.replace(
    / {2}acceptedCAs:\n {2}# an extra CA this worker also trusts\n {2}- crt: \S+\n/,
    `  acceptedCAs:\n  # an extra CA this worker also trusts\n${list}\n`,
  );
}

/** The decoded PEM text of each `.machine.acceptedCAs` entry. */
function machineEntries(config: string): string[] {
  const js = parseAllDocuments(config)[0]!.toJS() as { machine: { acceptedCAs?: { crt: string }[] } };
  return (js.machine.acceptedCAs ?? []).map((e) => Buffer.from(e.crt, 'base64').toString('utf8'));
}

function catchRotate(fn: () => unknown): RotateError {
  try {
    fn();
  } catch (err) {
    if (RotateError.is(err)) return err;
    throw err;
  }
  throw new Error('expected a RotateError');
}

t.test('an entry with several certificates: every block is read, in order', async (t) => {
  const cfg = workerWith([nl(A.certPem) + nl(B.certPem), nl(C.certPem)]);
  t.not(cfg, worker, 'the fixture was rewritten');
  const s = readCaState(cfg);
  t.same(fps(s.talos.accepted), [A.fingerprint, B.fingerprint, C.fingerprint], 'A and B from entry 0, C from entry 1');
  t.same(s.talos.unterminated, []);
});

t.test('a document-style acceptedCAs entry with two certificates is read whole', async (t) => {
  const doc = loadFixture('document-worker');
  const first = readCaState(doc).kubernetes.accepted[0]!;
  const bundle = `${nl(first.certPem)}${nl(KA.certPem)}`
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n');
  const cfg = doc.replace(/acceptedCAs:\n {4}- \|\n(?: {6}.*\n)+/, `acceptedCAs:\n    - |\n${bundle}\n`);
  t.same(fps(readCaState(cfg).kubernetes.accepted), [first.fingerprint, KA.fingerprint]);
});

t.test('dropping one CA rewrites only its entry, with the remaining blocks in order', async (t) => {
  const entries = [nl(A.certPem) + nl(B.certPem) + nl(C.certPem), nl(D.certPem)];
  const cfg = workerWith(entries);
  const out = patchCaState(cfg, {
    talos: { issuing: { certPem: ISSUING.certPem }, accepted: [A.certPem, C.certPem, D.certPem] },
  });
  t.same(fps(readCaState(out).talos.accepted), [A.fingerprint, C.fingerprint, D.fingerprint]);
  const after = machineEntries(out);
  t.equal(after.length, 2, 'still two entries');
  t.equal(after[0], nl(A.certPem) + nl(C.certPem), 'entry 0: A then C, B gone');
  t.equal(after[1], entries[1], 'entry 1 untouched');
  t.same(changesOutsideCaFields(cfg, out), [], 'nothing outside the CA fields changed');
  const lines = (s: string) => s.split('\n');
  const changed = lines(out).filter((l, i) => l !== lines(cfg)[i]);
  t.equal(changed.length, 1, 'one line changed: the entry of A, B, C');
});

t.test('dropping every CA of an entry removes that entry only', async (t) => {
  const cfg = workerWith([nl(A.certPem) + nl(B.certPem), nl(C.certPem)]);
  const out = patchCaState(cfg, { talos: { issuing: { certPem: ISSUING.certPem }, accepted: [C.certPem] } });
  t.same(machineEntries(out), [nl(C.certPem)]);
});

t.test('an entry without its final newline is reported and repaired when the site is patched', async (t) => {
  const broken = A.certPem.replace(/\n$/, '');
  const cfg = workerWith([broken, nl(C.certPem)]);
  const s = readCaState(cfg);
  t.same(fps(s.talos.accepted), [A.fingerprint, C.fingerprint], 'both certificates are read');
  t.same(s.talos.unterminated, ['.machine.acceptedCAs[0]'], 'the entry is reported by its field');
  t.same(s.kubernetes.unterminated, [], 'the other PKI has nothing to repair');

  // A change that does not touch A: its entry is still rewritten with a final newline.
  const out = patchCaState(cfg, {
    talos: { issuing: { certPem: ISSUING.certPem }, accepted: [A.certPem, C.certPem, D.certPem] },
  });
  const after = machineEntries(out);
  t.same(after, [nl(A.certPem), nl(C.certPem), nl(D.certPem)], 'A repaired, C kept, D added');
  t.ok(
    after.every((e) => e.endsWith('-----END CERTIFICATE-----\n')),
    'every entry ends with a newline',
  );
  t.same(readCaState(out).talos.unterminated, []);
  t.same(changesOutsideCaFields(cfg, out), []);

  // Even when the requested state equals the current one, patching the site repairs it.
  const same = patchCaState(cfg, {
    talos: { issuing: { certPem: ISSUING.certPem }, accepted: [A.certPem, C.certPem] },
  });
  t.same(machineEntries(same), [nl(A.certPem), nl(C.certPem)]);
  // A change of the other PKI only leaves this site as it is.
  const k8sOnly = patchCaState(cfg, {
    kubernetes: { issuing: { certPem: readCaState(cfg).kubernetes.issuing!.certPem }, accepted: [KB.certPem] },
  });
  t.equal(machineEntries(k8sOnly)[0], broken, 'the Talos site is not touched by a Kubernetes-only patch');
});

t.test('two blocks run together inside one entry are reported; the rewrite separates them', async (t) => {
  const joined = `${A.certPem.replace(/\n$/, '')}${nl(B.certPem)}`;
  const cfg = workerWith([joined]);
  t.same(readCaState(cfg).talos.unterminated, ['.machine.acceptedCAs[0]']);
  const out = patchCaState(cfg, { talos: { issuing: { certPem: ISSUING.certPem }, accepted: [A.certPem, B.certPem] } });
  t.same(machineEntries(out), [nl(A.certPem) + nl(B.certPem)]);
});

t.test('an issuing certificate without its final newline is repaired too', async (t) => {
  const cfg = worker.replace(
    /(\n {4}crt: )"?([A-Za-z0-9+/=]+)"?/,
    (_m, pre: string, v: string) => `${pre}${b64(Buffer.from(v, 'base64').toString('utf8').replace(/\n$/, ''))}`,
  );
  t.same(readCaState(cfg).talos.unterminated, ['.machine.ca.crt']);
  const out = patchCaState(cfg, { talos: { issuing: { certPem: ISSUING.certPem }, accepted: [EXTRA.certPem] } });
  t.same(readCaState(out).talos.unterminated, []);
  t.equal(readCaState(out).talos.issuing?.fingerprint, ISSUING.fingerprint);
});

t.test('a key or a non-certificate block inside an accepted entry is refused, naming the entry', async (t) => {
  const keyPem = ((await generateTalosCa()) as CaMaterial).key.reveal();
  const err = catchRotate(() => readCaState(workerWith([nl(A.certPem) + nl(keyPem)])));
  t.equal(err.code, 'MC_BAD_CA');
  t.match(err.message, /\.machine\.acceptedCAs\[0\]\.crt must hold CERTIFICATE PEM blocks only/);
  t.notMatch(err.message, /PRIVATE KEY-----/, 'no key material in the message');
});
