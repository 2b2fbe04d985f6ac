/**
 * Node addresses, endpoints and the Kubernetes endpoint URL: what is accepted, and the canonical form used
 * to find one address listed twice. Pure.
 */
import { isIPv4, isIPv6 } from 'node:net';

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/** An RFC 1123 host name (optionally with a trailing dot); an all-numeric last label is an IP typo, not a name. */
export function isHostname(value: string): boolean {
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  if (name === '' || name.length > 253) return false;
  const labels = name.split('.');
  if (!labels.every((l) => LABEL.test(l))) return false;
  return !/^[0-9]+$/.test(labels[labels.length - 1]!);
}

/** An IP address or DNS name, without port or scheme. */
export function isNodeAddress(value: string): boolean {
  return isIPv4(value) || isIPv6(value) || isHostname(value);
}

/** The form two spellings of one address share: lowercase, no trailing dot, IPv6 compressed. */
export function canonicalAddress(value: string): string {
  if (isIPv6(value) && !value.includes('%')) {
    try {
      return new URL(`http://[${value}]/`).hostname.slice(1, -1);
    } catch {
      return value.toLowerCase();
    }
  }
  const lower = value.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

export interface ParsedEndpoint {
  host: string;
  port?: number;
}

function parsePort(text: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** `host`, `host:port`, `[v6]:port` or a bare IPv6 address; undefined otherwise. */
export function parseEndpoint(value: string): ParsedEndpoint | undefined {
  if (value.startsWith('[')) {
    const m = /^\[([^\]]+)\](?::([^:]+))?$/.exec(value);
    if (!m || !isIPv6(m[1]!)) return undefined;
    if (m[2] === undefined) return { host: m[1]! };
    const port = parsePort(m[2]);
    return port === undefined ? undefined : { host: m[1]!, port };
  }
  if (isIPv6(value)) return { host: value };
  const colon = value.lastIndexOf(':');
  const host = colon < 0 ? value : value.slice(0, colon);
  if (!isIPv4(host) && !isHostname(host)) return undefined;
  if (colon < 0) return { host };
  const port = parsePort(value.slice(colon + 1));
  return port === undefined ? undefined : { host, port };
}

/** `host:port` → `host`, `https://host:port/x` → `host`: what the user probably meant, for hints. */
export function bareHost(value: string): string | undefined {
  const text = value.trim();
  try {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
      const host = new URL(text).hostname.replace(/^\[|\]$/g, '');
      return isNodeAddress(host) ? host : undefined;
    }
  } catch {
    return undefined;
  }
  const parsed = parseEndpoint(text);
  return parsed && isNodeAddress(parsed.host) ? parsed.host : undefined;
}

export type KubernetesEndpointProblem = 'not-url' | 'not-https' | 'credentials' | 'path' | 'bad-host';

/** Check a Kubernetes API URL: `https://host[:port]`, nothing else. */
export function checkKubernetesEndpoint(value: string): { problem?: KubernetesEndpointProblem; url?: URL } {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { problem: 'not-url' };
  }
  if (url.protocol !== 'https:') return { problem: 'not-https', url };
  if (url.username || url.password) return { problem: 'credentials', url };
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return { problem: 'path', url };
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!isNodeAddress(host)) return { problem: 'bad-host', url };
  return { url };
}
