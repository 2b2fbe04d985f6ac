/**
 * The credentials the operator uses today, as the safety model needs them: which CA signed the client
 * certificate and which CAs the client trusts for the server. Read from the talosconfig context and the
 * kubeconfig file named in the desired state.
 */
import { promises as fs } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { Fingerprint } from '../../domain/types.js';
import type { OperatorClient } from '../../plan/model/index.js';
import { bundleBlocks, fingerprintOfDer } from '../../pki/index.js';
import type { TalosContext } from '../../talos/talosconfig.js';
import type { CaCatalog } from './ca-catalog.js';

/**
 * Every certificate of a CA bundle as the Go clients (talosctl, client-go) read it: all blocks, minus one
 * whose END line runs into the next block, and that next one (talos-behaviour.md §5.1).
 */
export function bundleFingerprints(pem: string): Fingerprint[] {
  return bundleBlocks(pem)
    .filter((b) => b.label === 'CERTIFICATE')
    .map((b) => fingerprintOfDer(b.der));
}

export function talosOperatorClient(context: TalosContext, catalog: CaCatalog): OperatorClient | null {
  const signer = catalog.signerOf(context.certPem, 'talos');
  return signer ? { clientSigner: signer, trusts: bundleFingerprints(context.caPem) } : null;
}

interface KubeconfigDoc {
  'current-context'?: string;
  contexts?: { name: string; context?: { cluster?: string; user?: string } }[];
  clusters?: { name: string; cluster?: { 'certificate-authority-data'?: string } }[];
  users?: { name: string; user?: { 'client-certificate-data'?: string } }[];
}

/** The admin kubeconfig at `path`, if it exists and holds embedded certificates; null otherwise. */
export async function kubernetesOperatorClient(
  path: string | undefined,
  catalog: CaCatalog,
): Promise<OperatorClient | null> {
  if (!path) return null;
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch {
    return null;
  }
  try {
    const doc = parseYaml(text) as KubeconfigDoc;
    const ctx = doc.contexts?.find((c) => c.name === doc['current-context'])?.context;
    const caData = doc.clusters?.find((c) => c.name === ctx?.cluster)?.cluster?.['certificate-authority-data'];
    const certData = doc.users?.find((u) => u.name === ctx?.user)?.user?.['client-certificate-data'];
    if (!caData || !certData) return null;
    const certPem = Buffer.from(certData, 'base64').toString('utf8');
    const signer = catalog.signerOf(certPem, 'kubernetes');
    if (!signer) return null;
    return { clientSigner: signer, trusts: bundleFingerprints(Buffer.from(caData, 'base64').toString('utf8')) };
  } catch {
    return null;
  }
}
