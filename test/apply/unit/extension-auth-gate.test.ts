/**
 * The product's extension-apiserver-authentication write and gate (src/cluster/kube/extension-auth.ts) against
 * the lab's apiservers (which keep the ConfigMap with Kubernetes' union rule): while an apiserver still
 * trusts the old CA, it writes it back and the gate fails naming it; once none does, the write holds, the
 * other keys are kept and the gate passes; the ConfigMap is never deleted.
 */
import t from 'tap';
import {
  bundleCertificates,
  bundleCertsFromPems,
  CLIENT_CA_KEY,
  extensionAuthGate,
  readExtensionAuth,
  replaceExtensionAuthClientCa,
} from '../../../src/cluster/kube/extension-auth.js';
import { RotateError } from '../../../src/domain/errors.js';
import { applyAndWaitKubelet, makeCas, phaseRoots, startLab, waitFor } from '../../lab/kube/fixtures/lab.js';

t.test('write-back detected while an apiserver trusts the old CA; the write holds once none does', async (t) => {
  const cas = await makeCas();
  const lab = await startLab({
    cas,
    controlPlanes: 2,
    workers: 0,
    phase: 'swap',
    timings: { extensionAuthResyncMs: 200 },
  });
  t.teardown(() => lab.stop());
  await lab.side.whenAllReady(20_000);
  await waitFor('the ConfigMap', () => lab.side.extensionAuth().clientCa.length === 2, 10_000);
  const source = async () => ({ text: await lab.side.adminKubeconfig(), origin: 'the lab admin kubeconfig' });
  const trusted = bundleCertsFromPems([cas.new.certPem]);

  // Both apiservers still trust old + new (the swap phase): the old CA comes back.
  const first = await replaceExtensionAuthClientCa(await source(), trusted);
  t.equal(first.written, true);
  t.same(first.removed, [cas.old.fingerprint]);
  let caught: unknown = null;
  try {
    await extensionAuthGate(source, first.removed, { settleMs: 3_000, tickMs: 200 });
  } catch (err) {
    caught = err;
  }
  t.ok(RotateError.is(caught) && caught.code === 'GATE_EXTENSION_AUTH_FAILED', 'the gate fails');
  t.match(
    (caught as Error).message,
    new RegExp(`holds the dropped Kubernetes CA ${cas.old.fingerprint.slice(0, 16)} again`),
  );

  // Drop the old CA on both control planes: every apiserver restarts without it.
  for (const cp of lab.cps) await applyAndWaitKubelet(cp, phaseRoots(cas, 'controlplane', 'drop'));
  await waitFor(
    'every apiserver back on the new config',
    () => lab.cps.every((cp) => lab.side.staticPods(cp.address)?.lagging === false && lab.side.apiserverUp(cp.address)),
    20_000,
  );
  await new Promise((r) => setTimeout(r, 500));
  t.same(
    lab.side.extensionAuth().clientCa.sort(),
    [cas.old.fingerprint, cas.new.fingerprint].sort(),
    'the union rule alone keeps the old CA',
  );

  const before = await readExtensionAuth(await source());
  const second = await replaceExtensionAuthClientCa(await source(), trusted);
  t.equal(second.written, true);
  t.same(second.removed, [cas.old.fingerprint]);
  await extensionAuthGate(source, second.removed, { settleMs: 1_500, tickMs: 200 });
  const after = await readExtensionAuth(await source());
  t.same(
    bundleCertificates(after!.data[CLIENT_CA_KEY]).map((c) => c.fingerprint),
    [cas.new.fingerprint],
    'exactly the new CA',
  );
  for (const [k, v] of Object.entries(before!.data)) if (k !== CLIENT_CA_KEY) t.equal(after!.data[k], v, `${k} kept`);
  t.equal(after!.uid, before!.uid, 'the same object: never deleted and re-created');
  t.equal(lab.side.extensionAuth().deletions, 0);

  const third = await replaceExtensionAuthClientCa(await source(), trusted);
  t.equal(third.written, false, 'already exact: nothing written');
});
