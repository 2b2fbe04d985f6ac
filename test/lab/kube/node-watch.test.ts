/**
 * `kubectl get nodes -w` against the lab: the Node registry tells watchers of each Ready transition and
 * deletion (a heartbeat that changes nothing the Node shows is no event), from a resourceVersion too, and
 * the Node list and watch honour label and field selectors, as kube-apiserver's node registry does.
 */
import t from 'tap';

import { handleApiRequest, type ApiContext } from '../../../src/lab/kube/api.js';
import { NodeRegistry } from '../../../src/lab/kube/node-registry.js';
import { assembleLabCluster } from '../../../src/lab/setup/cluster.js';
import { generateLabSecrets } from '../../../src/lab/setup/secrets.js';

const ADMIN = { ok: true as const, user: { name: 'admin', groups: ['system:masters', 'system:authenticated'] } };
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

type Event = { type: string; object: { kind: string; metadata: { name: string; resourceVersion: string } } };
type Node = { metadata: { name: string; resourceVersion: string }; status: { conditions: { status: string }[] } };

t.test('Node events: Ready transitions and deletions, live and from a resourceVersion', async (t) => {
  const secrets = await generateLabSecrets({ serviceAccountKey: 'ecdsa-p256' });
  const { cluster } = await assembleLabCluster({
    block: '127.250.4',
    controlPlanes: 1,
    workers: 2,
    style: 'legacy',
    secrets,
  });
  let clock = Date.parse('2026-12-07T10:00:00Z');
  const registry = new NodeRegistry(cluster, () => new Date(clock));
  const ctx = { registry, now: () => new Date(clock) } as unknown as ApiContext;
  const get = (url: string, accept = 'application/json') =>
    handleApiRequest(ctx, { method: 'GET', url, accept, body: undefined, authn: ADMIN });
  const [cp, w1, w2] = [cluster.controlPlanes[0]!, cluster.workers[0]!, cluster.workers[1]!];

  const start = Number(registry.resourceVersion);
  const live = get('/api/v1/nodes?watch=true').watch!;
  t.same(
    (live.initial as Event[]).map((e) => [e.type, e.object.metadata.name]),
    [cp, w1, w2].map((n) => ['ADDED', n.hostname]),
    'the current Nodes first',
  );
  const sent: Event[] = [];
  const stop = live.subscribe((e) => sent.push(e as Event));
  for (const n of [cp, w1, w2]) registry.heartbeat(n.hostname);
  registry.heartbeat(w1.hostname); // Ready already: nothing the Node shows changes
  clock += 30_000;
  registry.heartbeat(cp.hostname);
  registry.heartbeat(w1.hostname);
  clock += 15_000; // w2's last heartbeat is 45 s old: past the 40 s grace
  registry.checkTransitions();
  registry.delete(w1.address);
  stop();
  const ready = (e: Event) => ((e.object as unknown as Node).status?.conditions?.[0]?.status ?? '-') as string;
  const seen = sent.map((e) => [e.type, e.object.metadata.name, ready(e)]);
  t.same(seen, [
    ['MODIFIED', cp.hostname, 'True'],
    ['MODIFIED', w1.hostname, 'True'],
    ['MODIFIED', w2.hostname, 'True'],
    ['MODIFIED', w2.hostname, 'Unknown'],
    ['DELETED', w1.hostname, 'True'],
  ]);
  t.ok(
    sent.every(
      (e, i) =>
        i === 0 || Number(e.object.metadata.resourceVersion) > Number(sent[i - 1]!.object.metadata.resourceVersion),
    ),
    'each at its own, rising resourceVersion',
  );
  const replay = get(`/api/v1/nodes?watch=true&resourceVersion=${start}`).watch!;
  t.same(
    (replay.initial as Event[]).map((e) => [e.type, e.object.metadata.name, ready(e)]),
    seen,
    'replayed from the resourceVersion before them',
  );
  const bad = get('/api/v1/nodes?watch=true&resourceVersion=abc');
  t.equal(bad.status, 400, 'a resourceVersion that is no number');

  // Selectors, on the list and on the watch.
  const cps = get('/api/v1/nodes?labelSelector=node-role.kubernetes.io%2Fcontrol-plane').body as { items: Node[] };
  t.same(
    cps.items.map((n) => n.metadata.name),
    [cp.hostname],
    'labelSelector on the list',
  );
  const named = get(
    `/api/v1/nodes?watch=true&fieldSelector=metadata.name%3D${w2.hostname}&resourceVersion=${start}`,
  ).watch!;
  t.same(
    (named.initial as Event[]).map((e) => [e.type, e.object.metadata.name]),
    [
      ['MODIFIED', w2.hostname],
      ['MODIFIED', w2.hostname],
    ],
    'fieldSelector on the watch',
  );
  t.equal(get('/api/v1/nodes?fieldSelector=spec.podCIDR%3Dx').status, 400, 'a field the registry does not index');

  // kubectl get nodes -w asks for Tables: one row per event, the column definitions on the first only.
  const tables = get('/api/v1/nodes?watch=true', TABLE).watch!;
  const rows = tables.initial as {
    object: { kind: string; columnDefinitions: unknown[] | null; rows: { cells: string[] }[] };
  }[];
  t.same(
    rows.map((r) => [r.object.kind, r.object.rows[0]!.cells[0], r.object.rows[0]!.cells[1]]),
    [
      ['Table', cp.hostname, 'Ready'],
      ['Table', w2.hostname, 'NotReady'],
    ],
  );
  t.ok(Array.isArray(rows[0]!.object.columnDefinitions), 'the first with its columns');
  t.equal(rows[1]!.object.columnDefinitions, null, 'the next without');
});
