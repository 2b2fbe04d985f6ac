/**
 * Model versus lab for the Kubernetes API CA in talosctl's order (talos-behaviour.md §2.3: accept NEW everywhere,
 * control planes first; swap; drop OLD, control planes first; each apply followed by the kubelet-restart
 * wait), on a v1.14 `KubeAPIServerCAConfig` (document-style) lab, whose workers hold the Kubernetes CA as
 * accepted only. The legacy style (`.cluster.ca`) changes only config patching and the lab's reading of
 * configs, which our-order.test.ts holds against the model for both styles (and kubernetes-mistake.test.ts
 * on a legacy-style lab).
 *
 * The model predicts nothing in accept and swap, and in the drop phase kubelet rejections by the control
 * planes that dropped OLD: `degraded` while some apiserver still accepts a kubelet's OLD-signed certificate,
 * `broken` for the workers once every control plane dropped it (until their own node drops OLD). The lab's
 * ledger must show the same rejections, node pair by node pair, and nothing the model calls ok. After every
 * group a fresh admin kubeconfig is also tried against every apiserver (client-apiserver).
 */
import t from 'tap';
import { compare, groupsFor, kindMismatches, PlanVsLab, type Group } from './fixtures/harness.js';

/** Long against a kubelet restart (400 ms) and a few heartbeats (250 ms): only a stranded kubelet could miss it. */
const GRACE_MS = 6_000;

for (const style of ['document'] as const) {
  t.test(`${style}: talosctl's order — kubelets rejected by dropped control planes, as predicted`, async (t) => {
    const h = await PlanVsLab.start({ style, nodeGraceMs: GRACE_MS });
    t.teardown(() => h.stop());
    const initial = await h.observe();
    const order = [...h.cps, ...h.workers];
    const groups: Group[] = [
      ...groupsFor(h, 'accept', order, 'kubernetes', 'accept'),
      ...groupsFor(h, 'swap', order, 'kubernetes', 'swap'),
      ...groupsFor(h, 'drop', order, 'kubernetes', 'drop'),
    ];
    const outcomes = h.predict(initial, groups, { kubeconfigGate: true });
    const observed = await h.run(groups, { kubeconfigGate: true, log: (m) => t.comment(m) });
    const cmp = compare(outcomes, observed, h.endpoint);
    t.comment(cmp.table);
    t.comment(
      `model: kubelets with no apiserver at all (by group): ${JSON.stringify(Object.fromEntries(cmp.stranded))}`,
    );

    t.same(
      cmp.unpredicted,
      [],
      'every trust failure in the ledger is predicted by the model (same group, same node pair)',
    );
    t.same(cmp.unobserved, [], 'every certain failure the model predicts is in the ledger');
    t.same(kindMismatches(cmp.rows), [], 'per phase, the same edge kinds fail and stay clean');

    const row = (phase: string) => cmp.rows.find((r) => r.phase === phase)!;
    t.same(row('accept').model['kubelet-apiserver'], 'ok');
    t.same(row('swap').model['kubelet-apiserver'], 'ok');
    t.same(
      row('drop').model['kubelet-apiserver'],
      'broken',
      'model: worker kubelets stranded once every control plane dropped OLD',
    );
    t.ok(
      row('drop').lab['kubelet-apiserver'] > 0,
      `lab: ${row('drop').lab['kubelet-apiserver']} kubelet rejections in the drop phase`,
    );
    const drops = outcomes.filter((o) => o.kind === 'kubelet-apiserver' && !o.notice);
    t.ok(
      drops.some((o) => o.status === 'degraded'),
      'model: degraded rejections too (an apiserver still accepts)',
    );

    const log = h.lab.cluster.ledger.snapshot().trustFailureLog.filter((e) => e.edge === 'kubelet-apiserver');
    for (const w of h.workers) {
      for (const cp of h.cps)
        t.ok(
          log.some((e) => e.from === w && e.to === cp && e.refusedBy === 'server'),
          `lab: ${w}'s kubelet rejected by ${cp}`,
        );
      t.ok(cmp.stranded.has(w), `model: ${w}'s kubelet stranded for a while`);
    }
    t.notOk(
      h.cps.some((cp) => cmp.stranded.has(cp)),
      'model: control-plane kubelets always keep their own apiserver',
    );
    t.ok(
      log.every((e) => h.cps.includes(e.to)),
      'lab: only control planes reject',
    );
    const notReady = h.lab.cluster.ledger.snapshot().notReadyLog.map((e) => e.node);
    t.ok(
      notReady.every((n) => cmp.stranded.has(n)),
      `lab: NotReady only where the model says a kubelet may be stranded (${notReady.join(', ') || 'none'}; ` +
        `depends on the pace against the grace period)`,
    );
    // The judge discriminates: the model of another order (workers drop OLD first) does not fit this ledger.
    const workersFirst = [
      ...groups.filter((g) => g.phase !== 'drop'),
      ...groupsFor(h, 'drop', [...h.workers, ...h.cps], 'kubernetes', 'drop'),
    ];
    const other = compare(h.predict(initial, workersFirst, { kubeconfigGate: true }), observed, h.endpoint);
    t.ok(
      other.unpredicted.length > 0,
      `another order's prediction leaves ${other.unpredicted.length} ledger entries unexplained`,
    );

    await h.lab.whenAllReady(15_000);
    t.ok(h.lab.allReady(), 'every Node Ready at the end');
  });
}
