/**
 * Pods trust only the issuing Kubernetes CA (talos-behaviour.md §5.4): the controller-manager leader publishes its
 * issuing CA into `kube-root-ca.crt`; the kubelet rewrites each pod's projected `ca.crt`; a client that
 * never re-reads it fails every call once the apiservers serve from the new CA, while one that re-reads
 * it recovers. Ledger entries are placed by `seq`, not by clock.
 */
import t from 'tap';
import { fingerprintOfPem } from '../../../src/pki/index.js';
import { applyAndWaitKubelet, kubectl, makeCas, phaseRoots, startLab, waitFor, where } from './fixtures/lab.js';

const podFailures = (lab: Awaited<ReturnType<typeof startLab>>, afterSeq: number) =>
  lab.cluster.ledger.snapshot().trustFailureLog.filter((e) => e.edge === 'pod-apiserver' && e.seq > afterSeq);

t.test('kube-root-ca.crt holds the controller-manager leader’s issuing CA and follows the leader', async (t) => {
  const cas = await makeCas();
  const lab = await startLab({ cas, workers: 1, podsPerNode: 0 });
  t.teardown(() => lab.stop());
  await lab.side.whenAllReady(15_000);
  t.equal(lab.side.rootCaConfigMap(), cas.old.certPem, 'published: the issuing CA alone');

  const kubeconfig = await lab.side.adminKubeconfig();
  const got = await kubectl(kubeconfig, ['get', 'configmap', 'kube-root-ca.crt', '-n', 'kube-system', '-o', 'json']);
  t.equal(got.code, 0, `kubectl get configmap (stderr: ${got.stderr})`);
  const cm = JSON.parse(got.stdout) as {
    kind: string;
    metadata: { name: string; namespace: string };
    data: Record<string, string>;
  };
  t.same(
    [cm.kind, cm.metadata.name, cm.metadata.namespace, Object.keys(cm.data)],
    ['ConfigMap', 'kube-root-ca.crt', 'kube-system', ['ca.crt']],
  );
  t.equal(cm.data['ca.crt'], cas.old.certPem, 'kubectl reads the issuing CA');
  const list = await kubectl(kubeconfig, ['get', 'configmaps', '-A']);
  t.equal(list.code, 0, `kubectl get configmaps -A (stderr: ${list.stderr})`);
  t.equal(list.stdout.split('\n').filter((l) => l.includes('kube-root-ca.crt')).length, 4, 'one per namespace');

  // Accepting NEW on every control plane changes nothing: the issuing CA stays OLD.
  for (const cp of lab.cps) await applyAndWaitKubelet(cp, phaseRoots(cas, 'controlplane', 'add'));
  t.equal(lab.side.rootCaConfigMap(), cas.old.certPem, 'accepting a CA does not publish it');

  const leader = lab.cps.find((n) => n.address === lab.side.controllerManagerLeader())!;
  const other = lab.cps.find((n) => n !== leader)!;
  // A control plane that is not the leader starts issuing from NEW: the ConfigMap does not move.
  await applyAndWaitKubelet(other, phaseRoots(cas, 'controlplane', 'swap'));
  t.equal(lab.side.rootCaConfigMap(), cas.old.certPem, 'a non-leader issuing NEW does not publish it');
  // The leader does: the publisher overwrites the ConfigMap with NEW alone.
  await applyAndWaitKubelet(leader, phaseRoots(cas, 'controlplane', 'swap'));
  await waitFor('the ConfigMap to hold NEW', () => lab.side.rootCaConfigMap() === cas.new.certPem);
  t.pass('the leader issuing NEW publishes NEW alone');

  // The leader goes down; the lease moves to the first control plane that is up.
  leader.setDown(true);
  const next = lab.side.controllerManagerLeader();
  const expected = next === other.address ? cas.new.certPem : cas.old.certPem;
  await waitFor('the ConfigMap to follow the new leader', () => lab.side.rootCaConfigMap() === expected);
  t.pass(`the new leader ${next} publishes its own issuing CA`);
  leader.setDown(false);
});

