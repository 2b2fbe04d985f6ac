/**
 * The Talos and COSI protocol definitions the tool speaks, loaded from the project's own `.proto` files
 * (top-level `proto/` folder; see proto/README.md). Both the client and any server built for tests or the
 * emulated cluster use the definitions exported here, so the two sides cannot disagree.
 *
 * Conversion options (the same for gRPC messages and for resource specs):
 * - `keepCase: true`: field names stay snake_case exactly as in the .proto files (`mode_details`,
 *   `accepted_c_as`), so code reads like the real API and the wire tests map 1:1 to field names.
 * - `longs: Number`: the only 64-bit integers we load are Timestamp/Duration seconds and
 *   `ControlPlane.api_server_port`, all far below 2^53, so plain numbers lose nothing and keep types simple.
 * - `enums: String`: enum values decode as their names (`'NO_REBOOT'`, `'DESTROYED'`, `'TYPE_WORKER'`);
 *   a value this build does not know (a newer Talos) decodes as its number instead of being misnamed.
 *   Encoding accepts names or numbers.
 * - `bytes` left at the default: bytes fields decode as Buffers (raw PEM, raw IP bytes, gzip data), never
 *   as base64 strings.
 * - `defaults: true` (implies arrays/objects): absent proto3 scalars decode to their zero values and absent
 *   repeated fields to `[]`, as Go sees them; absent message fields decode to `null`. Proto3 `optional`
 *   fields (`Event.error`, `WatchRequest.id`) keep explicit presence: they stay `undefined` when absent.
 * - `includeDirs: [PROTO_DIR]`: imports resolve inside our folder; `google/protobuf/*` well-known types
 *   come from the definitions bundled with protobufjs (checked before include paths, so no file lookup).
 *
 * Encoding is canonical, as Go writes it: protobufjs encodes every field that is set, even to its zero
 * value, so the serializers here drop proto3 zero scalars and empty repeated/map fields first (fields with
 * explicit presence — proto3 `optional` — and message fields are kept: an empty `options: {}` is sent).
 * Decoded objects (with defaults) therefore re-encode to the bytes they came from.
 */
import { RotateError } from '../domain/errors.js';
import { packageUrl } from '../package-root.js';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

/** The package's `proto/` folder. */
export const PROTO_DIR: string = fileURLToPath(packageUrl('proto/'));

/** Entry files; their imports pull in the rest. */
export const PROTO_FILES: readonly string[] = [
  'machine/machine.proto',
  'security/security.proto',
  'cosi/v1alpha1/state.proto',
  'resource/config/config.proto',
  'resource/definitions/secrets/secrets.proto',
  'resource/definitions/cluster/cluster.proto',
  'resource/definitions/v1alpha1/v1alpha1.proto',
  'resource/definitions/k8s/k8s.proto',
  'cosi/v1alpha1/meta.proto',
];

/** Options shared by proto-loader (gRPC messages) and the spec codecs (protobufjs toObject). */
export const CONVERSION_OPTIONS = {
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: false,
} as const;

export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  ...CONVERSION_OPTIONS,
  includeDirs: [PROTO_DIR],
};

/** Talos's apid limit (`constants.GRPCMaxMessageSize`). */
export const GRPC_MAX_MESSAGE_SIZE = 32 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------------------
// Message shapes. Every field is optional so that the same interfaces describe what a caller may pass to a
// serializer (partial objects are fine) and what a deserializer returns (all fields present, see above).
// Message-typed fields may be `null` after decoding. Enums are names, or numbers for values unknown here.
// ---------------------------------------------------------------------------------------------------------

/** google.protobuf.Empty */
export type Empty = Record<string, never>;

/** google.protobuf.Duration / google.protobuf.Timestamp */
export interface Duration {
  seconds?: number;
  nanos?: number;
}
export type Timestamp = Duration;

/** google.rpc.Status */
export interface RpcStatus {
  code?: number;
  message?: string;
}

/** common.Metadata: present only in one-to-many (`nodes`) proxying. */
export interface CommonMetadata {
  hostname?: string;
  error?: string;
  status?: RpcStatus | null;
}

/** common.Data */
export interface CommonData {
  metadata?: CommonMetadata | null;
  bytes?: Uint8Array;
}

