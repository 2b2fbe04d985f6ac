/**
 * Turns gRPC failures of Talos API calls into RotateErrors that say which node, through which endpoint,
 * what happened, and what to do.
 *
 * What grpc-js reports (measured in test/talos/client-errors.test.ts with real mTLS on 127.0.0.1) — every
 * connection-level failure is status 14 UNAVAILABLE, with a `details` string starting
 * "No connection established. Last error: ...":
 * - server certificate not signed by a CA the client trusts: the TLS socket fails the handshake with an
 *   OpenSSL verification code (`SELF_SIGNED_CERT_IN_CHAIN` when the untrusted CA has the same subject as a
 *   trusted one, as all Talos CAs do (`O=talos`); otherwise `UNABLE_TO_VERIFY_LEAF_SIGNATURE`,
 *   `UNABLE_TO_GET_ISSUER_CERT_LOCALLY`, `CERT_SIGNATURE_FAILURE`, ...); details carry its message;
 * - server certificate without the endpoint's IP/name: `ERR_TLS_CERT_ALTNAME_INVALID`;
 * - client certificate the server rejects: with TLS 1.3 the client finishes its side of the handshake,
 *   then the server drops the connection. A grpc-js/Node server closes the socket silently, so the client
 *   only sees "Failed to connect" (no error at all); a Go server (real Talos) sends a TLS alert first, which
 *   surfaces as an `ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE` (or `..._UNKNOWN_CA`, `..._CERTIFICATE_REQUIRED`)
 *   socket error. The client's TLS connector (client.ts) records what happened on its sockets, so both
 *   shapes are told apart from a refused TCP connection;
 * - closed port: `connect ECONNREFUSED host:port` (no TLS event at all).
 * Server-side refusals arrive as ordinary statuses (7 PERMISSION_DENIED, 3 INVALID_ARGUMENT, 5 NOT_FOUND,
 * 12 UNIMPLEMENTED, 9 FAILED_PRECONDITION) with the server's message in `details`.
 */
import { RotateError } from '../domain/errors.js';

export type TalosErrorKind =
  | 'unreachable'
  | 'tls-untrusted-server'
  | 'tls-client-rejected'
  | 'permission-denied'
  | 'invalid-argument'
  | 'not-found'
  | 'unimplemented'
  | 'failed-precondition'
  | 'deadline'
  | 'cancelled'
  | 'other';

/** gRPC status codes (grpc-js `status` enum values, repeated here to keep this module free of grpc-js). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const CODE_NAMES = new Map<number, string>(Object.entries(GrpcCode).map(([name, code]) => [code, name]));

export function grpcCodeName(code: number | undefined): string {
  return code === undefined ? 'NO_STATUS' : (CODE_NAMES.get(code) ?? `CODE_${code}`);
}

/** What the client's TLS connector last saw on a connection attempt to one endpoint. */
export type TlsObservation =
  /** The handshake failed on our side or the socket errored (OpenSSL/Node error code and message). */
  | {
      readonly outcome: 'error';
      readonly code: string | undefined;
      readonly message: string;
      readonly afterHandshake: boolean;
    }
  /** Our side of the handshake completed, then the peer closed without any error. */
  | { readonly outcome: 'closed-after-handshake' }
  | { readonly outcome: 'established' };

export interface TalosCallContext {
  /** gRPC method path, e.g. `/machine.MachineService/Version`. */
  readonly method: string;
  /** Target node (`node` metadata); undefined when talking to the endpoint itself. */
  readonly node: string | undefined;
  /** Endpoint as `host:port`. */
  readonly endpoint: string;
  /** The TLS connector's last observation for this endpoint, if any. */
  readonly tls?: TlsObservation | undefined;
}

/** Minimal shape of a grpc-js ServiceError (kept structural so tests and callers need not import grpc-js). */
export interface GrpcErrorLike {
  readonly code?: number;
  readonly details?: string;
  readonly message?: string;
}

