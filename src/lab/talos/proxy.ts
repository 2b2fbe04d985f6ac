/**
 * apid's forwarding to other nodes (internal/app/apid/pkg/backend/apid.go, apid_factory.go; talos-behaviour.md §3.2):
 * a control plane dials `<node>:50000` over mutual TLS with its own proxy client certificate
 * (O=os:impersonator, signed by its issuing CA), verifying the target against its accepted CAs, and passes
 * the call on with the caller's roles in `talos-role`, `proxyfrom` set and `node`/`nodes` removed.
 * Connections are kept per target and flushed when this node's own PKI changes (`onPKIUpdate` →
 * backendFactory.Flush); an established connection to a target survives changes at the target, as a
 * real HTTP/2 connection does.
 *
 * Every dial is an `apid-proxy` edge counted by this node (the dialler) in the ledger.
 */
import { isIP } from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import type { Ledger } from '../core/ledger.js';
import type { LabCluster, LabNode } from '../core/model.js';
import { tlsKey, type NodeCredentials } from './credentials.js';
import { dialLab, recordDialFailure, type DialOptions, type DialResult } from './dial.js';
import type { LabDialer } from './dial-thread.js';
import { GrpcCallError, Status, type H2GrpcSession, type OutgoingMetadata } from './h2-grpc.js';

export const APID_PORT = 50000;

export interface ProxyHost {
  readonly node: LabNode;
  readonly cluster: LabCluster;
  readonly ledger: Ledger;
  /** The credentials apid currently uses (null before the first generation). */
  readonly credentials: NodeCredentials | null;
}

/** Where `<node>` points in the lab: a node address, the VIP, or a node's hostname (the lab's DNS). */
export function resolveTarget(cluster: LabCluster, target: string): string | null {
  if (isIP(target) === 4) return target.startsWith('127.') ? target : null;
  return cluster.nodes.find((n) => n.hostname === target)?.address ?? null;
}

/** The message a Go gRPC client reports for a failed dial (what the operator sees through the proxy). */
export function dialErrorMessage(target: string, r: Exclude<DialResult, { ok: true }>): string {
  if (r.kind === 'unavailable') {
    return `connection error: desc = "transport: Error while dialing: dial tcp ${target}:${APID_PORT}: ${r.detail}"`;
  }
  if (r.refusedBy === 'client') {
    const why =
      r.reason === 'expired'
        ? 'x509: certificate has expired or is not yet valid'
        : r.reason === 'hostname-mismatch'
          ? `x509: certificate is not valid for ${target}`
          : 'x509: certificate signed by unknown authority';
    return (
      `connection error: desc = "transport: authentication handshake failed: tls: failed to verify ` +
      `certificate: ${why}"`
    );
  }
  return 'connection error: desc = "transport: authentication handshake failed: remote error: tls: bad certificate"';
}

export class ApidProxy {
  readonly #host: ProxyHost;
  readonly #pool = new Map<string, Promise<H2GrpcSession>>();

  constructor(host: ProxyHost) {
    this.#host = host;
  }

  /** Closes every pooled connection (this node's PKI changed, or it went down). */
  flush(): void {
    const entries = [...this.#pool.values()];
    this.#pool.clear();
    for (const p of entries)
      p.then(
        (s) => s.close(),
        () => undefined,
      );
  }

  /** How this node's apid dials `address` now (its proxy client certificate, its accepted CAs); null: none yet. */
  #dialOptions(address: string): DialOptions | null {
    const creds = this.#host.credentials;
    if (!creds?.impersonator) return null;
    return {
      from: this.#host.node.address,
      host: address,
      port: APID_PORT,
      ca: creds.peerCas,
      cert: creds.impersonator.certPem,
      key: tlsKey(creds.impersonator),
    };
  }

  #recordFailure(target: string, address: string, r: Exclude<DialResult, { ok: true }>): void {
    const { node, cluster, ledger } = this.#host;
    recordDialFailure(ledger, 'apid-proxy', node.address, target, r, cluster.node(address)?.isDown ?? false);
  }

  /** One mutual-TLS dial as this node's apid makes it; the ledger records a failure. */
  async dial(target: string, address: string): Promise<DialResult> {
    const opts = this.#dialOptions(address);
    if (!opts) return { ok: false, kind: 'unavailable', detail: 'no proxy client certificate yet' };
    const r = await dialLab(opts);
    if (!r.ok) this.#recordFailure(target, address, r);
    return r;
  }

  /**
   * A fresh dial to `address` with a real `Version` call marked as proxied, on `dialer`'s thread (a probe);
   * the ledger records a failed dial as `dial` does. A gRPC-level answer after a good handshake is not a
   * trust question and is dropped.
   */
  async probeVersion(address: string, dialer: LabDialer): Promise<void> {
    const opts = this.#dialOptions(address);
    if (!opts) return;
    const out = await dialer.unary({
      dial: opts,
      method: 'machine.Version',
      request: {},
      metadata: { proxyfrom: this.#host.node.address, 'talos-role': ['os:reader'] },
      timeoutMs: 5_000,
    });
    if (out.kind === 'dial-failed') this.#recordFailure(address, address, out.failure);
  }

  async #session(target: string): Promise<H2GrpcSession> {
    const address = resolveTarget(this.#host.cluster, target);
    if (address === null) {
      throw new GrpcCallError(
        Status.UNAVAILABLE,
        `connection error: desc = "transport: Error while dialing: dial tcp: lookup ${target}: no such host"`,
      );
    }
    const cached = this.#pool.get(address);
    if (cached) {
      const s = await cached.catch(() => null);
      if (s && !s.closed) return s;
      if (this.#pool.get(address) === cached) this.#pool.delete(address);
    }
    const attempt = this.dial(target, address).then((r) => {
      if (!r.ok) throw new GrpcCallError(Status.UNAVAILABLE, dialErrorMessage(target, r));
      return r.session;
    });
    this.#pool.set(address, attempt);
    attempt.catch(() => {
      if (this.#pool.get(address) === attempt) this.#pool.delete(address);
    });
    return attempt;
  }

  /** Passes one call to `target`; messages go to `onMessage`; rejects with the upstream status. */
  async forward<Req, Res>(
    target: string,
    method: grpc.MethodDefinition<Req, Res>,
    request: Req,
    metadata: OutgoingMetadata,
    onMessage: (res: Res) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const session = await this.#session(target);
    await session.call(method, request, metadata, onMessage, { signal });
  }
}
