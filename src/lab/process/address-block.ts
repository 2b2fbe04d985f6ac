/**
 * The lab's loopback /24 (`127.A.B.0/24`) and what lives where inside it (docs/lab-design.md):
 * `.1` control API, `.2` VIP (optional), `.3` Kubernetes cluster endpoint, `.10`… nodes, control planes
 * first. Pure: no sockets, no files.
 */
export interface AddressBlock {
  readonly a: number;
  readonly b: number;
}

export const CONTROL_HOST = 1;
export const VIP_HOST = 2;
export const CLUSTER_ENDPOINT_HOST = 3;
export const FIRST_NODE_HOST = 10;
/** Nodes fit in `.10` … `.254`. */
export const MAX_NODES = 254 - FIRST_NODE_HOST + 1;

/** Ports as in Talos (docs/talos-behaviour.md): apid on every node, trustd and kube-apiserver on control planes. */
export const APID_PORT = 50000;
export const TRUSTD_PORT = 50001;
export const KUBE_APISERVER_PORT = 6443;

export function isValidBlock(block: AddressBlock): boolean {
  // A, B in 1..254: never 127.0.x.x (127.0.0.1 is everyone's localhost) nor a .255 octet.
  return [block.a, block.b].every((n) => Number.isInteger(n) && n >= 1 && n <= 254);
}

export function blockName(block: AddressBlock): string {
  return `127.${block.a}.${block.b}.0/24`;
}

/** Used as a file name for the block's lock. */
export function blockKey(block: AddressBlock): string {
  return `127.${block.a}.${block.b}`;
}

export function hostAddress(block: AddressBlock, host: number): string {
  if (!Number.isInteger(host) || host < 1 || host > 254) throw new RangeError(`host ${host} is outside 1-254`);
  return `127.${block.a}.${block.b}.${host}`;
}

export function controlAddress(block: AddressBlock): string {
  return hostAddress(block, CONTROL_HOST);
}

export function vipAddress(block: AddressBlock): string {
  return hostAddress(block, VIP_HOST);
}

export function clusterEndpointAddress(block: AddressBlock): string {
  return hostAddress(block, CLUSTER_ENDPOINT_HOST);
}

/** Address of the i-th node (0-based; control planes first, then workers). */
export function nodeAddress(block: AddressBlock, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_NODES)
    throw new RangeError(`node index ${index} is outside 0-${MAX_NODES - 1}`);
  return hostAddress(block, FIRST_NODE_HOST + index);
}

/** The block an address belongs to, or null when it is not a 127.A.B.x address of a valid block. */
export function blockOf(address: string): AddressBlock | null {
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  if (!m) return null;
  const block = { a: Number(m[1]), b: Number(m[2]) };
  return isValidBlock(block) ? block : null;
}

/** A random valid block; `random` returns [0, 1) like Math.random (injectable for tests). */
export function randomBlock(random: () => number = Math.random): AddressBlock {
  const octet = () => 1 + Math.min(253, Math.floor(random() * 254));
  return { a: octet(), b: octet() };
}

/** The sockets a lab of this shape binds with fixed ports, used to check that a block is free. */
export function probeSockets(
  block: AddressBlock,
  opts: { nodes: number; controlPlanes: number; vip: boolean },
): Array<{ address: string; port: number }> {
  const sockets = [
    { address: clusterEndpointAddress(block), port: KUBE_APISERVER_PORT },
    { address: nodeAddress(block, 0), port: APID_PORT },
    { address: nodeAddress(block, 0), port: KUBE_APISERVER_PORT },
  ];
  if (opts.nodes > 1) sockets.push({ address: nodeAddress(block, opts.nodes - 1), port: APID_PORT });
  if (opts.vip) sockets.push({ address: vipAddress(block), port: APID_PORT });
  return sockets;
}