/** common.NetIP: 4 or 16 raw bytes. */
export interface NetIP {
  ip?: Uint8Array;
}

/** common.URL */
export interface CommonUrl {
  full_path?: string;
}

/** common.PEMEncodedCertificateAndKey */
export interface PemCertificateAndKey {
  crt?: Uint8Array;
  key?: Uint8Array;
}

/** common.PEMEncodedCertificate */
export interface PemCertificate {
  crt?: Uint8Array;
}

/** common.PEMEncodedKey */
export interface PemKey {
  key?: Uint8Array;
}

export const APPLY_MODES = ['REBOOT', 'AUTO', 'NO_REBOOT', 'STAGED', 'TRY'] as const;
/** machine.ApplyConfigurationRequest.Mode */
export type ApplyMode = (typeof APPLY_MODES)[number];

/** machine.ApplyConfigurationRequest */
export interface ApplyConfigurationRequest {
  data?: Uint8Array;
  mode?: ApplyMode | number;
  dry_run?: boolean;
  try_mode_timeout?: Duration | null;
}

/** machine.ApplyConfiguration */
export interface ApplyConfigurationMessage {
  metadata?: CommonMetadata | null;
  warnings?: string[];
  mode?: ApplyMode | number;
  mode_details?: string;
}

/** machine.ApplyConfigurationResponse */
export interface ApplyConfigurationResponse {
  messages?: ApplyConfigurationMessage[];
}

/** machine.VersionInfo */
export interface VersionInfo {
  tag?: string;
  sha?: string;
  built?: string;
  go_version?: string;
  os?: string;
  arch?: string;
}

/** machine.PlatformInfo */
export interface PlatformInfo {
  name?: string;
  mode?: string;
}

/** machine.FeaturesInfo */
export interface FeaturesInfo {
  rbac?: boolean;
}

/** machine.Version */
export interface VersionMessage {
  metadata?: CommonMetadata | null;
  version?: VersionInfo | null;
  platform?: PlatformInfo | null;
  features?: FeaturesInfo | null;
}

/** machine.VersionResponse */
export interface VersionResponse {
  messages?: VersionMessage[];
}

/** securityapi.CertificateRequest */
export interface CertificateRequest {
  csr?: Uint8Array;
}

/** securityapi.CertificateResponse */
export interface CertificateResponse {
  ca?: Uint8Array;
  crt?: Uint8Array;
}

