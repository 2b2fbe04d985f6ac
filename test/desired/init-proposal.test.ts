/**
 * `rotate init`'s pure half: the desired state that matches what the nodes trust, or converges safely
 * where they disagree (every CA trusted anywhere stays accepted), or a refusal.
 */
import t from 'tap';
import { RotateError } from '../../src/domain/errors.js';
import { asFingerprint, type Fingerprint, type NodeRole } from '../../src/domain/types.js';
import { proposeDesiredState, type InitNode } from '../../src/desired/init-proposal.js';
import type { ApiCaState, ConfigCa } from '../../src/machineconfig/ca-state.js';

// Fake CAs: the pure code only compares fingerprints and asks `describe` for the validity window.
const years: Record<string, [number, number]> = {};
function ca(id: string, from: number, to: number): ConfigCa {
  const fingerprint = asFingerprint(id.repeat(64).slice(0, 64));
  years[`PEM-${id}`] = [from, to];
  return { certPem: `PEM-${id}`, fingerprint, hasKey: false };
}
const describe = (pem: string) => {
  const [from, to] = years[pem]!;
  return { notBefore: new Date(Date.UTC(from, 0, 1)), notAfter: new Date(Date.UTC(to, 0, 1)) };
};
const NOW = new Date(Date.UTC(2026, 11, 5));

const T1 = ca('a', 2016, 2036);
const T2 = ca('b', 2026, 2036);
const K1 = ca('c', 2016, 2036);
const K2 = ca('d', 2026, 2036);
const OLD = ca('e', 2010, 2020);

function api(issuing: ConfigCa | null, accepted: ConfigCa[] = []): ApiCaState {
  return { issuing: issuing ? { ...issuing, hasKey: true } : null, accepted };
}
function node(address: string, role: NodeRole, talos: ApiCaState, kubernetes: ApiCaState): InitNode {
  return { address, role, talos, kubernetes };
}
const fp = (c: ConfigCa): Fingerprint => c.fingerprint;

t.test('a consistent cluster: its issuing CAs, nothing accepted, no disagreement', async (t) => {
  const p = proposeDesiredState(
    [
      node('cp1', 'controlplane', api(T1), api(K1)),
      node('cp2', 'controlplane', api(T1), api(K1)),
      node('w1', 'worker', api(T1), api(null, [K1])),
    ],
    describe,
    NOW,
  );
  t.same(p.talos, { issuing: fp(T1), accepted: [] });
  t.same(
    p.kubernetes,
    { issuing: fp(K1), accepted: [] },
    "a document-style worker's current Kubernetes CA is its first accepted one",
  );
  t.same(p.disagreements, []);
  t.same(
    p.cas.map((c) => c.name),
    ['talos-2016', 'kubernetes-2016'],
  );
});

t.test('an aborted rotation: every CA trusted anywhere stays accepted; the nodes lacking it are listed', async (t) => {
  const p = proposeDesiredState(
    [
      node('cp1', 'controlplane', api(T1, [T2]), api(K1)),
      node('cp2', 'controlplane', api(T1), api(K1, [K2])),
      node('w1', 'worker', api(T1), api(null, [K1])),
    ],
    describe,
    NOW,
  );
  t.same(p.talos, { issuing: fp(T1), accepted: [fp(T2)] });
  t.same(p.kubernetes, { issuing: fp(K1), accepted: [fp(K2)] });
  t.same(
    p.disagreements.map((d) => [d.api, d.node, d.missing, d.issuing]),
    [
      ['talos', 'cp2', [fp(T2)], null],
      ['talos', 'w1', [fp(T2)], null],
      ['kubernetes', 'cp1', [fp(K2)], null],
      ['kubernetes', 'w1', [fp(K2)], null],
    ],
  );
  t.same(
    p.cas.map((c) => c.name),
    ['talos-2016', 'talos-2026', 'kubernetes-2016', 'kubernetes-2026'],
    'issuing first per API',
  );
});

t.test("a worker whose current CA is not the control planes' issuing one is listed", async (t) => {
  const p = proposeDesiredState(
    [node('cp1', 'controlplane', api(T2, [T1]), api(K1)), node('w1', 'worker', api(T1, [T2]), api(null, [K1]))],
    describe,
    NOW,
  );
  t.same(p.talos, { issuing: fp(T2), accepted: [fp(T1)] });
  t.same(p.disagreements, [{ api: 'talos', node: 'w1', missing: [], issuing: fp(T1) }]);
});

t.test('control planes issuing from different CAs: refused, naming them', async (t) => {
  const err = t.throws(() =>
    proposeDesiredState(
      [node('cp1', 'controlplane', api(T1, [T2]), api(K1)), node('cp2', 'controlplane', api(T2, [T1]), api(K1))],
      describe,
      NOW,
    ),
  ) as RotateError;
  t.equal(err.code, 'INIT_ISSUING_DISAGREES');
  t.match(err.message, /cp1/);
  t.match(err.message, /cp2/);
  t.match(err.hint, /rollback/);
});

t.test('no control plane, or one without an issuing CA: refused', async (t) => {
  t.throws(() => proposeDesiredState([node('w1', 'worker', api(T1), api(null, [K1]))], describe, NOW), {
    code: 'INIT_NO_CONTROLPLANE',
  });
  t.throws(() => proposeDesiredState([node('cp1', 'controlplane', api(T1), api(null, [K1]))], describe, NOW), {
    code: 'INIT_CONTROLPLANE_WITHOUT_CA',
  });
});

t.test('an expired accepted CA is left out (reported), never made a reason to keep trust', async (t) => {
  const p = proposeDesiredState([node('cp1', 'controlplane', api(T1, [OLD]), api(K1))], describe, NOW);
  t.same(p.talos.accepted, []);
  t.same(
    p.expired.map((c) => [c.api, c.fingerprint]),
    [['talos', fp(OLD)]],
  );
});

t.test('two CAs of one year get distinct names', async (t) => {
  const T3 = ca('f', 2026, 2036);
  const p = proposeDesiredState([node('cp1', 'controlplane', api(T2, [T3]), api(K2))], describe, NOW);
  t.same(
    p.cas.map((c) => c.name),
    ['talos-2026', `talos-2026-${'f'.repeat(8)}`, 'kubernetes-2026'],
  );
});
