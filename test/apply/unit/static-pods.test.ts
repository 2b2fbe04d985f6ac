/**
 * The static-pods wait without a cluster: a SecretStatuses version that has not moved past the one seen
 * before the apply is "not yet", whatever else holds, and the wait ends with an error naming the node.
 */
import t from 'tap';
import { RotateError } from '../../../src/domain/errors.js';
import { checkStaticPods, readSecretsVersion, waitStaticPodsCurrent } from '../../../src/apply/static-pods.js';
import type { TalosClient } from '../../../src/talos/client.js';

function fakeClient(version: () => string | Error): TalosClient {
  return {
    getSecretsStatus: async () => {
      const v = version();
      if (v instanceof Error) throw v;
      return { ready: true, version: v };
    },
  } as unknown as TalosClient;
}

const kubeconfigNeverUsed = async () => {
  throw new Error('the Kubernetes API must not be asked before the secrets moved');
};

t.test('an unchanged SecretStatuses version is not current, and the Kubernetes API is not asked yet', async (t) => {
  const r = await checkStaticPods({
    client: fakeClient(() => '7'),
    address: '10.0.0.10',
    hostname: 'cp-1',
    expectedCaPem: '',
    versionBefore: '7',
    kubeconfig: kubeconfigNeverUsed,
  });
  t.equal(r.version, null);
  t.match(r.problem, /10\.0\.0\.10 still shows version 7/);
});

t.test('the bounded wait fails naming the node and what was missing', async (t) => {
  const seen: (string | null)[] = [];
  const err = await waitStaticPodsCurrent(
    {
      client: fakeClient(() => '7'),
      address: '10.0.0.10',
      hostname: 'cp-1',
      expectedCaPem: '',
      versionBefore: '7',
      kubeconfig: kubeconfigNeverUsed,
    },
    { deadline: Date.now() + 50, pollMs: 10, onWaiting: (v) => seen.push(v) },
  ).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(RotateError.is(err), 'a RotateError');
  t.equal((err as RotateError).code, 'APPLY_STATIC_PODS_TIMEOUT');
  t.match((err as RotateError).message, /control plane 10\.0\.0\.10 .*still shows version 7/);
  t.match((err as RotateError).hint ?? '', /secretstatuses/);
  t.same(seen, [null], 'one waiting report while the version is unknown');
});

t.test('a node without SecretStatuses reads as null; other errors pass through', async (t) => {
  const notFound = Object.assign(new Error('not found'), { kind: 'not-found' });
  t.equal(
    await readSecretsVersion(
      fakeClient(() => notFound),
      '10.0.0.10',
    ),
    null,
  );
  await t.rejects(
    readSecretsVersion(
      fakeClient(() => new Error('boom')),
      '10.0.0.10',
    ),
    /boom/,
  );
});
