/**
 * The COSI resources the tool reads (talos-behaviour.md §3.3) and pure decoders from their wire form (`Resource` with
 * `Spec.proto_spec` bytes) to domain shapes. Private keys found in specs are wrapped as `Secret` at once.
 * No I/O here; the client (client.ts) fetches and turns ResourceDecodeError into a node-qualified error.
 */
import { parse as parseYaml } from 'yaml';
import { Secret } from '../domain/secret.js';
import type { Fingerprint } from '../domain/types.js';
import { fingerprintOfDer } from '../pki/fingerprint.js';
import { bundleBlocks, splitPemBlocks, type PemBlock } from '../pki/pem.js';
import {
  MACHINE_TYPES,
  talosProtos,
  type NetIP,
  type PemCertificate,
  type PemCertificateAndKey,
  type PemKey,
  type Resource,
  type SpecCodec,
} from './proto.js';

export interface ResourcePointer {
  readonly namespace: string;
  readonly type: string;
}
export interface ResourceRef extends ResourcePointer {
  readonly id: string;
}

export const MACHINE_CONFIG_RESOURCE: ResourceRef = {
  namespace: 'config',
  type: 'MachineConfigs.config.talos.dev',
  id: 'v1alpha1',
};
export const OS_ROOT_RESOURCE: ResourceRef = {
  namespace: 'secrets',
  type: 'OSRootSecrets.secrets.talos.dev',
  id: 'os',
};
export const KUBERNETES_ROOT_RESOURCE: ResourceRef = {
  namespace: 'secrets',
  type: 'KubernetesRootSecrets.secrets.talos.dev',
  id: 'k8s',
};
/**
 * apid's own certificates (`talosctl get apicertificates`): what apid serves and trusts right now. On a
 * worker this is what trustd returned at its last registration (talos-behaviour.md §4.2), which the config does not
 * show.
 */
export const API_CERTIFICATES_RESOURCE: ResourceRef = {
  namespace: 'secrets',
  type: 'ApiCertificates.secrets.talos.dev',
  id: 'api',
};
export const MEMBERS_RESOURCE: ResourcePointer = { namespace: 'cluster', type: 'Members.cluster.talos.dev' };
/** The node's own identity (`talos get identities`): a random id persisted across reboots. */
export const IDENTITY_RESOURCE: ResourceRef = {
  namespace: 'cluster',
  type: 'Identities.cluster.talos.dev',
  id: 'local',
};
export const SERVICES_RESOURCE: ResourcePointer = { namespace: 'runtime', type: 'Services.v1alpha1.talos.dev' };
export const KUBELET_SERVICE_RESOURCE: ResourceRef = { ...SERVICES_RESOURCE, id: 'kubelet' };
/**
 * The static pods' rendered secrets on a control plane (`talosctl get secretstatuses -n controlplane`):
 * `version` is the KubernetesSecrets version the kube-apiserver / controller-manager / scheduler pods
 * rendered next carry as annotation `talos.dev/secrets-version` (k8s/render_secrets_static_pod.go).
 */
export const SECRET_STATUS_RESOURCE: ResourceRef = {
  namespace: 'controlplane',
  type: 'SecretStatuses.kubernetes.talos.dev',
  id: 'static-pods',
};

/** A resource whose content cannot be decoded; the message never contains spec content. */
export class ResourceDecodeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ResourceDecodeError';
  }
}

// ---------------------------------------------------------------------------------------------------------
// Domain shapes
// ---------------------------------------------------------------------------------------------------------

export interface MachineConfigResource {
  /** The whole machine config (all YAML documents), byte for byte as last submitted. */
  readonly yaml: string;
  /** Resource version (decimal string), changes on every applied config. */
  readonly version: string;
}

export interface CaWithKey {
  readonly certPem: string;
  /** Null when the node holds only the certificate (Talos drops the issuing CA when the key is empty). */
  readonly key: Secret | null;
}

export interface OsRootSecrets {
  /** `.machine.ca` (issuing CA); null on workers. */
  readonly issuingCa: CaWithKey | null;
  /** Trusted client CAs: `.machine.acceptedCAs` followed by `.machine.ca.crt`. PEM, one per entry. */
  readonly acceptedCas: readonly string[];
  readonly certSanIps: readonly string[];
  readonly certSanDnsNames: readonly string[];
  /** trustd token (`.machine.token`). */
  readonly token: Secret;
}

