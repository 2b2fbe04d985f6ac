import type { Secret } from '../domain/secret.js';
import type { ApiKind, Fingerprint, KubernetesCaStyle, NodeRole } from '../domain/types.js';
import { kubernetesSite, machineTypeOf, readSite, roleOf, talosSite, type MachineType } from './ca-sites.js';
import { parseMachineConfig } from './documents.js';

/** A CA as one node's machine config holds it. */
export interface ConfigCa {
  /** The certificate alone, canonical PEM with a trailing newline. */
  certPem: string;
  fingerprint: Fingerprint;
  /** The issuing CA carries a private key (control planes). Always false for accepted CAs. */
  hasKey: boolean;
}

export interface ApiCaState {
  issuing: ConfigCa | null;
  /** In config order; duplicates are reported as they are. */
  accepted: ConfigCa[];
}

export interface MachineConfigCaState {
  machineType: MachineType;
  role: NodeRole;
  /** `.machine.ca` / `.machine.acceptedCAs` (base64 PEM). */
  talos: ApiCaState;
  /**
   * `.cluster.ca` / `.cluster.acceptedCAs` (legacy) or the `KubeAPIServerCAConfig` document (plain PEM).
   * A document-style worker has `issuing: null`; its current CA is `accepted[0]`.
   */
  kubernetes: ApiCaState & { style: KubernetesCaStyle };
}

/**
 * Read both PKIs' CAs from a machine config (single or multi-document). Throws MC_* errors naming the
 * field for anything malformed; never quotes values.
 */
export function readCaState(configYaml: string, source?: string): MachineConfigCaState {
  const cfg = parseMachineConfig(configYaml, source);
  const machineType = machineTypeOf(cfg);
  const role = roleOf(machineType);
  const talos = readSite(talosSite(cfg), source);
  const k8sSite = kubernetesSite(cfg, role);
  const kubernetes = readSite(k8sSite, source);
  return {
    machineType,
    role,
    talos: { issuing: talos.issuing, accepted: talos.accepted },
    kubernetes: { style: k8sSite.style, issuing: kubernetes.issuing, accepted: kubernetes.accepted },
  };
}

/** The issuing CA's private key (PEM, as stored), or null when there is none (workers); a redacted key is refused (MC_REDACTED_KEY). */
export function readCaKey(configYaml: string, api: ApiKind, source?: string): Secret | null {
  const cfg = parseMachineConfig(configYaml, source);
  const site = api === 'talos' ? talosSite(cfg) : kubernetesSite(cfg, roleOf(machineTypeOf(cfg)));
  return readSite(site, source).issuingKey;
}
