/**
 * Assembles a LabCluster: secrets, one machine config per node, addresses inside a /24 block of
 * 127.0.0.0/8 (`.2` VIP, `.3` cluster endpoint, `.10`… control planes then workers, docs/lab-design.md),
 * the Talos tag each node reports (v1.13.9 for the legacy Kubernetes CA layout, v1.14.0 for the document
 * layout), and an admin client certificate for the operator. No sockets are opened here.
 */
import { randomInt } from 'node:crypto';
import { issueTalosClientCert, type IssuedCert } from '../../pki/index.js';
import { interpretRoots } from '../core/roots.js';
import { DEFAULT_TIMINGS, LabCluster, LabNode, type KubernetesCaStyle, type LabTimings } from '../core/model.js';
import { Ledger } from '../core/ledger.js';
import { generateMachineConfig } from './machineconfig.js';
import { generateLabSecrets, type LabSecrets, type LabSecretsOptions } from './secrets.js';

/** The Talos version a node emulates, by Kubernetes CA layout (talos-behaviour.md §7, §3.1). */
export const TALOS_TAG: Record<KubernetesCaStyle, string> = { legacy: 'v1.13.9', document: 'v1.14.0' };

export const APID_PORT = 50000;
export const TRUSTD_PORT = 50001;

export interface LabAddresses {
  vip: string;
  clusterEndpoint: string;
  controlPlanes: string[];
  workers: string[];
}

/** Addresses inside `block` (`127.A.B`). */
export function labAddresses(block: string, controlPlanes: number, workers: number): LabAddresses {
  if (!/^127\.\d{1,3}\.\d{1,3}$/.test(block))
    throw new RangeError(`lab address block must look like 127.A.B (got ${block})`);
  if (controlPlanes < 1) throw new RangeError('a lab needs at least one control plane');
  if (10 + controlPlanes + workers > 255)
    throw new RangeError(`a /24 block holds at most 245 nodes (asked ${controlPlanes + workers})`);
  const at = (i: number) => `${block}.${10 + i}`;
  return {
    vip: `${block}.2`,
    clusterEndpoint: `${block}.3`,
    controlPlanes: Array.from({ length: controlPlanes }, (_, i) => at(i)),
    workers: Array.from({ length: workers }, (_, i) => at(controlPlanes + i)),
  };
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A random node id shaped like Talos's (base62 text of 32 random bytes). */
export function randomNodeId(): string {
  let s = '';
  for (let i = 0; i < 43; i++) s += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return s;
}

export interface AssembleOptions {
  /** `127.A.B`: the /24 block the lab uses. */
  block: string;
  controlPlanes: number;
  workers: number;
  style: KubernetesCaStyle;
  clusterName?: string;
  /** Serve a shared VIP (`.2`) forwarding to a control plane. */
  vip?: boolean;
  timings?: Partial<LabTimings>;
  /** Reuse a bundle (e.g. loaded from disk); generated otherwise. */
  secrets?: LabSecrets;
  secretsOptions?: LabSecretsOptions;
  ledger?: Ledger;
}

export interface AssembledLab {
  cluster: LabCluster;
  secrets: LabSecrets;
  addresses: LabAddresses;
}

export async function assembleLabCluster(opts: AssembleOptions): Promise<AssembledLab> {
  const addresses = labAddresses(opts.block, opts.controlPlanes, opts.workers);
  const secrets = opts.secrets ?? (await generateLabSecrets(opts.secretsOptions));
  const clusterName = opts.clusterName ?? 'lab';
  const clusterEndpoint = `https://${addresses.clusterEndpoint}:6443`;
  const vipAddress = opts.vip ? addresses.vip : null;
  const specs = [
    ...addresses.controlPlanes.map((address, i) => ({
      address,
      role: 'controlplane' as const,
      hostname: `cp-${i + 1}`,
    })),
    ...addresses.workers.map((address, i) => ({ address, role: 'worker' as const, hostname: `worker-${i + 1}` })),
  ];
  const nodes = await Promise.all(
    specs.map(async (spec) => {
      const config = generateMachineConfig(secrets, {
        ...spec,
        style: opts.style,
        clusterName,
        clusterEndpoint,
        extraCertSans: spec.role === 'controlplane' && vipAddress ? [vipAddress] : [],
        ...(spec.role === 'controlplane' && vipAddress ? { vip: vipAddress } : {}),
      });
      return new LabNode({
        ...spec,
        nodeId: randomNodeId(),
        config,
        roots: await interpretRoots(config),
        talosTag: TALOS_TAG[opts.style],
      });
    }),
  );
  const cluster = new LabCluster({
    nodes,
    timings: { ...DEFAULT_TIMINGS, ...opts.timings },
    clusterName,
    kubernetesCaStyle: opts.style,
    clusterEndpointAddress: addresses.clusterEndpoint,
    vipAddress,
    bootstrapToken: secrets.bootstrapToken,
    trustdToken: secrets.trustdToken,
    ...(opts.ledger ? { ledger: opts.ledger } : {}),
  });
  return { cluster, secrets, addresses };
}

/** An operator client certificate from the bundle's Talos CA, as `talosctl gen config` mints it (os:admin). */
export async function issueAdminClientCert(secrets: LabSecrets, roles: string[] = ['os:admin']): Promise<IssuedCert> {
  return issueTalosClientCert(secrets.os, { roles });
}
