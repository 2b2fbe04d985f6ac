/**
 * The lab's workload API semantics through the real kubectl (`get --raw`, `create --raw`, `patch`,
 * `rollout`): chunked lists (limit/continue), watch from a resourceVersion, the Eviction API honouring
 * PodDisruptionBudgets (429) and the controllers re-creating evicted pods (not bare pods), and the
 * workloads on which a rollout restart does nothing: a paused Deployment, a StatefulSet partition, an
 * OnDelete DaemonSet (whose deleted pod comes back from the new template). A RollingUpdate DaemonSet rolls
 * one node at a time.
 */
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubectl, makeCas, startLab, waitFor } from './fixtures/lab.js';

type Lab = Awaited<ReturnType<typeof startLab>>;

t.test('lists, watch, eviction, and the workloads a rollout restart does not roll', async (t) => {
  const lab: Lab = await startLab({
    cas: await makeCas(),
    controlPlanes: 1,
    workers: 2,
    podsPerNode: 1,
    workloads: 'standard',
    timings: { podCallIntervalMs: 1_000 },
  });
  t.teardown(() => lab.stop());
  await lab.side.whenAllReady(20_000);
  await waitFor(
    'every pod running',
    () => lab.side.pods().length >= 13 && lab.side.pods().every((p) => p.running),
    30_000,
  );
  await waitFor('batch-runner paused', () =>
    lab.side
      .objects('deployments', 'apps')
      .some((d) => d.metadata.name === 'batch-runner' && (d.spec as { paused?: boolean }).paused === true),
  );
  const kc = await lab.side.adminKubeconfig();
  const raw = async (path: string) => {
    const r = await kubectl(kc, ['get', '--raw', path], '0');
    t.equal(r.code, 0, `GET ${path} (stderr: ${r.stderr})`);
    return r.stdout;
  };

  // Chunked list of every pod (workload pods and mirror pods), three at a time.
  const names: string[] = [];
  let token = '';
  let pages = 0;
  let firstRv = '';
  do {
    const list = JSON.parse(
      await raw(`/api/v1/pods?limit=3${token ? `&continue=${encodeURIComponent(token)}` : ''}`),
    ) as {
      kind: string;
      metadata: { continue?: string; resourceVersion: string; remainingItemCount?: number };
      items: { metadata: { namespace: string; name: string } }[];
    };
    t.equal(list.kind, 'PodList');
    if (pages === 0) firstRv = list.metadata.resourceVersion;
    names.push(...list.items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`));
    t.ok(list.items.length <= 3, 'at most limit items');
    token = list.metadata.continue ?? '';
    pages += 1;
  } while (token);
  const all = JSON.parse(await raw('/api/v1/pods')) as { items: { metadata: { namespace: string; name: string } }[] };
  t.same(
    names,
    all.items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).sort(),
    'the pages hold every pod once, in key order',
  );
  t.ok(pages >= 5, `several pages (${pages})`);
  const secrets = JSON.parse(await raw('/api/v1/secrets?limit=1')) as {
    kind: string;
    items: { metadata: { name: string }; data: Record<string, string> }[];
  };
  t.same([secrets.kind, secrets.items[0]?.metadata.name], ['SecretList', 'operator-kubeconfig']);
  t.match(
    Buffer.from(secrets.items[0]!.data.kubeconfig!, 'base64').toString(),
    /certificate-authority-data: LS0tLS1CRUdJTi/,
    'a kubeconfig embedding base64 of the CA PEM',
  );
  const cms = JSON.parse(await raw('/api/v1/namespaces/apps/configmaps')) as {
    items: { metadata: { name: string }; data: Record<string, string> }[];
  };
  t.match(
    cms.items.find((c) => c.metadata.name === 'legacy-ca-bundle')?.data['ca.pem'],
    /^-----BEGIN CERTIFICATE-----/,
    'a ConfigMap with the CA PEM',
  );
  // ConfigMaps in chunks too: kube-root-ca.crt of each of the five namespaces and the CA copy.
  const cmNames: string[] = [];
  let cmToken = '';
  do {
    const list = JSON.parse(
      await raw(`/api/v1/configmaps?limit=2${cmToken ? `&continue=${encodeURIComponent(cmToken)}` : ''}`),
    ) as { kind: string; metadata: { continue?: string }; items: { metadata: { namespace: string; name: string } }[] };
    t.ok(list.kind === 'ConfigMapList' && list.items.length <= 2, 'a ConfigMapList of at most two');
    cmNames.push(...list.items.map((c) => `${c.metadata.namespace}/${c.metadata.name}`));
    cmToken = list.metadata.continue ?? '';
  } while (cmToken);
  const allCms = JSON.parse(await raw('/api/v1/configmaps')) as {
    items: { metadata: { namespace: string; name: string } }[];
  };
  t.same(
    cmNames,
    allCms.items.map((c) => `${c.metadata.namespace}/${c.metadata.name}`).sort(),
    'every ConfigMap once, in key order',
  );
  t.ok(
    cmNames.length >= 6 && cmNames.includes('apps/legacy-ca-bundle') && cmNames.includes('apps/kube-root-ca.crt'),
    'the five kube-root-ca.crt and the CA copy',
  );
  const namespaces = JSON.parse(await raw('/api/v1/namespaces')) as {
    kind: string;
    items: { metadata: { name: string }; status: { phase: string } }[];
  };
  t.equal(namespaces.kind, 'NamespaceList');
  t.same(
    namespaces.items.map((n) => n.metadata.name).sort(),
    ['apps', 'default', 'kube-node-lease', 'kube-public', 'kube-system'],
    'the namespaces, apps included',
  );
  const ns = await kubectl(kc, ['get', 'ns', 'apps']);
  t.match(ns.stdout, /^apps\s+Active\s/m, 'kubectl get ns');
  const onNode = JSON.parse(
    await raw(`/api/v1/pods?fieldSelector=${encodeURIComponent('spec.nodeName=worker-1')}`),
  ) as { items: { spec: { nodeName: string } }[] };
  t.ok(
    onNode.items.length > 0 && onNode.items.every((p) => p.spec.nodeName === 'worker-1'),
    'fieldSelector spec.nodeName',
  );
  const byLabel = JSON.parse(
    await raw(`/api/v1/namespaces/apps/pods?labelSelector=${encodeURIComponent('app=db')}`),
  ) as { items: { metadata: { name: string } }[] };
  t.same(byLabel.items.map((p) => p.metadata.name).sort(), ['db-0', 'db-1'], 'labelSelector');

  // Evictions: refused while the budget would break (db: minAvailable 2 of 2) ...
  const dir = await mkdtemp(join(tmpdir(), 'eviction-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const evict = async (namespace: string, name: string) => {
    const file = join(dir, `${name}.json`);
    await writeFile(file, JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } }));
    return kubectl(kc, ['create', '--raw', `/api/v1/namespaces/${namespace}/pods/${name}/eviction`, '-f', file]);
  };
  const refused = await evict('apps', 'db-0');
  t.not(refused.code, 0, 'eviction of db-0 refused');
  t.match(refused.stderr, /TooManyRequests|Cannot evict pod as it would violate the pod's disruption budget/);
  t.ok(
    lab.side.objects('pods', 'apps').some((p) => p.metadata.name === 'db-0'),
    'db-0 still there',
  );
  // ... allowed otherwise: the Job re-creates its pod, the bare pod is gone for good.
  const jobPod = lab.side.objects('pods', 'apps').find((p) => p.metadata.name.startsWith('migrate-'))!;
  const evicted = await evict('apps', jobPod.metadata.name);
  t.equal(evicted.code, 0, `eviction of the Job's pod (stderr: ${evicted.stderr})`);
  await waitFor('the Job to run a new pod', () =>
    lab.side
      .objects('pods', 'apps')
      .some((p) => p.metadata.name.startsWith('migrate-') && p.metadata.name !== jobPod.metadata.name),
  );
  t.equal((await evict('default', 'debug-shell')).code, 0, 'eviction of the bare pod');
  t.notOk(
    lab.side.objects('pods', 'default').some((p) => p.metadata.name === 'debug-shell'),
    'the bare pod is not re-created',
  );
  const gw = lab.side.objects('pods', 'apps').filter((p) => p.metadata.name.startsWith('api-gateway-'));
  t.equal((await evict('apps', gw[0]!.metadata.name)).code, 0, 'api-gateway allows one disruption');
  await waitFor(
    'api-gateway back to two ready pods',
    () =>
      lab.side
        .objects('pods', 'apps')
        .filter(
          (p) =>
            p.metadata.name.startsWith('api-gateway-') &&
            (p.status as { conditions?: { type: string; status: string }[] }).conditions?.some(
              (c) => c.type === 'Ready' && c.status === 'True',
            ),
        ).length === 2,
  );

  // Watch from a resourceVersion: the events after it, here the patch of the paused Deployment.
  const rv = (
    JSON.parse(await raw('/apis/apps/v1/namespaces/apps/deployments')) as { metadata: { resourceVersion: string } }
  ).metadata.resourceVersion;
  const generation = lab.side.objects('deployments', 'apps').find((o) => o.metadata.name === 'batch-runner')!.metadata
    .generation!;
  const pausedPods = lab.side
    .objects('pods', 'apps')
    .filter((p) => p.metadata.name.startsWith('batch-runner-'))
    .map((p) => p.metadata.name);
  // kubectl get -w prints every event as a row of the Table it asks for (one-row Tables, headers once).
  const watching = kubectl(kc, ['get', 'deployments', '-n', 'apps', '-w'], null, 4_000);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const patched = await kubectl(kc, [
    'patch',
    'deployment',
    'batch-runner',
    '-n',
    'apps',
    '-p',
    '{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-01-01T00:00:00Z"}}}}}',
  ]);
  t.equal(patched.code, 0, `strategic merge patch of a paused Deployment (stderr: ${patched.stderr})`);
  const watched = (await watching).stdout.trim().split('\n');
  t.match(watched[0], /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$/, 'kubectl -w: one header');
  t.ok(
    watched.slice(1).every((row) => /^\S+\s+\d+\/\d+\s+\d+\s+\d+\s+\S+$/.test(row)),
    `kubectl -w: every event a full row (${JSON.stringify(watched)})`,
  );
  t.ok(watched.filter((row) => row.startsWith('batch-runner ')).length >= 2, 'the patched Deployment again');
  const events = (
    await raw(`/apis/apps/v1/namespaces/apps/deployments?watch=true&resourceVersion=${rv}&timeoutSeconds=2`)
  )
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; object: { metadata: { name: string; generation: number } } });
  t.ok(events.length > 0 && events.every((e) => e.type === 'MODIFIED'), 'only what changed after the resourceVersion');
  t.ok(
    events.some((e) => e.object.metadata.name === 'batch-runner' && e.object.metadata.generation === generation + 1),
    'the patched Deployment, its generation bumped',
  );
  const expired = await raw('/apis/apps/v1/deployments?watch=true&resourceVersion=0&timeoutSeconds=1');
  t.ok(
    expired
      .trim()
      .split('\n')
      .every((l) => (JSON.parse(l) as { type: string }).type === 'ADDED'),
    'resourceVersion=0: the current objects as ADDED',
  );
  t.same(
    lab.side
      .objects('pods', 'apps')
      .filter((p) => p.metadata.name.startsWith('batch-runner-'))
      .map((p) => p.metadata.name),
    pausedPods,
    'paused: no pod rolled',
  );
  await waitFor('batch-runner observed', () => {
    const d = lab.side.objects('deployments', 'apps').find((o) => o.metadata.name === 'batch-runner')!;
    return (d.status as { observedGeneration?: number }).observedGeneration === generation + 1;
  });
  t.equal(
    lab.side.objects('replicasets', 'apps').filter((r) => r.metadata.name.startsWith('batch-runner-')).length,
    1,
    'paused: no new ReplicaSet',
  );
  const pausedRestart = await kubectl(kc, ['rollout', 'restart', 'deployment/batch-runner', '-n', 'apps']);
  t.match(pausedRestart.stderr, /can't restart paused deployment/, 'kubectl itself refuses a paused Deployment');

  // StatefulSet partition 2 of 2: the template changes, no pod rolls, rollout status says so.
  const dbPods = lab.side
    .objects('pods', 'apps')
    .filter((p) => p.metadata.name.startsWith('db-'))
    .map((p) => p.metadata.uid);
  t.equal((await kubectl(kc, ['rollout', 'restart', 'statefulset/db', '-n', 'apps'])).code, 0);
  const dbStatus = await kubectl(kc, ['rollout', 'status', 'statefulset/db', '-n', 'apps', '--timeout=30s'], '0');
  t.equal(dbStatus.code, 0, `rollout status sts/db (stderr: ${dbStatus.stderr})`);
  t.match(dbStatus.stdout, /partitioned roll out complete: 0 new pods have been updated/);
  t.same(
    lab.side
      .objects('pods', 'apps')
      .filter((p) => p.metadata.name.startsWith('db-'))
      .map((p) => p.metadata.uid),
    dbPods,
    'partition: no pod rolled',
  );

  // A StatefulSet without partition rolls from the highest ordinal down.
  const cacheUids = lab.side
    .objects('pods', 'apps')
    .filter((p) => p.metadata.name.startsWith('cache-'))
    .map((p) => p.metadata.uid);
  t.equal((await kubectl(kc, ['rollout', 'restart', 'statefulset/cache', '-n', 'apps'])).code, 0);
  const cacheStatus = await kubectl(kc, ['rollout', 'status', 'statefulset/cache', '-n', 'apps', '--timeout=60s'], '0');
  t.equal(cacheStatus.code, 0, `rollout status sts/cache (stderr: ${cacheStatus.stderr})`);
  t.ok(
    lab.side
      .objects('pods', 'apps')
      .filter((p) => p.metadata.name.startsWith('cache-'))
      .every((p) => !cacheUids.includes(p.metadata.uid)),
    'every cache pod is new',
  );

  // OnDelete DaemonSet: nothing rolls; rollout status refuses; a deleted pod comes back from the new template.
  const exporter = () =>
    lab.side.objects('pods', 'kube-system').filter((p) => p.metadata.name.startsWith('node-exporter-'));
  const exporterPod = exporter()[0]!;
  t.equal((await kubectl(kc, ['rollout', 'restart', 'daemonset/node-exporter', '-n', 'kube-system'])).code, 0);
  const onDeleteStatus = await kubectl(
    kc,
    ['rollout', 'status', 'daemonset/node-exporter', '-n', 'kube-system', '--timeout=10s'],
    '0',
  );
  t.not(onDeleteStatus.code, 0);
  t.match(onDeleteStatus.stderr, /rollout status is only available for RollingUpdate strategy type/);
  t.same(
    exporter().map((p) => p.metadata.uid),
    [exporterPod.metadata.uid],
    'OnDelete: the pod stays',
  );
  t.equal(
    (await kubectl(kc, ['delete', 'pod', exporterPod.metadata.name, '-n', 'kube-system', '--wait=false'])).code,
    0,
  );
  await waitFor(
    'node-exporter re-created',
    () => exporter().length === 1 && exporter()[0]!.metadata.uid !== exporterPod.metadata.uid,
  );
  t.not(
    exporter()[0]!.metadata.labels?.['controller-revision-hash'],
    exporterPod.metadata.labels?.['controller-revision-hash'],
    'from the new template',
  );

  // RollingUpdate DaemonSet (maxUnavailable 1): every node's pod replaced.
  const holding = () => lab.side.objects('pods', 'kube-system').filter((p) => p.metadata.name.startsWith('holding-0-'));
  const holdingUids = holding().map((p) => p.metadata.uid);
  t.equal(holdingUids.length, 3, 'one per node');
  t.equal((await kubectl(kc, ['rollout', 'restart', 'daemonset/holding-0', '-n', 'kube-system'])).code, 0);
  const dsStatus = await kubectl(
    kc,
    ['rollout', 'status', 'daemonset/holding-0', '-n', 'kube-system', '--timeout=60s'],
    '0',
  );
  t.equal(dsStatus.code, 0, `rollout status ds/holding-0 (stderr: ${dsStatus.stderr})`);
  t.equal(holding().length, 3);
  t.ok(
    holding().every((p) => !holdingUids.includes(p.metadata.uid)),
    'every node runs a new pod',
  );
  t.ok(firstRv !== '', 'lists carry a resourceVersion');
});
