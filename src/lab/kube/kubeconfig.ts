/**
 * Admin kubeconfigs for the lab, in the shape Talos's `MachineService.Kubeconfig` produces (talos-behaviour.md §3.1):
 * context and user `admin@<cluster>`, server = the cluster endpoint, CA data = the answering control
 * plane's issuing + accepted Kubernetes CAs, client certificate CN=admin O=system:masters signed by its
 * issuing CA.
 */
import { stringify } from 'yaml';
import { RotateError } from '../../domain/errors.js';
import { concatPem, issueKubernetesAdminCert, keyPemForTls } from '../../pki/index.js';
import type { LabCluster, LabNode } from '../core/model.js';

export interface KubeconfigParts {
  clusterName: string;
  server: string;
  caPem: string;
  certPem: string;
  /** PEM the client can read (already relabelled for OpenSSL when needed). */
  keyPem: string;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

export function renderKubeconfig(p: KubeconfigParts): string {
  const name = `admin@${p.clusterName}`;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: p.clusterName, cluster: { server: p.server, 'certificate-authority-data': b64(p.caPem) } }],
    users: [{ name, user: { 'client-certificate-data': b64(p.certPem), 'client-key-data': b64(p.keyPem) } }],
    contexts: [{ name, context: { cluster: p.clusterName, namespace: 'default', user: name } }],
    'current-context': name,
    preferences: {},
  });
}

/**
 * A fresh admin kubeconfig from control plane `via` (default: the first one), for `server` (default: the
 * cluster endpoint). Returns YAML holding a private key: write it 0600.
 */
export async function issueAdminKubeconfig(
  cluster: LabCluster,
  opts: { via?: LabNode; server?: string } = {},
): Promise<string> {
  const via = opts.via ?? cluster.controlPlanes[0];
  const root = via?.roots.kubernetes;
  if (!via || !root?.issuing || root.error) {
    throw new RotateError(
      'LAB_NO_KUBERNETES_CA',
      `control plane ${via?.address ?? '(none)'} has no usable issuing Kubernetes CA to sign an admin certificate`,
      {
        hint: 'apply a config with a Kubernetes issuing CA and key to that control plane',
        source: 'internal',
      },
    );
  }
  const admin = await issueKubernetesAdminCert(root.issuing);
  const issuing = root.issuing;
  const accepted = root.trusted.filter((c) => c.fingerprint !== issuing.fingerprint).map((c) => c.certPem);
  return renderKubeconfig({
    clusterName: cluster.clusterName,
    server: opts.server ?? `https://${cluster.clusterEndpointAddress}:6443`,
    caPem: concatPem([issuing.certPem, ...accepted]),
    certPem: admin.certPem,
    keyPem: keyPemForTls(admin.key),
  });
}