/** A leaf certificate with its key, as a resource carries it. */
export interface CertificateAndKey {
  readonly certPem: string;
  /** Null when the resource carries no key. */
  readonly key: Secret | null;
}

export interface AcceptedCa {
  readonly certPem: string;
  /** SHA-256 of the certificate's DER (lowercase hex), to compare trust sets. */
  readonly fingerprint: Fingerprint;
}

export interface ApiCertificates {
  /** The proxy's client certificate (O=os:impersonator, control planes); null on workers. */
  readonly client: CertificateAndKey | null;
  /** apid's serving certificate: signed by the node's issuing CA (control planes) or by a trustd (workers). */
  readonly server: CertificateAndKey | null;
  /**
   * CAs apid accepts client certificates from: the OSRoot trusted set on control planes, exactly the bundle
   * trustd returned on workers. Every certificate of every entry, in resource order, read as apid reads
   * them: entries joined with no separator, so a block broken by a missing newline is not in it (talos-behaviour.md
   * §5.2, §5.1).
   */
  readonly acceptedCAs: readonly AcceptedCa[];
  /**
   * The `accepted_c_as` entries as the resource holds them: one per CA on a control plane, ONE holding the
   * whole trustd bundle on a worker (secrets/api.go generateWorker).
   */
  readonly acceptedEntries: readonly string[];
  /** Only in maintenance mode. */
  readonly skipVerifyingClientCert: boolean;
  /** Resource version (decimal string): bumps whenever apid's certificates or trust bundle change. */
  readonly version: string;
}

export interface KubernetesRootSecrets {
  readonly name: string;
  readonly endpoint: string;
  readonly localEndpoint: string;
  readonly certSans: readonly string[];
  readonly dnsDomain: string;
  readonly issuingCa: CaWithKey | null;
  readonly serviceAccountKey: Secret | null;
  readonly aggregatorCa: CaWithKey | null;
  readonly apiServerIps: readonly string[];
  readonly acceptedCas: readonly string[];
  readonly acceptedAggregatorCas: readonly string[];
  /** Public keys (PEM), including the public half of the issuing service-account key. */
  readonly serviceAccountAcceptedKeys: readonly string[];
  readonly issuerUrl: string;
  readonly acceptedIssuers: readonly string[];
  readonly apiAudiences: readonly string[];
}

export type MemberMachineType = 'init' | 'controlplane' | 'worker' | 'unknown';

export interface ClusterMember {
  /** Resource id (the node's hostname-derived member id). */
  readonly id: string;
  readonly nodeId: string;
  /** Addresses as text: dotted IPv4, RFC 5952 IPv6. */
  readonly addresses: readonly string[];
  readonly hostname: string;
  readonly machineType: MemberMachineType;
  readonly operatingSystem: string;
  /** Kubernetes API server port on control planes; null elsewhere. */
  readonly apiServerPort: number | null;
}

/** Identities.cluster.talos.dev/local: tells apart two addresses that reach the same machine (e.g. a VIP). */
export interface NodeIdentity {
  readonly nodeId: string;
}

export interface ServiceState {
  readonly id: string;
  readonly running: boolean;
  readonly healthy: boolean;
  readonly unknown: boolean;
}

// ---------------------------------------------------------------------------------------------------------
// Decoding helpers
// ---------------------------------------------------------------------------------------------------------

function hex4(bytes: Uint8Array, i: number): number {
  return ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
}

/**
 * Formats the bytes of a `common.NetIP` (Go `netip.Addr.MarshalBinary`: 4 bytes, 16 bytes, or 16 bytes
 * followed by an IPv6 zone) as text the way Go prints it.
 */
export function netIpToString(raw: Uint8Array): string {
  if (raw.length === 4) return Array.from(raw).join('.');
  if (raw.length < 16) throw new ResourceDecodeError(`an IP address has ${raw.length} bytes (expected 4 or 16)`);
  const zone = raw.length > 16 ? `%${Buffer.from(raw.subarray(16)).toString('utf8')}` : '';
  const groups = Array.from({ length: 8 }, (_, g) => hex4(raw, g * 2));
  // IPv4-mapped (::ffff:a.b.c.d) prints with a dotted tail, as Go does.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${Array.from(raw.subarray(12, 16)).join('.')}${zone}`;
  }
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on ties.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const text = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestStart === -1) return text(groups) + zone;
  return `${text(groups.slice(0, bestStart))}::${text(groups.slice(bestStart + bestLen))}${zone}`;
}