/** cosi.resource.Metadata */
export interface ResourceMetadata {
  namespace?: string;
  type?: string;
  id?: string;
  version?: string;
  owner?: string;
  phase?: string;
  created?: Timestamp | null;
  updated?: Timestamp | null;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** cosi.resource.Spec */
export interface ResourceSpec {
  proto_spec?: Uint8Array;
  yaml_spec?: string;
}

/** cosi.resource.Resource */
export interface Resource {
  metadata?: ResourceMetadata | null;
  spec?: ResourceSpec | null;
}

/** cosi.resource.LabelTerm / LabelQuery / IDQuery */
export interface LabelTerm {
  key?: string;
  op?: 'EXISTS' | 'EQUAL' | 'NOT_EXISTS' | 'IN' | 'LT' | 'LTE' | 'LT_NUMERIC' | 'LTE_NUMERIC' | number;
  /** repeated string (field 3), as in cosi-project/specification proto/v1alpha1/resource.proto. */
  value?: string[];
  /** field 5 */
  invert?: boolean;
}
export interface LabelQuery {
  terms?: LabelTerm[];
}
export interface IdQuery {
  regexp?: string;
}

/** cosi.resource.GetRequest */
export interface GetRequest {
  namespace?: string;
  type?: string;
  id?: string;
  options?: Record<string, never> | null;
}

/** cosi.resource.GetResponse / ListResponse */
export interface GetResponse {
  resource?: Resource | null;
}
export type ListResponse = GetResponse;

/** cosi.resource.ListRequest */
export interface ListRequest {
  namespace?: string;
  type?: string;
  options?: { label_query?: LabelQuery[]; id_query?: IdQuery | null } | null;
}

/** cosi.resource.WatchOptions */
export interface WatchOptions {
  bootstrap_contents?: boolean;
  tail_events?: number;
  label_query?: LabelQuery[];
  id_query?: IdQuery | null;
  aggregated?: boolean;
  start_from_bookmark?: Uint8Array;
  bootstrap_bookmark?: boolean;
}

/** cosi.resource.WatchRequest */
export interface WatchRequest {
  namespace?: string;
  type?: string;
  /** proto3 `optional`: omit for a watch on the whole type. */
  id?: string;
  options?: WatchOptions | null;
  api_version?: number;
}

export const EVENT_TYPES = ['CREATED', 'UPDATED', 'DESTROYED', 'BOOTSTRAPPED', 'ERRORED', 'NOOP'] as const;
/** cosi.resource.EventType */
export type EventType = (typeof EVENT_TYPES)[number];

/** cosi.resource.Event */
export interface ResourceEvent {
  resource?: Resource | null;
  old?: Resource | null;
  error?: string;
  event_type?: EventType | number;
  bookmark?: Uint8Array;
}

/** cosi.resource.WatchResponse: the first one on every watch is empty ("watch is ready"). */
export interface WatchResponse {
  event?: ResourceEvent[];
}

/** resource.config.MachineConfigSpec */
export interface MachineConfigSpec {
  yaml_marshalled?: Uint8Array;
}

/** talos.resource.definitions.secrets.OSRootSpec */
export interface OSRootSpec {
  issuing_ca?: PemCertificateAndKey | null;
  cert_sani_ps?: NetIP[];
  cert_sandns_names?: string[];
  token?: string;
  accepted_c_as?: PemCertificate[];
}

/** talos.resource.definitions.secrets.APICertsSpec (ApiCertificates.secrets.talos.dev/api). */
export interface ApiCertsSpec {
  client?: PemCertificateAndKey | null;
  server?: PemCertificateAndKey | null;
  accepted_c_as?: PemCertificate[];
  skip_verifying_client_cert?: boolean;
}

/** talos.resource.definitions.secrets.KubernetesRootSpec (the fields the tool uses). */
export interface KubernetesRootSpec {
  name?: string;
  endpoint?: CommonUrl | null;
  local_endpoint?: CommonUrl | null;
  cert_sa_ns?: string[];
  dns_domain?: string;
  issuing_ca?: PemCertificateAndKey | null;
  service_account?: PemKey | null;
  aggregator_ca?: PemCertificateAndKey | null;
  api_server_ips?: NetIP[];
  accepted_c_as?: PemCertificate[];
  accepted_aggregator_c_as?: PemCertificate[];
  service_account_accepted_keys?: PemKey[];
  issuer_url?: string;
  accepted_issuers?: string[];
  api_audiences?: string[];
}

export const MACHINE_TYPES = ['TYPE_UNKNOWN', 'TYPE_INIT', 'TYPE_CONTROL_PLANE', 'TYPE_WORKER'] as const;
/** talos.resource.definitions.enums.MachineType */
export type MachineTypeName = (typeof MACHINE_TYPES)[number];

/** talos.resource.definitions.cluster.MemberSpec */
export interface MemberSpec {
  node_id?: string;
  addresses?: NetIP[];
  hostname?: string;
  machine_type?: MachineTypeName | number;
  operating_system?: string;
  control_plane?: { api_server_port?: number } | null;
}

/** talos.resource.definitions.cluster.IdentitySpec */
export interface IdentitySpec {
  node_id?: string;
}

/** talos.resource.definitions.v1alpha1.ServiceSpec */
export interface ServiceSpec {
  running?: boolean;
  healthy?: boolean;
  unknown?: boolean;
}

/** talos.resource.definitions.k8s.SecretsStatusSpec */
export interface SecretsStatusSpec {
  ready?: boolean;
  version?: string;
}

// ---------------------------------------------------------------------------------------------------------
// Service definitions and handler types
// ---------------------------------------------------------------------------------------------------------

export interface MachineServiceDefinition {
  ApplyConfiguration: grpc.MethodDefinition<ApplyConfigurationRequest, ApplyConfigurationResponse>;
  Kubeconfig: grpc.MethodDefinition<Empty, CommonData>;
  Version: grpc.MethodDefinition<Empty, VersionResponse>;
}

export interface StateServiceDefinition {
  Get: grpc.MethodDefinition<GetRequest, GetResponse>;
  List: grpc.MethodDefinition<ListRequest, ListResponse>;
  Watch: grpc.MethodDefinition<WatchRequest, WatchResponse>;
}

export interface SecurityServiceDefinition {
  Certificate: grpc.MethodDefinition<CertificateRequest, CertificateResponse>;
}

/** What a server (emulated node, test fixture) implements; pass to `server.addService(def, impl)`. */
export interface MachineServiceHandlers extends grpc.UntypedServiceImplementation {
  ApplyConfiguration: grpc.handleUnaryCall<ApplyConfigurationRequest, ApplyConfigurationResponse>;
  Kubeconfig: grpc.handleServerStreamingCall<Empty, CommonData>;
  Version: grpc.handleUnaryCall<Empty, VersionResponse>;
}

export interface StateServiceHandlers extends grpc.UntypedServiceImplementation {
  Get: grpc.handleUnaryCall<GetRequest, GetResponse>;
  List: grpc.handleServerStreamingCall<ListRequest, ListResponse>;
  Watch: grpc.handleServerStreamingCall<WatchRequest, WatchResponse>;
}

export interface SecurityServiceHandlers extends grpc.UntypedServiceImplementation {
  Certificate: grpc.handleUnaryCall<CertificateRequest, CertificateResponse>;
}

/** Encoder/decoder for a resource spec carried in `Spec.proto_spec`. */
export interface SpecCodec<T> {
  /** Fully qualified protobuf name, e.g. `talos.resource.definitions.cluster.MemberSpec`. */
  readonly typeName: string;
  encode(value: T): Uint8Array;
  /** Throws on malformed bytes (protobufjs error); callers turn that into a RotateError. */
  decode(bytes: Uint8Array): T;
}

export interface TalosProtos {
  /** For `server.addService()` (cast to grpc.ServiceDefinition) and for the client's method paths/codecs. */
  readonly machineService: MachineServiceDefinition & grpc.ServiceDefinition;
  readonly stateService: StateServiceDefinition & grpc.ServiceDefinition;
  readonly securityService: SecurityServiceDefinition & grpc.ServiceDefinition;
  readonly specs: {
    readonly machineConfig: SpecCodec<MachineConfigSpec>;
    readonly osRoot: SpecCodec<OSRootSpec>;
    readonly kubernetesRoot: SpecCodec<KubernetesRootSpec>;
    readonly apiCerts: SpecCodec<ApiCertsSpec>;
    readonly member: SpecCodec<MemberSpec>;
    readonly identity: SpecCodec<IdentitySpec>;
    readonly service: SpecCodec<ServiceSpec>;
    readonly secretsStatus: SpecCodec<SecretsStatusSpec>;
  };
  /** Codec for any message type defined in our protos (tests use it for byte-level checks). */
  codec<T = Record<string, unknown>>(typeName: string): SpecCodec<T>;
}

let cached: TalosProtos | undefined;

/**
 * Loads (once) and returns the definitions. Throws TALOS_PROTO_MISSING when the package's proto files are missing or
 * broken.
 */
export function talosProtos(): TalosProtos {
  cached ??= load();
  return cached;
}

function protoMissing(message: string): RotateError {
  return new RotateError('TALOS_PROTO_MISSING', message, {
    hint: 'the installation is incomplete; reinstall talos-rotate',
  });
}

function load(): TalosProtos {
  if (!existsSync(PROTO_DIR)) {
    throw protoMissing(`protocol definitions not found at ${PROTO_DIR} (the package's proto/ folder is missing)`);
  }
  const packageDefinition = protoLoader.loadSync([...PROTO_FILES], PROTO_LOADER_OPTIONS);

  // proto-loader only exposes codecs for RPC request/response types; specs travel inside
  // Spec.proto_spec, so they get their own protobufjs root loaded from the same files. The same root
  // provides the canonical serializers.
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string) => (target.startsWith('/') ? target : PROTO_DIR + target);
  root.loadSync([...PROTO_FILES], { keepCase: true });
  root.resolveAll();

