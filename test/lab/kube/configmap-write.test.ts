/**
 * The lab's ConfigMap writes (src/lab/kube/configmap-write.ts) as kube-apiserver answers them: create,
 * update, the three patch types, delete, and an update that changes nothing keeping its resourceVersion.
 */
import t from 'tap';

import { writeConfigMap, type ConfigMapWrite } from '../../../src/lab/kube/configmap-write.js';
import { configMapFilter, configMapWatch } from '../../../src/lab/kube/configmap-api.js';
import { watchRequested } from '../../../src/lab/kube/list-paging.js';
import { ConfigMapStore } from '../../../src/lab/kube/root-ca-publisher.js';

type Body = {
  kind?: string;
  reason?: string;
  message?: string;
  metadata: {
    name: string;
    namespace: string;
    resourceVersion: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  data: Record<string, string>;
};

function setup() {
  const store = new ConfigMapStore();
  const notified: string[] = [];
  store.subscribe((cm) => notified.push(`${cm.name}@${cm.resourceVersion}`));
  const write = (w: Partial<ConfigMapWrite> & Pick<ConfigMapWrite, 'method'>) => {
    const r = writeConfigMap(store, { namespace: 'apps', name: 'settings', body: undefined, ...w });
    return { status: r.status, body: r.body as Body };
  };
  return { store, notified, write };
}

const MERGE = 'application/merge-patch+json';
const STRATEGIC = 'application/strategic-merge-patch+json';
const JSON_PATCH = 'application/json-patch+json';

t.test('create: 201 with a name or a generated one; a taken name, a resourceVersion, no name refused', async (t) => {
  const { write } = setup();
  const made = write({ method: 'POST', name: undefined, body: { metadata: { name: 'settings' }, data: { a: '1' } } });
  t.equal(made.status, 201);
  t.match(made.body, { kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'apps' }, data: { a: '1' } });
  const again = write({ method: 'POST', name: undefined, body: { metadata: { name: 'settings' } } });
  t.equal(again.status, 409);
  t.match(again.body, { reason: 'AlreadyExists', message: 'configmaps "settings" already exists' });
  const generated = write({ method: 'POST', name: undefined, body: { metadata: { generateName: 'ca-' } } });
  t.equal(generated.status, 201);
  t.match(generated.body.metadata.name, /^ca-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  const nameless = write({ method: 'POST', name: undefined, body: { data: {} } });
  t.equal(nameless.status, 422);
  t.match(nameless.body.message, /metadata\.name: Required value: name or generateName is required/);
  const withRv = write({ method: 'POST', name: undefined, body: { metadata: { name: 'x', resourceVersion: '7' } } });
  t.equal(withRv.status, 500);
  t.same(withRv.body, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'resourceVersion should not be set on objects to be created',
    code: 500,
  });
  for (const rv of ['0', '-1', 'abc']) {
    const r = write({ method: 'POST', name: undefined, body: { metadata: { name: `rv${rv}`, resourceVersion: rv } } });
    t.equal(r.status, 201, `resourceVersion ${rv} is no version: created`);
  }
  const takenWithRv = write({
    method: 'POST',
    name: undefined,
    body: { metadata: { name: 'settings', resourceVersion: '7' } },
  });
  t.equal(takenWithRv.status, 500, 'the version is refused before the name is found taken (etcd3 Create)');
  const missingNs = write({
    method: 'POST',
    name: undefined,
    namespaceExists: false,
    body: { metadata: { name: 'y' } },
  });
  t.equal(missingNs.status, 404);
  t.equal(missingNs.body.message, 'namespaces "apps" not found');
  const otherNsMissing = write({
    method: 'POST',
    name: undefined,
    namespaceExists: false,
    body: { metadata: { name: 'y', namespace: 'default' } },
  });
  t.equal(otherNsMissing.status, 400, "the body's namespace is checked first (the handler, before admission)");
  const badKey = write({ method: 'POST', name: undefined, body: { metadata: { name: 'y' }, data: { 'a b': '1' } } });
  t.equal(badKey.status, 422);
  const otherNs = write({ method: 'POST', name: undefined, body: { metadata: { name: 'z', namespace: 'default' } } });
  t.equal(otherNs.status, 400);
});