/** What a TalosApiError is made of: its own fields, the message and hint, and what it was caused by. */
export interface TalosApiErrorInit extends Pick<
  TalosApiError,
  'kind' | 'grpcCode' | 'node' | 'endpoint' | 'method' | 'detail'
> {
  readonly message: string;
  readonly hint: string;
  readonly cause?: unknown;
  /** Other endpoints tried before giving up (failover), each with its own error. */
  readonly alsoTried?: readonly TalosApiError[];
}

const CODE_BY_KIND: Record<TalosErrorKind, string> = {
  unreachable: 'TALOS_UNREACHABLE',
  'tls-untrusted-server': 'TALOS_TLS_UNTRUSTED_SERVER',
  'tls-client-rejected': 'TALOS_TLS_CLIENT_REJECTED',
  'permission-denied': 'TALOS_PERMISSION_DENIED',
  'invalid-argument': 'TALOS_INVALID_ARGUMENT',
  'not-found': 'TALOS_NOT_FOUND',
  unimplemented: 'TALOS_UNIMPLEMENTED',
  'failed-precondition': 'TALOS_FAILED_PRECONDITION',
  deadline: 'TALOS_DEADLINE',
  cancelled: 'TALOS_CANCELLED',
  other: 'TALOS_API_ERROR',
};

/** What a failure through one endpoint means, for the "also tried" list. */
const THROUGH_ENDPOINT: Record<TalosErrorKind, string> = {
  unreachable: 'no answer (endpoint down, or the node not reachable from it)',
  'tls-untrusted-server': 'its certificate is not signed by the talosconfig CA',
  'tls-client-rejected': 'it refused the talosconfig client certificate',
  'permission-denied': 'permission denied',
  'invalid-argument': 'invalid argument',
  'not-found': 'not found',
  unimplemented: 'not implemented there',
  'failed-precondition': 'failed precondition',
  deadline: 'timed out',
  cancelled: 'cancelled',
  other: 'failed',
};

/** Kinds another attempt may fix: the node or the endpoint was away, or the call ran out of time. */
const TRANSIENT_KINDS: ReadonlySet<TalosErrorKind> = new Set(['unreachable', 'deadline', 'cancelled']);

export class TalosApiError extends RotateError {
  readonly kind: TalosErrorKind;
  readonly grpcCode: number | undefined;
  readonly node: string | undefined;
  readonly endpoint: string;
  readonly method: string;
  /** Server/transport detail, already redacted. */
  readonly detail: string;
  readonly alsoTried: readonly TalosApiError[];

  constructor(init: TalosApiErrorInit) {
    super(CODE_BY_KIND[init.kind], init.message, {
      hint: init.hint,
      cause: init.cause,
      source: 'cluster',
      transient: TRANSIENT_KINDS.has(init.kind),
    });
    this.name = 'TalosApiError';
    this.kind = init.kind;
    this.grpcCode = init.grpcCode;
    this.node = init.node;
    this.endpoint = init.endpoint;
    this.method = init.method;
    this.detail = init.detail;
    this.alsoTried = init.alsoTried ?? [];
  }

  /** The same error, annotated with the endpoints that failed before it (failover). */
  withAlsoTried(others: readonly TalosApiError[]): TalosApiError {
    if (others.length === 0) return this;
    // Says what happened through each endpoint, so that a healthy endpoint that could not reach a down node
    // does not read as if the endpoint itself were down.
    const list = others.map((e) => `${e.endpoint}: ${THROUGH_ENDPOINT[e.kind]}`).join(', ');
    return new TalosApiError({
      kind: this.kind,
      grpcCode: this.grpcCode,
      node: this.node,
      endpoint: this.endpoint,
      method: this.method,
      detail: this.detail,
      message: `${this.message} (also tried through ${list})`,
      hint: this.hint ?? '',
      cause: this.cause,
      alsoTried: others,
    });
  }

  static isTalosApiError(value: unknown): value is TalosApiError {
    return RotateError.is(value) && value instanceof Error && 'kind' in value && 'endpoint' in value;
  }
}

