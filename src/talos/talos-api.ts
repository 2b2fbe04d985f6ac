/**
 * The Talos API as the rotation uses it (plan, apply, rollback, status): the calls made, and a factory that
 * opens a client from talosconfig credentials. The session, the apply engine and the output reconciliation
 * take a `TalosConnect` from the command that runs them (the CLI passes `connectTalos`), never build a
 * client themselves; tests pass a fake cluster that checks trust the way apid does.
 */
import { TalosClient, type TalosClientConfig } from './client.js';

/** The calls of TalosClient that the rotation makes; `close` ends its connections. */
export type TalosApi = Pick<
  TalosClient,
  | 'version'
  | 'applyConfiguration'
  | 'kubeconfig'
  | 'getResource'
  | 'getMachineConfig'
  | 'getIdentity'
  | 'getApiCertificates'
  | 'getSecretsStatus'
  | 'listMembers'
  | 'watchKubeletService'
  | 'close'
>;

/** Opens a client (its connections open on first use) through `config.endpoints` with those credentials. */
export type TalosConnect = (config: TalosClientConfig) => TalosApi;

/** The real client: gRPC over mutual TLS to apid. */
export const connectTalos: TalosConnect = (config) => new TalosClient(config);

export type { TalosClientConfig };
