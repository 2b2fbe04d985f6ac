/**
 * The Talos clients a run uses (docs/plan-format.md `talosClients`): the operator's talosconfig as found
 * (`current`), and one admin client certificate minted from the new issuing Talos CA, used first with a
 * CA bundle of old + new (`intermediate`: reconnects never fail while control planes swap) and then with
 * the new CA alone (`new`). The minted certificate is also what the talosconfig outputs carry.
 */
import { internalError } from '../domain/errors.js';
import type { Secret } from '../domain/secret.js';
import type { Fingerprint } from '../domain/types.js';
import type { ClientDescription, Plan, TalosClientKind } from '../plan/model/index.js';
import { concatPem, issueTalosClientCert, loadCa, type IssuedCert } from '../pki/index.js';
import type { CaCatalog } from '../cluster/session/ca-catalog.js';
import type { TalosApi, TalosConnect } from '../talos/talos-api.js';
import type { TalosContext } from '../talos/talosconfig.js';

export interface ClientCredentials {
  caPem: string;
  certPem: string;
  key: Secret;
}

export class RunClients {
  readonly #endpoints: string[];
  readonly #current: ClientCredentials;
  readonly #clients = new Map<TalosClientKind, TalosApi>();
  #minted: IssuedCert | null = null;

  constructor(
    endpoints: string[],
    context: TalosContext,
    private readonly plan: Plan,
    private readonly catalog: CaCatalog,
    private readonly signerKey: (fingerprint: Fingerprint) => Promise<Secret>,
    private readonly connect: TalosConnect,
  ) {
    this.#endpoints = endpoints;
    this.#current = { caPem: context.caPem, certPem: context.certPem, key: context.key };
  }

  async credentials(kind: TalosClientKind): Promise<ClientCredentials> {
    if (kind === 'current') return this.#current;
    const desc = this.plan.talosClients[kind];
    if (!desc) throw internalError('APPLY_INTERNAL', `the plan has no ${kind} Talos client`);
    const cert = await this.#mint(desc);
    return {
      caPem: concatPem(desc.trusts.map((fp) => this.catalog.requirePem(fp, 'Talos CA'))),
      certPem: cert.certPem,
      key: cert.key,
    };
  }

  async client(kind: TalosClientKind): Promise<TalosApi> {
    const existing = this.#clients.get(kind);
    if (existing) return existing;
    const c = this.connect({ endpoints: this.#endpoints, ...(await this.credentials(kind)) });
    this.#clients.set(kind, c);
    return c;
  }

  /** A new client of `kind` with its own connections (the caller closes it): each gate check handshakes anew. */
  async fresh(kind: TalosClientKind): Promise<TalosApi> {
    return this.connect({ endpoints: this.#endpoints, ...(await this.credentials(kind)) });
  }

  async #mint(desc: ClientDescription): Promise<IssuedCert> {
    if (this.#minted) return this.#minted;
    if (!desc.signer)
      throw internalError('APPLY_INTERNAL', 'the plan describes a minted Talos client without a signer');
    const ca = await loadCa(
      this.catalog.requirePem(desc.signer, 'Talos CA'),
      await this.signerKey(desc.signer),
      `Talos CA ${desc.signer.slice(0, 16)}`,
    );
    this.#minted = await issueTalosClientCert(ca, { roles: ['os:admin'] });
    return this.#minted;
  }

  close(): void {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }
}
