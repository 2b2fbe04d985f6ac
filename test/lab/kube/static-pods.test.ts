/**
 * A control plane's kube-apiserver and kube-controller-manager switch when their static pods are re-created,
 * some time after the config change (Talos: KubernetesRoot → KubernetesSecrets → SecretStatuses version →
 * pods re-rendered with a new `talos.dev/secrets-version`), not when the apply returns. Until then the node's
 * apiserver serves its old certificate and the controller-manager signs with the old CA; its mirror pod
 * keeps the old annotation. Everything here waits on events or state, never on a clock.
 */
import t from 'tap';
import * as tls from 'node:tls';
import { isSignedBy } from '../../../src/pki/index.js';
import { kubectl, makeCas, phaseRoots, startLab, waitFor, type Cas, type TestLab } from './fixtures/lab.js';

let cas: Cas;
let lab: TestLab;

t.before(async () => {
  cas = await makeCas();
  // A long delay: the checks between the change and the re-render have seconds to run.
  lab = await startLab({ cas, controlPlanes: 2, workers: 1, phase: 'add', timings: { staticPodDelayMs: 8_000 } });
  await lab.side.whenAllReady(20_000);
});
t.teardown(async () => {
  await lab?.stop();
});

/** PEM of the certificate the node's apiserver serves (verified against old + new: either may sign it). */
function servedCert(address: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect(
      {
        host: address,
        port: 6443,
        ca: [cas.old.certPem, cas.new.certPem],
        servername: undefined,
        checkServerIdentity: () => undefined,
      },
      () => {
        const pem = s.getPeerX509Certificate()!.toString();
        s.destroy();
        resolve(pem);
      },
    );
    s.on('error', reject);
  });
}

interface Pod {
  metadata: { name: string; annotations: Record<string, string>; labels: Record<string, string> };
  spec: { nodeName: string };
  status: { hostIP: string; conditions: { type: string; status: string }[] };
}

