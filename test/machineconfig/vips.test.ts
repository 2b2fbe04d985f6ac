import t from 'tap';
import { declaredVips } from '../../src/machineconfig/vips.js';

t.test('VIPs declared as documents and in v1alpha1 interfaces and VLANs', async (t) => {
  const config = [
    'version: v1alpha1',
    'machine:',
    '  type: controlplane',
    '  network:',
    '    interfaces:',
    '      - interface: eth0',
    '        vip: { ip: 10.0.0.100 }',
    '        vlans:',
    '          - vlanId: 5',
    '            vip: { ip: 10.5.0.100 }',
    '      - interface: eth1',
    'cluster: {}',
    '---',
    'apiVersion: v1alpha1',
    'kind: Layer2VIPConfig',
    'name: 192.168.1.50',
    'link: eth0',
    '---',
    'apiVersion: v1alpha1',
    'kind: HCloudVIPConfig',
    'name: 203.0.113.7',
    'link: eth0',
    '---',
    'apiVersion: v1alpha1',
    'kind: HostnameConfig',
    'hostname: cp-1',
    '',
  ].join('\n');
  t.same(declaredVips(config).sort(), ['10.0.0.100', '10.5.0.100', '192.168.1.50', '203.0.113.7']);
  t.same(declaredVips('version: v1alpha1\nmachine:\n  type: worker\ncluster: {}\n'), [], 'none declared');
});
