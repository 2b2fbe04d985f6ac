/**
 * What `talosctl get` needs from a node's COSI State besides the resources themselves: the
 * ResourceDefinitions it resolves names against (aliases as cosi-runtime's Fill() derives them), the
 * sensitivity the access check reads, `yaml_spec` in the shape talosctl re-emits, and the static pods of
 * control planes.
 */
import t from 'tap';
import { parse } from 'yaml';
import { talosProtos } from '../../../src/talos/proto.js';
import { RESOURCE_TYPES } from '../../../src/lab/talos/cosi.js';
import { RESOURCE_DEFINITIONS, definitionOf } from '../../../src/lab/talos/resource-definitions.js';
import { failure, startTestLab, type TestLab } from './fixtures/lab.js';

interface RdSpec {
  resource_type: string;
  display_type: string;
  default_namespace: string;
  aliases: string[];
  all_aliases: string[];
  print_columns: Array<{ name: string; json_path: string }>;
  sensitivity: string;
}

let lab: TestLab;

t.before(async () => {
  lab = await startTestLab({ controlPlanes: 2, workers: 1, style: 'legacy' });
});
t.teardown(() => lab.stop());

t.test("aliases as cosi-runtime's Fill() derives them (printed by go-pluralize for these names)", async (t) => {
  const aliases = (type: string) => {
    const d = definitionOf(type)!;
    return [d.displayType, d.aliases, d.allAliases];
  };
  t.same(aliases('Members.cluster.talos.dev'), [
    'Member',
    ['member'],
    ['members', 'members.cluster', 'members.cluster.talos', 'member'],
  ]);
  t.same(aliases('ApiCertificates.secrets.talos.dev'), [
    'ApiCertificate',
    ['apicertificate', 'ac', 'acs'],
    ['apicertificates', 'apicertificates.secrets', 'apicertificates.secrets.talos', 'apicertificate', 'ac', 'acs'],
  ]);
  t.same(
    aliases('StaticPodStatuses.kubernetes.talos.dev')[1],
    ['podstatus', 'staticpodstatus', 'sps'],
    'declared alias first; SPS ends in S',
  );
  t.same(aliases('OSRootSecrets.secrets.talos.dev')[1], ['osrootsecret', 'osrs']);
  t.same(aliases('ResourceDefinitions.meta.cosi.dev')[1], ['api-resources', 'resourcedefinition', 'rd', 'rds']);
  t.equal(
    definitionOf('members.CLUSTER.talos.dev')?.type,
    'Members.cluster.talos.dev',
    'looked up by the lower-cased type',
  );
});

t.test(
  'every served type has a definition with the same sensitivity, and no definition without a served type',
  async (t) => {
    t.same(
      RESOURCE_DEFINITIONS.map((d) => [d.type, d.sensitive]).sort(),
      Object.entries(RESOURCE_TYPES)
        .map(([type, info]) => [type, info.sensitive])
        .sort(),
    );
  },
);

t.test('ResourceDefinitions listed through the endpoint to a worker, readable by os:reader', async (t) => {
  const reader = lab.client({ cert: await lab.clientCert(lab.secrets.os, ['os:reader']) });
  const items = await reader.listResources(lab.workers[0], 'meta', 'ResourceDefinitions.meta.cosi.dev');
  t.same(
    items.map((r) => r.metadata?.id).sort(),
    Object.keys(RESOURCE_TYPES)
      .map((k) => k.toLowerCase())
      .sort(),
  );
  const codec = talosProtos().codec<RdSpec>('cosi.resource.meta.ResourceDefinitionSpec');
  const byId = new Map(items.map((r) => [r.metadata!.id!, r] as const));
  const members = byId.get('members.cluster.talos.dev')!;
  const spec = codec.decode(members.spec!.proto_spec!);
  t.equal(spec.resource_type, 'Members.cluster.talos.dev');
  t.equal(spec.default_namespace, 'cluster');
  t.same(
    spec.print_columns.map((c) => c.json_path),
    ['{.hostname}', '{.machineType}', '{.operatingSystem}', '{.addresses}'],
  );
  t.equal(spec.sensitivity, 'NON_SENSITIVE');
  t.same(parse(members.spec!.yaml_spec!).allAliases, spec.all_aliases, 'yaml_spec says the same');
  t.equal(codec.decode(byId.get('machineconfigs.config.talos.dev')!.spec!.proto_spec!).sensitivity, 'SENSITIVE');
  t.equal(parse(byId.get('machineconfigs.config.talos.dev')!.spec!.yaml_spec!).sensitivity, 'sensitive');
  // The sensitive resources themselves stay refused to a reader (internal/app/resources/access.go).
  t.equal(
    (await failure(reader.getResource(lab.workers[0], 'secrets', 'ApiCertificates.secrets.talos.dev', 'api'))).detail,
    'not authorized',
  );
});

