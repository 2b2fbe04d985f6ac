/**
 * Where each API's CAs live in a config (legacy `.machine`/`.cluster` fields or the `KubeAPIServerCAConfig`
 * document) and what a site holds, with the YAML nodes the patcher edits. Reading only; ca-patch writes.
 */
import { isMap, isScalar, isSeq, type Node, type Pair, type YAMLMap, type YAMLSeq } from 'yaml';

import type { Secret } from '../domain/secret.js';
import type { ApiKind, Fingerprint, KubernetesCaStyle, NodeRole } from '../domain/types.js';
import { REDACTED_KEY, readCertEntry, readCertField, readKeyField, type FieldEncoding } from './ca-pem.js';
import { isEmptyNode, pairOf, type ConfigDocument, type ParsedMachineConfig } from './documents.js';
import { mcError } from './errors.js';

export type MachineType = 'controlplane' | 'init' | 'worker';

/**
 * Where one API's CAs live in a config. Three shapes exist (talos-behaviour.md §6.1, §2.3):
 * `.machine.{ca,acceptedCAs}` and `.cluster.{ca,acceptedCAs}` (legacy; base64 PEM, items `{crt}`), and
 * the `KubeAPIServerCAConfig` document (`issuingCA {cert,key}`, `acceptedCAs` of plain PEM strings).
 */
export interface CaSite {
  api: ApiKind;
  style: KubernetesCaStyle;
  document: ConfigDocument;
  /** Key of the section in the v1alpha1 root (`machine`/`cluster`); null for a document site. */
  sectionKey: 'machine' | 'cluster' | null;
  /** The mapping holding the issuing and accepted keys; null when the section is missing. */
  parent: YAMLMap | null;
  /** Prefix for field paths in messages: `.machine`, `.cluster` or `KubeAPIServerCAConfig`. */
  path: string;
  issuingKey: 'ca' | 'issuingCA';
  certField: 'crt' | 'cert';
  encoding: FieldEncoding;
  /** Accepted items are `{crt: ...}` mappings (legacy) or bare strings (document). */
  itemField: 'crt' | null;
  /** Keys that come before the issuing key in Talos's own field order, to place keys we must add. */
  issuingAfter: readonly string[];
  /**
   * Document-style workers have no issuing CA: Talos puts the "issuing" certificate at position 0 of
   * acceptedCAs instead (rotatepatcher K8sSetCA).
   */
  issuingInAccepted: boolean;
}

export interface ReadCa {
  certPem: string;
  fingerprint: Fingerprint;
  hasKey: boolean;
}

/**
 * One item of an acceptedCAs list. It may hold several certificates (Talos trusts every PEM block of it,
 * talos-behaviour.md §5.2); `terminated` is false when a block's END line is not followed by a line break, which breaks
 * Talos's separator-less bundles (talos-behaviour.md §5.1) and is repaired when the tool rewrites the site.
 */
export interface AcceptedEntry {
  /** Field path for messages, e.g. `.machine.acceptedCAs[1]`. */
  field: string;
  certs: ReadCa[];
  terminated: boolean;
}

/** What a site holds, with the YAML nodes the patcher edits. */
export interface SiteContents {
  issuingPair: Pair<Node, Node | null> | undefined;
  issuing: ReadCa | null;
  /** False when the issuing certificate's text lacks its final line break. */
  issuingTerminated: boolean;
  issuingKey: Secret | null;
  acceptedPair: Pair<Node, Node | null> | undefined;
  /** Every certificate of every entry, in config order. */
  accepted: ReadCa[];
  /** The entries as written (one per list item). */
  entries: AcceptedEntry[];
}

export function machineTypeOf(cfg: ParsedMachineConfig): MachineType {
  const machine = sectionOf(cfg, 'machine');
  const typeNode = machine ? pairOf(machine, 'type')?.value : undefined;
  if (isEmptyNode(typeNode)) return 'worker';
  const value = isScalar(typeNode) ? typeNode.value : undefined;
  switch (value) {
    case 'controlplane':
    case 'init':
    case 'worker':
      return value;
    case 'join':
      return 'worker'; // legacy alias (talos-behaviour.md §6.1)
    default:
      throw mcError(
        'MC_BAD_MACHINE_TYPE',
        cfg.source,
        `.machine.type ${typeof value === 'string' ? JSON.stringify(value) : '(not a string)'} is not controlplane, ` +
          'init, worker or join',
        'set .machine.type to controlplane or worker',
      );
  }
}

