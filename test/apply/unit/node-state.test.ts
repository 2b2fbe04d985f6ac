/**
 * "Already done" is a trust comparison: the same issuing CA and the same set of accepted CAs, except that a
 * document-style worker (no issuing CA) is defined by its first accepted entry; only the APIs a step
 * changes are compared.
 */
import t from 'tap';
import type { Fingerprint } from '../../../src/domain/types.js';
import type { MachineConfigCaState } from '../../../src/machineconfig/index.js';
import { fingerprintsOf, reachedTarget, sameApiState, type NodeFingerprints } from '../../../src/apply/node-state.js';
import { fp } from '../../plan/fixtures/cluster.js';

const A = fp('a');
const B = fp('b');
const C = fp('c');
const api = (issuing: Fingerprint | null, ...accepted: Fingerprint[]) => ({ issuing, accepted });

t.test('sameApiState: issuing must match, accepted compared as a set', async (t) => {
  t.ok(sameApiState(api(A, B, C), api(A, C, B)), 'order of accepted CAs carries no trust');
  t.ok(sameApiState(api(A), api(A)), 'nothing accepted on either side');
  t.ok(sameApiState(api(A, B, B), api(A, B)), 'a repeated entry is the same set');
  t.notOk(sameApiState(api(A, B), api(B, B)), 'another issuing CA');
  t.notOk(sameApiState(api(A, B), api(A)), 'one more accepted CA');
  t.notOk(sameApiState(api(A), api(A, B)), 'one fewer accepted CA');
  t.notOk(sameApiState(api(A, B), api(A, C)), 'another accepted CA');
  t.notOk(sameApiState(api(A), api(null, A)), 'a node without an issuing CA is not one with it');
});

t.test('sameApiState: a document-style worker (no issuing CA) is defined by its first accepted CA', async (t) => {
  t.ok(sameApiState(api(null, A, B), api(null, A, B)), 'same list');
  t.notOk(
    sameApiState(api(null, A, B), api(null, B, A)),
    'the other CA first: another current CA (the issue phase swaps them)',
  );
  t.ok(sameApiState(api(null, A, B, C), api(null, A, C, B)), 'after the first, order does not matter');
  t.notOk(sameApiState(api(null), api(null, A)), 'empty versus one');
  t.ok(sameApiState(api(null), api(null)), 'both empty');
});

t.test('reachedTarget compares only the APIs the step changes', async (t) => {
  const live: NodeFingerprints = { talos: api(B, A), kubernetes: api(C) };
  t.ok(reachedTarget(live, { talos: api(B, A) }), 'Talos at target; Kubernetes not part of the step');
  t.ok(reachedTarget(live, { talos: api(B, A), kubernetes: api(C) }), 'both at target');
  t.notOk(reachedTarget(live, { talos: api(B, A), kubernetes: api(C, A) }), 'Kubernetes not yet at target');
  t.notOk(reachedTarget(live, { talos: api(A, B) }), 'Talos issuing differs');
  t.ok(reachedTarget(live, {}), 'a step that changes nothing on the node');
});

t.test('fingerprintsOf keeps issuing and accepted in config order', async (t) => {
  const ca = (f: Fingerprint) => ({ certPem: `pem of ${f}`, fingerprint: f });
  const state = {
    machineType: 'worker',
    role: 'worker',
    talos: { issuing: ca(A), accepted: [ca(C), ca(B)] },
    kubernetes: { style: 'document', issuing: null, accepted: [ca(B), ca(A)] },
  } as unknown as MachineConfigCaState;
  t.same(fingerprintsOf(state), { talos: api(A, C, B), kubernetes: api(null, B, A) });
});
