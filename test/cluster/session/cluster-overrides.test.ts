import t from 'tap';
import { applyClusterOverrides, commaList } from '../../../src/cluster/session/cluster-overrides.js';
import type { DesiredState } from '../../../src/desired/types.js';

const desired = {
  file: '/w/rotate.yaml',
  cluster: {
    talosconfig: '/w/talosconfig',
    talosconfigSource: 'file',
    context: 'prod',
    endpoints: ['10.0.0.1'],
    controlPlanes: ['10.0.0.1'],
    workers: [],
  },
} as unknown as DesiredState;

t.test('flags win over the file; absent flags leave it as it is', async (t) => {
  t.equal(applyClusterOverrides(desired, {}), desired, 'no flag: the same object');
  const o = applyClusterOverrides(
    desired,
    { talosconfig: 'tc', context: 'lab', endpoints: ['10.0.0.2,10.0.0.3', '10.0.0.2'] },
    '/cwd',
  );
  t.same(o.cluster.talosconfig, '/cwd/tc');
  t.equal(o.cluster.talosconfigSource, 'flag');
  t.equal(o.cluster.context, 'lab');
  t.same(o.cluster.endpoints, ['10.0.0.2', '10.0.0.3'], 'comma-separated or repeated, once each');
  t.same(desired.cluster.endpoints, ['10.0.0.1'], 'the loaded state is not changed');
  t.same(applyClusterOverrides(desired, { endpoints: ['10.0.0.9'] }).cluster.talosconfig, '/w/talosconfig');
});

t.test('endpoint lists', async (t) => {
  t.equal(commaList(undefined), undefined);
  t.equal(commaList(['', ' ']), undefined);
  t.same(commaList([' a , b', 'c']), ['a', 'b', 'c']);
});
