/**
 * documentsBySlices: a multi-document config parsed document by document, the documents already seen (in this
 * or another config, at this or another offset) taken from a cache. What it returns must be what parsing the
 * whole text returns: the same documents, every node with the same range, value, style and CST kind, every
 * block sequence with the same dash offsets (the patcher and the redaction locate their edits from these),
 * and the same plain data. Texts it cannot cut that way, or whose pieces do not parse cleanly, are left to
 * the whole-text parse (null).
 */
import t from 'tap';
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  parseAllDocuments,
  type Document,
  type Node,
  type Pair,
  type YAMLSeq,
} from 'yaml';

import { RotateError } from '../../src/domain/errors.js';
import { documentsBySlices, parseMachineConfig } from '../../src/machineconfig/documents.js';
import { patchCaState, readCaState, redactSecrets } from '../../src/machineconfig/index.js';
import { dashOffsets } from '../../src/machineconfig/yaml-layout.js';
import { generateKubernetesCa, generateTalosCa } from '../../src/pki/index.js';
import { FIXTURES, loadFixture, type TapTest } from '../fixtures/machineconfig/helpers.js';

const whole = (src: string): Document.Parsed[] => {
  const parsed = parseAllDocuments(src, { keepSourceTokens: true, prettyErrors: false });
  return Array.isArray(parsed) ? parsed : [];
};

/** Every difference between two parses of the same text, as paths (empty when they agree). */
function differences(a: unknown, b: unknown, path: string, out: string[]): void {
  if (isPair(a) || isPair(b)) {
    if (!isPair(a) || !isPair(b)) return void out.push(`${path}: pair against non-pair`);
    differences((a as Pair).key, (b as Pair).key, `${path}.key`, out);
    differences((a as Pair).value, (b as Pair).value, `${path}.value`, out);
    return;
  }
  if (a === null || b === null || a === undefined || b === undefined) {
    if (a !== b) out.push(`${path}: ${String(a)} against ${String(b)}`);
    return;
  }
  const na = a as Node;
  const nb = b as Node;
  const kind = (n: Node) => (isScalar(n) ? 'scalar' : isMap(n) ? 'map' : isSeq(n) ? 'seq' : isAlias(n) ? 'alias' : '?');
  if (kind(na) !== kind(nb)) return void out.push(`${path}: ${kind(na)} against ${kind(nb)}`);
  if (JSON.stringify(na.range) !== JSON.stringify(nb.range))
    out.push(`${path}: range ${JSON.stringify(na.range)} against ${JSON.stringify(nb.range)}`);
  if (na.srcToken?.type !== nb.srcToken?.type)
    out.push(`${path}: CST ${na.srcToken?.type} against ${nb.srcToken?.type}`);
  for (const k of ['tag', 'anchor', 'comment', 'commentBefore', 'spaceBefore'] as const)
    if (na[k] !== nb[k]) out.push(`${path}: ${k}`);
  if (isScalar(na) && isScalar(nb)) {
    if (na.value !== nb.value || na.type !== nb.type || na.source !== nb.source) out.push(`${path}: scalar`);
    return;
  }
  if (isAlias(na) && isAlias(nb)) {
    if (na.source !== nb.source) out.push(`${path}: alias`);
    return;
  }
  if (isSeq(na) && JSON.stringify(dashOffsets(na)) !== JSON.stringify(dashOffsets(nb as YAMLSeq)))
    out.push(
      `${path}: dash offsets ${JSON.stringify(dashOffsets(na))} against ${JSON.stringify(dashOffsets(nb as YAMLSeq))}`,
    );
  const ia = (na as unknown as { items: unknown[] }).items;
  const ib = (nb as unknown as { items: unknown[] }).items;
  if (ia.length !== ib.length) return void out.push(`${path}: ${ia.length} items against ${ib.length}`);
  ia.forEach((x, i) => differences(x, ib[i], `${path}[${i}]`, out));
}

/** documentsBySlices(src) agrees with the whole-text parse in every respect the product reads. */
function sameAsWhole(t: TapTest, src: string, what: string): void {
  const sliced = documentsBySlices(src);
  if (!sliced) {
    t.fail(`${what}: not cut`);
    return;
  }
  const ref = whole(src);
  t.equal(sliced.length, ref.length, `${what}: as many documents`);
  const out: string[] = [];
  ref.forEach((d, i) => {
    const s = sliced[i];
    if (!s) return;
    if (JSON.stringify(s.range) !== JSON.stringify(d.range)) out.push(`doc ${i}: range`);
    if (s.errors.length !== 0 || d.errors.length !== 0) out.push(`doc ${i}: errors`);
    differences(s.contents, d.contents, `doc ${i}`, out);
  });
  t.same(out, [], `${what}: same nodes, ranges and dash offsets`);
  t.same(
    sliced.map((d) => d.toJS() as unknown),
    ref.map((d) => d.toJS() as unknown),
    `${what}: same data`,
  );
}

/** The config with a comment line put first: every later document moves by its length. */
const shifted = (src: string, extra: string) => `# ${extra}\n${src}`;

t.test('every fixture, and each again after its documents were cached', async (t) => {
  for (const name of FIXTURES) {
    const src = loadFixture(name);
    if (/^\.\.\./m.test(src)) {
      t.equal(documentsBySlices(src), null, `${name}: has a document end marker, parsed whole`);
      continue;
    }
    sameAsWhole(t, src, `${name} (first)`);
    sameAsWhole(t, src, `${name} (cached, same offsets)`);
  }
});

