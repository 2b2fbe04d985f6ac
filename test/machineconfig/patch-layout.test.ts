/**
 * The splice patcher on unusual but valid layouts: exact expected bytes for inserts and removals,
 * indentation styles, flow values, comments, CRLF, document markers, and the error cases.
 */
import t from 'tap';

import { RotateError } from '../../src/domain/errors.js';
import { Secret } from '../../src/domain/secret.js';
import { MachineConfigText, patchCaState, readCaKey, readCaState } from '../../src/machineconfig/index.js';
import { verifyPatched } from '../../src/machineconfig/ca-patch-check.js';
import { encodeTalosBase64Pem, generateKubernetesCa, generateTalosCa } from '../../src/pki/index.js';
import { changesOutsideCaFields, keyMaterialOf, loadFixture } from '../fixtures/machineconfig/helpers.js';

const [A, B, C] = [await generateTalosCa(), await generateTalosCa(), await generateTalosCa()];
const [KA, KB] = [await generateKubernetesCa(), await generateKubernetesCa()];
const b = (pem: string) => encodeTalosBase64Pem(pem);
const indentPem = (pem: string, n: number) =>
  pem
    .trimEnd()
    .split('\n')
    .map((l) => ' '.repeat(n) + l)
    .join('\n');
const fps = (list: { fingerprint: string }[]) => list.map((c) => c.fingerprint);

function catchRotate(fn: () => unknown): RotateError {
  try {
    fn();
  } catch (err) {
    if (RotateError.is(err)) return err;
    throw err;
  }
  throw new Error('expected a RotateError');
}

t.test("2-space config: a missing acceptedCAs is inserted after ca, in the file's style", async (t) => {
  const cfg =
    `version: v1alpha1\nmachine:\n  type: worker\n  token: abc\n  ca:\n    crt: ${b(A.certPem)}\n    key: ""\n` +
    `  certSANs: []\ncluster:\n  clusterName: x\n`;
  const out = patchCaState(cfg, { talos: { issuing: { certPem: A.certPem }, accepted: [B.certPem] } });
  t.equal(out, cfg.replace('  certSANs', `  acceptedCAs:\n    - crt: ${b(B.certPem)}\n  certSANs`));
  // ... and removed again, byte for byte.
  t.equal(patchCaState(out, { talos: { issuing: { certPem: A.certPem }, accepted: [] } }), cfg);
});

t.test('sequence dashes follow the file: not indented under their key', async (t) => {
  const cfg = `machine:\n  type: worker\n  ca:\n    crt: ${b(A.certPem)}\n    key: ""\n  certSANs:\n  - foo\n`;
  const out = patchCaState(cfg, { talos: { issuing: { certPem: A.certPem }, accepted: [B.certPem] } });
  t.equal(out, cfg.replace('  certSANs', `  acceptedCAs:\n  - crt: ${b(B.certPem)}\n  certSANs`));
});

t.test('flow `acceptedCAs: []` at the end of a file without final newline', async (t) => {
  const cfg = `machine:\n    type: worker\n    ca:\n        crt: ${b(A.certPem)}\n        key: ""\n    acceptedCAs: []`;
  const out = patchCaState(cfg, { talos: { issuing: { certPem: A.certPem }, accepted: [B.certPem, C.certPem] } });
  t.equal(
    out,
    cfg.replace('acceptedCAs: []', `acceptedCAs:\n        - crt: ${b(B.certPem)}\n        - crt: ${b(C.certPem)}\n`),
  );
  t.same(fps(readCaState(out).talos.accepted), [B.fingerprint, C.fingerprint]);
});

t.test('a flow list with entries is rewritten in block style, keeping the trailing comment', async (t) => {
  const cfg =
    `machine:\n    type: worker\n    ca: {crt: ${b(A.certPem)}, key: ""}\n` +
    `    acceptedCAs: [{crt: ${b(B.certPem)}}] # trusted\n    certSANs: []\n`;
  const out = patchCaState(cfg, { talos: { issuing: { certPem: A.certPem }, accepted: [B.certPem, C.certPem] } });
  t.equal(
    out,
    cfg.replace(
      /acceptedCAs: .*\n/,
      `acceptedCAs: # trusted\n        - crt: ${b(B.certPem)}\n        - crt: ${b(C.certPem)}\n`,
    ),
  );
  // A flow `ca` mapping is replaced whole when the issuing CA changes.
  const swapped = patchCaState(out, { talos: { issuing: { certPem: C.certPem }, accepted: [A.certPem] } });
  t.match(swapped, `    ca:\n        crt: ${b(C.certPem)}\n        key: ""\n    acceptedCAs: # trusted\n`);
  t.same(changesOutsideCaFields(out, swapped), []);
});