async function mirrorPods(selector: string): Promise<Pod[]> {
  const kc = await lab.side.adminKubeconfig();
  const r = await kubectl(kc, ['get', 'pods', '-n', 'kube-system', '-l', selector, '-o', 'json']);
  if (r.code !== 0) throw new Error(`kubectl get pods failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { items: Pod[] }).items;
}

const ready = (p: Pod): string | undefined => p.status.conditions.find((c) => c.type === 'Ready')?.status;

t.test('mirror pods in kube-system, as the kubelet publishes them for Talos static pods', async (t) => {
  const pods = await mirrorPods('k8s-app=kube-apiserver');
  t.same(
    pods.map((p) => p.metadata.name).sort(),
    lab.cps.map((c) => `kube-apiserver-${c.hostname}`).sort(),
    'one kube-apiserver-<node> per control plane',
  );
  for (const p of pods) {
    const cp = lab.cps.find((c) => c.hostname === p.spec.nodeName)!;
    t.equal(p.status.hostIP, cp.address, `${p.metadata.name}: hostIP`);
    t.equal(
      p.metadata.annotations['talos.dev/secrets-version'],
      String(cp.secretsVersion),
      `${p.metadata.name}: secrets version = SecretStatuses version`,
    );
    t.ok(p.metadata.annotations['kubernetes.io/config.mirror'], `${p.metadata.name}: a mirror pod`);
    t.equal(ready(p), 'True', `${p.metadata.name}: Ready`);
  }
  const cms = await mirrorPods('k8s-app=kube-controller-manager');
  t.equal(cms.length, lab.cps.length, 'one kube-controller-manager-<node> per control plane');
  // kubectl's READY column counts ready containers from status.containerStatuses, STATUS reads the phase.
  const kc = await lab.side.adminKubeconfig();
  const table = await kubectl(kc, ['get', 'pods', '-n', 'kube-system', '-l', 'tier=control-plane', '--no-headers']);
  t.equal(table.code, 0, table.stderr);
  const rows = table.stdout.trim().split('\n');
  t.equal(rows.length, 2 * lab.cps.length, 'both static pods of every control plane');
  for (const row of rows) t.match(row, /^kube-\S+\s+1\/1\s+Running\s+0\s/, 'READY 1/1, Running, no restart');
});

t.test(
  'after a Kubernetes CA issue patch the apiserver serves the old CA until its static pod is re-created',
  async (t) => {
    const cp1 = lab.cps[0]!;
    t.equal(lab.side.controllerManagerLeader(), cp1.address, 'cp1 holds the controller-manager lease');
    t.equal(
      lab.side.controllerManagerIssuingCa()?.fingerprint,
      cas.old.fingerprint,
      'the controller-manager signs with OLD',
    );
    const v0 = cp1.secretsVersion;
    const rendered = lab.cluster.ledger.snapshot().staticPods.log.length;
    const kc = await lab.side.adminKubeconfig();
    const listed = await kubectl(kc, ['get', '--raw', '/api/v1/namespaces/kube-system/pods']);
    const since = (JSON.parse(listed.stdout) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;

    cp1.applyConfig(`config-${cp1.configVersion + 1}`, phaseRoots(cas, 'controlplane', 'swap'));
    t.ok(
      isSignedBy(await servedCert(cp1.address), cas.old.certPem),
      'right after the apply: serving cert still from OLD',
    );
    t.equal(
      lab.side.controllerManagerIssuingCa()?.fingerprint,
      cas.old.fingerprint,
      'the controller-manager still signs with OLD',
    );
    t.ok(lab.side.staticPods(cp1.address)?.lagging, 'the static pods lag behind the config');

    // The secrets are rendered again (SecretStatuses version moves) before the pods are re-created.
    await waitFor('SecretStatuses version to move', () => cp1.secretsVersion > v0);
    const lagging = await mirrorPods('k8s-app=kube-apiserver');
    const pod1 = lagging.find((p) => p.spec.nodeName === cp1.hostname)!;
    if (lab.side.staticPods(cp1.address)?.lagging) {
      t.equal(
        pod1.metadata.annotations['talos.dev/secrets-version'],
        String(v0),
        'the mirror pod still carries the old secrets version',
      );
      t.not(
        pod1.metadata.annotations['talos.dev/secrets-version'],
        String(cp1.secretsVersion),
        '…which differs from SecretStatuses',
      );
      t.ok(
        isSignedBy(await servedCert(cp1.address), cas.old.certPem),
        'serving cert still from OLD while the annotation lags',
      );
    } else t.fail('the static pods were re-created before the checks ran (raise staticPodDelayMs)');

    await waitFor('cp1 static pods re-created', () => lab.side.staticPods(cp1.address)?.lagging === false, 40_000);
    t.ok(isSignedBy(await servedCert(cp1.address), cas.new.certPem), 'after the re-render: serving cert from NEW');
    t.equal(
      lab.side.controllerManagerIssuingCa()?.fingerprint,
      cas.new.fingerprint,
      'the controller-manager now signs with NEW',
    );
    const after = (await mirrorPods('k8s-app=kube-apiserver')).find((p) => p.spec.nodeName === cp1.hostname)!;
    t.equal(
      after.metadata.annotations['talos.dev/secrets-version'],
      String(cp1.secretsVersion),
      'annotation caught up with SecretStatuses',
    );
    t.equal(ready(after), 'True', 'and the pod is Ready');
    // What a watch from before the apply saw of cp1's apiserver mirror pod (kubectl get pods -w): the kubelet
    // deletes the old generation's mirror pod and creates the new one, which turns Ready once it listens.
    const watched = await kubectl(kc, [
      'get',
      '--raw',
      `/api/v1/namespaces/kube-system/pods?watch=true&timeoutSeconds=1&resourceVersion=${since}` +
        `&fieldSelector=spec.nodeName%3D${cp1.hostname}&labelSelector=k8s-app%3Dkube-apiserver`,
    ]);
    const events = watched.stdout
      .trim()
      .split('\n')
      .map(
        (l) => JSON.parse(l) as { type: string; object: Pod & { metadata: { uid: string; resourceVersion: string } } },
      );
    const first = events[0]?.object.metadata.uid;
    t.same(
      events.map((e) => [e.type, e.object.metadata.uid === first ? 'old' : 'new', ready(e.object)]),
      [
        ['DELETED', 'old', 'True'],
        ['ADDED', 'new', 'False'],
        ['MODIFIED', 'new', 'True'],
      ],
      `the old mirror pod deleted, the new one added, then Ready (${JSON.stringify(events.map((e) => e.type))})`,
    );
    t.ok(
      events.every(
        (e, i) =>
          i === 0 || Number(e.object.metadata.resourceVersion) > Number(events[i - 1]!.object.metadata.resourceVersion),
      ),
      'in the order of the resourceVersions the store gave them',
    );
    const log = lab.cluster.ledger.snapshot().staticPods.log.slice(rendered);
    t.same(
      log.map((e) => [e.node, e.event]),
      [
        [cp1.address, 'changed'],
        [cp1.address, 'rendered'],
      ],
      'ledger: changed, then rendered, in order',
    );
    t.equal(lab.cluster.ledger.snapshot().staticPods.maxLagging, 1);
  },
);