export function roleOf(type: MachineType): NodeRole {
  return type === 'worker' ? 'worker' : 'controlplane';
}

function sectionOf(cfg: ParsedMachineConfig, key: 'machine' | 'cluster'): YAMLMap | null {
  const node = pairOf(cfg.v1alpha1.root, key)?.value;
  if (isEmptyNode(node)) return null;
  if (!isMap(node)) {
    throw mcError('MC_BAD_DOCUMENT', cfg.source, `.${key} is not a mapping`, `.${key} must be a YAML mapping`);
  }
  return node;
}

export function talosSite(cfg: ParsedMachineConfig): CaSite {
  return {
    api: 'talos',
    style: 'legacy',
    document: cfg.v1alpha1,
    sectionKey: 'machine',
    parent: sectionOf(cfg, 'machine'),
    path: '.machine',
    issuingKey: 'ca',
    certField: 'crt',
    encoding: 'base64',
    itemField: 'crt',
    issuingAfter: ['type', 'token'],
    issuingInAccepted: false,
  };
}

export function kubernetesSite(cfg: ParsedMachineConfig, role: NodeRole): CaSite {
  const cluster = sectionOf(cfg, 'cluster');
  if (cfg.apiServerCa) {
    // Talos refuses `.cluster.ca` beside the document (pkg/machinery/config/types/k8s/apiserver_ca.go,
    // V1Alpha1ConflictValidate). `.cluster.acceptedCAs` beside it is valid and ignored: Talos takes the
    // Kubernetes API CA from the document alone (container.K8sAPIServerCAConfig), so this reader neither
    // reads nor patches those entries.
    const legacyCa = cluster ? pairOf(cluster, 'ca') : undefined;
    if (legacyCa && !isEmptyNode(legacyCa.value)) {
      throw mcError(
        'MC_CONFLICT',
        cfg.source,
        'the Kubernetes API CA is set both in .cluster.ca and in a KubeAPIServerCAConfig document; ' +
          'Talos refuses such a config ("kube-apiserver CA is already set in v1alpha1 config (.cluster.ca)")',
        'keep one place: move the CA into the KubeAPIServerCAConfig document and delete .cluster.ca',
      );
    }
    return {
      api: 'kubernetes',
      style: 'document',
      document: cfg.apiServerCa,
      sectionKey: null,
      parent: cfg.apiServerCa.root,
      path: 'KubeAPIServerCAConfig',
      issuingKey: 'issuingCA',
      certField: 'cert',
      encoding: 'pem',
      itemField: null,
      issuingAfter: ['apiVersion', 'kind'],
      issuingInAccepted: role === 'worker',
    };
  }
  return {
    api: 'kubernetes',
    style: 'legacy',
    document: cfg.v1alpha1,
    sectionKey: 'cluster',
    parent: cluster,
    path: '.cluster',
    issuingKey: 'ca',
    certField: 'crt',
    encoding: 'base64',
    itemField: 'crt',
    issuingAfter: [
      'id',
      'secret',
      'controlPlane',
      'clusterName',
      'network',
      'token',
      'aescbcEncryptionSecret',
      'secretboxEncryptionSecret',
    ],
    issuingInAccepted: false,
  };
}

/** The site of `api`'s CA in this config (`role`: the node's, read from the config when not given). */
export function siteOf(cfg: ParsedMachineConfig, api: ApiKind, role: NodeRole = roleOf(machineTypeOf(cfg))): CaSite {
  return api === 'talos' ? talosSite(cfg) : kubernetesSite(cfg, role);
}