/**
 * What Talos answers (FailedPrecondition) when the node's apply lock is held: ApplyConfiguration takes
 * `applyConfigMu` with TryLock before anything else, dry runs included
 * (internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go, v1.13.9 and HEAD).
 */
export const APPLY_LOCK_HELD_DETAIL = 'another apply configuration is already in progress';

/**
 * Whether `err` is a node refusing an ApplyConfiguration because another one holds its apply lock (ours,
 * another operator's or a controller's): FailedPrecondition with Talos's message. That frees up by itself,
 * so it is worth waiting for. v1.13.9's other FailedPrecondition ("configuration was already applied and
 * node is rebooting") is not: only a reboot ends it.
 */
export function isApplyLockHeld(err: unknown): err is TalosApiError {
  return (
    TalosApiError.isTalosApiError(err) &&
    err.grpcCode === GrpcCode.FAILED_PRECONDITION &&
    err.detail.includes(APPLY_LOCK_HELD_DETAIL)
  );
}

/**
 * Removes anything that could be key material from text that came from a server or a TLS library:
 * PEM blocks and long base64 runs (a talosconfig/machine config carries keys as base64 PEM).
 */
export function redact(text: string): string {
  return text
    .replace(/-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(-----END [A-Z0-9 ]+-----|$)/g, '(PEM redacted)')
    .replace(/[A-Za-z0-9+/_-]{60,}={0,2}/g, '(redacted)');
}

/** The useful part of grpc-js's connection-failure details ("No connection established. Last error: X."). */
export function transportDetail(details: string): string {
  const m = /Last error:\s*(.*?)(?:\s*\(\d{4}-\d\d-\d\dT[^)]*\))?\.?\s*(?:Resolution note:.*)?$/s.exec(details);
  const inner = (m?.[1] ?? details).replace(/^Error(?: \[[A-Z0-9_]+\])?:\s*/, '').trim();
  return inner;
}

/**
 * OpenSSL errors read "<hex>:error:<code>:SSL routines:<function>:<reason>:<source file>:<line>:..."; keep the
 * reason ("tlsv1 alert unknown ca").
 */
export function cleanTlsMessage(message: string): string {
  const m = /SSL routines:[^:]*:([^:]+):/.exec(message);
  return (m?.[1] ?? message).trim();
}

/** OpenSSL/Node codes meaning "the server's certificate did not verify against our trusted CAs". */
const SERVER_UNTRUSTED_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
]);
const SERVER_CERT_EXPIRED_CODES = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
const SERVER_NAME_CODES = new Set(['ERR_TLS_CERT_ALTNAME_INVALID']);
/** TLS alerts a server sends when it refuses our client certificate. */
const CLIENT_REJECTED_ALERT = new RegExp(
  `ALERT_(${[
    'BAD_CERTIFICATE',
    'UNKNOWN_CA',
    'CERTIFICATE_REQUIRED',
    'CERTIFICATE_EXPIRED',
    'CERTIFICATE_REVOKED',
    'CERTIFICATE_UNKNOWN',
    'UNSUPPORTED_CERTIFICATE',
    'ACCESS_DENIED',
    'DECRYPT_ERROR',
  ].join('|')})`,
);

function target(ctx: TalosCallContext): string {
  return ctx.node === undefined ? `endpoint ${ctx.endpoint}` : `node ${ctx.node} (via endpoint ${ctx.endpoint})`;
}

function shortMethod(method: string): string {
  return method.replace(/^\/(?:[a-z]+\.)*/, '').replace('/', '.');
}

