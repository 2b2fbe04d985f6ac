/**
 * Model versus lab for the Talos API CA (edges operator-apid, apid-proxy, worker-trustd):
 * - talosctl's order (talos-behaviour.md §2.2: accept NEW everywhere, control planes first; swap; drop OLD), applied
 * with   our clients: zero Talos-edge failures predicted and observed. talosctl's own intermediate talosconfig
 *   (new cert, trusting only OLD) is also dialled fresh after each swap group: the model says the swapped
 *   endpoint refuses it, and the lab's ledger shows exactly that.
 * - the classic mistake: a control plane swaps to NEW while the workers do not accept it yet: apid-proxy
 *   (that control plane → workers) and worker-trustd (workers → that control plane) fail, predicted and
 *   observed, and nothing else.
 */
import t from 'tap';
import { compare, groupsFor, kindMismatches, PlanVsLab, type Group } from './fixtures/harness.js';

const TALOS_KINDS = ['operator-apid', 'apid-proxy', 'worker-trustd'] as const;

t.test("talosctl's order for the Talos CA: no Talos edge fails, in the model and in the lab", async (t) => {
  const h = await PlanVsLab.start({ style: 'document', nodeGraceMs: 10_000 });
  t.teardown(() => h.stop());
  const initial = await h.observe();
  const groups: Group[] = [
    ...groupsFor(h, 'accept', [...h.cps, ...h.workers], 'talos', 'accept', 'current'),
    ...groupsFor(h, 'swap', [...h.cps, ...h.workers], 'talos', 'swap', 'intermediate', ['talosctl-intermediate']),
    ...groupsFor(h, 'drop', [...h.cps, ...h.workers], 'talos', 'drop', 'new'),
  ];
  const outcomes = h.predict(initial, groups);
  const observed = await h.run(groups, { log: (m) => t.comment(m) });
  const cmp = compare(outcomes, observed, h.endpoint);
  t.comment(cmp.table);

  t.same(
    cmp.unpredicted,
    [],
    'every trust failure in the ledger is predicted by the model (same group, same node pair)',
  );
  t.same(cmp.unobserved, [], 'every certain failure the model predicts is in the ledger');
  t.same(kindMismatches(cmp.rows), [], 'per phase, the same edge kinds fail and stay clean');

  const cluster = outcomes.filter((o) => !o.notice && o.kind !== 'operator-apid');
  t.same(
    cluster.map((o) => o.reason),
    [],
    'model: no in-cluster Talos edge fails',
  );
  const snap = h.lab.cluster.ledger.snapshot();
  t.equal(
    snap.trustFailures['apid-proxy'] + snap.trustFailures['worker-trustd'],
    0,
    'lab: no in-cluster Talos edge failed',
  );

  // talosctl's intermediate talosconfig trusts only OLD: refused by the endpoint once it serves a NEW cert.
  const operator = outcomes.filter((o) => o.kind === 'operator-apid');
  const cp1Swap = groups.findIndex((g) => g.phase === 'swap' && g.address === h.endpoint);
  t.ok(
    operator.length > 0 && operator.every((o) => o.group >= cp1Swap && o.toNodes.every((n) => n === h.endpoint)),
    'model: operator-apid to the endpoint, from its swap on',
  );
  t.ok(
    operator.every((o) => /trusts \{talos-lab/.test(o.reason)),
    'model: because that client trusts only the old CA',
  );
  const swapRows = observed.filter((o) => o.phase === 'swap');
  t.ok(
    swapRows.length === 5 &&
      swapRows.every((o) => o.probeFailures.length === 1 && o.probeFailures[0]!.startsWith('talosctl-intermediate')),
    "talosctl's intermediate cannot open a connection after the endpoint's swap; our clients always can",
  );
  t.same(
    observed.filter((o) => o.phase !== 'swap').flatMap((o) => o.probeFailures),
    [],
  );
  t.ok(
    snap.trustFailures['operator-apid'] > 0 &&
      snap.trustFailureLog
        .filter((e) => e.edge === 'operator-apid')
        .every((e) => e.to === h.endpoint && e.refusedBy === 'client'),
    'lab: the operator refused the endpoint (client side), nothing else',
  );
  for (const kind of TALOS_KINDS) t.comment(`${kind}: lab ${snap.trustFailures[kind]} trust failure(s)`);
  t.equal(snap.notReadyEvents, 0);
});

t.test('the classic mistake: a control plane swaps to NEW before the workers accept it', async (t) => {
  const h = await PlanVsLab.start({ style: 'legacy', nodeGraceMs: 10_000 });
  t.teardown(() => h.stop());
  const initial = await h.observe();
  const cp1 = h.cps[0]!;
  const groups: Group[] = [
    ...groupsFor(h, 'accept (control planes only)', h.cps, 'talos', 'accept', 'current'),
    ...groupsFor(h, 'swap cp1', [cp1], 'talos', 'swap', 'intermediate'),
  ];
  const outcomes = h.predict(initial, groups);
  const observed = await h.run(groups, { log: (m) => t.comment(m) });
  // A little longer in the broken state: periodic probes add entries, which must still be predicted ones.
  const held = await h.hold(2_500, 'swap cp1');
  held.group = groups.length - 1;
  const cmp = compare(outcomes, [...observed, held], h.endpoint);
  t.comment(cmp.table);

  t.same(
    cmp.unpredicted,
    [],
    'every trust failure in the ledger is predicted by the model (same group, same node pair)',
  );
  t.same(cmp.unobserved, [], 'every certain failure the model predicts is in the ledger');
  t.same(kindMismatches(cmp.rows), [], 'per phase, the same edge kinds fail and stay clean');

  const last = cmp.rows.find((r) => r.phase === 'swap cp1')!;
  t.same(
    last.certain,
    {
      'operator-apid': 'ok',
      'apid-proxy': 'broken',
      'worker-trustd': 'broken',
      'kubelet-apiserver': 'ok',
      'client-apiserver': 'ok',
      'pod-apiserver': 'ok',
    },
    'model: apid-proxy and worker-trustd break',
  );
  t.ok(last.lab['apid-proxy'] > 0 && last.lab['worker-trustd'] > 0, 'lab: both seen');
  const log = h.lab.cluster.ledger.snapshot().trustFailureLog;
  for (const w of h.workers) {
    t.ok(
      log.some((e) => e.edge === 'apid-proxy' && e.from === cp1 && e.to === w && e.refusedBy === 'server'),
      `${w} refuses cp1's NEW proxy certificate`,
    );
    t.ok(
      log.some((e) => e.edge === 'worker-trustd' && e.from === w && e.to === cp1 && e.refusedBy === 'client'),
      `${w} does not trust cp1's NEW trustd certificate`,
    );
  }
  t.ok(
    log.every(
      (e) =>
        (e.edge === 'apid-proxy' && e.from === cp1 && h.workers.includes(e.to)) ||
        (e.edge === 'worker-trustd' && e.to === cp1),
    ),
    'and nothing else: control planes still trust each other, the other control planes still reach the workers',
  );
});

t.test(
  'workers accept NEW before the control planes: their trustd bundle lacks NEW, so a swap breaks proxying to ' +
    "them (the model's history rule)",
  async (t) => {
    const h = await PlanVsLab.start({ style: 'document', nodeGraceMs: 10_000 });
    t.teardown(() => h.stop());
    const initial = await h.observe();
    const cp1 = h.cps[0]!;
    const groups: Group[] = [
      ...groupsFor(h, 'accept, workers first', [...h.workers, ...h.cps], 'talos', 'accept', 'current'),
      ...groupsFor(h, 'swap cp1', [cp1], 'talos', 'swap', 'intermediate'),
    ];
    const outcomes = h.predict(initial, groups);
    const observed = await h.run(groups, { log: (m) => t.comment(m) });
    const cmp = compare(outcomes, observed, h.endpoint);
    t.comment(cmp.table);

    t.same(
      cmp.unpredicted,
      [],
      'every trust failure in the ledger is predicted by the model (same group, same node pair)',
    );
    t.same(cmp.unobserved, [], 'every certain failure the model predicts is in the ledger');
    t.same(kindMismatches(cmp.rows), [], 'per phase, the same edge kinds fail and stay clean');
    const swap = cmp.rows.find((r) => r.phase === 'swap cp1')!;
    t.equal(
      swap.certain['apid-proxy'],
      'broken',
      'model: the workers still trust only the bundle trustd gave them before the control planes accepted NEW',
    );
    t.equal(swap.model['worker-trustd'], 'ok', 'model: the workers themselves do trust NEW');
    const failures = h.lab.cluster.ledger.snapshot().trustFailureLog;
    t.ok(
      failures.length > 0 &&
        failures.every(
          (e) => e.edge === 'apid-proxy' && e.from === cp1 && h.workers.includes(e.to) && e.refusedBy === 'server',
        ),
      "lab: the workers refuse cp1's NEW proxy certificate, nothing else",
    );
  },
);
