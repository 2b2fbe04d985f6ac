/**
 * machined behind apid: Version, ApplyConfiguration and Kubeconfig as Talos serves them
 * (internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go; talos-behaviour.md §3.1, §7). Transport-agnostic:
 * apid.ts adapts these to gRPC calls, locally or after forwarding.
 *
 * ApplyConfiguration, in Talos's order: one apply at a time (FailedPrecondition), os:admin (PermissionDenied),
 * then validation.ts (decode, v1alpha1 present, REBOOT on v1.14, validation), then the mode:
 * NO_REBOOT/AUTO persist and activate at once; TRY activates without persisting and rolls back after
 * `try_mode_timeout` (default 1 min) unless a later non-TRY apply comes first; STAGED only persists (active
 * at the next boot); REBOOT (v1.13 only) persists and reboots. `dry_run` answers the would-be mode and a
 * config diff without applying.
 */
import { createTwoFilesPatch } from 'diff';
import { parseAllDocuments, visit, type Document } from 'yaml';
import { issueKubernetesAdminCert, type CaCertificate } from '../../pki/index.js';
import { createKubeconfigArchive } from '../../talos/kubeconfig-archive.js';
import {
  APPLY_MODES,
  type ApplyConfigurationRequest,
  type ApplyConfigurationResponse,
  type ApplyMode,
  type CommonData,
  type VersionResponse,
} from '../../talos/proto.js';
import type { LabCluster, LabNode } from '../core/model.js';
import { readConfigCas } from '../core/roots.js';
import { GrpcCallError, Status } from './h2-grpc.js';
import { ROLE_ADMIN } from './peer.js';
import { talosLine, validateApplyParsed } from './validation.js';

/** What a call knows about its caller once apid has authenticated it. */
export interface CallContext {
  roles: ReadonlySet<string>;
  /** Aborted when the caller goes away. */
  signal: AbortSignal;
  /** Resets the caller's connection without an answer (the dropApplyReply fault). */
  dropConnection(): void;
}

/** The node-level operations machined needs (implemented by the node runtime). */
export interface MachineHost {
  readonly node: LabNode;
  readonly cluster: LabCluster;
  /** The config the node boots with (NO_REBOOT/STAGED/REBOOT persist; TRY does not). */
  persisted: string;
  /** A REBOOT-mode apply was accepted and the node has not rebooted yet (v1.13.9 `applyConfigRebooted`). */
  rebootPending: boolean;
  /** Computes the roots and makes `config` the active config (emits the node's `config` event). */
  activate(config: string): Promise<void>;
  scheduleTryRollback(ms: number): void;
  cancelTryRollback(): void;
  /** Reboot into the persisted config (v1.13 REBOOT mode). */
  reboot(): void;
}

export const NOT_AUTHORIZED = 'not authorized';
const READ_ROLES = ['os:admin', 'os:operator', 'os:reader'];

