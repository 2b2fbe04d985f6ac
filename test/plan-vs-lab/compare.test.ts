/**
 * The comparison the model-vs-lab tests rely on, on made-up data: it must report a ledger entry the model
 * calls ok, a certain prediction the ledger lacks, and a phase whose edge kinds differ, and must not demand
 * failures that are only possible or carried over from an earlier group.
 */
import t from 'tap';
import type { EdgeOutcome } from '../../src/plan/safety/index.js';
import { EDGE_KINDS, type EdgeKind } from '../../src/plan/model/plan.js';
import { compare, kindMismatches, outcomePairs, type GroupObservation } from './fixtures/harness.js';

function outcome(over: Partial<EdgeOutcome>): EdgeOutcome {
  return {
    kind: 'kubelet-apiserver',
    from: 'x',
    to: 'y',
    fromNodes: ['n2'],
    toNodes: ['n1'],
    excludeSelf: false,
    status: 'degraded',
    certainty: 'certain',
    reason: '',
    group: 0,
    persists: false,
    preExisting: false,
    notice: false,
    ...over,
  };
}

function observation(group: number, phase: string, pairs: string[]): GroupObservation {
  const counts = Object.fromEntries(EDGE_KINDS.map((k) => [k, 0])) as Record<EdgeKind, number>;
  for (const p of pairs) counts[p.split(' ')[0] as EdgeKind] += 1;
  return { group, phase, pairs: new Set(pairs), counts, notReady: [], probeFailures: [] };
}

t.test('agreement', async (t) => {
  const c = compare([outcome({})], [observation(0, 'drop', ['kubelet-apiserver n2->n1'])], 'n1');
  t.same(c.unpredicted, []);
  t.same(c.unobserved, []);
  t.same(kindMismatches(c.rows), []);
  t.equal(c.rows[0]!.model['kubelet-apiserver'], 'degraded');
});

t.test('a ledger entry the model calls ok', async (t) => {
  const c = compare([], [observation(0, 'drop', ['apid-proxy n1->n3'])], 'n1');
  t.same(c.unpredicted, ['group 0 (drop): lab apid-proxy n1->n3, model ok']);
  t.same(kindMismatches(c.rows), ['drop: apid-proxy model ok, lab 1 trust failure(s)']);
});

t.test('a certain prediction the ledger lacks; possible and carried-over ones are not demanded', async (t) => {
  const c = compare(
    [
      outcome({}),
      outcome({ fromNodes: ['n3'], certainty: 'possible' }),
      outcome({ fromNodes: ['n4'], preExisting: true }),
    ],
    [observation(0, 'drop', [])],
    'n1',
  );
  t.same(c.unobserved, ["group 0 (drop): model kubelet-apiserver n2->n1, not in the lab's ledger"]);
  t.same(kindMismatches(c.rows), ['drop: kubelet-apiserver model degraded (certain), lab none']);
  t.equal(compare([outcome({ certainty: 'possible' })], [observation(0, 'drop', [])], 'n1').unobserved.length, 0);
});

t.test(
  'groups are compared one by one: a failure predicted for a later group does not excuse an earlier one',
  async (t) => {
    const c = compare(
      [outcome({ group: 1 })],
      [observation(0, 'a', ['kubelet-apiserver n2->n1']), observation(1, 'a', ['kubelet-apiserver n2->n1'])],
      'n1',
    );
    t.same(c.unpredicted, ['group 0 (a): lab kubelet-apiserver n2->n1, model ok']);
  },
);

t.test('two observations of one group (a hold) are one window', async (t) => {
  const c = compare([outcome({})], [observation(0, 'a', []), observation(0, 'a', ['kubelet-apiserver n2->n1'])], 'n1');
  t.same(c.unobserved, []);
});

t.test(
  'pairs: self-pairs left out where asked; the gate kubeconfig only from the endpoint, as the operator',
  async (t) => {
    const pairs = outcomePairs(
      [
        outcome({ fromNodes: ['a', 'b'], toNodes: ['a', 'b'], excludeSelf: true }),
        outcome({ kind: 'client-apiserver', fromNodes: ['a'], toNodes: ['b'] }),
        outcome({ kind: 'client-apiserver', fromNodes: ['b'], toNodes: ['a'] }),
        outcome({ kind: 'client-apiserver', fromNodes: ['operator'], toNodes: ['c'], notice: true }),
      ],
      'a',
    );
    t.same([...pairs].sort(), ['client-apiserver operator->b', 'kubelet-apiserver a->b', 'kubelet-apiserver b->a']);
  },
);
