/**
 * Model versus lab with uneven Talos trust across control planes (issue 13, item 6): cp-3 alone also accepts
 * a Talos CA X. Then the Kubernetes CA is added on every node, control planes first: each control plane's
 * kube-apiserver restarts, the apiserver endpoint list changes, and every worker asks trustd again (talos-behaviour.md
 * §5.3) at whichever listed control plane answers. A worker's apid may so end up trusting X, which only
 * cp-3 trusts: a stale bundle that no change of the worker's own config caused.
 *
 * What holds, and is checked: every registration the lab ends with is one the model allows (soundness of
 * the history), the model counts those workers as stale wherever the lab shows one, and the trust-failure
 * ledger agrees with the model's edges group by group. Which control plane answers is the lab's (and
 * Talos's) random choice, so the lab may or may not show X on a given run; the model must allow both.
 */
import t from 'tap';
import type { Fingerprint } from '../../src/domain/types.js';
import { generateTalosCa, isSignedBy } from '../../src/pki/index.js';
import { sequenceHistory, type SequencePatch } from '../../src/plan/safety/index.js';
import { apiState, compare, groupsFor, kindMismatches, PlanVsLab, sleep, type Group } from './fixtures/harness.js';

t.test('uneven Talos trust: apiserver restarts re-register workers with any listed control plane', async (t) => {
  const h = await PlanVsLab.start({ style: 'legacy', nodeGraceMs: 15_000 });
  t.teardown(() => h.stop());
  const X = await generateTalosCa();
  const names = { ...h.names, [X.fingerprint]: 'talos-extra' } as Record<Fingerprint, string>;
  const cp3 = h.cps[2]!;
  const initial = await h.observe();
  const groups: Group[] = [
    { phase: 'cp-3 also accepts X', address: cp3, talos: { issuing: h.cas.talosOld, accepted: [X] } },
    ...groupsFor(h, 'kubernetes accept', [...h.cps, ...h.workers], 'kubernetes', 'accept'),
  ];
  const outcomes = h.predict(initial, groups);
  const patches: SequencePatch[][] = groups.map((g) => [
    {
      address: g.address,
      target: {
        ...(g.talos ? { talos: apiState(g.talos) } : {}),
        ...(g.kubernetes ? { kubernetes: apiState(g.kubernetes) } : {}),
      },
    },
  ]);
  const start = {
    nodes: initial,
    endpoints: [h.endpoint],
    operator: { talos: h.operatorClient('current'), kubernetes: null },
    names,
  };
  const afterUneven = sequenceHistory(start, patches.slice(0, 1));
  const model = sequenceHistory(start, patches);

  const observed = await h.run(groups, { log: (m) => t.comment(m) });
  const cmp = compare(outcomes, observed, h.endpoint);
  t.comment(cmp.table);
  t.same(cmp.unpredicted, [], 'every trust failure in the ledger is predicted by the model');
  t.same(cmp.unobserved, [], 'every certain failure the model predicts is in the ledger');
  t.same(kindMismatches(cmp.rows), [], 'per phase, the same edge kinds fail and stay clean');

  const old = h.cas.talosOld.fingerprint;
  const key = (g: { signer: string | null; bundle: string[] }) => `${g.signer}/${[...g.bundle].sort().join(',')}`;
  // A Talos change on one control plane alone re-registers no worker: the model keeps their grant.
  for (const w of h.workers)
    t.same(
      afterUneven.grants.get(w)!.map(key),
      [key({ signer: old, bundle: [old] })],
      `model: ${w} still holds its registration after cp-3's change`,
    );
  t.same(afterUneven.stale, [], 'model: no stale bundle yet');
  // After the apiserver restarts, any listed control plane may have answered, cp-3 included.
  for (const w of h.workers) {
    t.ok(
      model.grants.get(w)!.some((g) => g.bundle.includes(X.fingerprint)),
      `model: ${w} may now trust X (registered with cp-3)`,
    );
    t.ok(
      model.grants.get(w)!.some((g) => !g.bundle.includes(X.fingerprint)),
      `model: ${w} may as well not (registered with cp-1 or cp-2)`,
    );
  }
  t.same(
    [...model.stale].sort(),
    [...h.workers].sort(),
    'model: every worker may be left with a stale bundle (X is not trusted everywhere)',
  );

  // The lab: what each worker's apid ended up trusting is one of the model's possibilities.
  await sleep(1_000); // registrations triggered by the last apiserver restart have long finished
  const client = h.client('current');
  let withX = 0;
  for (const w of h.workers) {
    const certs = await client.getApiCertificates(w);
    const bundle = certs.acceptedCAs.map((c) => c.fingerprint);
    const signer =
      [h.cas.talosOld, X].find((ca) => certs.server !== null && isSignedBy(certs.server.certPem, ca.certPem))
        ?.fingerprint ?? null;
    const seen = key({ signer, bundle });
    t.ok(
      model.grants.get(w)!.map(key).includes(seen),
      `lab: ${w} registered as ${seen.replace(X.fingerprint, 'X').replace(new RegExp(old, 'g'), 'OLD')}, ` +
        `which the model allows`,
    );
    if (bundle.includes(X.fingerprint)) {
      withX += 1;
      t.ok(model.stale.includes(w), `lab: ${w} trusts X; the model counts it stale`);
    }
  }
  t.comment(
    `lab: ${withX} of ${h.workers.length} worker(s) ended up trusting X (random: whichever trustd answered last)`,
  );
});