t.test('the access check finds the definition case-insensitively; the read then uses the type as given', async (t) => {
  const c = lab.client();
  const e = await failure(c.getResource(lab.workers[0], 'cluster', 'members.cluster.talos.dev', 'worker-1'));
  t.equal(e.kind, 'not-found', 'not "not supported"');
  t.same(await c.listResources(lab.workers[0], 'cluster', 'MEMBERS.cluster.talos.dev'), []);
});

t.test('MachineConfig yaml_spec is a literal block holding the config (Go yaml.Marshal of a string)', async (t) => {
  const w = lab.cluster.workers[0]!;
  const raw = await lab.client().getResource(w.address, 'config', 'MachineConfigs.config.talos.dev', 'v1alpha1');
  const yamlSpec = raw.spec!.yaml_spec!;
  t.match(yamlSpec, /^\|/, 'literal, not folded (talosctl re-emits the style it finds)');
  t.equal(parse(yamlSpec), w.config);
});

t.test(
  'static pods: three manifests on a control plane, statuses only while its kubelet runs, none on a worker',
  async (t) => {
    const c = lab.client();
    const cp = lab.cluster.controlPlanes[1]!;
    const pods = await c.listResources(cp.address, 'k8s', 'StaticPods.kubernetes.talos.dev');
    t.same(
      pods.map((p) => p.metadata?.id),
      ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'],
    );
    const manifest = parse(pods[0]!.spec!.yaml_spec!) as { metadata: { annotations: Record<string, string> } };
    t.equal(manifest.metadata.annotations['talos.dev/secrets-version'], String(cp.secretsVersion));
    t.same(
      await c.listResources(cp.address, 'k8s', 'StaticPodStatuses.kubernetes.talos.dev'),
      [],
      'no kubelet: no statuses',
    );
    cp.setKubelet({ running: true, healthy: true });
    const statuses = await c.listResources(cp.address, 'k8s', 'StaticPodStatuses.kubernetes.talos.dev');
    t.same(
      statuses.map((s) => s.metadata?.id),
      ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'].map((p) => `kube-system/${p}-${cp.hostname}`),
    );
    const status = parse(statuses[0]!.spec!.yaml_spec!) as { conditions: Array<{ type: string; status: string }> };
    t.equal(status.conditions.find((x) => x.type === 'Ready')?.status, 'True');
    const decoded = talosProtos()
      .codec<{ pod_status: { fields: Record<string, unknown> } }>('talos.resource.definitions.k8s.StaticPodStatusSpec')
      .decode(statuses[0]!.spec!.proto_spec!);
    t.same(decoded.pod_status.fields.phase, { stringValue: 'Running' }, 'proto_spec is the status as a Struct');
    // The Kubernetes side tells whether the running apiserver is up; its status follows at the next read.
    lab.talos.useStaticPods((address) => (address === cp.address ? { apiserverReady: false } : null));
    const restarting = await c.getResource(
      cp.address,
      'k8s',
      'StaticPodStatuses.kubernetes.talos.dev',
      `kube-system/kube-apiserver-${cp.hostname}`,
    );
    t.equal(
      (parse(restarting.spec!.yaml_spec!) as { conditions: Array<{ type: string; status: string }> }).conditions.find(
        (x) => x.type === 'Ready',
      )?.status,
      'False',
    );
    t.equal(restarting.metadata?.version, '2', 'an update of the resource');
    lab.talos.useStaticPods(() => null);
    cp.setKubelet(null);
    const w = lab.cluster.workers[0]!;
    w.setKubelet({ running: true, healthy: true });
    t.same(await c.listResources(w.address, 'k8s', 'StaticPods.kubernetes.talos.dev'), []);
    t.same(await c.listResources(w.address, 'k8s', 'StaticPodStatuses.kubernetes.talos.dev'), []);
    w.setKubelet(null);
  },
);