  const service = <T>(name: string): T & grpc.ServiceDefinition => {
    const def = packageDefinition[name];
    if (def === undefined || !isServiceDefinition(def))
      throw protoMissing(`service ${name} missing from the proto files in ${PROTO_DIR}`);
    const reflected = root.lookupService(name);
    const methods: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
    for (const [methodName, method] of Object.entries(def)) {
      const r = reflected.methods[methodName];
      if (!r?.resolvedRequestType || !r.resolvedResponseType)
        throw protoMissing(`method ${name}.${methodName} not resolved from the proto files in ${PROTO_DIR}`);
      const requestType = r.resolvedRequestType;
      const responseType = r.resolvedResponseType;
      methods[methodName] = {
        ...(method as grpc.MethodDefinition<unknown, unknown>),
        requestSerialize: (value: unknown) => Buffer.from(encodeCanonical(requestType, value)),
        responseSerialize: (value: unknown) => Buffer.from(encodeCanonical(responseType, value)),
      };
    }
    return methods as unknown as T & grpc.ServiceDefinition;
  };

  const codecCache = new Map<string, SpecCodec<unknown>>();
  const codec = <T>(typeName: string): SpecCodec<T> => {
    let c = codecCache.get(typeName);
    if (!c) {
      const type = root.lookupType(typeName);
      c = {
        typeName,
        encode: (value: unknown) => encodeCanonical(type, value),
        decode: (bytes: Uint8Array) => type.toObject(type.decode(bytes), CONVERSION_OPTIONS),
      };
      codecCache.set(typeName, c);
    }
    return c as SpecCodec<T>;
  };