/** Classifies a failed call. `err` is a grpc-js ServiceError (or anything with code/details). */
export function classifyGrpcError(err: GrpcErrorLike, ctx: TalosCallContext): TalosApiError {
  const code = err.code;
  const rawDetails = redact(err.details ?? err.message ?? '');
  const call = shortMethod(ctx.method);
  const who = target(ctx);
  const base = { grpcCode: code, node: ctx.node, endpoint: ctx.endpoint, method: ctx.method, cause: err };
  const make = (kind: TalosErrorKind, detail: string, message: string, hint: string) =>
    new TalosApiError({ ...base, kind, detail, message, hint });

  switch (code) {
    case GrpcCode.UNAVAILABLE:
      return classifyUnavailable(rawDetails, ctx, call, who, make);
    case GrpcCode.PERMISSION_DENIED:
    case GrpcCode.UNAUTHENTICATED:
      return make(
        'permission-denied',
        rawDetails,
        `${call} on ${who} was refused: ${rawDetails || 'permission denied'}`,
        ctx.node !== undefined && /no request forwarding/i.test(rawDetails)
          ? `endpoint ${ctx.endpoint} cannot forward requests (a worker?): use control-plane nodes as talosconfig ` +
              'endpoints'
          : 'the talosconfig client certificate lacks the os:admin role (its subject Organization); ' +
              'use an admin talosconfig',
      );
    case GrpcCode.INVALID_ARGUMENT:
      return make(
        'invalid-argument',
        rawDetails,
        `${call} on ${who} rejected the request: ${rawDetails || 'invalid argument'}`,
        'the node refused what was sent (e.g. a machine config that does not validate); fix it and retry',
      );
    case GrpcCode.NOT_FOUND:
      return make(
        'not-found',
        rawDetails,
        `${call} on ${who}: not found: ${rawDetails}`,
        'the resource does not exist on that node (check the node address, its Talos version and its role)',
      );
    case GrpcCode.UNIMPLEMENTED:
      return make(
        'unimplemented',
        rawDetails,
        `${call} is not available on ${who}: ${rawDetails || 'unimplemented'}`,
        /control plane/i.test(rawDetails)
          ? 'ask a control-plane node instead'
          : 'the node runs a Talos version without this API, or the call went to the wrong node',
      );
    case GrpcCode.FAILED_PRECONDITION:
      return make(
        'failed-precondition',
        rawDetails,
        `${call} on ${who} cannot be done now: ${rawDetails}`,
        rawDetails.includes(APPLY_LOCK_HELD_DETAIL)
          ? "another ApplyConfiguration holds the node's apply lock (another operator or controller applying a " +
              'config); wait for it to finish and retry'
          : 'the node is not in a state that allows this (e.g. still booting or in maintenance mode); ' +
              'check it and retry',
      );
    case GrpcCode.DEADLINE_EXCEEDED:
      return make(
        'deadline',
        rawDetails,
        `${call} on ${who} timed out${rawDetails ? `: ${rawDetails}` : ''}`,
        'the node or endpoint did not answer in time; check that it is up and reachable, then retry',
      );
    case GrpcCode.CANCELLED:
      return make(
        'cancelled',
        rawDetails,
        `${call} on ${who} was cancelled`,
        'the operation was interrupted; run it again',
      );
    default:
      return make(
        'other',
        rawDetails,
        `${call} on ${who} failed (${grpcCodeName(code)}): ${rawDetails || 'no details'}`,
        'see the message from the node; retry, and check the node (talosctl dmesg / logs) if it persists',
      );
  }
}

const CLIENT_REJECTED_HINT =
  "the node does not accept the talosconfig's client certificate: it was signed by a CA the node does not trust " +
  '(yet or any more), has expired, or lacks the client-auth usage; use a talosconfig issued by a CA in the ' +
  "node's accepted CAs";

/** What the server certificate's verification error codes say is wrong with it, and what to do. */
const SERVER_CERT_PROBLEMS: readonly { codes: ReadonlySet<string>; problem(endpoint: string): string; hint: string }[] =
  [
    {
      codes: SERVER_UNTRUSTED_CODES,
      problem: () => 'is not signed by a CA the talosconfig trusts',
      hint:
        "the talosconfig's CA does not match the node's issuing CA; use a talosconfig whose CA bundle includes the " +
        'Talos CA the node currently uses',
    },
    {
      codes: SERVER_CERT_EXPIRED_CODES,
      problem: () => 'is not valid now',
      hint:
        'check the clock of this machine and of the node; Talos renews its API certificate itself once its clock is ' +
        'right',
    },
    {
      codes: SERVER_NAME_CODES,
      problem: (endpoint) => `does not cover the address ${endpoint}`,
      hint:
        'use an endpoint address listed in the node certificate (node IPs and .machine.certSANs), ' +
        'or add it to .machine.certSANs',
    },
  ];