t.test('update: stale resourceVersion 409, none unconditional, missing 404; no change keeps the version', async (t) => {
  const { write, notified } = setup();
  const rv0 = write({ method: 'POST', name: undefined, body: { metadata: { name: 'settings' }, data: { a: '1' } } })
    .body.metadata.resourceVersion;
  const put = write({
    method: 'PUT',
    body: { metadata: { name: 'settings', resourceVersion: rv0 }, data: { a: '2' } },
  });
  t.equal(put.status, 200);
  const rv1 = put.body.metadata.resourceVersion;
  t.not(rv1, rv0);
  const stale = write({ method: 'PUT', body: { metadata: { resourceVersion: rv0 }, data: { a: '3' } } });
  t.equal(stale.status, 409);
  t.equal(stale.body.reason, 'Conflict');
  const same = write({ method: 'PUT', body: { data: { a: '2' } } });
  t.equal(same.status, 200);
  t.equal(same.body.metadata.resourceVersion, rv1, 'an update that changes nothing writes nothing');
  t.same(notified, [`settings@${rv0}`, `settings@${rv1}`], 'and tells no one');
  const staleSame = write({ method: 'PUT', body: { metadata: { resourceVersion: rv0 }, data: { a: '2' } } });
  t.equal(staleSame.status, 409, 'the precondition is checked first');
  t.equal(write({ method: 'PUT', name: 'nope', body: { data: {} } }).status, 404, 'not created on update');
  const renamed = write({ method: 'PUT', body: { metadata: { name: 'other' }, data: {} } });
  t.equal(renamed.status, 400);
});

t.test(
  'patch: merge, strategic merge and JSON patch on the stored object; 415 and 422 as kube-apiserver',
  async (t) => {
    const { write } = setup();
    write({ method: 'POST', name: undefined, body: { metadata: { name: 'settings' }, data: { a: '1', b: '2' } } });
    const merged = write({ method: 'PATCH', contentType: MERGE, body: { data: { b: null, c: '3' } } });
    t.equal(merged.status, 200);
    t.same(merged.body.data, { a: '1', c: '3' }, 'null deletes a key, others merge');
    const strategic = write({
      method: 'PATCH',
      contentType: `${STRATEGIC}; charset=utf-8`,
      body: { data: { d: '4' } },
    });
    t.same(strategic.body.data, { a: '1', c: '3', d: '4' });
    const rv = strategic.body.metadata.resourceVersion;
    const json = write({
      method: 'PATCH',
      contentType: JSON_PATCH,
      body: [
        { op: 'test', path: '/data/a', value: '1' },
        { op: 'replace', path: '/data/a', value: 'one' },
        { op: 'remove', path: '/data/c' },
      ],
    });
    t.equal(json.status, 200);
    t.same(json.body.data, { a: 'one', d: '4' });
    const failedTest = write({
      method: 'PATCH',
      contentType: JSON_PATCH,
      body: [{ op: 'test', path: '/data/a', value: 'x' }],
    });
    t.equal(failedTest.status, 422, 'a failed JSON patch test');
    const staleRv = write({
      method: 'PATCH',
      contentType: MERGE,
      body: { metadata: { resourceVersion: rv }, data: {} },
    });
    t.equal(staleRv.status, 409, 'a patch that sets a stale resourceVersion conflicts');
    const noop = write({ method: 'PATCH', contentType: MERGE, body: { data: { a: 'one' } } });
    t.equal(noop.body.metadata.resourceVersion, json.body.metadata.resourceVersion, 'a patch that changes nothing');
    const apply = write({ method: 'PATCH', contentType: 'application/apply-patch+yaml', body: {} });
    t.equal(apply.status, 415, 'server-side apply is not served');
    t.equal(apply.body.reason, 'UnsupportedMediaType');
    t.equal(
      apply.body.message,
      'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, ' +
        'application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml',
    );
    const badTypeMissing = write({ method: 'PATCH', name: 'nope', contentType: 'application/json', body: {} });
    t.equal(badTypeMissing.status, 415, 'the patch type is checked before the object is looked up');
    const notString = write({ method: 'PATCH', contentType: MERGE, body: { data: { n: 5 } } });
    t.equal(notString.status, 400, 'data values stay strings');
    t.equal(write({ method: 'PATCH', name: 'nope', contentType: MERGE, body: {} }).status, 404);
  },
);

