/**
 * A worker's apid does not trust its own config's CAs: it trusts the bundle trustd returned when it last
 * registered, and serves the certificate trustd signed (talos-behaviour.md §4.2). A worker re-registers whenever its
 * own Talos CA config changes, shortly after the apply. Until it has, the next step may already rely on the new bundle
 * (e.g. control planes presenting proxy certificates signed by the new CA), so a worker's Talos patch is only done once
 * its apid certificates (`ApiCertificates.secrets.talos.dev/api`) show a registration with a control plane as it is
 * now: the bundle equals that control plane's trusted set and the server certificate is signed by its issuing CA.
 */
import { RotateError } from '../domain/errors.js';
import type { Fingerprint } from '../domain/types.js';
import { readCaState } from '../machineconfig/index.js';
import { isSignedBy } from '../pki/index.js';
import type { TalosApi } from '../talos/talos-api.js';
import { sleep } from './retry.js';

/** The first wait before looking again; it doubles up to `pollMs`. */
const FIRST_LOOK_MS = 100;

export interface RegistrationOptions {
  deadline: number;
  pollMs?: number;
  signal?: AbortSignal;
  /** Control-plane reads shared with the other workers of the wave (each read otherwise its own). */
  controlPlaneReads?: SharedReads<ControlPlaneTalosTrust>;
}

/**
 * Reads shared by callers that need a result no older than a given instant: a caller joins a read of the
 * same key that started at or after its `notBefore` (under way or just done), else starts a new one.
 * The workers of a wave all wait for their registration at once, and each poll read every control plane's
 * machine config again (3 reads and YAML parses per worker per poll, most of them of the same unchanged
 * configs); sharing keeps every check's view as fresh as its own poll would be. A failed read is not kept.
 */
export class SharedReads<T> {
  readonly #reads = new Map<string, { startedAt: number; value: Promise<T> }>();

  constructor(
    private readonly read: (key: string) => Promise<T>,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: string, notBefore: number): Promise<T> {
    const hit = this.#reads.get(key);
    if (hit && hit.startedAt >= notBefore) return hit.value;
    const entry = { startedAt: this.now(), value: this.read(key) };
    this.#reads.set(key, entry);
    entry.value.catch(() => {
      if (this.#reads.get(key) === entry) this.#reads.delete(key);
    });
    return entry.value;
  }
}

/** Control-plane trust reads for the workers of one wave, through `client`. */
export function sharedControlPlaneReads(client: TalosApi): SharedReads<ControlPlaneTalosTrust> {
  return new SharedReads((cp) => controlPlaneTrust(client, cp));
}

export interface ControlPlaneTalosTrust {
  address: string;
  trusted: Set<Fingerprint>;
  issuingPem: string | null;
}

async function controlPlaneTrust(client: TalosApi, address: string): Promise<ControlPlaneTalosTrust> {
  const mc = await client.getMachineConfig(address, { timeoutMs: 10_000 });
  const talos = readCaState(mc.yaml, `machine config of node ${address}`).talos;
  const trusted = new Set<Fingerprint>(talos.accepted.map((c) => c.fingerprint));
  if (talos.issuing) trusted.add(talos.issuing.fingerprint);
  return { address, trusted, issuingPem: talos.issuing?.certPem ?? null };
}

/** Whether the worker's current apid certificates come from a registration with one of `cps` as they are. */
export function registeredWith(
  bundle: readonly Fingerprint[],
  serverCertPem: string | null,
  cps: readonly ControlPlaneTalosTrust[],
): string | null {
  const mine = new Set(bundle);
  for (const cp of cps) {
    if (mine.size !== cp.trusted.size || ![...mine].every((f) => cp.trusted.has(f))) continue;
    if (!serverCertPem || !cp.issuingPem || !isSignedBy(serverCertPem, cp.issuingPem)) continue;
    return cp.address;
  }
  return null;
}

export async function waitWorkerRegistered(
  client: TalosApi,
  worker: string,
  controlPlanes: readonly string[],
  opts: RegistrationOptions,
): Promise<string> {
  let last: string;
  const pollMs = opts.pollMs ?? 500;
  // A worker asks trustd within moments of its apply: look again soon, then back off to every pollMs (a
  // fixed 500 ms made every worker of a Talos-only step wait at least that long).
  let delayMs = Math.min(FIRST_LOOK_MS, pollMs);
  const reads = opts.controlPlaneReads ?? sharedControlPlaneReads(client);
  const waitStart = Date.now();
  for (;;) {
    try {
      // A control plane's state read after this wait began (so after the worker's own change), and no
      // older than one poll interval.
      const notBefore = Math.max(waitStart, Date.now() - pollMs);
      const [certs, ...cps] = await Promise.all([
        client.getApiCertificates(worker, { timeoutMs: 10_000 }),
        ...controlPlanes.map((cp) => reads.get(cp, notBefore)),
      ]);
      const via = registeredWith(
        certs.acceptedCAs.map((c) => c.fingerprint),
        certs.server?.certPem ?? null,
        cps,
      );
      if (via) return via;
      last = 'its apid trust bundle does not match any control plane yet';
    } catch (err) {
      last = RotateError.is(err) ? err.message : String(err);
    }
    if (Date.now() >= opts.deadline || opts.signal?.aborted) {
      throw new RotateError(
        'APPLY_WORKER_NOT_REGISTERED',
        `worker ${worker} did not get its new apid certificate from trustd after its Talos CA change (${last})`,
        {
          hint:
            'check that the worker reaches trustd on the control planes (port 50001; ' +
            `talosctl -n ${worker} logs trustd / dmesg); then run \`rotate apply\` again to resume`,
        },
      );
    }
    await sleep(delayMs, opts.signal);
    delayMs = Math.min(delayMs * 2, pollMs);
  }
}
