/**
 * Talos API client over gRPC with mutual TLS, built from a talosconfig context: the typed calls (machine
 * service, COSI resources and their decoders). The transport is split by job:
 * - tls-connector.ts: mutual TLS for one endpoint (server name as given, SNI only for DNS names; verification
 *   never disabled);
 * - failover.ts: endpoint parsing, one channel per endpoint, failover on UNAVAILABLE, unary/stream/watch calls;
 * - stream-watch.ts: the async-iterable Watch handed out for Watch streams.
 * This module re-exports their public names, so `talos/client.js` stays the one import path.
 */
import { RotateError } from '../domain/errors.js';
import { malformedResponse } from './errors.js';
import {
  FailoverChannels,
  checkMetadata,
  hasNode,
  parseEndpoint,
  type CallOptions,
  type TalosClientOptions,
  type TalosEndpoint,
} from './failover.js';
import { extractKubeconfigArchive } from './kubeconfig-archive.js';
import { applyConfigurationRequest, getRequest, listRequest } from './requests.js';
import { talosProtos, type ApplyMode, type EventType, type Resource } from './proto.js';
import {
  API_CERTIFICATES_RESOURCE,
  IDENTITY_RESOURCE,
  KUBELET_SERVICE_RESOURCE,
  KUBERNETES_ROOT_RESOURCE,
  MACHINE_CONFIG_RESOURCE,
  MEMBERS_RESOURCE,
  OS_ROOT_RESOURCE,
  SECRET_STATUS_RESOURCE,
  ResourceDecodeError,
  decodeApiCertificates,
  decodeIdentity,
  decodeKubernetesRootSecrets,
  decodeMachineConfig,
  decodeMember,
  decodeOsRootSecrets,
  decodeSecretsStatus,
  decodeServiceState,
  type ApiCertificates,
  type ClusterMember,
  type KubernetesRootSecrets,
  type MachineConfigResource,
  type NodeIdentity,
  type OsRootSecrets,
  type SecretsStatus,
  type ResourceRef,
  type ServiceState,
} from './resources.js';
import type { Watch } from './stream-watch.js';
import { createClientSecureContext, type TalosClientCredentials } from './tls-connector.js';

export {
  TALOS_API_PORT,
  parseEndpoint,
  type CallOptions,
  type TalosClientOptions,
  type TalosEndpoint,
} from './failover.js';
export type { Watch } from './stream-watch.js';
export { TalosTlsCredentials, createClientSecureContext, type TalosClientCredentials } from './tls-connector.js';

const GET_PATH = '/cosi.resource.State/Get';
const LIST_PATH = '/cosi.resource.State/List';

/** What the client needs from a talosconfig context. */
export interface TalosClientConfig extends TalosClientCredentials {
  /** `host`, `host:port`, `[v6]:port` or `https://host:port`; port 50000 when missing. */
  readonly endpoints: readonly string[];
}

export interface NodeVersion {
  readonly tag: string;
  readonly sha: string;
  readonly built: string;
  readonly goVersion: string;
  readonly os: string;
  readonly arch: string;
  readonly platform: { readonly name: string; readonly mode: string } | null;
  /** FeaturesInfo.rbac; null when the node did not report features. */
  readonly rbac: boolean | null;
}

export interface ApplyConfigurationOptions {
  readonly mode: ApplyMode;
  readonly dryRun?: boolean;
  /** Only meaningful with mode TRY. */
  readonly tryModeTimeoutMs?: number;
}

export interface ApplyConfigurationResult {
  /** Mode the node actually used (a name, or the number of a mode unknown to this build). */
  readonly mode: ApplyMode | number;
  readonly modeDetails: string;
  readonly warnings: readonly string[];
}

export interface WatchEvent {
  readonly type: EventType | number;
  /** The resource (for DESTROYED: its last state, or a tombstone when it never existed). */
  readonly resource: Resource | null;
  readonly old: Resource | null;
}

export interface ApiCertificatesWatchEvent {
  readonly type: EventType | number;
  /** Null when the event carries no decodable spec (a tombstone: apid has no certificates yet). */
  readonly certificates: ApiCertificates | null;
}

export interface ServiceWatchEvent {
  readonly type: EventType | number;
  /** Null when the event carries no decodable spec (e.g. the tombstone of a service that is not running). */
  readonly service: ServiceState | null;
}

export class TalosClient {
  readonly endpoints: readonly TalosEndpoint[];
  readonly #calls: FailoverChannels;

  constructor(config: TalosClientConfig, options: TalosClientOptions = {}) {
    if (config.endpoints.length === 0) {
      throw new RotateError('TALOS_ENDPOINT_INVALID', 'the talosconfig context has no endpoints', {
        hint: 'add control-plane node addresses to the context endpoints (talosctl config endpoint <ip>...)',
      });
    }
    this.endpoints = config.endpoints.map(parseEndpoint);
    this.#calls = new FailoverChannels(this.endpoints, createClientSecureContext(config), options);
  }

