/**
 * The shared virtual IPs a machine config declares. Talos only advertises a VIP its config declares: as
 * a `Layer2VIPConfig` or `HCloudVIPConfig` document (`name` is the IP; pkg/machinery/config/types/network/
 * layer2_vip.go, hcloud_vip.go) or, in the v1alpha1 document, `machine.network.interfaces[].vip.ip` and
 * `.vlans[].vip.ip`. Discovery lists a VIP among its holder's addresses, often first (siderolabs/talos
 * issue #10357), so a tool that lists nodes from discovery must skip these.
 */
import { isMap, isSeq, type YAMLMap } from 'yaml';
import { parseMachineConfig, stringAt } from './documents.js';

const VIP_DOCUMENT_KINDS = new Set(['Layer2VIPConfig', 'HCloudVIPConfig']);

function mapAt(map: YAMLMap | null | undefined, key: string): YAMLMap | null {
  const v = map?.get(key, true);
  return isMap(v) ? v : null;
}

function mapsAt(map: YAMLMap | null | undefined, key: string): YAMLMap[] {
  const v = map?.get(key, true);
  return isSeq(v) ? v.items.filter((i): i is YAMLMap => isMap(i)) : [];
}

export function declaredVips(configYaml: string, source?: string): string[] {
  const cfg = parseMachineConfig(configYaml, source);
  const vips = new Set<string>();
  for (const d of cfg.documents) {
    if (d.kind && VIP_DOCUMENT_KINDS.has(d.kind) && d.name) vips.add(d.name);
  }
  const network = mapAt(mapAt(cfg.v1alpha1.root, 'machine'), 'network');
  for (const iface of mapsAt(network, 'interfaces')) {
    for (const holder of [iface, ...mapsAt(iface, 'vlans')]) {
      const vip = mapAt(holder, 'vip');
      const ip = vip ? stringAt(vip, 'ip') : null;
      if (ip) vips.add(ip);
    }
  }
  return [...vips];
}