t.test('delete: 200 with the Status, then 404', async (t) => {
  const { write, store } = setup();
  write({ method: 'POST', name: undefined, body: { metadata: { name: 'settings' } } });
  t.equal(write({ method: 'DELETE' }).status, 200);
  t.equal(store.deletions('apps', 'settings'), 1);
  t.equal(write({ method: 'DELETE' }).status, 404);
});

t.test('labels and annotations: kept on create, merged by a patch, replaced by an update', async (t) => {
  const { write, store } = setup();
  const made = write({
    method: 'POST',
    name: undefined,
    body: { metadata: { name: 'settings', labels: { team: 'a' }, annotations: { note: 'x' } }, data: { a: '1' } },
  });
  t.match(made.body.metadata, { labels: { team: 'a' }, annotations: { note: 'x' } });
  // kubectl label sends a strategic merge patch of metadata.labels.
  const labelled = write({ method: 'PATCH', contentType: STRATEGIC, body: { metadata: { labels: { tier: 'b' } } } });
  t.same(labelled.body.metadata.labels, { team: 'a', tier: 'b' });
  t.not(labelled.body.metadata.resourceVersion, made.body.metadata.resourceVersion, 'a new version');
  // A controller's write (no metadata of its own) keeps them.
  store.update('apps', 'settings', { a: '2' }, null);
  t.same(store.get('apps', 'settings')?.labels, { team: 'a', tier: 'b' });
  // A client's update replaces them: what its body holds is the object.
  const replaced = write({ method: 'PUT', body: { metadata: { annotations: { note: 'y' } }, data: { a: '2' } } });
  t.notOk(replaced.body.metadata.labels, 'labels gone with the update');
  t.same(replaced.body.metadata.annotations, { note: 'y' });
  const bad = write({ method: 'PUT', body: { metadata: { labels: { n: 1 } }, data: {} } });
  t.equal(bad.status, 400);
});

t.test('served as kube-apiserver encodes it: data, labels and annotations keys sorted', async (t) => {
  const { write } = setup();
  const made = write({
    method: 'POST',
    name: undefined,
    body: { metadata: { name: 'settings', labels: { z: '1', a: '2' } }, data: { b: '1', a: '2', C: '3' } },
  });
  t.same(Object.keys(made.body.data), ['C', 'a', 'b'], 'by bytes, as Go sorts map keys');
  t.same(Object.keys(made.body.metadata.labels ?? {}), ['a', 'z']);
});

