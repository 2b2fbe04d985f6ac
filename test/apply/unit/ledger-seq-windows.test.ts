/**
 * The e2e judge attributes ledger entries to plan steps by the lab's own sequence (`seq`), cut at the config
 * changes the lab logged, with the tool's events giving only the order of the patches. The timestamps here
 * are deliberately wrong (events and entries out of order with each other): a judge reading clocks would
 * attribute every entry differently.
 */
import t from 'tap';
import type { ConfigChangeEvent, LedgerEntry } from '../../../src/lab/core/ledger.js';
import type { Plan, Step } from '../../../src/plan/model/index.js';
import { announcement, stepWindows, type Invocation } from '../e2e/fixtures/ledger.js';
import type { JsonEvent } from '../e2e/fixtures/proc.js';

const CP = '127.0.0.10';
const W = '127.0.0.20';

const step = (id: string, index: number, edges: object[]): Step =>
  ({
    id,
    index,
    nodes: [
      { address: CP, wave: 1, role: 'controlplane', target: { kubernetes: { issuing: `k8s-${id}` } } },
      { address: W, wave: 2, role: 'worker', target: { kubernetes: { issuing: `k8s-${id}` } } },
    ],
    proof: { edges },
  }) as unknown as Step;

// Step 1 announces worker kubelet → control plane rejections from wave 2 on; step 2 a pre-existing one
// from the control plane to itself; step 3 nothing.
const kubelet = (from: string, to: string, waves: number[], preExisting = false): object => ({
  kind: 'kubelet-apiserver',
  status: 'fails',
  fromNodes: [from],
  toNodes: [to],
  waves,
  preExisting,
});
const plan = {
  steps: [step('s1', 1, [kubelet(W, CP, [2])]), step('s2', 2, [kubelet(CP, CP, [], true)]), step('s3', 3, [])],
} as unknown as Plan;

// Clocks running backwards: each event is stamped earlier than the one before it.
let clock = Date.parse('2026-01-01T01:00:00.000Z');
const ev = (type: string, fields: Record<string, unknown>): JsonEvent =>
  ({
    type,
    '@level': 'info',
    '@message': type,
    '@timestamp': new Date((clock -= 1000)).toISOString(),
    ...fields,
  }) as JsonEvent;
const stepEvents = (id: string, nodes: string[]): JsonEvent[] => [
  ev('step-start', { stepId: id }),
  ...nodes.flatMap((a) => [
    ev('node-started', { stepId: id, address: a }),
    ev('node-done', { stepId: id, address: a }),
  ]),
  ev('step-complete', { stepId: id }),
];

const change = (node: string, seq: number): ConfigChangeEvent => ({
  node,
  seq,
  configVersion: seq,
  talosIssuing: null,
  kubernetesIssuing: null,
  at: '2026-01-01T00:00:00.000Z',
});
// `at` is always later than every event: a clock-based judge would put every entry after the runs ended.
const entry = (from: string, to: string, seq: number): LedgerEntry => ({
  edge: 'kubelet-apiserver',
  from,
  to,
  reason: 'unknown-ca',
  refusedBy: 'server',
  at: new Date(Date.parse('2026-01-01T02:00:00.000Z') - seq).toISOString(),
  seq,
});

t.test('one process: each step from its first config change, each wave from its first node change', async (t) => {
  const inv: Invocation = {
    label: 'apply',
    plan,
    events: [...stepEvents('s1', [CP, W]), ...stepEvents('s2', [CP, W]), ...stepEvents('s3', [CP])],
  };
  const windows = stepWindows([inv], [change(CP, 2), change(W, 5), change(CP, 8), change(W, 10), change(CP, 13)]);
  t.same(
    windows.map((w) => [w.step.id, w.start, w.end, [...w.waveStarts]]),
    [
      [
        's1',
        0,
        8,
        [
          [1, 2],
          [2, 5],
        ],
      ],
      [
        's2',
        8,
        13,
        [
          [1, 8],
          [2, 10],
        ],
      ],
      ['s3', 13, Number.POSITIVE_INFINITY, [[1, 13]]],
    ],
  );
  const by = (e: LedgerEntry): string | null => announcement(e, windows)?.window.step.id ?? null;
  t.equal(by(entry(W, CP, 6)), 's1', 'worker rejection after the worker wave of step 1 began: announced by step 1');
  t.equal(by(entry(W, CP, 3)), null, 'same edge during wave 1 of step 1 (before its first wave): not announced');
  t.equal(by(entry(W, CP, 9)), null, 'same edge during step 2: not announced');
  t.equal(by(entry(CP, CP, 1)), null, 'the pre-existing edge of step 2 does not cover step 1');
  t.equal(by(entry(CP, CP, 11)), 's2', 'the pre-existing edge of step 2 covers step 2 from its start');
  t.equal(by(entry(CP, CP, 14)), null, 'nor does it cover step 3');
});