t.test('a missing .machine.ca is added after token, with key "" on a worker', async (t) => {
  const cfg =
    `machine:\n    type: worker\n    token: t0k3n\n    acceptedCAs:\n        - crt: ${b(A.certPem)}\n` +
    `    certSANs: []\n`;
  const out = patchCaState(cfg, { talos: { issuing: { certPem: B.certPem, key: B.key }, accepted: [A.certPem] } });
  t.equal(
    out,
    cfg.replace('    acceptedCAs', `    ca:\n        crt: ${b(B.certPem)}\n        key: ""\n    acceptedCAs`),
  );
  // And dropping the issuing CA of a worker removes the field again.
  t.equal(patchCaState(out, { talos: { issuing: null, accepted: [A.certPem] } }), cfg);
});

t.test('a control plane missing its key field gets it inserted after the certificate', async (t) => {
  const cfg =
    `machine:\n    type: controlplane\n    ca:\n        crt: ${b(A.certPem)} # no key here\n` + `    certSANs: []\n`;
  t.equal(readCaState(cfg).talos.issuing?.hasKey, false);
  const out = patchCaState(cfg, { talos: { issuing: { certPem: A.certPem, key: A.key }, accepted: [] } });
  t.equal(out, cfg.replace('# no key here\n', `# no key here\n        key: ${b(A.key.reveal())}\n`));
  t.equal(readCaKey(out, 'talos')?.reveal(), A.key.reveal());
});

t.test('quoting of a replaced base64 value is kept', async (t) => {
  for (const q of ['"', "'"]) {
    const cfg = `machine:\n    type: worker\n    ca:\n        crt: ${q}${b(A.certPem)}${q}\n        key: ''\n`;
    const out = patchCaState(cfg, { talos: { issuing: { certPem: B.certPem }, accepted: [] } });
    t.equal(out, cfg.replace(b(A.certPem), b(B.certPem)), `quote ${q}`);
  }
});

t.test('a worker never gets a key; one found there is blanked', async (t) => {
  const bad = `machine:\n    type: worker\n    ca:\n        crt: ${b(A.certPem)}\n        key: ${b(A.key.reveal())}\n`;
  t.equal(readCaState(bad).talos.issuing?.hasKey, true, 'read reports what is there');
  const out = patchCaState(bad, { talos: { issuing: { certPem: A.certPem, key: A.key }, accepted: [] } });
  t.equal(out, bad.replace(b(A.key.reveal()), '""'));
  for (const k of keyMaterialOf([A.key.reveal()])) t.notOk(out.includes(k));
  t.equal(readCaState(out).talos.issuing?.hasKey, false);
});

t.test('CRLF files stay CRLF', async (t) => {
  const cfg = loadFixture('legacy-controlplane').replace(/\n/g, '\r\n');
  const s0 = readCaState(cfg);
  const step1 = patchCaState(cfg, {
    talos: { issuing: { certPem: s0.talos.issuing!.certPem }, accepted: [B.certPem] },
  });
  const step2 = patchCaState(step1, {
    talos: { issuing: { certPem: B.certPem, key: B.key }, accepted: [s0.talos.issuing!.certPem] },
  });
  const k1 = patchCaState(step2, {
    kubernetes: { issuing: { certPem: s0.kubernetes.issuing!.certPem }, accepted: [KA.certPem] },
  });
  for (const out of [step1, step2, k1]) {
    t.notMatch(out, /[^\r]\n/, 'every line break is CRLF');
    t.same(changesOutsideCaFields(cfg.replace(/\r/g, ''), out.replace(/\r/g, '')), []);
  }
  t.same(fps(readCaState(k1).kubernetes.accepted), [KA.fingerprint]);
  t.equal(readCaKey(step2, 'talos')?.reveal(), B.key.reveal());
});

