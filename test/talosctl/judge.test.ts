/**
 * The pieces the talosctl rotate-ca tests judge with, on made-up data: running talosctl under a timeout
 * (the last step header is reported, keys never), and placing phases and ledger entries by `seq`.
 */
import t from 'tap';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { ConfigChangeEvent, LedgerEntry, StaticPodEvent } from '../../src/lab/core/ledger.js';
import { kubeletViolations, placePhases, podViolations, type PlacedPhase } from './fixtures/judge.js';
import { printedCa, redact, runTalosctlAsync, summary } from './fixtures/run.js';

const KEY_PEM =
  '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeoAoGCCqGSM49\n' +
  '-----END EC PRIVATE KEY-----\n';
const CRT_PEM = '-----BEGIN CERTIFICATE-----\nMIIBfakecert\n-----END CERTIFICATE-----\n';
const b64 = (s: string) => Buffer.from(s).toString('base64');

t.test('a talosctl that hangs: killed at the timeout, its last step header reported, keys redacted', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fake-talosctl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bin = path.join(dir, 'talosctl');
  writeFileSync(
    bin,
    `#!/bin/sh\nprintf '> Starting Kubernetes API PKI rotation, dry-run mode false...\\n> New Kubernetes ` +
      `CA:\\n  crt: ${b64(CRT_PEM)}\\n  key: ${b64(KEY_PEM)}\\n> Adding new Kubernetes CA as accepted...\\n  - ` +
      `127.0.0.10: OK\\n'\nexec sleep 30\n`,
  );
  chmodSync(bin, 0o755);
  const r = await runTalosctlAsync(bin, ['rotate-ca'], { timeoutMs: 1500 });
  t.ok(r.timedOut, 'timed out');
  t.equal(r.lastHeader, '> Adding new Kubernetes CA as accepted...');
  const s = summary(r);
  t.match(s, /timed out; last step header: > Adding new Kubernetes CA as accepted\.\.\./);
  t.notOk(s.includes(b64(KEY_PEM)), 'the key is not in the summary');
  t.ok(r.stdout.includes(b64(KEY_PEM)), '(it was printed)');
  t.same(printedCa(r.stdout, '> New Kubernetes CA:'), { crt: CRT_PEM, key: KEY_PEM }, 'the printed CA decodes to PEM');
});

t.test('redact: key lines, PEM blocks and base64 runs that hide a key', async (t) => {
  const text = [`        key: ${b64(KEY_PEM)}`, `crt: ${b64(CRT_PEM)}`, KEY_PEM, `data ${b64(KEY_PEM)} tail`].join(
    '\n',
  );
  const out = redact(text);
  t.notOk(
    out.includes('PRIVATE KEY') || out.includes(b64(KEY_PEM)) || out.includes('MHcCAQEE'),
    'no key material left',
  );
  t.ok(out.includes(b64(CRT_PEM)), 'certificates stay');
});

const change = (seq: number, node: string): ConfigChangeEvent => ({
  seq,
  node,
  configVersion: 1,
  talosIssuing: null,
  kubernetesIssuing: null,
  at: '',
});
const entry = (
  seq: number,
  edge: LedgerEntry['edge'],
  from: string,
  to: string,
  refusedBy: 'client' | 'server',
): LedgerEntry => ({ seq, edge, from, to, refusedBy, reason: 'unknown-ca', at: '' }) as LedgerEntry;

t.test("placePhases: the config changes must be talosctl's patches, in its order", async (t) => {
  const phases = [
    { name: 'accept', nodes: ['cp1', 'w1'] },
    { name: 'issue', nodes: ['cp1', 'w1'] },
  ];
  const ok = placePhases([change(9, 'w1'), change(3, 'cp1'), change(5, 'w1'), change(7, 'cp1')], phases);
  t.ok('phases' in ok && ok.phases[1]!.start === 7 && ok.phases[1]!.at.get('w1') === 9, 'placed by seq');
  t.ok(
    'error' in placePhases([change(3, 'cp1'), change(5, 'w1'), change(7, 'w1'), change(9, 'cp1')], phases),
    'another order is an error',
  );
  t.ok(
    'error' in placePhases([change(3, 'cp1'), change(5, 'w1'), change(7, 'cp1')], phases),
    'a missing change is an error',
  );
});

t.test('kubelet and pod rules', async (t) => {
  const phase = (start: number, at: [string, number][]): PlacedPhase => ({
    name: '',
    start,
    at: new Map(at),
    changes: [],
  });
  const issue = phase(10, [
    ['cp1', 10],
    ['cp2', 12],
    ['w1', 14],
  ]);
  const drop = phase(20, [
    ['cp1', 20],
    ['cp2', 24],
    ['w1', 28],
  ]);
  const pods: StaticPodEvent[] = [
    { seq: 11, node: 'cp1', event: 'rendered', secretsVersion: 2, at: '' },
    { seq: 23, node: 'cp2', event: 'rendered', secretsVersion: 2, at: '' },
  ];
  const allowed = [
    entry(21, 'kubelet-apiserver', 'w1', 'cp1', 'server'), // not yet patched, by a patched control plane
    // patched kubelet, cp2 not re-rendered since its issue change
    entry(22, 'kubelet-apiserver', 'cp1', 'cp2', 'client'),
  ];
  t.same(kubeletViolations(allowed, issue, drop, pods), []);
  const broken = [
    entry(15, 'kubelet-apiserver', 'w1', 'cp1', 'server'), // before the drop
    entry(22, 'kubelet-apiserver', 'w1', 'cp2', 'server'), // by a control plane not yet patched
    entry(26, 'kubelet-apiserver', 'cp1', 'cp2', 'client'), // cp2 already re-rendered (seq 23)
    entry(22, 'kubelet-apiserver', 'w1', 'cp2', 'client'), // refused by a kubelet that still trusts the old CA
  ];
  t.equal(kubeletViolations(broken, issue, drop, pods).length, 4, 'each breaks a rule');
  t.same(podViolations([entry(11, 'pod-apiserver', 'w1/p', 'cp1', 'client')], 10), []);
  t.equal(podViolations([entry(9, 'pod-apiserver', 'w1/p', 'cp1', 'client')], 10).length, 1);
});