/** A scalar string value, '' for empty/null; MC_BAD_CA for anything else. */
function stringValue(node: Node | null | undefined, field: string, source: string | undefined): string {
  if (isEmptyNode(node)) return '';
  if (isScalar(node) && typeof node.value === 'string') return node.value;
  throw mcError('MC_BAD_CA', source, `${field} is not a string`, `${field} must be a PEM certificate or key`);
}

export function readSite(site: CaSite, source: string | undefined): SiteContents {
  const out: SiteContents = {
    issuingPair: undefined,
    issuing: null,
    issuingTerminated: true,
    issuingKey: null,
    acceptedPair: undefined,
    accepted: [],
    entries: [],
  };
  if (!site.parent) return out;

  out.issuingPair = pairOf(site.parent, site.issuingKey);
  const issuingNode = out.issuingPair?.value;
  const issuingPath = `${site.path}.${site.issuingKey}`;
  if (!isEmptyNode(issuingNode)) {
    if (!isMap(issuingNode)) {
      throw mcError(
        'MC_BAD_CA',
        source,
        `${issuingPath} is not a mapping`,
        `${issuingPath} must be {${site.certField}, key}`,
      );
    }
    const certText = stringValue(
      pairOf(issuingNode, site.certField)?.value,
      `${issuingPath}.${site.certField}`,
      source,
    );
    const keyText = stringValue(pairOf(issuingNode, 'key')?.value, `${issuingPath}.key`, source);
    if (keyText === REDACTED_KEY) {
      // siderolabs/crypto keeps "******" as the key text itself (x509.Redacted): never a key to use or keep.
      throw mcError(
        'MC_REDACTED_KEY',
        source,
        `${issuingPath}.key is "${REDACTED_KEY}", the placeholder of a redacted key, not a key; Talos would take ` +
          'those six characters as the key (a control plane then cannot issue certificates; a worker is refused)',
        "put the real key back into the node's config (from the original machine config or secrets bundle, with " +
          'talosctl apply-config) before rotating; never apply a config that was exported with its secrets redacted',
      );
    }
    if (certText.trim() !== '') {
      const { terminated, ...cert } = readCertField(
        certText,
        site.encoding,
        `${issuingPath}.${site.certField}`,
        source,
      );
      out.issuingKey = readKeyField(keyText, site.encoding, `${issuingPath}.key`, source);
      out.issuing = { ...cert, hasKey: out.issuingKey !== null };
      out.issuingTerminated = terminated;
    } else if (keyText.trim() !== '') {
      throw mcError(
        'MC_BAD_CA',
        source,
        `${issuingPath} has a key but no certificate`,
        `set ${issuingPath}.${site.certField} to the certificate matching the key`,
      );
    }
  }

  out.acceptedPair = pairOf(site.parent, 'acceptedCAs');
  const acceptedNode = out.acceptedPair?.value;
  const acceptedPath = `${site.path}.acceptedCAs`;
  if (!isEmptyNode(acceptedNode)) {
    if (!isSeq(acceptedNode)) {
      throw mcError('MC_BAD_CA', source, `${acceptedPath} is not a list`, `${acceptedPath} must be a YAML list`);
    }
    (acceptedNode as YAMLSeq<Node>).items.forEach((item, i) => {
      let text: string;
      let field: string;
      if (site.itemField) {
        field = `${acceptedPath}[${i}].${site.itemField}`;
        if (!isMap(item))
          throw mcError(
            'MC_BAD_CA',
            source,
            `${acceptedPath}[${i}] is not a mapping`,
            `each entry is {crt: <base64 PEM>}`,
          );
        text = stringValue(pairOf(item, site.itemField)?.value, field, source);
      } else {
        field = `${acceptedPath}[${i}]`;
        text = stringValue(item, field, source);
      }
      if (text.trim() === '')
        throw mcError('MC_BAD_CA', source, `${field} is empty`, `remove the empty entry or put a CA certificate in it`);
      const entry = readCertEntry(text, site.encoding, field, source);
      const certs = entry.certs.map((c) => ({ ...c, hasKey: false }));
      out.entries.push({
        field: site.itemField ? `${acceptedPath}[${i}]` : field,
        certs,
        terminated: entry.terminated,
      });
      out.accepted.push(...certs);
    });
  }
  return out;
}