t.test('killed and resumed, skipped nodes, nodes of one step in any order', async (t) => {
  // The first process was killed after starting the worker's patch of step 1 (no config change reached the
  // lab for it); the resume patches it again, then skips step 2's control plane (already at target).
  const first: Invocation = {
    label: 'apply',
    plan,
    events: [
      ev('step-start', { stepId: 's1' }),
      ev('node-started', { stepId: 's1', address: CP }),
      ev('node-done', { stepId: 's1', address: CP }),
      ev('node-started', { stepId: 's1', address: W }),
    ],
  };
  const resume: Invocation = {
    label: 'resume',
    plan,
    events: [
      ...stepEvents('s1', [W]),
      ev('step-start', { stepId: 's2' }),
      ev('node-skipped', { stepId: 's2', address: CP }),
      ...stepEvents('s2', [W]).slice(1),
    ],
  };
  const windows = stepWindows([first, resume], [change(CP, 3), change(W, 7), change(W, 12)]);
  t.same(
    windows.map((w) => [w.label, w.start, w.end]),
    [
      ['apply step 1 (s1)', 0, 7],
      ['resume step 1 (s1)', 7, 12],
      ['resume step 2 (s2)', 12, Number.POSITIVE_INFINITY],
    ],
    "the killed process's unfinished patch of the worker made no change (the resume patched it again, toward " +
      'the same target)',
  );
  t.same([...windows[2]!.waveStarts], [[2, 12]], 'step 2 began with its worker wave (its control plane was skipped)');
  t.equal(announcement(entry(W, CP, 9), windows)?.window.label, 'resume step 1 (s1)');
  t.equal(announcement(entry(W, CP, 13), windows), null);

  // Killed after the worker's change landed: the resume finds it at target and skips it.
  const skipped: Invocation = {
    label: 'resume',
    plan,
    events: [
      ev('step-start', { stepId: 's1' }),
      ev('node-skipped', { stepId: 's1', address: W }),
      ev('step-complete', { stepId: 's1' }),
      ...stepEvents('s2', [CP, W]),
    ],
  };
  t.same(
    stepWindows([first, skipped], [change(CP, 3), change(W, 7), change(CP, 12), change(W, 14)]).map((w) => [
      w.label,
      w.start,
      w.end,
    ]),
    [
      ['apply step 1 (s1)', 0, 12],
      ['resume step 2 (s2)', 12, Number.POSITIVE_INFINITY],
    ],
  );

  // Two nodes patched concurrently: their changes may come in either order.
  const both = {
    ...step('s1', 1, []),
    nodes: [
      { address: CP, wave: 1 },
      { address: W, wave: 1 },
    ],
  } as unknown as Step;
  const p2 = { steps: [both, { ...both, id: 's2', index: 2 }] } as unknown as Plan;
  const inv: Invocation = {
    label: 'apply',
    plan: p2,
    events: [...stepEvents('s1', [CP, W]), ...stepEvents('s2', [CP, W])],
  };
  t.same(
    stepWindows([inv], [change(W, 1), change(CP, 2), change(CP, 3), change(W, 4)]).map((w) => [
      w.step.id,
      w.start,
      w.end,
    ]),
    [
      ['s1', 0, 3],
      ['s2', 3, Number.POSITIVE_INFINITY],
    ],
  );
});
