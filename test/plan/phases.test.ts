import t from 'tap';
import { acceptTarget, dropTarget, expandPhases, issueTarget } from '../../src/plan/planner/phases.js';
import { api, cluster, desired, K_NEW, K_OLD, T_NEW, T_OLD, fp, withState } from './fixtures/cluster.js';

t.test('the full rotation expands into accept → issue → drop with talosctl’s list evolution', async (t) => {
  const phases = expandPhases('talos', cluster({ controlPlanes: 1, workers: 1 }), desired(T_NEW));
  t.same(
    phases.map((p) => p.phase),
    ['accept', 'issue', 'drop'],
  );
  const cp = phases.map((p) => p.nodes.find((n) => n.role === 'controlplane')!.to);
  t.same(cp, [api(T_OLD, T_NEW), api(T_NEW, T_OLD), api(T_NEW)], '[] → [NEW] → [OLD] with ca=NEW → []');
});

t.test('only the phases needed', async (t) => {
  const nodes = cluster();
  t.same(
    expandPhases('talos', nodes, desired(T_OLD, [T_NEW])).map((p) => p.phase),
    ['accept'],
    'issuing old, accepted [new]: stop after accept',
  );
  t.same(
    expandPhases('talos', nodes, desired(T_NEW, [T_OLD])).map((p) => p.phase),
    ['accept', 'issue'],
    'issuing new, accepted [old]: stop after the swap',
  );
  t.same(expandPhases('talos', nodes, desired(T_OLD)), [], 'desired == observed: nothing');
});

t.test('a half-done cluster continues from where each node is', async (t) => {
  let nodes = cluster();
  // crashed mid-swap: two control planes swapped, every node had accepted NEW
  for (const n of nodes) nodes = withState(nodes, n.address, 'talos', api(T_OLD, T_NEW));
  nodes = withState(nodes, '127.0.0.10', 'talos', api(T_NEW, T_OLD));
  nodes = withState(nodes, '127.0.0.11', 'talos', api(T_NEW, T_OLD));
  const phases = expandPhases('talos', nodes, desired(T_NEW));
  t.same(
    phases.map((p) => [p.phase, p.nodes.map((n) => n.address)]),
    [
      ['issue', ['127.0.0.12', '127.0.0.20', '127.0.0.21']],
      ['drop', ['127.0.0.10', '127.0.0.11', '127.0.0.12', '127.0.0.20', '127.0.0.21']],
    ],
  );
});

t.test('document-style workers: NEW at position 0 after the swap, issuing stays null', async (t) => {
  const phases = expandPhases(
    'kubernetes',
    cluster({ controlPlanes: 1, workers: 1, style: 'document' }),
    desired(K_NEW),
  );
  const w = phases.map((p) => p.nodes.find((n) => n.role === 'worker')!.to);
  t.same(
    w,
    [api(null, K_OLD, K_NEW), api(null, K_NEW, K_OLD), api(null, K_NEW)],
    '[OLD] → [OLD, NEW] → [NEW, OLD] → [NEW]',
  );
  const cp = phases.map((p) => p.nodes.find((n) => n.role === 'controlplane')!.to);
  t.same(cp, [api(K_OLD, K_NEW), api(K_NEW, K_OLD), api(K_NEW)], 'document-style control planes keep an issuing CA');
});

t.test('stale CAs left by an aborted run are dropped; duplicates do not cause a change on their own', async (t) => {
  const stale = fp('stale');
  const keep = new Set([T_NEW]);
  t.same(dropTarget(api(T_NEW, stale, T_OLD), T_NEW, keep, false), api(T_NEW));
  const same = api(T_NEW, T_NEW);
  t.equal(dropTarget(same, T_NEW, keep, false), same, 'an entry equal to the issuing CA is no change');
  const dup = api(T_OLD, T_NEW, T_NEW);
  t.equal(acceptTarget(dup, [T_NEW]), dup, 'accept does not re-add');
  t.same(
    issueTarget(dup, T_NEW, false),
    api(T_NEW, T_OLD),
    'issue removes every copy of NEW (talosctl) and appends OLD',
  );
});

t.test('a CA the desired state accepts besides the issuing one is added in the accept phase and kept', async (t) => {
  const extra = fp('partner-ca');
  const phases = expandPhases('kubernetes', cluster({ controlPlanes: 1, workers: 0 }), desired(K_NEW, [extra]));
  t.same(phases[0]!.nodes[0]!.to, api(K_OLD, K_NEW, extra));
  t.same(phases.at(-1)!.nodes[0]!.to, api(K_NEW, extra));
});
