/**
 * Watches with a selector as kube-apiserver's watch cache sends them (k8s.io/apiserver
 * `pkg/storage/cacher/cache_watcher.go` convertToWatchEvent): each change is judged on the object before and
 * after it, so an object entering the selector is ADDED and one leaving it is DELETED (its previous content,
 * the change's resourceVersion), live and replayed from a resourceVersion.
 */
import t from 'tap';

import { selectedChange, type WatchChange } from '../../../src/lab/kube/list-paging.js';
import { ObjectStore, type Stored } from '../../../src/lab/kube/object-store.js';
import { handleWorkload, type WorkloadApiContext } from '../../../src/lab/kube/workload-api.js';

t.test('selectedChange: the watch cache table', async (t) => {
  type O = { v: number; tag: string };
  const even = (o: O) => o.v % 2 === 0;
  const restamp = (o: O): O => ({ ...o, tag: 'restamped' });
  const c = (type: WatchChange<O>['type'], v: number, prev?: number) => ({
    type,
    object: { v, tag: 'now' },
    ...(prev === undefined ? {} : { prev: { v: prev, tag: 'before' } }),
  });
  t.same(selectedChange(c('ADDED', 2), even, restamp), { type: 'ADDED', object: { v: 2, tag: 'now' } });
  t.equal(selectedChange(c('ADDED', 1), even, restamp), null, 'created outside the selector');
  t.same(selectedChange(c('MODIFIED', 2, 4), even, restamp), { type: 'MODIFIED', object: { v: 2, tag: 'now' } });
  t.same(selectedChange(c('MODIFIED', 2, 1), even, restamp), { type: 'ADDED', object: { v: 2, tag: 'now' } });
  t.same(
    selectedChange(c('MODIFIED', 1, 2), even, restamp),
    { type: 'DELETED', object: { v: 2, tag: 'restamped' } },
    'leaving: the previous content, restamped',
  );
  t.equal(selectedChange(c('MODIFIED', 1, 3), even, restamp), null, 'outside before and after');
  t.same(selectedChange(c('DELETED', 2), even, restamp), { type: 'DELETED', object: { v: 2, tag: 'now' } });
  t.equal(selectedChange(c('DELETED', 1), even, restamp), null);
});

t.test('a Deployment watched by label: ADDED when it enters, DELETED when it leaves', async (t) => {
  const store = new ObjectStore();
  const ctx = { store, now: () => new Date() } as unknown as WorkloadApiContext;
  const deployment = (tier: string, replicas: number): Stored => ({
    metadata: { name: 'web', namespace: 'apps', labels: { tier } },
    spec: { replicas },
  });
  const start = store.resourceVersion;
  const path = { resource: 'deployments', namespace: 'apps' };
  const get = { method: 'GET', accept: 'application/json', body: undefined };
  const query = 'watch=true&labelSelector=tier%3Dfront';
  const live = handleWorkload(ctx, path, get, new URLSearchParams(query)).watch!;
  const sent: { type: string; object: Stored }[] = [];
  const stop = live.subscribe((e) => sent.push(e as { type: string; object: Stored }));
  store.create('deployments', deployment('back', 1));
  const rv: string[] = [];
  const update = (tier: string, replicas: number) =>
    rv.push(store.update('deployments', deployment(tier, replicas))!.metadata.resourceVersion!);
  update('front', 1);
  update('front', 2);
  update('back', 3);
  update('back', 4);
  update('front', 4);
  store.delete('deployments', 'apps', 'web');
  const gone = String(store.resourceVersion);
  stop();
  const view = (e: { type: string; object: Stored }) => [
    e.type,
    e.object.metadata.labels?.['tier'],
    e.object.spec?.['replicas'],
    e.object.metadata.resourceVersion,
    e.object['kind'],
  ];
  const expected = [
    ['ADDED', 'front', 1, rv[0], 'Deployment'],
    ['MODIFIED', 'front', 2, rv[1], 'Deployment'],
    ['DELETED', 'front', 2, rv[2], 'Deployment'],
    ['ADDED', 'front', 4, rv[4], 'Deployment'],
    ['DELETED', 'front', 4, gone, 'Deployment'],
  ];
  t.same(sent.map(view), expected, 'live');
  const replay = handleWorkload(ctx, path, get, new URLSearchParams(`${query}&resourceVersion=${start}`)).watch!;
  t.same((replay.initial as { type: string; object: Stored }[]).map(view), expected, 'replayed');
  t.equal(store.get('deployments', 'apps', 'web'), undefined);
});

t.test('a watch asked for as a Table: one-row Tables, column definitions on the first event only', async (t) => {
  // kube-apiserver's watchEmbeddedEncoder transforms each event's object as the list would be (kubectl get -w
  // asks for `as=Table`), with NoHeaders after the first: `columnDefinitions` null. The 410 ERROR stays a Status.
  const store = new ObjectStore();
  const ctx = { store, now: () => new Date() } as unknown as WorkloadApiContext;
  const path = { resource: 'deployments', namespace: 'apps' };
  const accept = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';
  const get = { method: 'GET', accept, body: undefined };
  const web = (replicas: number): Stored => ({ metadata: { name: 'web', namespace: 'apps' }, spec: { replicas } });
  store.create('deployments', web(1));
  type Table = {
    kind: string;
    metadata: { resourceVersion: string };
    columnDefinitions: { name: string }[] | null;
    rows: { cells: unknown[]; object?: { kind: string; metadata: { name: string } } }[];
  };
  const live = handleWorkload(ctx, path, get, new URLSearchParams('watch=true&includeObject=Object')).watch!;
  const sent: { type: string; object: Table }[] = (live.initial as { type: string; object: Table }[]).slice();
  const stop = live.subscribe((e) => sent.push(e as { type: string; object: Table }));
  const rv = store.update('deployments', web(2))!.metadata.resourceVersion;
  stop();
  t.same(
    sent.map((e) => [e.type, e.object.kind, e.object.rows.length, e.object.rows[0]?.cells[0]]),
    [
      ['ADDED', 'Table', 1, 'web'],
      ['MODIFIED', 'Table', 1, 'web'],
    ],
  );
  t.same(
    sent[0]!.object.columnDefinitions?.map((c) => c.name),
    ['Name', 'Ready', 'Up-to-date', 'Available', 'Age', 'Containers', 'Images', 'Selector'],
    'the first event carries the columns',
  );
  t.equal(sent[1]!.object.columnDefinitions, null, 'later events none');
  t.equal(sent[1]!.object.metadata.resourceVersion, rv, "the Table's resourceVersion is the object's");
  t.equal(sent[1]!.object.rows[0]!.object?.kind, 'Deployment', 'includeObject=Object: the object itself');
  const fromZero = handleWorkload(ctx, path, get, new URLSearchParams('watch=true&resourceVersion=0')).watch!;
  t.equal((fromZero.initial[0] as { object: Table }).object.kind, 'Table', 'resourceVersion "0": the current objects');
});
