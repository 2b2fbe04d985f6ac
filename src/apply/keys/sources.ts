/**
 * Escrow items for the two places keys come from: a desired-state authority (key file, environment
 * variable, secrets bundle: loadAuthorityKey) and a control plane's machine config (the current issuing
 * key: readCaKey). Each says, for messages, where it looks; neither reads anything until escrow asks.
 */
import { RotateError } from '../../domain/errors.js';
import type { Secret } from '../../domain/secret.js';
import type { ApiKind, Fingerprint } from '../../domain/types.js';
import { loadAuthorityKey, type Authority, type KeySource } from '../../desired/index.js';
import { readCaKey } from '../../machineconfig/index.js';
import type { KeyRole } from '../../state/types.js';
import type { EscrowItem } from './escrow.js';

const BUNDLE_FIELD = { os: 'certs.os.key', k8s: 'certs.k8s.key' } as const;

/** `key file /x/ca.key`, `environment variable TALOS_CA_KEY`, `secrets bundle /x/secrets.yaml (certs.os.key)`. */
export function describeKeySource(source: KeySource): string {
  switch (source.kind) {
    case 'file':
      return `key file ${source.path}`;
    case 'env':
      return `environment variable ${source.variable}`;
    case 'secretsBundle':
      return `secrets bundle ${source.path} (${BUNDLE_FIELD[source.entry]})`;
  }
}

/** The key of a desired-state authority, as loadAuthorityKey reads it (checked against its certificate). */
export function authorityKeyItem(
  authority: Authority,
  api: ApiKind,
  role: KeyRole,
  opts: { env?: NodeJS.ProcessEnv } = {},
): EscrowItem {
  return {
    api,
    fingerprint: authority.certificate.fingerprint,
    role,
    certPem: authority.certificate.certPem,
    name: authority.name,
    source: authority.keySource
      ? describeKeySource(authority.keySource)
      : `the desired-state file (authorities.${authority.name} has no key)`,
    obtain: () => loadAuthorityKey(authority, opts.env ? { env: opts.env } : {}),
  };
}

/**
 * The current issuing key of an API from a control plane's machine config (`.machine.ca.key`,
 * `.cluster.ca.key` or the KubeAPIServerCAConfig document). `config` may be the text or a fetcher.
 */
export function machineConfigKeyItem(opts: {
  api: ApiKind;
  role: KeyRole;
  certPem: string;
  fingerprint: Fingerprint;
  name: string | null;
  node: string;
  config: string | (() => Promise<string>);
}): EscrowItem {
  const where = `machine config of ${opts.node}`;
  return {
    api: opts.api,
    fingerprint: opts.fingerprint,
    role: opts.role,
    certPem: opts.certPem,
    name: opts.name,
    source: `the ${where}`,
    obtain: async (): Promise<Secret> => {
      const text = typeof opts.config === 'string' ? opts.config : await opts.config();
      const key = readCaKey(text, opts.api, where);
      if (!key) {
        throw new RotateError(
          'KEYS_NOT_IN_CONFIG',
          `the ${where} holds no ${opts.api === 'talos' ? 'Talos API' : 'Kubernetes API'} CA key`,
          {
            hint: 'read it from a control plane (workers carry no CA keys), or name the key in the desired-state file',
          },
        );
      }
      return key;
    },
  };
}
