/**
 * Model versus lab for the classic Kubernetes CA mistake: dropping OLD on control planes while every
 * kubelet still holds an OLD-signed client certificate (after accept and swap, kubelets keep their
 * certificates: they still verify against their node's trusted set, talos-behaviour.md §4.3).
 *
 * Legacy style only: the steps touch the control planes alone, whose Kubernetes CA the two styles hold the
 * same way (issuing + accepted); the style lives in config patching and the lab's reading of configs, which
 * our-order.test.ts holds against the model for both styles (and kubernetes-talosctl.test.ts on a
 * document-style lab).
 *
 * 1. One control plane drops OLD: the model says every other kubelet is rejected by it (`degraded`: the
 *    other apiservers still accept it, so no Node turns NotReady). Held for two grace periods in the lab.
 * 2. The other control planes drop OLD too, still before any kubelet re-bootstrapped: the model says the
 *    worker kubelets have no apiserver left (`broken`, stranded); held past the grace period, the lab turns
 *    exactly those Nodes NotReady. Control-plane kubelets re-bootstrapped with their own node's drop and
 *    keep working.
 */
import t from 'tap';
import { compare, groupsFor, kindMismatches, PlanVsLab, type Group } from './fixtures/harness.js';

const GRACE_MS = 2_500;

for (const style of ['legacy'] as const) {
  t.test(`${style}: drop OLD on control planes before the kubelets re-bootstrap`, async (t) => {
    const h = await PlanVsLab.start({ style, nodeGraceMs: GRACE_MS });
    t.teardown(() => h.stop());
    const initial = await h.observe();
    const order = [...h.cps, ...h.workers];
    const [cp1, ...otherCps] = h.cps as [string, ...string[]];
    const prelude: Group[] = [
      ...groupsFor(h, 'accept', order, 'kubernetes', 'accept'),
      ...groupsFor(h, 'swap', order, 'kubernetes', 'swap'),
    ];
    const first: Group[] = groupsFor(h, 'drop cp1', [cp1], 'kubernetes', 'drop');
    const rest: Group[] = groupsFor(h, 'drop the other control planes', otherCps, 'kubernetes', 'drop');
    const groups = [...prelude, ...first, ...rest];
    const outcomes = h.predict(initial, groups, { kubeconfigGate: true });
    const log = (m: string) => t.comment(m);

    const observed = await h.run([...prelude, ...first], { kubeconfigGate: true, log });
    const hold1 = await h.hold(2 * GRACE_MS, 'drop cp1');
    hold1.group = prelude.length;
    const observedRest = await h.run(rest, { kubeconfigGate: true, log, firstGroup: prelude.length + first.length });
    const hold2 = await h.hold(GRACE_MS + 2_500, 'drop the other control planes');
    hold2.group = groups.length - 1;
    const all = [...observed, hold1, ...observedRest, hold2];
    const cmp = compare(outcomes, all, h.endpoint);
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

    // Step 1: one control plane dropped OLD.
    const step1 = outcomes.filter((o) => o.group === prelude.length && !o.notice);
    t.ok(
      step1.length > 0 &&
        step1.every(
          (o) => o.kind === 'kubelet-apiserver' && o.status === 'degraded' && o.toNodes.every((n) => n === cp1),
        ),
      'model: every other kubelet degraded against cp1 only',
    );
    const others = order.filter((a) => a !== cp1);
    for (const n of others)
      t.ok(
        hold1.pairs.has(`kubelet-apiserver ${n}->${cp1}`) ||
          observed.at(-1)!.pairs.has(`kubelet-apiserver ${n}->${cp1}`),
        `lab: ${n}'s kubelet rejected by cp1`,
      );
    t.same(hold1.notReady, [], 'lab: no Node NotReady through two grace periods (the other apiservers serve them)');

    // Step 2: every control plane dropped OLD.
    for (const w of h.workers)
      t.same(
        cmp.stranded.get(w)?.includes(groups.length - 1),
        true,
        `model: ${w}'s kubelet stranded once every control plane dropped OLD`,
      );
    t.notOk(
      h.cps.some((cp) => cmp.stranded.has(cp)),
      'model: no control-plane kubelet stranded',
    );
    // From the last control plane's drop (its group) through the hold past the grace period.
    const notReady = [...observedRest.at(-1)!.notReady, ...hold2.notReady];
    t.same(
      [...new Set(notReady)].sort(),
      [...h.workers].sort(),
      'lab: exactly the stranded workers turned NotReady past the grace period',
    );
    t.same(
      h.lab.cluster.ledger.snapshot().notReadyLog.filter((e) => !h.workers.includes(e.node)),
      [],
      'lab: no other NotReady, ever',
    );
    for (const w of h.workers) {
      t.notOk(h.lab.nodeReady(w), `lab: ${w} NotReady`);
      for (const cp of h.cps)
        t.ok(hold2.pairs.has(`kubelet-apiserver ${w}->${cp}`), `lab: ${w}'s kubelet rejected by ${cp}`);
    }
    for (const cp of h.cps) t.ok(h.lab.nodeReady(cp), `lab: ${cp} Ready`);
  });
}