t.test(
  'documents seen in another config at another offset are moved, and the cached ones stay as they were',
  async (t) => {
    for (const name of ['document-worker', 'legacy-controlplane'] as const) {
      const src = loadFixture(name);
      sameAsWhole(t, src, `${name}`);
      sameAsWhole(t, shifted(src, '10.20.30.40'), `${name} with its first document longer`);
      sameAsWhole(t, shifted(src, '1.2.3.4.example.org'), `${name} with its first document longer still`);
      sameAsWhole(t, src, `${name} again (the cache entries were not moved)`);
    }
  },
);

const ANCHORED = 'apiVersion: v1alpha1\nkind: Extra\nname: x\na: &v hello\nb: *v\n';

t.test(
  'layouts: comments between documents, CRLF, a leading and a trailing marker, empty documents, anchors',
  async (t) => {
    const base = loadFixture('document-worker');
    const cases: Record<string, string> = {
      'comments around the markers': base.replace(/\n---\n/g, '\n# before\n---\n# after\n'),
      'CRLF line breaks': base.replace(/\n/g, '\r\n'),
      'a leading marker': `---\n${base}`,
      'a trailing marker': `${base.replace(/\n?$/, '\n')}---\n`,
      'an empty document in between': base.replace('\n---\n', '\n---\n---\n'),
      'no final line break': base.replace(/\n+$/, ''),
      'a U+2028 before three dashes inside a value': base.replace('clusterID: ', 'clusterID: x\u2028---\n    '),
      'a lone carriage return before three dashes inside a value': base.replace('clusterID: ', 'clusterID: x\r---\ry'),
      'anchors and aliases within a document': `${base.replace(/\n?$/, '\n')}---\n${ANCHORED}`,
    };
    for (const [what, src] of Object.entries(cases)) {
      sameAsWhole(t, src, what);
      sameAsWhole(t, shifted(src, '10.99.99.99'), `${what}, moved`);
    }
  },
);

t.test('texts left to the whole-text parse', async (t) => {
  const base = loadFixture('document-worker');
  const cases: Record<string, string> = {
    'a directive': `%YAML 1.2\n---\n${base}`,
    'a marker with content on its line': base.replace('\n---\n', '\n--- # c\n'),
    'a document end marker': base.replace('\n---\n', '\n...\n---\n'),
    'a byte order mark': `\uFEFF${base}`,
    'one document': 'version: v1alpha1\nmachine:\n  type: worker\n',
    'a syntax error in a piece': `${base.replace(/\n?$/, '\n')}---\nkind: Broken\nkey: "unterminated\n`,
    'a document that is not a mapping': `${base.replace(/\n?$/, '\n')}---\n- a\n- b\n`,
  };
  for (const [what, src] of Object.entries(cases)) t.equal(documentsBySlices(src), null, what);

  // Their errors are the whole-text parse's own: same code and message.
  const errorOf = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return e instanceof RotateError ? `${e.code}: ${e.message}` : String(e);
    }
    return 'no error';
  };
  t.match(
    errorOf(() => parseMachineConfig(cases['a syntax error in a piece']!, 'cfg')),
    /^MC_PARSE: .*YAML syntax error at line \d+, column \d+/,
  );
  t.match(
    errorOf(() => parseMachineConfig(cases['a document that is not a mapping']!, 'cfg')),
    /^MC_BAD_DOCUMENT: .*document \d+ \(line \d+\) is not a mapping/,
  );
});

t.test('patching and redacting moved documents: the same text as from a whole-text parse', async (t) => {
  const [talos, kube] = await Promise.all([generateTalosCa(), generateKubernetesCa()]);
  for (const name of ['document-worker', 'legacy-worker'] as const) {
    const src = loadFixture(name);
    sameAsWhole(t, src, `${name} (cached)`);
    const moved = shifted(src, '10.20.30.40');
    const state = readCaState(moved);
    const accepted = (api: 'talos' | 'kubernetes') => state[api].accepted.map((c) => c.certPem);
    const out = patchCaState(moved, {
      talos: {
        issuing: state.talos.issuing ? { certPem: state.talos.issuing.certPem } : null,
        accepted: [...accepted('talos'), talos.certPem],
      },
      kubernetes: {
        issuing: state.kubernetes.issuing ? { certPem: state.kubernetes.issuing.certPem } : null,
        accepted: [...accepted('kubernetes'), kube.certPem],
      },
    });
    // Only the two new entries were added: every other byte is the input's.
    t.not(out, moved, `${name}: patched`);
    sameAsWhole(t, out, `${name}, patched`);
    t.same(
      readCaState(out).kubernetes.accepted.map((c) => c.fingerprint),
      [...state.kubernetes.accepted.map((c) => c.fingerprint), kube.fingerprint],
      `${name}: the Kubernetes CAs read back`,
    );
    const redacted = redactSecrets(out);
    t.notMatch(redacted, /PRIVATE KEY|LS0tLS1CRUdJTiBFQyBQUklWQVRF/, `${name}: nothing secret left`);
    t.equal(redacted.split('\n').length <= out.split('\n').length, true, `${name}: redaction keeps the layout`);
  }
});
