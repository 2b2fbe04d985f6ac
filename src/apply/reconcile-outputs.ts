/**
 * The files a run must leave behind, checked against the target once every step is done. Outputs are
 * written after gates; a crash between a gate and its write, then a resume that finds nothing left to
 * patch, would otherwise leave a talosconfig, kubeconfig or secrets bundle that does not match the
 * cluster. This pass makes them converge: each one is rewritten only if it does not already match.
 */
import type { ApiKind } from '../domain/types.js';
import { concatPem, issueTalosClientCert, loadCa } from '../pki/index.js';
import type { PlanTarget } from '../cluster/session/build-plan.js';
import type { CaCatalog } from '../cluster/session/ca-catalog.js';
import type { IssuingKeyLookup } from '../cluster/session/config-chain.js';
import { bundleFingerprints, kubernetesOperatorClient } from '../cluster/session/operator-clients.js';
import type { Session } from '../cluster/session/open-session.js';
import { getBundleCa, loadSecretsBundle } from '../talos/secrets-bundle.js';
import { getContext, loadTalosconfig } from '../talos/talosconfig.js';
import { fetchKubeconfig } from './engine.js';
import {
  writeKubeconfigOutput,
  writeSecretsBundleOutput,
  writeTalosconfigOutput,
  type WrittenOutput,
} from './outputs.js';

export interface ReconcileDeps {
  session: Session;
  target: PlanTarget;
  /** APIs the run changed: only their files are checked (an operator's file for an untouched API is theirs). */
  changed: ReadonlySet<ApiKind>;
  catalog: CaCatalog;
  keyFor: IssuingKeyLookup;
  runId: string;
  /** The state folder, where replaced files are backed up. */
  stateDir: string;
  controlPlanes: string[];
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

export async function reconcileOutputs(deps: ReconcileDeps): Promise<WrittenOutput[]> {
  const { session, target, catalog, keyFor } = deps;
  const place = { stateDir: deps.stateDir, runId: deps.runId };
  const cluster = session.desired.cluster;
  const written: WrittenOutput[] = [];

  // talosconfig: a client certificate from a CA the cluster still accepts, trusting exactly the target's
  // CAs. A certificate that is still accepted is kept (only its CA bundle is corrected); else a new one is
  // minted from the issuing CA.
  if (target.talos && deps.changed.has('talos')) {
    const wanted = [target.talos.issuing, ...target.talos.accepted];
    const ctx = getContext(await loadTalosconfig(cluster.talosconfig), session.context.name);
    const signer = catalog.signerOf(ctx.certPem, 'talos');
    const caPem = concatPem(wanted.map((fp) => catalog.requirePem(fp, 'Talos CA')));
    const keep = signer !== null && wanted.includes(signer);
    if (!keep || !sameSet(bundleFingerprints(ctx.caPem), wanted)) {
      let client = { certPem: ctx.certPem, key: ctx.key };
      if (!keep) {
        const issuing = target.talos.issuing;
        const ca = await loadCa(
          catalog.requirePem(issuing, 'Talos CA'),
          await keyFor('talos', issuing),
          `Talos CA ${issuing.slice(0, 16)}`,
        );
        const cert = await issueTalosClientCert(ca, { roles: ['os:admin'] });
        client = { certPem: cert.certPem, key: cert.key };
      }
      written.push(
        await writeTalosconfigOutput(cluster.talosconfig, session.context.name, { caPem, ...client }, place),
      );
    }
  }

  // kubeconfig: client signed by the issuing Kubernetes CA, CA data = the target's CAs.
  if (target.kubernetes && deps.changed.has('kubernetes') && cluster.kubeconfig) {
    const wanted = [target.kubernetes.issuing, ...target.kubernetes.accepted];
    const current = await kubernetesOperatorClient(cluster.kubeconfig, catalog);
    if (!current || !wanted.includes(current.clientSigner) || !sameSet(current.trusts, wanted)) {
      const ctx = getContext(await loadTalosconfig(cluster.talosconfig), session.context.name);
      const client = session.connect({
        endpoints: session.endpoints,
        caPem: ctx.caPem,
        certPem: ctx.certPem,
        key: ctx.key,
      });
      try {
        const { text } = await fetchKubeconfig(client, deps.controlPlanes);
        const out = await writeKubeconfigOutput(cluster.kubeconfig, text, place);
        if (out) written.push(out);
      } finally {
        client.close();
      }
    }
  }

  // secrets bundle: certs.os / certs.k8s hold the issuing CAs.
  if (cluster.secretsBundle) {
    const bundle = await loadSecretsBundle(cluster.secretsBundle);
    const entries: Parameters<typeof writeSecretsBundleOutput>[1] = [];
    for (const [api, entry] of [
      ['talos', 'os'],
      ['kubernetes', 'k8s'],
    ] as const) {
      const t = target[api];
      if (!t || !deps.changed.has(api) || getBundleCa(bundle, entry).fingerprint === t.issuing) continue;
      entries.push({ entry, certPem: catalog.requirePem(t.issuing, `${api} CA`), key: await keyFor(api, t.issuing) });
    }
    if (entries.length > 0) written.push(await writeSecretsBundleOutput(cluster.secretsBundle, entries, place));
  }
  return written;
}
