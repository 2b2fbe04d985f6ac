/**
 * src/desired/edit.ts: the edit `rotate ca new -f FILE` makes. Only the changed ranges move; everything
 * else (comments, flow-list spacing, quoting, order) stays byte for byte.
 */
import { diffLines } from 'diff';
import t from 'tap';
import { parse } from 'yaml';
import { RotateError } from '../../src/domain/errors.js';
import { addAuthority, type NewAuthority } from '../../src/desired/edit.js';

const LAB = `# a comment that must stay
version: 1
cluster:
  endpoints: [127.0.0.10]   # flow list without padding
  controlPlanes: [127.0.0.10]
# The Talos API CA
talos:
  issuing: talos-lab
  accepted: []

kubernetes:
  issuing: kubernetes-lab   # trailing comment
  accepted: []

authorities:
  # The lab's two CAs.
  talos-lab:
    certificate: |
      -----BEGIN CERTIFICATE-----
      MIIB
      -----END CERTIFICATE-----
    key: { secretsBundle: ./secrets.yaml, entry: os }
  kubernetes-lab:
    certificate: pki/k.crt
    key: { secretsBundle: ./secrets.yaml, entry: k8s }

# Rotating: a closing comment.
`;

const talosNext = (use: NewAuthority['use']): NewAuthority => ({
  api: 'talos',
  name: 'talos-next',
  certificate: 'pki/talos-next.crt',
  keyFile: 'pki/talos-next.key',
  use,
});

/** The lines removed and added by an edit. */
function changes(before: string, after: string): { removed: string[]; added: string[] } {
  const removed: string[] = [];
  const added: string[] = [];
  for (const part of diffLines(before, after)) {
    const lines = part.value.split('\n').filter((l) => l !== '');
    if (part.removed) removed.push(...lines);
    if (part.added) added.push(...lines);
  }
  return { removed, added };
}

t.test('--make-issuing: one line changes, one line is added, nothing else moves', async (t) => {
  const r = addAuthority(LAB, 'rotate.yaml', talosNext('issuing'));
  t.equal(r.previousIssuing, 'talos-lab');
  t.same(changes(LAB, r.text), {
    removed: ['  issuing: talos-lab'],
    added: [
      '  issuing: talos-next',
      '  talos-next: { certificate: pki/talos-next.crt, key: { file: pki/talos-next.key } }',
    ],
  });
  const data = parse(r.text);
  t.same(data.talos, { issuing: 'talos-next', accepted: [] });
  t.same(data.authorities['talos-next'], { certificate: 'pki/talos-next.crt', key: { file: 'pki/talos-next.key' } });
  t.ok(
    r.text.indexOf('talos-next: {') < r.text.indexOf('# Rotating'),
    'the entry goes after the last authority, before the closing comment',
  );
});

t.test('--keep-previous: the previous issuing CA stays accepted, in the list style of the file', async (t) => {
  const r = addAuthority(LAB, 'rotate.yaml', { ...talosNext('staged'), api: 'kubernetes', name: 'k8s-next' });
  t.same(changes(LAB, r.text).removed, ['  issuing: kubernetes-lab   # trailing comment', '  accepted: []']);
  t.match(r.text, '  issuing: k8s-next   # trailing comment\n  accepted: [kubernetes-lab]\n');
  const padded = addAuthority(
    LAB.replace('issuing: talos-lab\n  accepted: []', 'issuing: talos-lab\n  accepted: [ old-1 ]'),
    'f',
    talosNext('staged'),
  );
  t.match(padded.text, 'accepted: [ old-1, talos-lab ]');
  const block = addAuthority(
    LAB.replace(
      'issuing: talos-lab\n  accepted: []',
      'issuing: talos-lab\n  accepted:\n    - old-1  # kept\n    - old-2',
    ),
    'f',
    talosNext('staged'),
  );
  t.match(block.text, 'accepted:\n    - old-1\n    - old-2\n    - talos-lab\n');
  t.same(parse(block.text).talos.accepted, ['old-1', 'old-2', 'talos-lab']);
  const dropped = addAuthority(
    LAB.replace('issuing: talos-lab\n  accepted: []', 'issuing: talos-lab\n  accepted:\n    - talos-lab'),
    'f',
    talosNext('issuing'),
  );
  t.same(parse(dropped.text).talos.accepted, [], 'a block list that becomes empty is written []');
  const missing = addAuthority(
    LAB.replace('issuing: talos-lab\n  accepted: []\n', 'issuing: talos-lab\n'),
    'f',
    talosNext('staged'),
  );
  t.match(missing.text, '  issuing: talos-next\n  accepted: [talos-lab]\n');
});

t.test('define only; authorities absent or a flow mapping', async (t) => {
  const r = addAuthority(LAB, 'rotate.yaml', talosNext('define'));
  t.equal(r.previousIssuing, null);
  t.same(changes(LAB, r.text).removed, []);
  const noAuth = LAB.slice(0, LAB.indexOf('authorities:'));
  t.same(parse(addAuthority(noAuth, 'f', talosNext('define')).text).authorities, {
    'talos-next': { certificate: 'pki/talos-next.crt', key: { file: 'pki/talos-next.key' } },
  });
  const flow = `${noAuth}authorities: { a: { certificate: x.crt } }\n`;
  t.same(Object.keys(parse(addAuthority(flow, 'f', talosNext('define')).text).authorities), ['a', 'talos-next']);
  const empty = `${noAuth}authorities: {}\n`;
  t.same(Object.keys(parse(addAuthority(empty, 'f', talosNext('define')).text).authorities), ['talos-next']);
  const spaced = addAuthority(LAB, 'f', { ...talosNext('define'), certificate: 'my pki/t.crt' });
  t.same(parse(spaced.text).authorities['talos-next'].certificate, 'my pki/t.crt', 'a path with a space is quoted');
});

t.test('refusals name the file and the fix, and change nothing', async (t) => {
  const refuse = (text: string, a: NewAuthority, re: RegExp) => {
    try {
      addAuthority(text, 'rotate.yaml', a);
      t.fail('expected a refusal');
    } catch (err) {
      t.ok(RotateError.is(err) && err.code === 'CA_DESIRED_EDIT', String(err));
      t.match((err as Error).message, re);
    }
  };
  refuse(
    LAB,
    { ...talosNext('issuing'), name: 'talos-lab' },
    /rotate\.yaml: authorities\.talos-lab is already defined/,
  );
  refuse(
    LAB.replace(/kubernetes:\n {2}issuing: kubernetes-lab {3}# trailing comment\n {2}accepted: \[\]\n/, ''),
    { ...talosNext('issuing'), api: 'kubernetes' },
    /has no `kubernetes:` section/,
  );
  refuse('version: [1\n', talosNext('define'), /is not valid YAML/);
});