for (const dialThread of [false, true])
  t.test(
    `after the issue step a never-reloading pod fails pod-apiserver; a reloading one recovers (${where(dialThread)})`,
    async (t) => {
      const cas = await makeCas();
      const lab = await startLab({
        cas,
        workers: 1,
        podsPerNode: 2,
        timings: { podCallIntervalMs: 120, podCaReloadMs: 1_500 },
        dialThread,
      });
      t.teardown(() => lab.stop());
      t.equal(lab.side.dialThreaded(), dialThread, `requests made on ${where(dialThread)}`);
      await lab.side.whenAllReady(15_000);
      await waitFor('every pod running', () => lab.side.pods().every((p) => p.running));
      const oldFp = fingerprintOfPem(cas.old.certPem);
      const newFp = fingerprintOfPem(cas.new.certPem);
      t.ok(
        lab.side.pods().every((p) => p.caFingerprints.join() === oldFp),
        'every pod loaded OLD',
      );

      const start = lab.cluster.ledger.lastSeq;
      for (const n of [...lab.cps, ...lab.workers]) await applyAndWaitKubelet(n, phaseRoots(cas, n.role, 'add'));
      t.same(podFailures(lab, start), [], 'accept phase: no pod-apiserver failure');

      // The issue step: every control plane issues from NEW.
      const issueStart = lab.cluster.ledger.lastSeq;
      for (const n of lab.cps) await applyAndWaitKubelet(n, phaseRoots(cas, n.role, 'swap'));
      const issued = lab.cluster.ledger.lastSeq;
      await waitFor('the ConfigMap to hold NEW', () => lab.side.rootCaConfigMap() === cas.new.certPem);
      const holding = lab.side.pods().filter((p) => !p.reloads);
      const reloading = lab.side.pods().filter((p) => p.reloads);
      t.ok(holding.length > 0 && reloading.length > 0, 'both kinds of pod run');

      await waitFor(
        'every reloading pod to hold NEW',
        () =>
          lab.side
            .pods()
            .filter((p) => p.reloads)
            .every((p) => p.caFingerprints.join() === newFp),
        20_000,
      );
      const reloaded = lab.cluster.ledger.lastSeq;
      // Several more calls by every holding pod after that point, each failing.
      await waitFor(
        'each holding pod to fail three more times',
        () =>
          holding.every((p) => podFailures(lab, reloaded).filter((e) => e.from === `${p.node}/${p.name}`).length >= 3),
        20_000,
      );

      const all = podFailures(lab, issueStart);
      t.ok(all.length > 0, 'pod-apiserver failures counted');
      t.ok(
        all.every((e) => e.refusedBy === 'client' && e.reason === 'unknown-ca'),
        'each one: the pod did not trust the serving certificate',
      );
      t.same(
        podFailures(lab, start).filter((e) => e.seq <= issueStart),
        [],
        'none before the issue step',
      );
      t.same(
        podFailures(lab, reloaded).filter((e) => reloading.some((p) => e.from === `${p.node}/${p.name}`)),
        [],
        'a reloading pod no longer fails once it re-read ca.crt',
      );
      t.ok(
        holding.every(
          (p) =>
            lab.side
              .pods()
              .find((q) => q.name === p.name && q.node === p.node)!
              .caFingerprints.join() === oldFp,
        ),
        'a holding pod still trusts OLD alone',
      );
      t.ok(issued > issueStart, 'the issue step was recorded');
      t.equal(
        lab.cluster.ledger.snapshot().trustFailures['client-apiserver'],
        0,
        'pod calls are never counted as outside clients',
      );
    },
  );

for (const dialThread of [false, true])
  t.test(
    'an in-cluster client keeps its connection between calls, as client-go does, and connects anew after an ' +
      `apiserver restart (${where(dialThread)})`,
    async (t) => {
      const cas = await makeCas();
      const lab = await startLab({ cas, workers: 1, podsPerNode: 1, timings: { podCallIntervalMs: 60 }, dialThread });
      t.teardown(() => lab.stop());
      t.equal(lab.side.dialThreaded(), dialThread, `requests made on ${where(dialThread)}`);
      await lab.side.whenAllReady(15_000);
      await waitFor('every pod running', () => lab.side.pods().every((p) => p.running));
      const first = lab.side.pods().map((p) => p.calls);
      await waitFor('every pod to call five more times', () =>
        lab.side.pods().every((p, i) => p.calls >= first[i]! + 5),
      );
      t.ok(
        lab.side.pods().every((p) => p.connections === 1),
        'one connection (one handshake) for all those calls',
      );
      t.same(podFailures(lab, 0), [], 'and none failed');

      // A control plane's kube-apiserver restarts (a Kubernetes CA it accepts changes): its connections close.
      const before = lab.side.pods().reduce((s, p) => s + p.connections, 0);
      const start = lab.cluster.ledger.lastSeq;
      for (const cp of lab.cps) await applyAndWaitKubelet(cp, phaseRoots(cas, 'controlplane', 'add'));
      const calls = lab.side.pods().map((p) => p.calls);
      await waitFor('every pod to call twice more', () => lab.side.pods().every((p, i) => p.calls >= calls[i]! + 2));
      t.ok(
        lab.side.pods().reduce((s, p) => s + p.connections, 0) > before,
        'the pods whose apiserver restarted connected anew',
      );
      t.same(podFailures(lab, start), [], 'accepting a CA fails no pod call');
    },
  );
