/**
 * The lab's cluster-authentication-trust controller (src/lab/kube/extension-auth.ts) keeps
 * `extension-apiserver-authentication` with Kubernetes' rule: the union of what the ConfigMap holds and the
 * apiserver's own CAs, removing only expired certificates; it writes back what another writer removed only
 * when it still trusts it, re-creates a deleted ConfigMap, and retries a conflict. On a running lab, the
 * ConfigMap is served to the real kubectl (get, replace with optimistic concurrency) and keeps an old CA
 * after every apiserver dropped it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { generateCa, generateKubernetesCa, type CaMaterial } from '../../../src/pki/index.js';
import {
  ClusterAuthenticationTrust,
  combinedAuthenticationData,
  EXT_AUTH_CONFIGMAP,
  EXT_AUTH_NAMESPACE,
  KEYS,
  ownAuthentication,
  parseCertsPem,
} from '../../../src/lab/kube/extension-auth.js';
import { ConfigMapStore } from '../../../src/lab/kube/root-ca-publisher.js';
import { applyAndWaitKubelet, kubectl, makeCas, phaseRoots, startLab, waitFor } from './fixtures/lab.js';

const DAY = 86_400_000;

/** A CA that expired a day ago (valid for one day, two days ago). */
async function expiredCa(): Promise<CaMaterial> {
  return generateCa({
    algorithm: 'ecdsa-p256',
    organizations: ['kubernetes'],
    now: new Date(Date.now() - 2 * DAY),
    validityMs: DAY,
  });
}

const fps = (pem: string | undefined): string[] => (pem ? parseCertsPem(pem).map((d) => d.toString('base64')) : []);
const derOf = (ca: CaMaterial): string => parseCertsPem(ca.certPem)[0]!.toString('base64');

t.test('combined data: union of held and own, expired removed, old valid kept, other keys dropped', async (t) => {
  const [old, neu, agg, gone] = await Promise.all([
    generateKubernetesCa(),
    generateKubernetesCa(),
    generateKubernetesCa(),
    expiredCa(),
  ]);
  const existing = {
    [KEYS.clientCa]: gone.certPem + old.certPem,
    [KEYS.allowedNames]: '["someone-else"]',
    'some-other-key': 'x',
  };
  const data = combinedAuthenticationData(existing, ownAuthentication(neu.certPem, agg.certPem), new Date());
  t.same(
    fps(data[KEYS.clientCa]),
    [derOf(old), derOf(neu)],
    'held (not expired) first, then own; the expired one removed',
  );
  t.same(fps(data[KEYS.requestHeaderCa]), [derOf(agg)]);
  t.equal(data[KEYS.allowedNames], '["someone-else","front-proxy-client"]', 'string lists are unions too');
  t.equal(data[KEYS.usernameHeaders], '["X-Remote-User"]');
  t.equal(data[KEYS.uidHeaders], '[]');
  t.equal(data[KEYS.groupHeaders], '["X-Remote-Group"]');
  t.equal(data[KEYS.extraHeaderPrefixes], '["X-Remote-Extra-"]');
  t.notOk('some-other-key' in data, 'the data is built afresh');

  const noHeader = combinedAuthenticationData({}, ownAuthentication(neu.certPem, ''), new Date());
  t.same(Object.keys(noHeader), [KEYS.clientCa], 'no request-header CA: only client-ca-file');
  t.throws(
    () =>
      combinedAuthenticationData({ [KEYS.clientCa]: 'not a bundle' }, ownAuthentication(neu.certPem, ''), new Date()),
    'an unparseable bundle fails the sync',
  );

  // Five minutes of slack: a certificate that expired a minute ago is kept.
  const justExpired = await generateCa({
    algorithm: 'ecdsa-p256',
    organizations: ['kubernetes'],
    now: new Date(Date.now() - DAY - 60_000),
    validityMs: DAY,
  });
  const slack = combinedAuthenticationData(
    { [KEYS.clientCa]: justExpired.certPem },
    ownAuthentication(neu.certPem, ''),
    new Date(),
  );
  t.same(fps(slack[KEYS.clientCa]), [derOf(justExpired), derOf(neu)]);
});

