/**
 * `ResourceDefinitions.meta.cosi.dev` (namespace `meta`) for the resource types the lab serves: what
 * `talosctl get <name>` resolves a name against (pkg/machinery/client/resources.go ResolveResourceKind: the
 * definition's id or any of its `allAliases`, case-insensitively), the namespace it then asks for
 * (`defaultNamespace`) and the table columns it prints (`printColumns`, JSONPath over the `yaml_spec`,
 * cmd/talosctl/cmd/talos/output/table.go). machined's access filter reads the same definition for the
 * sensitivity check (internal/app/resources/access.go: id = lower-cased type).
 *
 * Each entry restates the `ResourceDefinition()` of the Talos type (pkg/machinery/resources/<group>/<file>.go,
 * identical in v1.13.9 and v1.14.1; cosi-project/runtime pkg/resource/meta for the two meta types). The
 * derived fields follow cosi-project/runtime pkg/resource/meta/spec/resource_definition.go `Fill()` (v1.14.1
 * and v1.16.2 alike): `displayType` is the singular of the type's name (go-pluralize; restated per entry, as
 * it printed for these names), `aliases` gets the lower-cased display type and, for names with several
 * capitals, their initials (plus `s` unless they already end in S), `allAliases` the lower-cased name, the
 * name with each prefix of the suffix, then the aliases.
 */
import { stringify } from 'yaml';
import { talosProtos } from '../../talos/proto.js';

export const RESOURCE_DEFINITION_TYPE = 'ResourceDefinitions.meta.cosi.dev';
export const META_NAMESPACE = 'meta';

export interface PrintColumn {
  name: string;
  jsonPath: string;
}

/** What a Talos type's `ResourceDefinition()` states, plus the singular `Fill()` derives from the name. */
interface Declared {
  type: string;
  displayType: string;
  aliases: readonly string[];
  defaultNamespace: string;
  printColumns: readonly PrintColumn[];
  sensitive: boolean;
}

/** A filled definition, as served. */
export interface ResourceDefinitionSpec extends Declared {
  id: string;
  aliases: string[];
  allAliases: string[];
}

/** A definition as a Talos type's `ResourceDefinition()` states it (unset Aliases, Sensitivity: Go's zero values). */
function declare(
  type: string,
  displayType: string,
  defaultNamespace: string,
  printColumns: readonly (readonly [name: string, jsonPath: string])[] = [],
  { aliases = [], sensitive = false }: { aliases?: readonly string[]; sensitive?: boolean } = {},
): Declared {
  return {
    type,
    displayType,
    aliases,
    defaultNamespace,
    printColumns: printColumns.map(([name, jsonPath]) => ({ name, jsonPath })),
    sensitive,
  };
}

const DECLARED: readonly Declared[] = [
  // cosi-project/runtime pkg/resource/meta/resource_definition.go (Namespaces.meta.cosi.dev is not served)
  declare(RESOURCE_DEFINITION_TYPE, 'ResourceDefinition', 'meta', [['Aliases', '{.aliases[:]}']], {
    aliases: ['api-resources'],
  }),
  // resources/config/machine_config.go
  declare('MachineConfigs.config.talos.dev', 'MachineConfig', 'config', [], { sensitive: true }),
  // resources/secrets/os_root.go, kubernetes_root.go, api.go
  declare('OSRootSecrets.secrets.talos.dev', 'OSRootSecret', 'secrets', [], { sensitive: true }),
  declare('KubernetesRootSecrets.secrets.talos.dev', 'KubernetesRootSecret', 'secrets', [], { sensitive: true }),
  declare('ApiCertificates.secrets.talos.dev', 'ApiCertificate', 'secrets', [], { sensitive: true }),
  // resources/cluster/member.go, identity.go
  declare('Members.cluster.talos.dev', 'Member', 'cluster', [
    ['Hostname', '{.hostname}'],
    ['Machine Type', '{.machineType}'],
    ['OS', '{.operatingSystem}'],
    ['Addresses', '{.addresses}'],
  ]),
  declare('Identities.cluster.talos.dev', 'Identity', 'cluster', [['ID', '{.nodeId}']]),
  // resources/v1alpha1/service.go
  declare(
    'Services.v1alpha1.talos.dev',
    'Service',
    'runtime',
    [
      ['Running', '{.running}'],
      ['Healthy', '{.healthy}'],
      ['Health Unknown', '{.unknown}'],
    ],
    { aliases: ['svc'] },
  ),
  // resources/k8s/secrets_status.go, static_pod.go, static_pod_status.go
  declare('SecretStatuses.kubernetes.talos.dev', 'SecretStatus', 'controlplane', [
    ['Ready', '{.ready}'],
    ['Secrets Version', '{.version}'],
  ]),
  declare('StaticPods.kubernetes.talos.dev', 'StaticPod', 'k8s'),
  declare(
    'StaticPodStatuses.kubernetes.talos.dev',
    'StaticPodStatus',
    'k8s',
    [['Ready', '{.conditions[?(@.type=="Ready")].status}']],
    { aliases: ['podstatus'] },
  ),
];

/** `Fill()`'s derived aliases (no SkipAutomaticAliases in any of these types). */
export function fillDefinition(d: Declared): ResourceDefinitionSpec {
  const dot = d.type.indexOf('.');
  const name = d.type.slice(0, dot);
  const suffix = d.type.slice(dot + 1);
  const aliases = [...d.aliases, d.displayType.toLowerCase()];
  const allAliases = [name.toLowerCase()];
  const parts = suffix.split('.');
  for (let i = 1; i < parts.length; i++) allAliases.push([name.toLowerCase(), ...parts.slice(0, i)].join('.'));
  const upper = name.replace(/[^A-Z]/g, '');
  if (upper.length > 1) {
    aliases.push(upper.toLowerCase());
    if (!upper.endsWith('S')) aliases.push(`${upper}s`.toLowerCase());
  }
  allAliases.push(...aliases);
  return { ...d, id: d.type.toLowerCase(), aliases, allAliases };
}

export const RESOURCE_DEFINITIONS: readonly ResourceDefinitionSpec[] = DECLARED.map(fillDefinition);

const byId = new Map(RESOURCE_DEFINITIONS.map((d) => [d.id, d] as const));

/** The definition machined's access filter finds for a requested type (looked up by lower-cased type). */
export function definitionOf(type: string): ResourceDefinitionSpec | undefined {
  return byId.get(type.toLowerCase());
}

/** The spec's YAML as cosi-runtime's yaml tags write it (`yaml_spec`; sensitivity omitted when empty). */
export function definitionYaml(d: ResourceDefinitionSpec): string {
  return stringify({
    type: d.type,
    displayType: d.displayType,
    defaultNamespace: d.defaultNamespace,
    aliases: d.aliases,
    allAliases: d.allAliases,
    printColumns: d.printColumns.map((c) => ({ name: c.name, jsonPath: c.jsonPath })),
    ...(d.sensitive ? { sensitivity: 'sensitive' } : {}),
  });
}

/** The `proto_spec` (cosi.resource.meta.ResourceDefinitionSpec). */
export function definitionProto(d: ResourceDefinitionSpec): Uint8Array {
  return talosProtos()
    .codec('cosi.resource.meta.ResourceDefinitionSpec')
    .encode({
      resource_type: d.type,
      display_type: d.displayType,
      default_namespace: d.defaultNamespace,
      aliases: d.aliases,
      all_aliases: d.allAliases,
      print_columns: d.printColumns.map((c) => ({ name: c.name, json_path: c.jsonPath })),
      sensitivity: d.sensitive ? 'SENSITIVE' : 'NON_SENSITIVE',
    });
}
