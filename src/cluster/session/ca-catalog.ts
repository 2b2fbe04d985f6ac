/**
 * Every CA certificate a session knows, by fingerprint: the desired authorities and the CAs found in the
 * nodes' machine configs. Patching a config needs the PEM of each CA a target state names; identifying
 * who signed a client certificate needs the candidates.
 */
import { internalError } from '../../domain/errors.js';
import type { ApiKind, Fingerprint } from '../../domain/types.js';
import type { DesiredState } from '../../desired/types.js';
import type { MachineConfigCaState } from '../../machineconfig/index.js';
import { signerIndex } from '../../pki/index.js';

export class CaCatalog {
  readonly #pems = new Map<Fingerprint, string>();
  readonly #api = new Map<Fingerprint, ApiKind>();

  add(api: ApiKind, fingerprint: Fingerprint, certPem: string): void {
    if (!this.#pems.has(fingerprint)) this.#pems.set(fingerprint, certPem);
    if (!this.#api.has(fingerprint)) this.#api.set(fingerprint, api);
  }

  addDesired(desired: DesiredState): void {
    for (const api of ['talos', 'kubernetes'] as const) {
      const d = desired[api];
      if (!d) continue;
      for (const a of [d.issuing, ...d.accepted]) this.add(api, a.certificate.fingerprint, a.certificate.certPem);
    }
  }

  addConfig(state: MachineConfigCaState): void {
    for (const api of ['talos', 'kubernetes'] as const) {
      const s = state[api];
      for (const ca of [...(s.issuing ? [s.issuing] : []), ...s.accepted]) this.add(api, ca.fingerprint, ca.certPem);
    }
  }

  pem(fingerprint: Fingerprint): string | undefined {
    return this.#pems.get(fingerprint);
  }

  requirePem(fingerprint: Fingerprint, what: string): string {
    const pem = this.#pems.get(fingerprint);
    if (!pem) throw internalError('SESSION_INTERNAL', `no certificate known for ${what} ${fingerprint}`);
    return pem;
  }

  /** The known CA of `api` that signed `certPem`, if any. */
  signerOf(certPem: string, api: ApiKind): Fingerprint | null {
    const candidates = [...this.#pems].filter(([fp]) => this.#api.get(fp) === api);
    const i = signerIndex(
      certPem,
      candidates.map(([, pem]) => pem),
    );
    return i < 0 ? null : candidates[i]![0];
  }
}
