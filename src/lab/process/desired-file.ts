/**
 * `DIR/rotate.yaml`: a desired-state file (schemas/rotate.schema.json) that matches the lab as it starts,
 * so that `rotate plan -f DIR/rotate.yaml` plans no change and a rotation is a small edit of it.
 *
 * Independence (docs/lab-design.md): written from a template here, not with the desired-state code, so
 * the lab does not depend on the planner's reading of the format; tests check it with `rotate validate`.
 *
 * Design, following the loader's rules on the secrets bundle (src/desired/cluster-material.ts):
 * `cluster.secretsBundle` names ./secrets.yaml, so apply keeps the lab's bundle up to date with the new
 * CAs. The two authorities therefore carry their certificates inline (public) rather than from the bundle:
 * after apply rewrote it they still name the lab's original CAs. Their keys come from the bundle; once
 * apply rewrote it, the loader calls such a key not available (a warning): a CA that does not issue needs none.
 */
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { packageUrl } from '../../package-root.js';

/** Authority names in the file. */
export const LAB_TALOS_AUTHORITY = 'talos-lab';
export const LAB_KUBERNETES_AUTHORITY = 'kubernetes-lab';

/** The package's JSON Schema of desired-state files. */
export const DESIRED_SCHEMA_PATH: string = fileURLToPath(packageUrl('schemas/rotate.schema.json'));

export interface LabDesiredInput {
  /** The talosconfig context (the cluster name). */
  context: string;
  controlPlanes: readonly string[];
  workers: readonly string[];
  /** Issuing Talos API CA certificate (PEM). */
  talosCaPem: string;
  /** Issuing Kubernetes API CA certificate (PEM). */
  kubernetesCaPem: string;
  /** Where the modeline points (default: the repository's schema). */
  schemaPath?: string;
}

/** A YAML scalar that reads back as this string (plain when unambiguous, quoted otherwise). */
function scalar(value: string): string {
  return stringify(value, { lineWidth: 0 }).trimEnd();
}

function flowList(values: readonly string[]): string {
  // Flow indicators end a plain scalar inside [...]: quote such values.
  return `[${values.map((v) => (/[,[\]{}]/.test(v) ? JSON.stringify(v) : scalar(v))).join(', ')}]`;
}

/** A PEM certificate as a literal block scalar, indented under its key. */
function pemBlock(pem: string, indent: string): string {
  const lines = pem.trim().split(/\r?\n/);
  return `|\n${lines.map((l) => `${indent}${l}`).join('\n')}`;
}

export function renderLabDesiredState(input: LabDesiredInput): string {
  const schema = input.schemaPath ?? DESIRED_SCHEMA_PATH;
  const lines = [
    `# yaml-language-server: $schema=${schema}`,
    '#',
    '# Desired CA state of the lab in this folder, written by `rotate lab up`: it matches the cluster as it',
    '# started, so `rotate plan -f rotate.yaml` plans no change. Edit it to say where a rotation should end',
    '# (see "Rotating" at the end). Relative paths start at this folder. ' +
      'Check it with `rotate validate -f rotate.yaml`.',
    'version: 1',
    '',
    'cluster:',
    "  # The lab's talosctl client config (os:admin certificate of the lab's Talos CA). Apply updates it with",
    '  # a client certificate of the new Talos CA.',
    '  talosconfig: ./talosconfig',
    `  context: ${scalar(input.context)}`,
    '  # Apply writes the admin kubeconfig of the new Kubernetes CA here (the old file is kept as a backup).',
    '  kubeconfig: ./kubeconfig',
    "  # Talos API endpoints: the control planes (a worker's apid cannot proxy to other nodes).",
    `  endpoints: ${flowList(input.controlPlanes)}`,
    '  # Every node, listed explicitly: nothing is discovered.',
    `  controlPlanes: ${flowList(input.controlPlanes)}`,
    `  workers: ${flowList(input.workers)}`,
    '  # The `talosctl gen secrets` bundle the lab was made from. Apply rewrites it with the new CAs, so that',
    "  # configs generated from it later carry them (see the authorities' keys below).",
    '  secretsBundle: ./secrets.yaml',
    '',
    "# The Talos API CA (.machine.ca / .machine.acceptedCAs): the lab's CA issues, nothing else is accepted.",
    'talos:',
    `  issuing: ${LAB_TALOS_AUTHORITY}`,
    '  accepted: []',
    '',
    '# The Kubernetes API CA (.cluster.ca or the KubeAPIServerCAConfig document), likewise.',
    'kubernetes:',
    `  issuing: ${LAB_KUBERNETES_AUTHORITY}`,
    '  accepted: []',
    '',
    'authorities:',
    "  # The lab's two CAs. Their certificates are written here (they are public) instead of being read from",
    '  # secrets.yaml, because apply rewrites that bundle with the new CAs: read from it, these names would',
    '  # silently mean the new CAs after a rotation. Their private keys are read from secrets.yaml (mode 0600);',
    '  # a key is never written in this file.',
    `  ${LAB_TALOS_AUTHORITY}:`,
    `    certificate: ${pemBlock(input.talosCaPem, '      ')}`,
    '    key: { secretsBundle: ./secrets.yaml, entry: os }',
    `  ${LAB_KUBERNETES_AUTHORITY}:`,
    `    certificate: ${pemBlock(input.kubernetesCaPem, '      ')}`,
    '    key: { secretsBundle: ./secrets.yaml, entry: k8s }',
    '',
    '# Rotating, e.g. the Talos API CA:',
    '#   rotate ca new --api talos --name talos-next --dir pki',
    "# then make it issue while the lab's CA stays accepted, and define it under authorities:",
    '#   talos: { issuing: talos-next, accepted: [talos-lab] }',
    '#     talos-next: { certificate: pki/talos-next.crt, key: { file: pki/talos-next.key } }',
    `# ${LAB_TALOS_AUTHORITY}'s \`key:\` line may stay: a CA that is only accepted needs no key, and once apply has`,
    '# rewritten secrets.yaml, that entry holds the new key and `rotate validate` calls the old one not',
    '# available (DESIRED_KEY_NOT_AVAILABLE, a warning). To finish, empty `accepted`. The Kubernetes API CA',
    '# works the same way (--api kubernetes, entry k8s).',
    '',
  ];
  return lines.join('\n');
}