t.test(
  'controller on a store: writes the union, keeps a removal no apiserver trusts, re-adds one it trusts, ' +
    're-creates a deleted ConfigMap',
  async (t) => {
    const [old, neu, gone] = await Promise.all([generateKubernetesCa(), generateKubernetesCa(), expiredCa()]);
    const store = new ConfigMapStore();
    store.put(EXT_AUTH_NAMESPACE, EXT_AUTH_CONFIGMAP, { [KEYS.clientCa]: gone.certPem + old.certPem });
    const current = (): string[] => fps(store.get(EXT_AUTH_NAMESPACE, EXT_AUTH_CONFIGMAP)?.data[KEYS.clientCa]);

    // An apiserver that trusts only the new CA.
    const a = new ClusterAuthenticationTrust(store, { resyncMs: 50 });
    t.teardown(() => a.stop());
    a.start(ownAuthentication(neu.certPem, ''));
    await waitFor('the first sync', () => a.stats.writes > 0, 5_000);
    t.same(current(), [derOf(old), derOf(neu)], 'the old valid CA stays, the expired one is gone, the own one added');

    // Another writer removes the old CA: this apiserver does not trust it, so it stays removed.
    const rv = store.get(EXT_AUTH_NAMESPACE, EXT_AUTH_CONFIGMAP)!.resourceVersion;
    t.not(store.update(EXT_AUTH_NAMESPACE, EXT_AUTH_CONFIGMAP, { [KEYS.clientCa]: neu.certPem }, rv), 'conflict');
    const writes = a.stats.writes;
    const syncs = a.stats.syncs;
    await new Promise((r) => setTimeout(r, 300));
    t.same(current(), [derOf(neu)], 'still only the new CA after several resyncs');
    t.equal(a.stats.writes, writes, 'nothing to write');
    // The count e2e tests wait on instead of sleeping through resync periods: every sync counts, written or not.
    await waitFor('a sync that writes nothing, counted', () => a.stats.syncs > syncs, 5_000);
    t.equal(a.stats.writes, writes, 'it looked again and wrote nothing');

    // An apiserver that still trusts the old CA writes it back.
    const b = new ClusterAuthenticationTrust(store, { resyncMs: 50 });
    t.teardown(() => b.stop());
    b.start(ownAuthentication(old.certPem + neu.certPem, ''));
    await waitFor('the old CA written back', () => current().includes(derOf(old)), 5_000);
    b.stop();

    // Deleted: re-created at once by a running controller.
    store.delete(EXT_AUTH_NAMESPACE, EXT_AUTH_CONFIGMAP);
    t.equal(store.deletions(EXT_AUTH_NAMESPACE, EXT_AUTH_CONFIGMAP), 1);
    await waitFor('re-created', () => store.get(EXT_AUTH_NAMESPACE, EXT_AUTH_CONFIGMAP) !== undefined, 5_000);
    t.same(current(), [derOf(neu)], 'only what the running apiserver has');
  },
);

t.test('a conflicting write is retried against the newer object', async (t) => {
  const [old, neu] = await Promise.all([generateKubernetesCa(), generateKubernetesCa()]);
  const store = new ConfigMapStore();
  store.put(EXT_AUTH_NAMESPACE, EXT_AUTH_CONFIGMAP, { [KEYS.clientCa]: old.certPem });
  const a = new ClusterAuthenticationTrust(store, { resyncMs: 60_000 });
  t.teardown(() => a.stop());
  a.start(ownAuthentication(neu.certPem, ''));
  // Change it under the controller before its informer saw the first version.
  store.update(EXT_AUTH_NAMESPACE, EXT_AUTH_CONFIGMAP, { [KEYS.clientCa]: old.certPem, marker: 'x' }, null);
  t.equal(a.syncOnce(), false, 'its copy is stale: 409 Conflict');
  await waitFor(
    'the union written',
    () => fps(store.get(EXT_AUTH_NAMESPACE, EXT_AUTH_CONFIGMAP)?.data[KEYS.clientCa]).length === 2,
    5_000,
  );
  t.notOk(
    'marker' in store.get(EXT_AUTH_NAMESPACE, EXT_AUTH_CONFIGMAP)!.data,
    'rewritten from the newer object, keys of its own only',
  );
});

