/**
 * The lab's workloads as real clients see them: the real kubectl lists Deployments, DaemonSets and
 * StatefulSets, `kubectl rollout restart` + `kubectl rollout status` roll a Deployment, and the rolled
 * pods are new and hold the CA current at their start. A holding client that failed after the Kubernetes
 * CA issue step (done with the lab's own means) no longer fails once its Deployment was restarted, while
 * a holding client that was not restarted keeps failing. Ledger entries are placed by `seq`, not by clock.
 */
import t from 'tap';
import { fingerprintOfPem } from '../../../src/pki/index.js';
import { applyAndWaitKubelet, kubectl, makeCas, phaseRoots, startLab, waitFor } from './fixtures/lab.js';

type Lab = Awaited<ReturnType<typeof startLab>>;
const podFailures = (lab: Lab, afterSeq: number) =>
  lab.cluster.ledger.snapshot().trustFailureLog.filter((e) => e.edge === 'pod-apiserver' && e.seq > afterSeq);

/** The pods of a Deployment: Pod → ReplicaSet → Deployment ownerReferences. */
function deploymentPods(lab: Lab, namespace: string, name: string) {
  const d = lab.side.objects('deployments', namespace).find((o) => o.metadata.name === name)!;
  const rsUids = new Set(
    lab.side
      .objects('replicasets', namespace)
      .filter((r) =>
        r.metadata.ownerReferences?.some((o) => o.controller && o.uid === d.metadata.uid && o.kind === 'Deployment'),
      )
      .map((r) => r.metadata.uid),
  );
  return lab.side
    .objects('pods', namespace)
    .filter((p) =>
      p.metadata.ownerReferences?.some((o) => o.controller && o.kind === 'ReplicaSet' && rsUids.has(o.uid)),
    );
}

t.test(
  'kubectl get / rollout restart / rollout status on the lab; the rolled pods hold the new CA and stop failing',
  async (t) => {
    const cas = await makeCas();
    const lab = await startLab({
      cas,
      controlPlanes: 1,
      workers: 2,
      podsPerNode: 0,
      workloads: 'standard',
      timings: { podCallIntervalMs: 150, podCaReloadMs: 600_000 },
    });
    t.teardown(() => lab.stop());
    await lab.side.whenAllReady(20_000);
    await waitFor(
      'every pod running',
      () => lab.side.pods().length >= 10 && lab.side.pods().every((p) => p.running),
      30_000,
    );
    const oldFp = fingerprintOfPem(cas.old.certPem);
    const newFp = fingerprintOfPem(cas.new.certPem);
    let kubeconfig = await lab.side.adminKubeconfig();

    const got = await kubectl(kubeconfig, ['get', 'deploy,ds,sts', '-A']);
    t.equal(got.code, 0, `kubectl get deploy,ds,sts -A (stderr: ${got.stderr})`);
    for (const line of [
      /^apps\s+deployment\.apps\/api-gateway\s+2\/2\s+2\s+2\s/m,
      /^default\s+deployment\.apps\/web\s+1\/1\s/m,
      /^kube-system\s+daemonset\.apps\/node-exporter\s+1\s+1\s+1\s+1\s+1\s/m,
      /^apps\s+statefulset\.apps\/db\s+2\/2\s/m,
      /^apps\s+statefulset\.apps\/cache\s+2\/2\s/m,
    ]) {
      t.match(got.stdout, line, `listed: ${line.source}`);
    }
    // Every workload pod mounts the service-account CA as admission puts it there.
    const pod = deploymentPods(lab, 'apps', 'api-gateway')[0]!;
    const volumes = (
      pod.spec as { volumes: { name: string; projected?: { sources: { configMap?: { name: string } }[] } }[] }
    ).volumes;
    t.ok(
      volumes.some(
        (v) =>
          v.name.startsWith('kube-api-access-') &&
          v.projected?.sources.some((s) => s.configMap?.name === 'kube-root-ca.crt'),
      ),
      'kube-api-access-* projected volume with kube-root-ca.crt',
    );

    // The Kubernetes CA issue step, with the lab's own means: accept NEW everywhere, then issue from NEW.
    for (const n of [...lab.cps, ...lab.workers]) await applyAndWaitKubelet(n, phaseRoots(cas, n.role, 'add'));
    const issueStart = lab.cluster.ledger.lastSeq;
    for (const n of lab.cps) await applyAndWaitKubelet(n, phaseRoots(cas, n.role, 'swap'));
    await waitFor('the ConfigMap to hold NEW', () => lab.side.rootCaConfigMap() === cas.new.certPem);
    const before = deploymentPods(lab, 'apps', 'api-gateway');
    const beforeNames = new Set(before.map((p) => p.metadata.name));
    t.equal(before.length, 2);
    const clientOf = (name: string) => lab.side.pods().find((p) => p.name === name);
    t.ok(
      before.every((p) => clientOf(p.metadata.name)?.caFingerprints.join() === oldFp),
      'the Deployment’s holding clients still trust OLD alone',
    );
    await waitFor(
      'each api-gateway pod to fail after the issue step',
      () => before.every((p) => podFailures(lab, issueStart).some((e) => e.from.endsWith(`/${p.metadata.name}`))),
      20_000,
    );

    const generation = lab.side.objects('deployments', 'apps').find((d) => d.metadata.name === 'api-gateway')!.metadata
      .generation!;
    // The apiservers now serve from NEW: an admin kubeconfig made now (as the tool's fresh credentials).
    kubeconfig = await lab.side.adminKubeconfig();
    const restart = await kubectl(kubeconfig, ['rollout', 'restart', 'deployment/api-gateway', '-n', 'apps']);
    t.equal(restart.code, 0, `kubectl rollout restart (stderr: ${restart.stderr})`);
    t.match(restart.stdout, /deployment\.apps\/api-gateway restarted/);
    const status = await kubectl(
      kubeconfig,
      ['rollout', 'status', 'deployment/api-gateway', '-n', 'apps', '--timeout=60s'],
      null,
      90_000,
    );
    t.equal(status.code, 0, `kubectl rollout status (stderr: ${status.stderr})`);
    t.match(status.stdout, /deployment "api-gateway" successfully rolled out/);

    const json = await kubectl(kubeconfig, ['get', 'deployment', 'api-gateway', '-n', 'apps', '-o', 'json']);
    const d = JSON.parse(json.stdout) as {
      metadata: { generation: number };
      spec: { template: { metadata: { annotations: Record<string, string> } } };
      status: { observedGeneration: number; updatedReplicas: number; availableReplicas: number };
    };
    t.match(
      d.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt'],
      /^\d{4}-\d\d-\d\dT/,
      'the restartedAt annotation kubectl sent',
    );
    t.equal(d.metadata.generation, generation + 1, 'the template change bumped generation');
    t.equal(d.status.observedGeneration, d.metadata.generation, 'observed');
    t.same([d.status.updatedReplicas, d.status.availableReplicas], [2, 2]);

    const after = deploymentPods(lab, 'apps', 'api-gateway');
    t.equal(after.length, 2, 'two pods again');
    t.ok(
      after.every((p) => !beforeNames.has(p.metadata.name)),
      'every pod of the Deployment is new',
    );
    await waitFor('the new pods running', () => after.every((p) => clientOf(p.metadata.name)?.running === true));
    t.ok(
      after.every((p) => clientOf(p.metadata.name)!.caFingerprints.join() === newFp),
      'each new pod loaded the CA current at its start (NEW)',
    );

    // From here on: the restarted pods make calls that succeed, while a holding pod that was not restarted
    // (the bare Pod debug-shell) keeps failing.
    const mark = lab.cluster.ledger.lastSeq;
    await waitFor(
      'debug-shell to fail three more times',
      () => podFailures(lab, mark).filter((e) => e.from.endsWith('/debug-shell')).length >= 3,
      20_000,
    );
    t.same(
      podFailures(lab, mark).filter((e) => after.some((p) => e.from.endsWith(`/${p.metadata.name}`))),
      [],
      'the restarted pods no longer fail',
    );
  },
);