t.test('watch: the changes after a resourceVersion, ADDED first without one, 410 once forgotten', async (t) => {
  const { write, store } = setup();
  const start = Number(store.resourceVersion);
  write({ method: 'POST', name: undefined, body: { metadata: { name: 'settings', labels: { team: 'a' } } } });
  write({ method: 'PATCH', contentType: MERGE, body: { data: { a: '1' } } });
  write({ method: 'PATCH', contentType: MERGE, body: { data: { a: '1' } } }); // no change: no event
  const seen: string[] = [];
  const stop = store.changes.subscribe((e) => seen.push(`${e.type} ${e.object.name}@${e.resourceVersion}`));
  write({ method: 'DELETE' });
  stop();
  const all = store.changes.eventsSince(start)!.map((e) => [e.type, e.object.data]);
  t.same(all, [
    ['ADDED', {}],
    ['MODIFIED', { a: '1' }],
    ['DELETED', { a: '1' }],
  ]);
  t.same(seen, [`DELETED settings@${store.resourceVersion}`], "a deletion's event carries its own version");
  t.same(store.changes.eventsSince(Number(store.resourceVersion)), [], 'nothing after the newest');

  // The history is bounded: a watch from before it is told its version is too old.
  for (let i = 0; i < 1_001; i++) store.put('apps', 'churn', { i: String(i) });
  t.equal(store.changes.eventsSince(start), null, 'too old: 410 Expired');
  t.ok(store.changes.eventsSince(store.changes.oldestResourceVersion), 'the oldest version still starts a watch');
});

t.test('watchRequested reads `watch` as apimachinery reads a bool parameter', async (t) => {
  const asks = (q: string) => watchRequested(new URLSearchParams(q));
  for (const q of ['watch=true', 'watch=1', 'watch=True', 'watch=', 'watch=yes']) t.ok(asks(q), q);
  for (const q of ['', 'watch=0', 'watch=false', 'watch=FALSE']) t.notOk(asks(q), q || '(none)');
});

t.test('a watch with a label selector: entering it is ADDED, leaving it DELETED with the last content', async (t) => {
  // k8s.io/apiserver's watch cache (cache_watcher.go convertToWatchEvent) judges the object before and after
  // each change; the DELETED event of an object leaving the selector carries its previous content and the
  // change's resourceVersion. Replayed from a resourceVersion, the same events come.
  const { write, store } = setup();
  const start = Number(store.resourceVersion);
  const query = new URLSearchParams('labelSelector=team%3Da&watch=true');
  const filter = configMapFilter(query);
  if (typeof filter !== 'function') throw new Error('filter');
  const live = configMapWatch(store, 'apps', query, filter);
  if (!('subscribe' in live)) throw new Error('watch');
  t.same(live.initial, [], 'nothing matches yet');
  const sent: { type: string; object: Body }[] = [];
  const stop = live.subscribe((e) => sent.push(e as { type: string; object: Body }));
  write({ method: 'POST', name: undefined, body: { metadata: { name: 'settings', labels: { team: 'b' } } } });
  write({ method: 'PATCH', contentType: MERGE, body: { metadata: { labels: { team: 'a' } } } });
  write({ method: 'PATCH', contentType: MERGE, body: { data: { k: '1' } } });
  write({ method: 'PATCH', contentType: MERGE, body: { metadata: { labels: { team: 'b' } }, data: { k: '2' } } });
  write({ method: 'PATCH', contentType: MERGE, body: { data: { k: '3' } } });
  write({ method: 'PATCH', contentType: MERGE, body: { metadata: { labels: { team: 'a' } } } });
  write({ method: 'DELETE' });
  stop();
  const changes = store.changes.eventsSince(start)!;
  const view = (e: { type: string; object: Body }) => [
    e.type,
    e.object.metadata.labels?.['team'],
    e.object.data,
    e.object.metadata.resourceVersion,
  ];
  const rv = (i: number) => String(changes[i]!.resourceVersion);
  const expected = [
    ['ADDED', 'a', {}, rv(1)],
    ['MODIFIED', 'a', { k: '1' }, rv(2)],
    ['DELETED', 'a', { k: '1' }, rv(3)],
    ['ADDED', 'a', { k: '3' }, rv(5)],
    ['DELETED', 'a', { k: '3' }, rv(6)],
  ];
  t.same(sent.map(view), expected, 'live');
  const replay = configMapWatch(store, 'apps', new URLSearchParams(`${query}&resourceVersion=${start}`), filter);
  if (!('initial' in replay)) throw new Error('watch');
  t.same((replay.initial as { type: string; object: Body }[]).map(view), expected, 'replayed from a resourceVersion');
});