function ips(list: readonly NetIP[] | undefined): string[] {
  return (list ?? []).filter((n) => (n.ip?.length ?? 0) > 0).map((n) => netIpToString(n.ip ?? new Uint8Array()));
}

function utf8(bytes: Uint8Array | undefined): string {
  return bytes === undefined ? '' : Buffer.from(bytes).toString('utf8');
}

function certPems(list: readonly PemCertificate[] | undefined): string[] {
  return (list ?? []).map((c) => utf8(c.crt)).filter((pem) => pem !== '');
}

function keyPems(list: readonly PemKey[] | undefined): string[] {
  return (list ?? []).map((k) => utf8(k.key)).filter((pem) => pem !== '');
}

function caWithKey(value: PemCertificateAndKey | null | undefined): CaWithKey | null {
  if (!value) return null;
  const certPem = utf8(value.crt);
  if (certPem === '') return null;
  const keyPem = utf8(value.key);
  return { certPem, key: keyPem === '' ? null : new Secret(keyPem) };
}

function describe(resource: Resource): string {
  const md = resource.metadata;
  return md ? `${md.type ?? '?'}/${md.id ?? '?'}` : 'resource';
}

/** Checks what the Go client checks (metadata and spec present) and returns the proto_spec bytes. */
export function protoSpecOf(resource: Resource): Uint8Array {
  if (!resource.metadata) throw new ResourceDecodeError('a resource came without metadata');
  if (!resource.spec) throw new ResourceDecodeError(`${describe(resource)} came without a spec`);
  return resource.spec.proto_spec ?? new Uint8Array();
}

