/**
 * A `talosctl gen secrets` bundle for an emulated cluster (talos-behaviour.md §4.1, §6.2;
 * siderolabs/talos pkg/machinery/config/generate/secrets): Talos API CA Ed25519 O=talos, Kubernetes CA ECDSA
 * P-256 O=kubernetes, aggregator CA ECDSA P-256 with an empty subject, etcd CA ECDSA P-256 O=etcd, a service-account
 * key (RSA 4096 as the v1.13/v1.14 contracts make it; ECDSA P-256 on request, for speed), bootstrap and
 * trustd tokens (`[a-z0-9]{6}.[a-z0-9]{16}`), secretbox secret and cluster id/secret (32 random bytes, base64;
 * the cluster id URL-safe, as talosctl writes it).
 */
import { generateKeyPair, randomBytes, randomInt } from 'node:crypto';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { Secret } from '../../domain/secret.js';
import {
  encodeTalosBase64Pem,
  generateCa,
  generateKubernetesCa,
  generateTalosCa,
  type CaMaterial,
} from '../../pki/index.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export interface LabSecrets {
  clusterId: string;
  clusterSecret: string;
  bootstrapToken: string;
  secretboxEncryptionSecret: string;
  trustdToken: string;
  /** Talos API CA (`certs.os`). */
  os: CaMaterial;
  /** Kubernetes API CA (`certs.k8s`). */
  k8s: CaMaterial;
  k8sAggregator: CaMaterial;
  etcd: CaMaterial;
  /** Service-account signing key, PEM (`RSA PRIVATE KEY` or `EC PRIVATE KEY`). */
  serviceAccountKey: Secret;
}

/**
 * The service-account key Talos generates with a cluster's secrets (pkg/machinery/config/generate/secrets/
 * bundle.go, contract.go UseRSAServiceAccountKey): RSA 4096 under contracts after 1.6, ECDSA P-256 before. Secrets
 * are generated once, so a cluster first made under 1.6 or older keeps its ECDSA key through upgrades.
 */
export const SERVICE_ACCOUNT_KEY_KINDS = ['rsa-4096', 'ecdsa-p256'] as const;
export type ServiceAccountKeyKind = (typeof SERVICE_ACCOUNT_KEY_KINDS)[number];

export interface LabSecretsOptions {
  now?: Date;
  /** `rsa-4096` (default, what talosctl makes for current contracts) or `ecdsa-p256` (older contracts; fast). */
  serviceAccountKey?: ServiceAccountKeyKind;
}

const TOKEN_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

function tokenPart(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += TOKEN_ALPHABET[randomInt(TOKEN_ALPHABET.length)];
  return s;
}

/** A kubeadm-style token `xxxxxx.yyyyyyyyyyyyyyyy` as Talos generates bootstrap and trustd tokens. */
export function generateToken(): string {
  return `${tokenPart(6)}.${tokenPart(16)}`;
}

async function serviceAccountKey(kind: ServiceAccountKeyKind): Promise<Secret> {
  if (kind === 'rsa-4096') {
    const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: 4096, publicExponent: 0x10001 });
    return new Secret(privateKey.export({ type: 'pkcs1', format: 'pem' }) as string);
  }
  const { privateKey } = await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
  return new Secret(privateKey.export({ type: 'sec1', format: 'pem' }) as string);
}

export async function generateLabSecrets(opts: LabSecretsOptions = {}): Promise<LabSecrets> {
  const now = opts.now;
  const [os, k8s, k8sAggregator, etcd, sa] = await Promise.all([
    generateTalosCa({ now }),
    generateKubernetesCa({ now }),
    // NewAggregatorCA (pkg/machinery/config/generate/secrets/ca.go) passes CommonName("front-proxy"), but
    // siderolabs/crypto x509.NewSelfSignedCertificateAuthority (x509/certificate_authority.go, v0.6.5) puts
    // only Organization into the subject, so the real aggregator CA's subject is empty (seen in the output
    // of the real talosctl gen secrets).
    generateCa({ algorithm: 'ecdsa-p256', now }),
    generateCa({ algorithm: 'ecdsa-p256', organizations: ['etcd'], now }),
    serviceAccountKey(opts.serviceAccountKey ?? 'rsa-4096'),
  ]);
  return {
    clusterId: randomBytes(32).toString('base64url') + '=',
    clusterSecret: randomBytes(32).toString('base64'),
    bootstrapToken: generateToken(),
    secretboxEncryptionSecret: randomBytes(32).toString('base64'),
    trustdToken: generateToken(),
    os,
    k8s,
    k8sAggregator,
    etcd,
    serviceAccountKey: sa,
  };
}

const pair = (ca: CaMaterial) => ({
  crt: encodeTalosBase64Pem(ca.certPem),
  key: encodeTalosBase64Pem(ca.key.reveal()),
});

/**
 * The bundle as `talosctl gen secrets` writes it (keys are lower-cased Go field names, 4-space indent,
 * `crt`/`key` base64 of PEM). Holds private keys: write it with mode 0600.
 */
export function renderSecretsBundle(s: LabSecrets): string {
  return stringify(
    {
      cluster: { id: s.clusterId, secret: s.clusterSecret },
      secrets: { bootstraptoken: s.bootstrapToken, secretboxencryptionsecret: s.secretboxEncryptionSecret },
      trustdinfo: { token: s.trustdToken },
      certs: {
        etcd: pair(s.etcd),
        k8s: pair(s.k8s),
        k8saggregator: pair(s.k8sAggregator),
        k8sserviceaccount: { key: encodeTalosBase64Pem(s.serviceAccountKey.reveal()) },
        os: pair(s.os),
      },
    },
    { indent: 4, lineWidth: 0 },
  );
}
