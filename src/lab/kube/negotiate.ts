/**
 * Response media type negotiation, as kube-apiserver does it (k8s.io/apiserver
 * pkg/endpoints/handlers/negotiation/negotiate.go `NegotiateOutputMediaType`, Accept parsed as
 * github.com/munnerz/goautoneg does): the Accept clauses, best `q` first (then the more specific), are
 * tried in turn and the first one naming a type the server encodes wins; no Accept header means the
 * default (JSON); none acceptable → 406 NotAcceptable.
 *
 * A real apiserver encodes JSON, YAML and protobuf; the lab encodes JSON only. So a client that lists JSON
 * anywhere (client-go's typed clients send `application/vnd.kubernetes.protobuf,application/json`: talosctl
 * lists Nodes that way) gets JSON, which it decodes by the response's Content-Type; a client that accepts
 * no JSON gets 406 naming what the lab can send, never a body it did not ask for.
 */

import { statusFailure, type KubeObject } from './objects.js';
import { patchTypeOf, unsupportedPatchStatus } from './patch.js';

interface Clause {
  type: string;
  subtype: string;
  q: number;
  /** Position in the header (stable order among equals). */
  index: number;
}

function parseAccept(accept: string): Clause[] {
  const out: Clause[] = [];
  accept.split(',').forEach((raw, index) => {
    const [range = '', ...params] = raw.split(';').map((p) => p.trim());
    const [type = '', subtype = ''] = range.toLowerCase().split('/');
    if (type === '' || subtype === '') return;
    let q = 1;
    for (const p of params) {
      const [k, v] = p.split('=').map((x) => x.trim());
      if (k === 'q' && v !== undefined && v !== '') {
        const n = Number(v);
        if (Number.isFinite(n)) q = n;
      }
    }
    out.push({ type, subtype, q, index });
  });
  // goautoneg: by q, then specificity (a wildcard sorts after a concrete type), then header order.
  const specificity = (c: Clause) => (c.type === '*' ? 0 : c.subtype === '*' ? 1 : 2);
  return out.sort((a, b) => b.q - a.q || specificity(b) - specificity(a) || a.index - b.index);
}

/** The media types the lab encodes responses in. */
export const LAB_MEDIA_TYPES = ['application/json'] as const;

/** Whether a response may be sent as JSON to a client with this Accept header. */
export function acceptsJson(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  const clauses = parseAccept(accept);
  if (clauses.length === 0) return true;
  for (const c of clauses) {
    if (c.q <= 0) continue;
    if (c.type === '*' && c.subtype === '*') return true;
    if (c.type === 'application' && (c.subtype === '*' || c.subtype === 'json')) return true;
    // A type the real server encodes but the lab does not (protobuf, yaml): the real one would answer
    // with it; the lab tries the client's next choice.
  }
  return false;
}

/** The Status a kube-apiserver answers 406 with (apimachinery errors.NewNotAcceptableError via negotiation). */
export function notAcceptableStatus(): Record<string, unknown> {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `only the following media types are accepted: ${LAB_MEDIA_TYPES.join(', ')}`,
    reason: 'NotAcceptable',
    code: 406,
  };
}

/**
 * Request bodies the lab decodes: JSON, and for a PATCH the JSON patch types (patch.ts). A real apiserver also
 * decodes YAML and protobuf; kubectl's generator commands (`kubectl create configmap`) send protobuf, which
 * the lab answers with a 415 naming what it decodes, as kube-apiserver answers a type it does not know
 * (`negotiation.NewUnsupportedMediaTypeError`). A body without a Content-Type is read as JSON.
 */
export function decodesBody(method: string, contentType: string | undefined): boolean {
  const base = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (base === '') return true;
  return method.toUpperCase() === 'PATCH' ? patchTypeOf(contentType) !== null : base === 'application/json';
}

/** The 415 for a body `decodesBody` refuses. */
export function unsupportedMediaTypeStatus(method: string): KubeObject {
  if (method.toUpperCase() === 'PATCH') return unsupportedPatchStatus();
  return statusFailure(
    415,
    'UnsupportedMediaType',
    'the body of the request was in an unknown format - accepted media types include: application/json',
  );
}