function classifyUnavailable(
  details: string,
  ctx: TalosCallContext,
  call: string,
  who: string,
  make: (kind: TalosErrorKind, detail: string, message: string, hint: string) => TalosApiError,
): TalosApiError {
  const connectionFailed = /No connection established|Failed to connect|Connection dropped/i.test(details);
  const detail = connectionFailed ? transportDetail(details) : details;
  const tls = ctx.tls;
  // The observation is about the latest connection attempt; it explains this failure only if grpc-js's
  // details carry the same error (a later attempt may have failed differently, e.g. connection refused).
  if (connectionFailed && tls?.outcome === 'error' && details.includes(cleanTlsMessage(tls.message))) {
    const tlsCode = tls.code ?? '';
    const tlsMessage = redact(cleanTlsMessage(tls.message));
    const server = SERVER_CERT_PROBLEMS.find((p) => p.codes.has(tlsCode));
    if (server) {
      return make(
        'tls-untrusted-server',
        tlsMessage,
        `cannot reach ${who}: the endpoint's server certificate ${server.problem(ctx.endpoint)} (${tlsMessage})`,
        server.hint,
      );
    }
    if (CLIENT_REJECTED_ALERT.test(tlsCode)) {
      return make(
        'tls-client-rejected',
        tlsMessage,
        `${who} rejected the talosconfig client certificate (${tlsMessage})`,
        CLIENT_REJECTED_HINT,
      );
    }
    return make(
      'unreachable',
      tlsMessage,
      `cannot reach ${who}: TLS connection failed (${tlsMessage})`,
      `check that ${ctx.endpoint} is a Talos API endpoint (port 50000) and that nothing in between intercepts TLS`,
    );
  }
  if (connectionFailed && tls?.outcome === 'closed-after-handshake' && /Failed to connect/i.test(details)) {
    return make(
      'tls-client-rejected',
      detail,
      `${who} closed the connection right after the TLS handshake: it rejected the talosconfig client certificate`,
      CLIENT_REJECTED_HINT,
    );
  }
  if (connectionFailed) {
    return make(
      'unreachable',
      detail,
      `cannot reach ${who}: ${detail || 'no connection'}`,
      `check the endpoint address ${ctx.endpoint} (Talos API port 50000), that the node is up, ` +
        'and that no firewall blocks it',
    );
  }
  // The connection to the endpoint worked; the endpoint could not reach the target node (apid proxying),
  // or the stream was cut.
  return make(
    'unreachable',
    details,
    `${call} on ${who} failed: unavailable: ${details || 'no details'}`,
    ctx.node === undefined
      ? `the endpoint ${ctx.endpoint} is not serving the API right now (rebooting?); retry`
      : `the endpoint could not reach node ${ctx.node}; check that the node is up and reachable from ${ctx.endpoint}`,
  );
}

/** Error for a response the client cannot use (missing fields, bad spec bytes); not a gRPC status. */
export function malformedResponse(ctx: Omit<TalosCallContext, 'tls'>, what: string, cause?: unknown): TalosApiError {
  return new TalosApiError({
    kind: 'other',
    grpcCode: undefined,
    node: ctx.node,
    endpoint: ctx.endpoint,
    method: ctx.method,
    detail: what,
    message: `${shortMethod(ctx.method)} on ${target(ctx)} returned an unusable answer: ${what}`,
    hint: 'the node runs a Talos version this tool does not understand, or something between rewrote the answer',
    cause,
  });
}