t.test('running lab: the apiservers keep a dropped CA; kubectl get and replace; never deleted', async (t) => {
  const cas = await makeCas();
  const lab = await startLab({ cas, controlPlanes: 2, workers: 0, timings: { extensionAuthResyncMs: 200 } });
  const dir = await mkdtemp(join(tmpdir(), 'ext-auth-'));
  t.teardown(async () => {
    await lab.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await lab.side.whenAllReady(20_000);
  const view = () => lab.side.extensionAuth();
  await waitFor('the ConfigMap', () => view().present, 10_000);
  t.same(view().clientCa, [cas.old.fingerprint], 'the initial CA');

  // A full Kubernetes CA rotation on every control plane, phase by phase.
  for (const phase of ['add', 'swap', 'drop'] as const) {
    for (const cp of lab.cps) await applyAndWaitKubelet(cp, phaseRoots(cas, 'controlplane', phase));
    await waitFor(
      `every apiserver back after ${phase}`,
      () =>
        lab.cps.every((cp) => lab.side.staticPods(cp.address)?.lagging === false && lab.side.apiserverUp(cp.address)),
      20_000,
    );
  }
  await new Promise((r) => setTimeout(r, 600));
  t.same(
    view().clientCa.sort(),
    [cas.old.fingerprint, cas.new.fingerprint].sort(),
    'the dropped CA is still there: only expiry removes it',
  );

  const kc = await lab.side.adminKubeconfig();
  const got = await kubectl(kc, ['get', 'cm', '-n', 'kube-system', EXT_AUTH_CONFIGMAP, '-o', 'json']);
  t.equal(got.code, 0, `kubectl get cm (stderr: ${got.stderr})`);
  const cm = JSON.parse(got.stdout) as { metadata: { resourceVersion: string }; data: Record<string, string> };
  t.same(fps(cm.data[KEYS.clientCa]).length, 2);
  const yaml = await kubectl(kc, ['get', 'cm', '-n', 'kube-system', EXT_AUTH_CONFIGMAP, '-o', 'yaml']);
  t.equal(yaml.code, 0);
  t.match(yaml.stdout, /client-ca-file: \|/);

  // Replace with a stale resourceVersion: refused; with the current one: accepted, and the new CA alone stays.
  const write = async (name: string, rv: string): Promise<string> => {
    const p = join(dir, name);
    await writeFile(
      p,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: EXT_AUTH_CONFIGMAP, namespace: 'kube-system', resourceVersion: rv },
        data: { [KEYS.clientCa]: cas.new.certPem },
      }),
    );
    return p;
  };
  const stale = await kubectl(kc, ['replace', '--validate=false', '-f', await write('stale.json', '1')]);
  t.not(stale.code, 0);
  t.match(stale.stderr, /the object has been modified/);
  const replaced = await kubectl(kc, [
    'replace',
    '--validate=false',
    '-f',
    await write('current.json', cm.metadata.resourceVersion),
  ]);
  t.equal(replaced.code, 0, `kubectl replace (stderr: ${replaced.stderr})`);
  await new Promise((r) => setTimeout(r, 1_000));
  t.same(view().clientCa, [cas.new.fingerprint], 'no apiserver trusts the old CA: none writes it back');
  t.equal(view().deletions, 0, 'never deleted');
  t.ok(view().controllers.every((c) => c.running));
});