  /** Closes all connections; calls in flight fail with kind `cancelled`. */
  close(): void {
    this.#calls.close();
  }

  // -------------------------------------------------------------------------------------------------------
  // machine.MachineService
  // -------------------------------------------------------------------------------------------------------

  async version(node?: string, opts: CallOptions = {}): Promise<NodeVersion> {
    const method = talosProtos().machineService.Version;
    const { value: res, ctx } = await this.#calls.unary(method, node, {}, opts);
    const msg = res.messages?.[0];
    if (!msg) throw malformedResponse(ctx, 'no Version message');
    checkMetadata(msg.metadata, ctx);
    const v = msg.version;
    if (!v) throw malformedResponse(ctx, 'the Version message has no version info');
    return {
      tag: v.tag ?? '',
      sha: v.sha ?? '',
      built: v.built ?? '',
      goVersion: v.go_version ?? '',
      os: v.os ?? '',
      arch: v.arch ?? '',
      platform: msg.platform ? { name: msg.platform.name ?? '', mode: msg.platform.mode ?? '' } : null,
      rbac: msg.features ? (msg.features.rbac ?? false) : null,
    };
  }

  /** Sends the whole machine config (all documents). Mode NO_REBOOT is what rotate-ca uses. */
  async applyConfiguration(
    node: string | undefined,
    config: string | Uint8Array,
    apply: ApplyConfigurationOptions,
    opts: CallOptions = {},
  ): Promise<ApplyConfigurationResult> {
    const method = talosProtos().machineService.ApplyConfiguration;
    const { value: res, ctx } = await this.#calls.unary(method, node, applyConfigurationRequest(config, apply), opts);
    const msg = res.messages?.[0];
    if (!msg) throw malformedResponse(ctx, 'no ApplyConfiguration message');
    checkMetadata(msg.metadata, ctx);
    return { mode: msg.mode ?? 'REBOOT', modeDetails: msg.mode_details ?? '', warnings: [...(msg.warnings ?? [])] };
  }