t.test('document style: insert and remove acceptedCAs in a 2-space document before a `...` end marker', async (t) => {
  const doc =
    `machine:\n  type: controlplane\n  ca:\n    crt: ${b(A.certPem)}\n    key: ${b(A.key.reveal())}\n---\n` +
    `# k8s CA\napiVersion: v1alpha1\nkind: KubeAPIServerCAConfig\nissuingCA:\n` +
    `  cert: |\n${indentPem(KA.certPem, 4)}\n  key: |\n${indentPem(KA.key.reveal(), 4)}\n...\n`;
  const out = patchCaState(doc, { kubernetes: { issuing: { certPem: KA.certPem }, accepted: [KB.certPem] } });
  t.equal(out, doc.replace('\n...\n', `\nacceptedCAs:\n  - |\n${indentPem(KB.certPem, 4)}\n...\n`));
  t.equal(patchCaState(out, { kubernetes: { issuing: { certPem: KA.certPem }, accepted: [] } }), doc);
  // Swap: the issuing cert and key are replaced in place as literal blocks at their indentation.
  const swapped = patchCaState(out, {
    kubernetes: { issuing: { certPem: KB.certPem, key: KB.key }, accepted: [KA.certPem] },
  });
  t.match(
    swapped,
    `issuingCA:\n  cert: |\n${indentPem(KB.certPem, 4)}\n  key: |\n${indentPem(KB.key.reveal(), 4)}\n` +
      `acceptedCAs:\n  - |\n${indentPem(KA.certPem, 4)}\n...\n`,
  );
});

t.test('document style without final newline and without acceptedCAs', async (t) => {
  const doc =
    `machine:\n    type: controlplane\n    ca:\n        crt: ${b(A.certPem)}\n` +
    `        key: ${b(A.key.reveal())}\n---\napiVersion: v1alpha1\nkind: KubeAPIServerCAConfig\nissuingCA:\n` +
    `    cert: |\n${indentPem(KA.certPem, 8)}\n    key: |\n${indentPem(KA.key.reveal(), 8)}`;
  const out = patchCaState(doc, { kubernetes: { issuing: { certPem: KA.certPem }, accepted: [KB.certPem] } });
  t.same(fps(readCaState(out).kubernetes.accepted), [KB.fingerprint]);
  t.ok(out.startsWith(doc), 'appended after the untouched text');
  t.match(out.slice(doc.length), /^\nacceptedCAs:\n {4}- \|\n {6}-----BEGIN CERTIFICATE-----\n/);
});

t.test('document worker: comments between entries survive a reorder', async (t) => {
  const doc =
    `machine:\n    type: worker\n    ca:\n        crt: ${b(A.certPem)}\n        key: ""\n---\n` +
    `apiVersion: v1alpha1\nkind: KubeAPIServerCAConfig\nacceptedCAs:\n    # current\n` +
    `    - |\n${indentPem(KA.certPem, 6)}\n    # next\n    - |\n${indentPem(KB.certPem, 6)}\n---\n` +
    `apiVersion: v1alpha1\nkind: KubePrismConfig\nport: 7445\n`;
  const out = patchCaState(doc, {
    kubernetes: { issuing: { certPem: KB.certPem, key: KB.key }, accepted: [KA.certPem] },
  });
  t.same(fps(readCaState(out).kubernetes.accepted), [KB.fingerprint, KA.fingerprint]);
  t.match(out, '# current');
  t.match(out, '# next');
  t.same(changesOutsideCaFields(doc, out), []);
  t.notMatch(out, /issuingCA/, 'a worker gets no issuingCA');
});

t.test(
  'document worker with an issuingCA and key (valid on v1.14): read as trusted, never kept when patched',
  async (t) => {
    // v1.14 checks a worker's Kubernetes issuing key in .cluster.ca only, so this config is accepted; the
    // worker trusts issuingCA.cert first, then acceptedCAs (apiserver_ca.go AcceptedCAs). The reader reports
    // the CA as the worker's; a patch rewrites the document the way rotate-ca writes workers: no issuingCA,
    // no key, the CA at the head of acceptedCAs.
    const doc =
      `machine:\n    type: worker\n    ca:\n        crt: ${b(A.certPem)}\n        key: ""\n---\n` +
      `apiVersion: v1alpha1\nkind: KubeAPIServerCAConfig\nissuingCA:\n    cert: |\n${indentPem(KA.certPem, 8)}\n` +
      `    key: |\n${indentPem(KA.key.reveal(), 8)}\n`;
    const s = readCaState(doc).kubernetes;
    t.equal(s.issuing?.fingerprint, KA.fingerprint);
    t.same(fps(s.accepted), []);
    const added = patchCaState(doc, { kubernetes: { issuing: { certPem: KA.certPem }, accepted: [KB.certPem] } });
    t.notMatch(added, /issuingCA|PRIVATE KEY/, 'the worker loses the issuingCA and its key');
    t.same(fps(readCaState(added).kubernetes.accepted), [KA.fingerprint, KB.fingerprint]);
    const dropped = patchCaState(added, { kubernetes: { issuing: { certPem: KB.certPem }, accepted: [] } });
    t.same(
      fps(readCaState(dropped).kubernetes.accepted),
      [KB.fingerprint],
      'the old CA is gone from what the worker trusts',
    );
  },
);

