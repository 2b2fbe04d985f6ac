/**
 * A rotation session: the desired state, the operator's talosconfig context and a Talos client built
 * from it. Shared by `plan`, `apply` and `rollback`.
 */
import { RotateError } from '../../domain/errors.js';
import { loadDesiredState } from '../../desired/index.js';
import type { DesiredState, Diagnostic } from '../../desired/types.js';
import type { TalosApi, TalosConnect } from '../../talos/talos-api.js';
import { applyClusterOverrides, type ClusterOverrides } from './cluster-overrides.js';
import { getContext, loadTalosconfig, type Talosconfig, type TalosContext } from '../../talos/talosconfig.js';

export interface Session {
  desired: DesiredState;
  warnings: Diagnostic[];
  talosconfig: Talosconfig;
  context: TalosContext;
  /** Control-plane endpoints in use: the desired state's `cluster.endpoints`, else the context's. */
  endpoints: string[];
  client: TalosApi;
  /** How this session's Talos clients are opened (the engine and output reconciliation open more with it). */
  connect: TalosConnect;
  close(): void;
}

export async function openSession(
  desiredFile: string,
  connect: TalosConnect,
  overrides: ClusterOverrides = {},
): Promise<Session> {
  const { state: desired, warnings } = await loadDesiredState(desiredFile);
  return openSessionFor(desired, connect, warnings, overrides);
}

export async function openSessionFor(
  loaded: DesiredState,
  connect: TalosConnect,
  warnings: Diagnostic[] = [],
  overrides: ClusterOverrides = {},
): Promise<Session> {
  const desired = applyClusterOverrides(loaded, overrides);
  const talosconfig = await loadTalosconfigOrExplain(desired);
  const context = getContext(talosconfig, desired.cluster.context);
  const endpoints = desired.cluster.endpoints ?? context.endpoints;
  if (endpoints.length === 0) {
    throw new RotateError(
      'SESSION_NO_ENDPOINTS',
      `talosconfig context ${context.name} has no endpoints and ${desired.file} sets no cluster.endpoints`,
      {
        hint: 'list the control-plane endpoints under cluster.endpoints (or pass --endpoints)',
      },
    );
  }
  const client = connect({ endpoints, caPem: context.caPem, certPem: context.certPem, key: context.key });
  return { desired, warnings, talosconfig, context, endpoints, client, connect, close: () => client.close() };
}

async function loadTalosconfigOrExplain(desired: DesiredState): Promise<Talosconfig> {
  try {
    return await loadTalosconfig(desired.cluster.talosconfig);
  } catch (err) {
    if (RotateError.is(err)) throw err;
    throw new RotateError(
      'SESSION_TALOSCONFIG',
      `cannot read the talosconfig ${desired.cluster.talosconfig}: ${(err as Error).message}`,
      {
        hint:
          desired.cluster.talosconfigSource === 'flag'
            ? 'check the --talosconfig path'
            : `set cluster.talosconfig in ${desired.file} to the talosconfig of this cluster (or pass --talosconfig)`,
      },
    );
  }
}