  /** Admin kubeconfig minted by a control-plane node (workers answer Unimplemented). */
  async kubeconfig(node?: string, opts: CallOptions = {}): Promise<string> {
    const method = talosProtos().machineService.Kubeconfig;
    const { value: chunks, ctx } = await this.#calls.serverStream(method, node, {}, opts);
    for (const chunk of chunks) checkMetadata(chunk.metadata, ctx);
    const gz = Buffer.concat(chunks.map((c) => c.bytes ?? new Uint8Array()));
    try {
      return extractKubeconfigArchive(gz);
    } catch (err) {
      if (RotateError.is(err)) {
        const where = hasNode(node) ? `node ${node} via endpoint ${ctx.endpoint}` : `endpoint ${ctx.endpoint}`;
        throw new RotateError(err.code, `${err.message} (${where})`, {
          hint: err.hint,
          cause: err,
          source: 'cluster',
        });
      }
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // cosi.resource.State
  // -------------------------------------------------------------------------------------------------------

  async getResource(
    node: string | undefined,
    namespace: string,
    type: string,
    id: string,
    opts: CallOptions = {},
  ): Promise<Resource> {
    const method = talosProtos().stateService.Get;
    const { value: res, ctx } = await this.#calls.unary(method, node, getRequest(namespace, type, id), opts);
    if (!res.resource) throw malformedResponse(ctx, `Get ${type}/${id} returned no resource`);
    return res.resource;
  }

  async listResources(
    node: string | undefined,
    namespace: string,
    type: string,
    opts: CallOptions = {},
  ): Promise<Resource[]> {
    const method = talosProtos().stateService.List;
    const { value: items, ctx } = await this.#calls.serverStream(method, node, listRequest(namespace, type), opts);
    return items.map((item) => {
      if (!item.resource) throw malformedResponse(ctx, `List ${type} returned an item without a resource`);
      return item.resource;
    });
  }

  /**
   * Watches one resource (`id` given) or a whole type. Sends `api_version` 1 and `tail_events` 0 as the
   * Go client does. Deadline/timeout options bound the whole watch.
   */
  watchResource(
    node: string | undefined,
    namespace: string,
    type: string,
    id?: string,
    opts: CallOptions = {},
  ): Watch<WatchEvent> {
    return this.#calls.watch(node, namespace, type, id, opts, (e) => ({
      type: e.event_type ?? 'CREATED',
      resource: e.resource ?? null,
      old: e.old ?? null,
    }));
  }

  // -------------------------------------------------------------------------------------------------------
  // Typed resource helpers
  // -------------------------------------------------------------------------------------------------------

  async getMachineConfig(node: string | undefined, opts: CallOptions = {}): Promise<MachineConfigResource> {
    return this.#getDecoded(node, MACHINE_CONFIG_RESOURCE, decodeMachineConfig, opts);
  }

  async getOsRootSecrets(node: string | undefined, opts: CallOptions = {}): Promise<OsRootSecrets> {
    return this.#getDecoded(node, OS_ROOT_RESOURCE, decodeOsRootSecrets, opts);
  }

  async getKubernetesRootSecrets(node: string | undefined, opts: CallOptions = {}): Promise<KubernetesRootSecrets> {
    return this.#getDecoded(node, KUBERNETES_ROOT_RESOURCE, decodeKubernetesRootSecrets, opts);
  }

  /**
   * apid's own certificates on `node` (`secrets/ApiCertificates.secrets.talos.dev/api`, sensitive: needs
   * os:admin). On a worker, `acceptedCAs` is the bundle trustd returned at its last registration.
   */
  async getApiCertificates(node: string | undefined, opts: CallOptions = {}): Promise<ApiCertificates> {
    return this.#getDecoded(node, API_CERTIFICATES_RESOURCE, decodeApiCertificates, opts);
  }

  /** Watch on apid's certificates: an UPDATED event each time they change (e.g. a worker re-registered). */
  watchApiCertificates(node: string | undefined, opts: CallOptions = {}): Watch<ApiCertificatesWatchEvent> {
    const certificates = (r: Resource) => ((r.spec?.proto_spec?.length ?? 0) > 0 ? decodeApiCertificates(r) : null);
    return this.#watchDecoded(node, API_CERTIFICATES_RESOURCE, opts, certificates, (type, value) => ({
      type,
      certificates: value,
    }));
  }

  async listMembers(node: string | undefined, opts: CallOptions = {}): Promise<ClusterMember[]> {
    const r = MEMBERS_RESOURCE;
    const resources = await this.listResources(node, r.namespace, r.type, opts);
    return resources.map((res) => this.#decodeOrThrow(node, LIST_PATH, decodeMember, res));
  }

  /** The node's persistent identity: the same `nodeId` through two addresses means the same machine. */
  async getIdentity(node: string | undefined, opts: CallOptions = {}): Promise<NodeIdentity> {
    return this.#getDecoded(node, IDENTITY_RESOURCE, decodeIdentity, opts);
  }

  /** `controlplane/SecretStatuses.kubernetes.talos.dev/static-pods` (control planes only). */
  async getSecretsStatus(node: string | undefined, opts: CallOptions = {}): Promise<SecretsStatus> {
    return this.#getDecoded(node, SECRET_STATUS_RESOURCE, decodeSecretsStatus, opts);
  }

  async getKubeletService(node: string | undefined, opts: CallOptions = {}): Promise<ServiceState> {
    return this.#getDecoded(node, KUBELET_SERVICE_RESOURCE, decodeServiceState, opts);
  }

  /** Watch on `runtime/Services.v1alpha1.talos.dev/kubelet` (talos-behaviour.md §2.4). */
  watchKubeletService(node: string | undefined, opts: CallOptions = {}): Watch<ServiceWatchEvent> {
    return this.#watchDecoded(node, KUBELET_SERVICE_RESOURCE, opts, decodeServiceState, (type, service) => ({
      type,
      service,
    }));
  }

  // -------------------------------------------------------------------------------------------------------
  // Plumbing
  // -------------------------------------------------------------------------------------------------------

  /** Gets one resource and decodes it. */
  async #getDecoded<T>(
    node: string | undefined,
    r: ResourceRef,
    decode: (r: Resource) => T,
    opts: CallOptions,
  ): Promise<T> {
    return this.#decodeOrThrow(node, GET_PATH, decode, await this.getResource(node, r.namespace, r.type, r.id, opts));
  }

  /**
   * Watches one resource and decodes each event's resource; an event without metadata and spec (a tombstone:
   * DESTROYED for a resource that never existed) carries null.
   */
  #watchDecoded<T, E>(
    node: string | undefined,
    r: ResourceRef,
    opts: CallOptions,
    decode: (r: Resource) => T | null,
    event: (type: EventType | number, value: T | null) => E,
  ): Watch<E> {
    return this.#calls.watch(node, r.namespace, r.type, r.id, opts, (e) => {
      const resource = e.resource;
      return event(e.event_type ?? 'CREATED', resource?.metadata && resource.spec ? decode(resource) : null);
    });
  }

  /** Decodes a resource just fetched (from the preferred endpoint, which answered it). */
  #decodeOrThrow<T>(node: string | undefined, method: string, decode: (r: Resource) => T, resource: Resource): T {
    try {
      return decode(resource);
    } catch (err) {
      if (err instanceof ResourceDecodeError) {
        const endpoint = this.#calls.preferredAddress;
        throw malformedResponse({ method, node: hasNode(node) ? node : undefined, endpoint }, err.message, err);
      }
      throw err;
    }
  }
}
