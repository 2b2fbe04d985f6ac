/**
 * `rotate init`, the text it writes: a desired-state file in the same commented layout as the examples,
 * from the proposal (init-proposal.ts) and the references the command resolved. Pure; references are
 * written as given (relative to the file's folder where the caller could).
 */
import { stringify } from 'yaml';
import type { ApiKind } from '../domain/types.js';
import type { InitProposal } from './init-proposal.js';

export type InitKeyRef =
  { file: string; origin: 'key-file' | 'extracted' } | { secretsBundle: string; entry: 'os' | 'k8s' };

export interface InitRenderInput {
  schema: string;
  /** Written only when the operator named it (otherwise talosctl's resolution applies at plan time). */
  talosconfig: string | null;
  context: string;
  endpoints: readonly string[];
  /** Endpoints that are not node addresses (VIP, load balancer, DNS name). */
  endpointsNotNodes: readonly string[];
  kubeconfig: string;
  controlPlanes: readonly string[];
  workers: readonly string[];
  discovered: boolean;
  secretsBundle: string | null;
  proposal: InitProposal;
  /** Per authority name: its certificate file (as referenced) and key, if any. */
  certificates: Record<string, string>;
  keys: Record<string, InitKeyRef>;
  /** When the file was written, for its header. */
  now: Date;
}

function scalar(value: string): string {
  return stringify(value, { lineWidth: 0 }).trimEnd();
}

function flowList(values: readonly string[]): string {
  return `[${values.map((v) => (/[,[\]{}]/.test(v) ? JSON.stringify(v) : scalar(v))).join(', ')}]`;
}

function keyText(ref: InitKeyRef): string {
  return 'file' in ref
    ? `{ file: ${scalar(ref.file)} }`
    : `{ secretsBundle: ${scalar(ref.secretsBundle)}, entry: ${ref.entry} }`;
}

const SECTION_COMMENT: Record<ApiKind, string> = {
  talos: '# The Talos API CA (.machine.ca / .machine.acceptedCAs): apid, talosconfig client certificates.',
  kubernetes:
    '# The Kubernetes API CA (.cluster.ca or the KubeAPIServerCAConfig document): ' +
    'kube-apiserver, kubelets, kubeconfig.',
};

export function renderInitDesiredState(input: InitRenderInput): string {
  const { proposal } = input;
  const nameOf = new Map(proposal.cas.map((c) => [`${c.api}:${c.fingerprint}`, c.name]));
  const name = (api: ApiKind, fp: string): string => nameOf.get(`${api}:${fp}`)!;
  const lines = [
    `# yaml-language-server: $schema=${input.schema}`,
    '#',
    `# Written by \`rotate init\` on ${input.now.toISOString().slice(0, 10)} from the machine configs of the nodes ` +
      'below: it says',
    '# what the cluster trusts now, so `rotate plan -f FILE` plans no change' +
      (proposal.disagreements.length > 0 ? ' except where nodes disagreed' : '') +
      '. To rotate a CA:',
    '#   rotate ca new -f FILE --api talos --name talos-next --make-issuing',
    'version: 1',
    '',
    'cluster:',
  ];
  if (input.talosconfig) lines.push(`  talosconfig: ${scalar(input.talosconfig)}`);
  else lines.push("  # talosconfig: not set, so talosctl's order applies: $TALOSCONFIG, then ~/.talos/config.");
  lines.push(`  context: ${scalar(input.context)}`);
  lines.push('  # Apply merges the admin kubeconfig of a new Kubernetes CA here (the file it replaces is backed up).');
  lines.push(`  kubeconfig: ${scalar(input.kubeconfig)}`);
  if (input.endpointsNotNodes.length > 0) {
    lines.push(
      `  # Talos API endpoints. ${input.endpointsNotNodes.join(', ')} ` +
        `${input.endpointsNotNodes.length === 1 ? 'is' : 'are'} ` +
        'not a node address (a VIP or load balancer): an endpoint only, never a node.',
    );
  } else lines.push("  # Talos API endpoints: control planes (a worker's apid cannot proxy to other nodes).");
  lines.push(`  endpoints: ${flowList(input.endpoints)}`);
  lines.push(
    input.discovered
      ? '  # Every node, as discovery (the Members resources) listed them on the day init ran: keep this list current.'
      : '  # Every node, listed explicitly: nothing is discovered.',
  );
  lines.push(`  controlPlanes: ${flowList(input.controlPlanes)}`);
  lines.push(`  workers: ${flowList(input.workers)}`);
  if (input.secretsBundle) {
    lines.push('  # The `talosctl gen secrets` bundle of this cluster: apply rewrites it with new CAs.');
    lines.push(`  secretsBundle: ${scalar(input.secretsBundle)}`);
  }
  for (const api of ['talos', 'kubernetes'] as const) {
    const a = proposal[api];
    lines.push(
      '',
      SECTION_COMMENT[api],
      `${api}:`,
      `  issuing: ${scalar(name(api, a.issuing))}`,
      `  accepted: ${flowList(a.accepted.map((fp) => name(api, fp)))}`,
    );
  }
  lines.push('', 'authorities:');
  lines.push('  # Certificates as files under pki/ (public). A key is referenced, never written in this file; a CA');
  lines.push('  # that is only accepted needs none, nor does one the whole cluster already issues from.');
  for (const ca of proposal.cas) {
    lines.push(
      `  # ${ca.api === 'talos' ? 'Talos API' : 'Kubernetes API'} CA, sha256 ${ca.fingerprint}, ` +
        `valid until ${ca.notAfter.toISOString().slice(0, 10)}.`,
    );
    lines.push(`  ${scalar(ca.name)}:`, `    certificate: ${scalar(input.certificates[ca.name]!)}`);
    const key = input.keys[ca.name];
    if (!key && proposal[ca.api].issuing === ca.fingerprint) {
      lines.push(
        "    # No key: fine while the cluster issues from it (apply escrows it from a control plane's config).",
      );
    }
    if (key) {
      if ('file' in key && key.origin === 'extracted')
        lines.push(
          "    # Copied from a control plane's machine config by `rotate init --extract-keys` (0600; " +
            'keep it out of git).',
        );
      if ('secretsBundle' in key)
        lines.push(
          '    # Once apply has rewritten the bundle, this entry holds the new key and the loader calls this one ' +
            'not available.',
        );
      lines.push(`    key: ${keyText(key)}`);
    }
  }
  lines.push('');
  return lines.join('\n');
}