t.test('accepted lists: dedup, issuing not repeated, kept order, no-op returns the same string', async (t) => {
  const cfg =
    `machine:\n    type: worker\n    ca:\n        crt: ${b(A.certPem)}\n        key: ""\n    acceptedCAs:\n` +
    `        - crt: ${b(B.certPem)}\n        - crt: ${b(C.certPem)}\n`;
  // Same set in another order, with duplicates, the issuing CA, and PEM with CRLF and no final newline.
  const messy = (pem: string) => pem.trimEnd().replace(/\n/g, '\r\n');
  t.equal(
    patchCaState(cfg, {
      talos: { issuing: { certPem: messy(A.certPem) }, accepted: [C.certPem, messy(B.certPem), B.certPem, A.certPem] },
    }),
    cfg,
  );
  // Existing duplicates are collapsed when the list is written.
  const dup = cfg.replace(`        - crt: ${b(C.certPem)}\n`, `        - crt: ${b(B.certPem)}\n`);
  t.same(fps(readCaState(dup).talos.accepted), [B.fingerprint, B.fingerprint], 'read reports duplicates as they are');
  const fixed = patchCaState(dup, { talos: { issuing: { certPem: A.certPem }, accepted: [B.certPem] } });
  t.equal(fixed, cfg.replace(`        - crt: ${b(C.certPem)}\n`, ''));
  // An accepted entry equal to the issuing CA is dropped from the list.
  const withIssuing = cfg.replace(`        - crt: ${b(C.certPem)}\n`, `        - crt: ${b(A.certPem)}\n`);
  t.equal(
    patchCaState(withIssuing, { talos: { issuing: { certPem: A.certPem }, accepted: [B.certPem, A.certPem] } }),
    fixed,
  );
});

t.test('the other PKI and unrelated documents are untouched', async (t) => {
  const cfg = loadFixture('document-controlplane');
  const out = patchCaState(cfg, {
    kubernetes: { issuing: { certPem: readCaState(cfg).kubernetes.issuing!.certPem }, accepted: [KB.certPem] },
  });
  const tail = (s: string) => s.slice(s.indexOf('kind: KubeAggregatorCAConfig'));
  t.equal(tail(out), tail(cfg));
  t.equal(
    out.slice(0, out.indexOf('kind: KubeAPIServerCAConfig')),
    cfg.slice(0, cfg.indexOf('kind: KubeAPIServerCAConfig')),
  );
});

t.test('a `|+` block scalar before the insertion point keeps its blank lines', async (t) => {
  const cfg =
    `machine:\n    type: worker\n    token: |+\n        abc\n\n    acceptedCAs:\n` + `        - crt: ${b(A.certPem)}\n`;
  const out = patchCaState(cfg, { talos: { issuing: { certPem: B.certPem }, accepted: [A.certPem] } });
  t.equal(
    out,
    cfg.replace('    acceptedCAs', `    ca:\n        crt: ${b(B.certPem)}\n        key: ""\n    acceptedCAs`),
  );
});

t.test('the self-check refuses a patch that would change anything outside the CA fields', async (t) => {
  // An alias elsewhere that points at the CA mapping would silently change with it.
  const cfg =
    `machine:\n    type: worker\n    ca: &talosca\n        crt: ${b(A.certPem)}\n        key: ""\n` +
    `    copy: *talosca\n`;
  const err = catchRotate(() => patchCaState(cfg, { talos: { issuing: { certPem: B.certPem }, accepted: [] } }, 'w1'));
  t.equal(err.code, 'MC_INTERNAL');
  t.equal(err.source, 'internal');
  t.match(
    err.message,
    new RegExp(
      /machine config of w1: the patched config does not read back as requested \(content outside the /.source +
        /CA fields changed\)/.source,
    ),
  );
});

t.test('the self-check compares every document of a multi-document config, edited or not', async (t) => {
  // The documents the patch does not touch are compared by their parse; the edited one by its content.
  const tail = `---\napiVersion: v1alpha1\nkind: KubePrismConfig\nenabled: true\nport: 7445\n`;
  const cfg =
    `machine:\n    type: worker\n    ca: &talosca\n        crt: ${b(A.certPem)}\n        key: ""\n` +
    `    copy: *talosca\n` +
    tail;
  const err = catchRotate(() => patchCaState(cfg, { talos: { issuing: { certPem: B.certPem }, accepted: [] } }, 'w1'));
  t.equal(err.code, 'MC_INTERNAL');
  t.match(err.message, /content outside the CA fields changed/);
  const plain = `machine:\n    type: worker\n    ca:\n        crt: ${b(A.certPem)}\n        key: ""\n` + tail;
  const out = patchCaState(plain, { talos: { issuing: { certPem: B.certPem }, accepted: [A.certPem] } });
  t.ok(out.endsWith(tail), 'the other document is left as it was');
  t.equal(readCaState(out).talos.issuing?.certPem, B.certPem);
});