function decodeSpec<T>(resource: Resource, codec: SpecCodec<T>): T {
  const bytes = protoSpecOf(resource);
  try {
    return codec.decode(bytes);
  } catch (err) {
    // The protobufjs message names offsets only, never content.
    throw new ResourceDecodeError(`${describe(resource)}: its spec is not a valid ${codec.typeName}`, { cause: err });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Decoders
// ---------------------------------------------------------------------------------------------------------

export function decodeMachineConfig(resource: Resource): MachineConfigResource {
  const version = resource.metadata?.version ?? '';
  const bytes = protoSpecOf(resource);
  if (bytes.length > 0) {
    const spec = decodeSpec(resource, talosProtos().specs.machineConfig);
    const yaml = utf8(spec.yaml_marshalled);
    if (yaml !== '') return { yaml, version };
  }
  // Fallback: yaml_spec is a YAML document whose value is the whole config as one string scalar.
  const yamlSpec = resource.spec?.yaml_spec ?? '';
  if (yamlSpec !== '') {
    let value: unknown;
    try {
      value = parseYaml(yamlSpec);
    } catch (err) {
      throw new ResourceDecodeError(`${describe(resource)}: its yaml_spec is not valid YAML`, { cause: err });
    }
    if (typeof value === 'string' && value !== '') return { yaml: value, version };
    throw new ResourceDecodeError(`${describe(resource)}: its yaml_spec does not hold the config as a string`);
  }
  throw new ResourceDecodeError(`${describe(resource)} carries no machine config`);
}

export function decodeOsRootSecrets(resource: Resource): OsRootSecrets {
  const spec = decodeSpec(resource, talosProtos().specs.osRoot);
  return {
    issuingCa: caWithKey(spec.issuing_ca),
    acceptedCas: certPems(spec.accepted_c_as),
    certSanIps: ips(spec.cert_sani_ps),
    certSanDnsNames: [...(spec.cert_sandns_names ?? [])],
    token: new Secret(spec.token ?? ''),
  };
}

export function decodeKubernetesRootSecrets(resource: Resource): KubernetesRootSecrets {
  const spec = decodeSpec(resource, talosProtos().specs.kubernetesRoot);
  const saKey = utf8(spec.service_account?.key);
  return {
    name: spec.name ?? '',
    endpoint: spec.endpoint?.full_path ?? '',
    localEndpoint: spec.local_endpoint?.full_path ?? '',
    certSans: [...(spec.cert_sa_ns ?? [])],
    dnsDomain: spec.dns_domain ?? '',
    issuingCa: caWithKey(spec.issuing_ca),
    serviceAccountKey: saKey === '' ? null : new Secret(saKey),
    aggregatorCa: caWithKey(spec.aggregator_ca),
    apiServerIps: ips(spec.api_server_ips),
    acceptedCas: certPems(spec.accepted_c_as),
    acceptedAggregatorCas: certPems(spec.accepted_aggregator_c_as),
    serviceAccountAcceptedKeys: keyPems(spec.service_account_accepted_keys),
    issuerUrl: spec.issuer_url ?? '',
    acceptedIssuers: [...(spec.accepted_issuers ?? [])],
    apiAudiences: [...(spec.api_audiences ?? [])],
  };
}

/** A certificate and its key, read as caWithKey reads a CA (the two types have the same shape). */
function certAndKey(value: PemCertificateAndKey | null | undefined): CertificateAndKey | null {
  return caWithKey(value);
}

function splitPemBlocksOrEmpty(text: string): PemBlock[] {
  try {
    return splitPemBlocks(text);
  } catch {
    return [];
  }
}

export function decodeApiCertificates(resource: Resource): ApiCertificates {
  const spec = decodeSpec(resource, talosProtos().specs.apiCerts);
  const acceptedEntries = certPems(spec.accepted_c_as);
  acceptedEntries.forEach((entry, i) => {
    if (!splitPemBlocksOrEmpty(entry).some((b) => b.label === 'CERTIFICATE')) {
      throw new ResourceDecodeError(`${describe(resource)}: accepted CA entry #${i + 1} holds no PEM certificate`);
    }
  });
  // apid joins the entries with no separator and keeps what Go's PEM decoder finds (provider.go).
  const acceptedCAs = bundleBlocks(acceptedEntries.join(''))
    .filter((b) => b.label === 'CERTIFICATE')
    .map((b) => ({ certPem: b.pem, fingerprint: fingerprintOfDer(b.der) }));
  return {
    client: certAndKey(spec.client),
    server: certAndKey(spec.server),
    acceptedCAs,
    acceptedEntries,
    skipVerifyingClientCert: spec.skip_verifying_client_cert ?? false,
    version: resource.metadata?.version ?? '',
  };
}

const MACHINE_TYPE_NAMES: Record<(typeof MACHINE_TYPES)[number], MemberMachineType> = {
  TYPE_UNKNOWN: 'unknown',
  TYPE_INIT: 'init',
  TYPE_CONTROL_PLANE: 'controlplane',
  TYPE_WORKER: 'worker',
};

export function decodeMember(resource: Resource): ClusterMember {
  const spec = decodeSpec(resource, talosProtos().specs.member);
  const type = spec.machine_type;
  const port = spec.control_plane?.api_server_port;
  return {
    id: resource.metadata?.id ?? '',
    nodeId: spec.node_id ?? '',
    addresses: ips(spec.addresses),
    hostname: spec.hostname ?? '',
    machineType:
      typeof type === 'string' && type in MACHINE_TYPE_NAMES
        ? MACHINE_TYPE_NAMES[type as keyof typeof MACHINE_TYPE_NAMES]
        : 'unknown',
    operatingSystem: spec.operating_system ?? '',
    apiServerPort: spec.control_plane ? (port ?? 0) : null,
  };
}

export function decodeIdentity(resource: Resource): NodeIdentity {
  const spec = decodeSpec(resource, talosProtos().specs.identity);
  return { nodeId: spec.node_id ?? '' };
}

/** A Service resource's state; an empty spec (e.g. a tombstone) reads as not running. */
export interface SecretsStatus {
  readonly ready: boolean;
  /** KubernetesSecrets resource version (decimal string) the static pods' secrets were rendered from. */
  readonly version: string;
}

export function decodeSecretsStatus(resource: Resource): SecretsStatus {
  const spec = decodeSpec(resource, talosProtos().specs.secretsStatus);
  return { ready: spec.ready ?? false, version: spec.version ?? '' };
}

export function decodeServiceState(resource: Resource): ServiceState {
  const spec = decodeSpec(resource, talosProtos().specs.service);
  return {
    id: resource.metadata?.id ?? '',
    running: spec.running ?? false,
    healthy: spec.healthy ?? false,
    unknown: spec.unknown ?? false,
  };
}
