/**
 * A worker's apid does not trust its own config's CAs: it trusts the bundle trustd returned when it last
 * registered, and serves the certificate trustd signed (facts §3.2). A worker re-registers whenever its own
 * Talos CA config changes, shortly after the apply. Until it has, the next step may already rely on the new
 * bundle (e.g. control planes presenting proxy certificates signed by the new CA), so a worker's Talos patch
 * is only done once its apid certificates (`ApiCertificates.secrets.talos.dev/api`) show a registration with
 * a control plane as it is now: the bundle equals that control plane's trusted set and the server
 * certificate is signed by its issuing CA.
 */
import { RotateError } from '../domain/errors.js';
import type { Fingerprint } from '../domain/types.js';
import { readCaState } from '../machineconfig/index.js';
import { isSignedBy } from '../pki/index.js';
import type { TalosClient } from '../talos/client.js';
import { sleep } from './retry.js';

export interface RegistrationOptions {
  deadline: number;
  pollMs?: number;
  signal?: AbortSignal;
}

interface ControlPlaneTalosTrust {
  address: string;
  trusted: Set<Fingerprint>;
  issuingPem: string | null;
}

async function controlPlaneTrust(client: TalosClient, address: string): Promise<ControlPlaneTalosTrust> {
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

export async function waitWorkerRegistered(client: TalosClient, worker: string, controlPlanes: readonly string[], opts: RegistrationOptions): Promise<string> {
  let last = 'not read yet';
  for (;;) {
    try {
      const [certs, ...cps] = await Promise.all([
        client.getApiCertificates(worker, { timeoutMs: 10_000 }),
        ...controlPlanes.map((cp) => controlPlaneTrust(client, cp)),
      ]);
      const via = registeredWith(certs.acceptedCAs.map((c) => c.fingerprint), certs.server?.certPem ?? null, cps);
      if (via) return via;
      last = 'its apid trust bundle does not match any control plane yet';
    } catch (err) {
      last = RotateError.is(err) ? err.message : String(err);
    }
    if (Date.now() >= opts.deadline || opts.signal?.aborted) {
      throw new RotateError('APPLY_WORKER_NOT_REGISTERED', `worker ${worker} did not get its new apid certificate from trustd after its Talos CA change (${last})`, {
        hint: `check that the worker reaches trustd on the control planes (port 50001; talosctl -n ${worker} logs trustd / dmesg); then run \`rotate apply\` again to resume`,
      });
    }
    await sleep(opts.pollMs ?? 500, opts.signal);
  }
}