t.test('the self-check compares documents by content, wherever the slice cache placed them', async (t) => {
  // verifyPatched directly, with results the patch would never make: a document shared with the input (a
  // cached parse, or a copy of one at another offset) passes by identity, any other change is caught.
  const cfg = `machine:\n    type: worker\n    ca:\n        crt: ${b(A.certPem)}\n        key: ""\n`;
  const other = `---\napiVersion: v1alpha1\nkind: KubePrismConfig\nenabled: true\nport: 7445\n`;
  const before = new MachineConfigText(cfg + other);
  t.equal(verifyPatched(before, cfg + other, new Map(), 'w1').text, cfg + other, 'the same text passes');
  const moved = cfg.replace('worker\n', 'worker # moved\n') + other;
  t.equal(verifyPatched(before, moved, new Map(), 'w1').text, moved, 'a comment moves the shared document: passes');
  for (const [what, out] of [
    ['the shared document', cfg + other.replace('7445', '7446')],
    ['the other document, the shared one moved', cfg.replace('type: worker', 'type: worker\n    x: 1') + other],
  ] as const) {
    const err = catchRotate(() => verifyPatched(before, out, new Map(), 'w1'));
    t.match(err.message, /content outside the CA fields changed/, what);
  }
});

t.test('errors', async (t) => {
  const cp = loadFixture('legacy-controlplane');
  const s = readCaState(cp);

  let err = catchRotate(() =>
    patchCaState(cp, { talos: { issuing: { certPem: B.certPem }, accepted: [] } }, '10.0.0.1'),
  );
  t.equal(err.code, 'MC_KEY_REQUIRED');
  t.match(err.message, /^machine config of 10\.0\.0\.1: .*\.machine\.ca\.key/);

  err = catchRotate(() => patchCaState(cp, { talos: { issuing: null, accepted: [B.certPem] } }));
  t.equal(err.code, 'MC_ISSUING_REQUIRED');

  err = catchRotate(() => patchCaState(cp, { talos: { issuing: { certPem: B.certPem, key: A.key }, accepted: [] } }));
  t.equal(err.code, 'MC_BAD_CA');
  t.match(err.message, /key given for \.machine\.ca does not belong/);

  err = catchRotate(() =>
    patchCaState(cp, { talos: { issuing: { certPem: B.certPem, key: new Secret('') }, accepted: [] } }),
  );
  t.equal(err.code, 'MC_KEY_REQUIRED');

  err = catchRotate(() =>
    patchCaState(cp, { talos: { issuing: { certPem: s.talos.issuing!.certPem }, accepted: ['not a certificate'] } }),
  );
  t.equal(err.code, 'MC_BAD_CA');
  t.match(err.message, /new \.machine\.acceptedCAs entry 0/);

  err = catchRotate(() => patchCaState(cp, { kubernetes: { issuing: { certPem: KA.key.reveal() }, accepted: [] } }));
  t.equal(err.code, 'MC_BAD_CA');
  t.match(err.message, /new \.cluster\.ca\.crt must hold exactly one CERTIFICATE PEM block \(found: EC PRIVATE KEY\)/);
  for (const k of keyMaterialOf([KA.key.reveal()])) t.notOk(err.message.includes(k));

  const flow = `machine: {type: worker, token: x}\ncluster: {clusterName: c}\n`;
  err = catchRotate(() => patchCaState(flow, { talos: { issuing: { certPem: A.certPem }, accepted: [] } }));
  t.equal(err.code, 'MC_UNSUPPORTED_LAYOUT');

  const worker = loadFixture('document-worker');
  err = catchRotate(() => patchCaState(worker, { kubernetes: { issuing: null, accepted: [] } }));
  t.equal(err.code, 'MC_NO_TRUSTED_CA');
  t.match(err.message, /KubeAPIServerCAConfig without any CA/);
  err = catchRotate(() => patchCaState(loadFixture('legacy-worker'), { talos: { issuing: null, accepted: [] } }));
  t.equal(err.code, 'MC_NO_TRUSTED_CA');

  const noCluster = `machine:\n    type: worker\n`;
  err = catchRotate(() => patchCaState(noCluster, { kubernetes: { issuing: { certPem: KA.certPem }, accepted: [] } }));
  t.equal(err.code, 'MC_UNSUPPORTED_LAYOUT');
  t.match(err.message, /\.cluster is missing/);
});