export function requireAny(ctx: CallContext, roles: readonly string[]): void {
  if (!roles.some((r) => ctx.roles.has(r))) throw new GrpcCallError(Status.PERMISSION_DENIED, NOT_AUTHORIZED);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// -------------------------------------------------------------------------------------------------------
// Version

/**
 * What a release build reports. The SHA is `git describe --abbrev=8` (Talos Makefile `SHA`): 8 hex digits
 * (v1.13.9 is 3ebd10a7c1bd…; the v1.14 value is the commit the lab's v1.14 reading was made at). The Go
 * version is at least the `go` line of the tag's go.mod (1.26.6 in v1.13.9, 1.26.5 in v1.14.0); the patch
 * release of the builder image is not in the source.
 */
const BUILD: Record<string, { sha: string; go: string }> = {
  'v1.13.9': { sha: '3ebd10a7', go: 'go1.26.6' },
};
const OTHER_BUILD = { sha: 'ad882317', go: 'go1.26.5' };

export function version(host: MachineHost, ctx: CallContext): VersionResponse {
  requireAny(ctx, READ_ROLES);
  const tag = host.node.talosTag;
  return {
    messages: [
      {
        version: {
          tag,
          sha: (BUILD[tag] ?? OTHER_BUILD).sha,
          built: '',
          go_version: (BUILD[tag] ?? OTHER_BUILD).go,
          os: 'linux',
          arch: 'amd64',
        },
        platform: { name: 'metal', mode: 'metal' },
        features: { rbac: true },
      },
    ],
  };
}

// -------------------------------------------------------------------------------------------------------
// ApplyConfiguration

/**
 * A config as Talos re-encodes it for the dry-run diff (pkg/machinery/config/configdiff DiffConfigs: every
 * document encoded again with comments disabled, `---` between them). Nothing is redacted: Talos diffs the
 * full documents, keys included (internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go
 * generateDiff, v1.13.9 and v1.14.1).
 */
export function encodeForDiff(text: string): string {
  let documents: Document.Parsed[];
  try {
    documents = parseAllDocuments(text) as Document.Parsed[];
  } catch {
    return '(unreadable config)';
  }
  return encodeDocumentsForDiff(documents);
}

/** encodeForDiff of documents already parsed; strips their comments in place (they are not used after). */
function encodeDocumentsForDiff(documents: Document.Parsed[]): string {
  try {
    return documents
      .map((doc) => {
        doc.commentBefore = null;
        doc.comment = null;
        visit(doc, {
          Node(_, node) {
            node.commentBefore = null;
            node.comment = null;
          },
        });
        return doc.toString({ indent: 4, lineWidth: 0 });
      })
      .join('---\n');
  } catch {
    return '(unreadable config)';
  }
}

/**
 * encodeForDiff of each node's active config, kept until that config changes: every dry run diffs against
 * it, and a plan dry-runs several configs per node against the same one. Keyed by the text itself, so any
 * change of the active config (apply, try rollback, reboot) is seen at the next dry run.
 */
const activeEncoding = new WeakMap<LabNode, { config: string; encoded: string }>();

function encodedActiveConfig(node: LabNode): string {
  const config = node.config;
  const hit = activeEncoding.get(node);
  if (hit && hit.config === config) return hit.encoded;
  const encoded = encodeForDiff(config);
  activeEncoding.set(node, { config, encoded });
  return encoded;
}

/** The dry run's diff of the node's active config against the submitted one (already parsed by validation). */
function configDiff(node: LabNode, next: Document.Parsed[]): string {
  const a = encodedActiveConfig(node);
  const b = encodeDocumentsForDiff(next);
  if (a === b) return 'No changes.';
  // pkg/machinery/textdiff over neticdk/go-stdlib diff UnifiedFormatter: `--- a` / `+++ b` (no header
  // after a tab), 3 lines of context.
  return createTwoFilesPatch('a', 'b', a, b, undefined, undefined, { context: 3 })
    .split('\n')
    .filter((l) => !l.startsWith('Index:') && !/^=+$/.test(l))
    .join('\n');
}

function modeName(mode: unknown): ApplyMode | number {
  if (typeof mode === 'string' && (APPLY_MODES as readonly string[]).includes(mode)) return mode as ApplyMode;
  if (typeof mode === 'number') return APPLY_MODES[mode] ?? mode;
  return 'REBOOT';
}

/** Go's time.Duration.String() (1m0s, 30s, 1.5s, 400ms) for millisecond durations. */
export function goDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${s}s`;
}

export const DEFAULT_TRY_TIMEOUT_MS = 60_000;

export const APPLY_IN_PROGRESS = 'another apply configuration is already in progress';
/** How long every ApplyConfiguration holds the lock at least (dry runs included). */
export const APPLY_HANDLING_MS = 10;
export const REBOOT_PENDING =
  'configuration was already applied and node is rebooting, cannot apply more configuration changes until next reboot';

export async function applyConfiguration(
  host: MachineHost,
  ctx: CallContext,
  req: ApplyConfigurationRequest,
): Promise<ApplyConfigurationResponse> {
  // Talos takes applyConfigMu with TryLock before anything else, dry runs and unauthorised callers
  // included (v1alpha1_server.go), and holds it until the call returns.
  const call = host.node.applyLock.enter();
  if (!call.locked) {
    call.end();
    throw new GrpcCallError(Status.FAILED_PRECONDITION, APPLY_IN_PROGRESS);
  }
  try {
    // Talos decodes, validates and (dry run) diffs the config while it holds the lock, which takes a few
    // milliseconds on a node. Without a pause here the lab would answer each call within one turn of its
    // event loop, so that calls a client sends together never overlap as they do on a real node.
    await sleep(APPLY_HANDLING_MS);
    // v1.13.9 only (HEAD refuses REBOOT instead): after a REBOOT-mode apply, nothing more until the reboot.
    if (host.rebootPending) throw new GrpcCallError(Status.FAILED_PRECONDITION, REBOOT_PENDING);
    requireAny(ctx, [ROLE_ADMIN]);
    const node = host.node;
    if (node.faults.failApply > 0) {
      node.faults.failApply -= 1;
      throw new GrpcCallError(Status.UNAVAILABLE, 'apply configuration failed: injected fault (failApply)');
    }
    let mode = modeName(req.mode);
    if (mode !== 'TRY') host.cancelTryRollback();
    const text = Buffer.from(req.data ?? new Uint8Array()).toString('utf8');
    const line = talosLine(node.talosTag);
    const { validated, documents } = await validateApplyParsed(text, { line, mode });
    if (!validated.ok)
      throw new GrpcCallError(
        validated.code === 'UNIMPLEMENTED' ? Status.UNIMPLEMENTED : Status.INVALID_ARGUMENT,
        validated.message,
      );

    let details: string;
    switch (mode) {
      case 'TRY':
      case 'NO_REBOOT':
        details = 'Applied configuration without a reboot';
        break;
      case 'STAGED':
        details = 'Staged configuration to be applied after the next reboot';
        break;
      case 'AUTO':
        // The lab treats every change as immediately applicable (CA fields are, in both v1.13 and v1.14).
        mode = 'NO_REBOOT';
        details = 'Applied configuration without a reboot';
        break;
      case 'REBOOT':
        details = 'Applied configuration with a reboot';
        break;
      default:
        throw new GrpcCallError(Status.UNKNOWN, `incorrect mode '${String(mode)}' specified for the apply config call`);
    }

    if (req.dry_run) {
      return {
        messages: [
          {
            mode,
            mode_details:
              `Dry run summary:\n${details} (skipped in dry-run).\nConfig diff:\n` +
              `\n${configDiff(node, documents!)}`,
          },
        ],
      };
    }

    const latency = host.cluster.timings.applyLatencyMs;
    if (latency > 0) await sleep(latency);

    switch (mode) {
      case 'TRY': {
        const timeoutMs = req.try_mode_timeout
          ? (req.try_mode_timeout.seconds ?? 0) * 1000 + Math.round((req.try_mode_timeout.nanos ?? 0) / 1e6)
          : DEFAULT_TRY_TIMEOUT_MS;
        details +=
          `\nThe config is applied in 'try' mode and will be automatically reverted back ` +
          `in ${goDuration(timeoutMs)}`;
        host.scheduleTryRollback(timeoutMs);
        await host.activate(text);
        break;
      }
      case 'NO_REBOOT':
        host.persisted = text;
        await host.activate(text);
        break;
      case 'STAGED':
        host.persisted = text;
        break;
      case 'REBOOT':
        host.persisted = text;
        host.rebootPending = true;
        setTimeout(() => host.reboot(), 50);
        break;
    }

    if (node.faults.dropApplyReply > 0) {
      node.faults.dropApplyReply -= 1;
      ctx.dropConnection();
      throw new GrpcCallError(Status.UNAVAILABLE, 'connection reset (injected fault dropApplyReply)');
    }
    return { messages: [{ mode, warnings: validated.warnings, mode_details: details }] };
  } finally {
    call.end();
  }
}

// -------------------------------------------------------------------------------------------------------
// Kubeconfig

/** Talos's admin kubeconfig template (pkg/kubeconfig/generate.go). */
export function renderKubeconfig(opts: {
  cluster: string;
  server: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}): string {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  const user = `admin@${opts.cluster}`;
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `    - name: ${opts.cluster}`,
    '      cluster:',
    `        server: ${opts.server}`,
    `        certificate-authority-data: ${b64(opts.caPem)}`,
    'users:',
    `    - name: ${user}`,
    '      user:',
    `        client-certificate-data: ${b64(opts.certPem)}`,
    `        client-key-data: ${b64(opts.keyPem)}`,
    'contexts:',
    '    - context:',
    `        cluster: ${opts.cluster}`,
    '        namespace: default',
    `        user: ${user}`,
    `      name: ${user}`,
    `current-context: ${user}`,
    '',
  ].join('\n');
}

function bundle(cas: readonly CaCertificate[]): string {
  return cas.map((c) => (c.certPem.endsWith('\n') ? c.certPem : `${c.certPem}\n`)).join('');
}

export async function kubeconfig(host: MachineHost, ctx: CallContext, write: (d: CommonData) => void): Promise<void> {
  requireAny(ctx, [ROLE_ADMIN]);
  const node = host.node;
  if (node.role !== 'controlplane')
    throw new GrpcCallError(Status.UNIMPLEMENTED, 'kubeconfig is only available on control plane nodes');
  const root = node.roots.kubernetes;
  if (!root.issuing) {
    throw new GrpcCallError(
      Status.UNKNOWN,
      `failed to generate kubeconfig: ${root.error ?? 'the Kubernetes issuing CA has no key'}`,
    );
  }
  const view = readConfigCas(node.config);
  const admin = await issueKubernetesAdminCert(root.issuing, { backdateMs: 10_000 });
  const yaml = renderKubeconfig({
    cluster: view.clusterName || host.cluster.clusterName,
    server: view.clusterEndpoint || `https://${host.cluster.clusterEndpointAddress}:6443`,
    // The node's issuing CA and accepted CAs, in the order its Talos version writes them (roots.ts).
    caPem: bundle(root.trusted),
    certPem: admin.certPem,
    keyPem: admin.key.reveal(),
  });
  write({ bytes: Buffer.from(createKubeconfigArchive(yaml)) });
}
