/**
 * Request messages shaped as talosctl / the COSI Go client build them, so that our bytes on the wire match
 * theirs (pinned by test/talos/wire.test.ts). Empty option messages are sent as the Go client does
 * (`Options: &GetOptions{}` etc. encode as a present, empty field); proto3 zero scalars are left out (the
 * canonical encoder in proto.ts would drop them anyway).
 */
import type { ApplyConfigurationRequest, ApplyMode, Duration, GetRequest, ListRequest, WatchRequest } from './proto.js';

/** COSI watch API version the Go client negotiates (adds BOOTSTRAPPED/ERRORED events). */
export const WATCH_API_VERSION = 1;

export function durationFromMs(ms: number): Duration {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`invalid duration ${ms} ms`);
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  return { ...(seconds !== 0 ? { seconds } : {}), ...(nanos !== 0 ? { nanos } : {}) };
}

export function applyConfigurationRequest(
  config: string | Uint8Array,
  opts: { mode: ApplyMode; dryRun?: boolean; tryModeTimeoutMs?: number },
): ApplyConfigurationRequest {
  return {
    data: typeof config === 'string' ? Buffer.from(config, 'utf8') : config,
    ...(opts.mode !== 'REBOOT' ? { mode: opts.mode } : {}),
    ...(opts.dryRun ? { dry_run: true } : {}),
    ...(opts.tryModeTimeoutMs !== undefined ? { try_mode_timeout: durationFromMs(opts.tryModeTimeoutMs) } : {}),
  };
}

export function getRequest(namespace: string, type: string, id: string): GetRequest {
  return { namespace, type, id, options: {} };
}

export function listRequest(namespace: string, type: string): ListRequest {
  return { namespace, type, options: {} };
}

/** `id` omitted: watch every resource of the type. tail_events 0 is the zero value, hence not set. */
export function watchRequest(namespace: string, type: string, id?: string): WatchRequest {
  return { namespace, type, ...(id === undefined ? {} : { id }), options: {}, api_version: WATCH_API_VERSION };
}
