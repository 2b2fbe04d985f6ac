/**
 * The CA state of a config, per API: the issuing CA, the accepted CAs and whether the issuing key is there.
 * The typed view the planner and the observer work with; the YAML details stay in ca-sites.
 */
import type { Secret } from '../domain/secret.js';
import type { ApiKind, Fingerprint, KubernetesCaStyle, NodeRole } from '../domain/types.js';
import {
  machineTypeOf,
  readSite,
  roleOf,
  siteOf,
  type CaSite,
  type MachineType,
  type SiteContents,
} from './ca-sites.js';
import { parseMachineConfig, type ParsedMachineConfig } from './documents.js';

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
  /**
   * Every certificate of every accepted entry, in config order (an entry may hold several PEM blocks, all
   * trusted by Talos); duplicates are reported as they are.
   */
  accepted: ConfigCa[];
  /**
   * Fields whose PEM text does not end each END line with a line break (e.g. `.machine.acceptedCAs[0]`).
   * Talos joins bundle entries with no separator, so such an entry followed by another loses both; the
   * patcher rewrites them when it patches that API on the node.
   */
  unterminated?: string[];
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
  return caStateOf(parseMachineConfig(configYaml, source));
}

/** readCaState of a config already parsed (messages name `cfg.source`). */
export function caStateOf(cfg: ParsedMachineConfig): MachineConfigCaState {
  const source = cfg.source;
  const machineType = machineTypeOf(cfg);
  const role = roleOf(machineType);
  const tSite = siteOf(cfg, 'talos', role);
  const talos = readSite(tSite, source);
  const k8sSite = siteOf(cfg, 'kubernetes', role);
  const kubernetes = readSite(k8sSite, source);
  return {
    machineType,
    role,
    talos: { issuing: talos.issuing, accepted: talos.accepted, unterminated: unterminatedFields(tSite, talos) },
    kubernetes: {
      style: k8sSite.style,
      issuing: kubernetes.issuing,
      accepted: kubernetes.accepted,
      unterminated: unterminatedFields(k8sSite, kubernetes),
    },
  };
}

function unterminatedFields(site: CaSite, contents: SiteContents): string[] {
  return [
    ...(contents.issuing && !contents.issuingTerminated ? [`${site.path}.${site.issuingKey}.${site.certField}`] : []),
    ...contents.entries.filter((e) => !e.terminated).map((e) => e.field),
  ];
}

/**
 * The issuing CA's private key (PEM, as stored), or null when there is none (workers); a redacted key is refused
 * (MC_REDACTED_KEY).
 */
export function readCaKey(configYaml: string, api: ApiKind, source?: string): Secret | null {
  return caKeyOf(parseMachineConfig(configYaml, source), api);
}

/** readCaKey of a config already parsed. */
export function caKeyOf(cfg: ParsedMachineConfig, api: ApiKind): Secret | null {
  return readSite(siteOf(cfg, api), cfg.source).issuingKey;
}