  return {
    machineService: service<MachineServiceDefinition>('machine.MachineService'),
    stateService: service<StateServiceDefinition>('cosi.resource.State'),
    securityService: service<SecurityServiceDefinition>('securityapi.SecurityService'),
    specs: {
      machineConfig: codec<MachineConfigSpec>('resource.config.MachineConfigSpec'),
      osRoot: codec<OSRootSpec>('talos.resource.definitions.secrets.OSRootSpec'),
      kubernetesRoot: codec<KubernetesRootSpec>('talos.resource.definitions.secrets.KubernetesRootSpec'),
      apiCerts: codec<ApiCertsSpec>('talos.resource.definitions.secrets.APICertsSpec'),
      member: codec<MemberSpec>('talos.resource.definitions.cluster.MemberSpec'),
      identity: codec<IdentitySpec>('talos.resource.definitions.cluster.IdentitySpec'),
      service: codec<ServiceSpec>('talos.resource.definitions.v1alpha1.ServiceSpec'),
      secretsStatus: codec<SecretsStatusSpec>('talos.resource.definitions.k8s.SecretsStatusSpec'),
    },
    codec,
  };
}

function isServiceDefinition(def: protoLoader.AnyDefinition): def is protoLoader.ServiceDefinition {
  return !('format' in def);
}

/** Encodes like Go: proto3 zero scalars and empty repeated/map fields are not written. */
function encodeCanonical(type: protobuf.Type, value: unknown): Uint8Array {
  const message = type.fromObject((value ?? {}) as Record<string, unknown>);
  pruneDefaults(type, message as unknown as Record<string, unknown>);
  return type.encode(message).finish();
}

function isZero(value: unknown): boolean {
  if (value === null || value === undefined) return true;
  if (value === 0 || value === false || value === '') return true;
  if (value instanceof Uint8Array) return value.length === 0;
  // protobufjs Long for 64-bit fields
  if (typeof value === 'object' && 'low' in value && 'high' in value) {
    const long = value as { low: number; high: number };
    return long.low === 0 && long.high === 0;
  }
  return false;
}

function pruneDefaults(type: protobuf.Type, message: Record<string, unknown>): void {
  for (const field of type.fieldsArray) {
    const name = field.name;
    if (!Object.prototype.hasOwnProperty.call(message, name)) continue;
    const value = message[name];
    const child = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    if (field.map) {
      if (value === null || typeof value !== 'object' || Object.keys(value).length === 0) delete message[name];
      else if (child) for (const v of Object.values(value)) pruneDefaults(child, v as Record<string, unknown>);
    } else if (field.repeated) {
      if (!Array.isArray(value) || value.length === 0) delete message[name];
      else if (child) for (const v of value) pruneDefaults(child, v as Record<string, unknown>);
    } else if (child) {
      if (value === null || value === undefined) delete message[name];
      else pruneDefaults(child, value as Record<string, unknown>);
    } else if (!field.partOf && isZero(value)) {
      // Proto3 scalar without presence; `optional` fields (partOf a synthetic oneof) keep their value.
      delete message[name];
    }
  }
}