t.test(
  'a node that goes down: its pods stay in the API, not ready; they start afresh when its kubelet runs again',
  async (t) => {
    const lab = await startLab({ cas: await makeCas(), controlPlanes: 1, workers: 1, podsPerNode: 1 });
    t.teardown(() => lab.stop());
    await lab.side.whenAllReady(20_000);
    await waitFor(
      'every pod running',
      () => lab.side.pods().length === 2 && lab.side.pods().every((p) => p.running),
      20_000,
    );
    const worker = lab.workers[0]!;
    const podOf = () =>
      lab.side
        .objects('pods', 'kube-system')
        .find((p) => (p.spec as { nodeName: string }).nodeName === worker.hostname)!;
    const before = podOf();
    const ready = (p: typeof before) =>
      (p.status as { conditions: { type: string; status: string }[] }).conditions.some(
        (c) => c.type === 'Ready' && c.status === 'True',
      );
    t.ok(ready(before), 'ready while the node is up');
    worker.setDown(true);
    await waitFor('the pod not ready', () => !ready(podOf()));
    t.equal(podOf().metadata.uid, before.metadata.uid, 'the same pod object: the DaemonSet does not replace it');
    await waitFor(
      'the DaemonSet to count it unavailable',
      () =>
        (lab.side.objects('daemonsets', 'kube-system')[0]!.status as { numberUnavailable?: number })
          .numberUnavailable === 1,
    );
    worker.setDown(false);
    await waitFor('the pod ready again', () => ready(podOf()), 20_000);
    const after = podOf();
    t.equal(after.metadata.uid, before.metadata.uid);
    const restarts = (after.status as { containerStatuses: { restartCount: number }[] }).containerStatuses[0]!
      .restartCount;
    t.equal(restarts, 1, 'its container started again');
    t.ok(lab.side.pods().find((p) => p.uid === before.metadata.uid)!.running, 'its client runs again');
  },
);
