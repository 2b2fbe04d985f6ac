/**
 * The OpenSSL settings a detached lab runs with: its TLS servers send no TLS 1.3 session tickets, where
 * OpenSSL sends two after every full handshake. Talos's apid and trustd send none either: their TLS configs
 * come from siderolabs/crypto `tls.New`, whose defaults set `SessionTicketsDisabled` (tls/tls.go). The
 * kube-apiserver keeps Go's default and sends one (k8s.io/apiserver pkg/server/secure_serving.go), which no
 * client resumes: nothing in the lab or in talos-rotate does (every dial the lab emulates is a fresh, fully
 * verified handshake, kube/dial.ts, talos/dial-call.ts), nor do Go clients without a session cache
 * (kubelets, talosctl, kubectl). Building a ticket copies the session, peer certificate included, through
 * OpenSSL 3.0's slow key decoder: about 4% of the lab's main thread during a 200-node rotation (perf,
 * docs/lab-design.md). No verdict depends on tickets.
 *
 * Node reads only the `nodejs_conf` section of the file `--openssl-config` names. A user who configures
 * OpenSSL for Node already (OPENSSL_CONF, or an OpenSSL flag in NODE_OPTIONS) keeps that configuration.
 */
import * as path from 'node:path';

export const DAEMON_OPENSSL_FILE = 'openssl.cnf';

export const DAEMON_OPENSSL_CONFIG = [
  '# Written by `rotate lab up --detach` for the lab process (src/lab/process/daemon-openssl.ts):',
  '# its TLS servers send no TLS 1.3 session tickets, which nothing in the lab resumes.',
  'nodejs_conf = nodejs_init',
  '',
  '[nodejs_init]',
  'ssl_conf = ssl_sect',
  '',
  '[ssl_sect]',
  'system_default = system_default_sect',
  '',
  '[system_default_sect]',
  'NumTickets = 0',
  '',
].join('\n');

/** Does the environment configure OpenSSL for Node already? */
export function userConfiguresOpenssl(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.OPENSSL_CONF) || /--openssl-(?:config|shared-config)\b/.test(env.NODE_OPTIONS ?? '');
}

/**
 * Where the lab's OpenSSL settings go and the node flag that loads them; null when the user's own
 * configuration applies instead.
 */
export function daemonOpenssl(dir: string, env: NodeJS.ProcessEnv): { file: string; flag: string } | null {
  if (userConfiguresOpenssl(env)) return null;
  const file = path.join(dir, DAEMON_OPENSSL_FILE);
  return { file, flag: `--openssl-config=${file}` };
}
