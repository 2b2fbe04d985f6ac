/**
 * List options as kube-apiserver applies them (pure): `labelSelector` (equality and set-based terms),
 * `fieldSelector` (metadata.name, metadata.namespace, spec.nodeName, status.phase; `=`, `==`, `!=`), and
 * chunked lists (`limit` + `continue`, as `k8s.io/apiserver/pkg/storage` does: items in key order, a
 * `metadata.continue` token naming the last key served and the list's resourceVersion, and
 * `metadata.remainingItemCount`). The lab serves a continued list from the current state (kube-apiserver
 * serves it from the snapshot at the token's resourceVersion); a token older than the watch window is
 * refused with 410 Expired, as after an etcd compaction.
 */
import { statusFailure, type KubeObject } from './objects.js';

interface Meta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
}

const metaOf = (o: KubeObject): Meta => (o.metadata ?? {}) as Meta;

/** Label selector terms: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`. */
export function matchesLabelSelector(
  labels: Record<string, string> | undefined,
  selector: string | null | undefined,
): boolean {
  if (!selector) return true;
  const l = labels ?? {};
  // Split on commas outside parentheses.
  const terms: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of selector) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth -= 1;
    if (ch === ',' && depth === 0) {
      terms.push(cur);
      cur = '';
    } else cur += ch;
  }
  terms.push(cur);
  for (const raw of terms) {
    const term = raw.trim();
    if (term === '') continue;
    const set = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (set) {
      const values = set[3]!.split(',').map((v) => v.trim());
      const has = set[1]! in l && values.includes(l[set[1]!]!);
      if (set[2] === 'in' ? !has : has) return false;
      continue;
    }
    if (term.startsWith('!')) {
      if (term.slice(1).trim() in l) return false;
      continue;
    }
    const m = /^([^!=\s]+)\s*(!=|==|=)\s*(.*)$/.exec(term);
    if (!m) {
      if (!(term in l)) return false;
      continue;
    }
    const has = l[m[1]!] === m[3]!.trim();
    if (m[2] === '!=' ? has : !has) return false;
  }
  return true;
}

/** `matchLabels` + `matchExpressions` of a metav1.LabelSelector (an empty selector matches everything). */
export function matchesSelectorObject(
  labels: Record<string, string> | undefined,
  selector:
    | {
        matchLabels?: Record<string, string>;
        matchExpressions?: { key: string; operator: string; values?: string[] }[];
      }
    | undefined,
): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector?.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of selector?.matchExpressions ?? []) {
    const has = e.key in l;
    const inValues = has && (e.values ?? []).includes(l[e.key]!);
    if (e.operator === 'In' && !inValues) return false;
    if (e.operator === 'NotIn' && inValues) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

const FIELDS: Record<string, (o: KubeObject) => string | undefined> = {
  'metadata.name': (o) => metaOf(o).name,
  'metadata.namespace': (o) => metaOf(o).namespace,
  'spec.nodeName': (o) => (o.spec as { nodeName?: string } | undefined)?.nodeName ?? '',
  'status.phase': (o) => (o.status as { phase?: string } | undefined)?.phase ?? '',
};

export type FieldSelector = { field: string; op: '=' | '!='; value: string }[];

/** Parses a field selector; a field the lab does not know is an error (kube-apiserver: 400 BadRequest). */
export function parseFieldSelector(
  selector: string | null | undefined,
  supported: readonly string[] = Object.keys(FIELDS),
): FieldSelector | { error: string } {
  const out: FieldSelector = [];
  if (!selector) return out;
  for (const raw of selector.split(',')) {
    const term = raw.trim();
    if (term === '') continue;
    const m = /^([^!=\s]+)\s*(!=|==|=)\s*(.*)$/.exec(term);
    if (!m || !supported.includes(m[1]!)) return { error: `field label not supported: ${m ? m[1] : term}` };
    out.push({ field: m[1]!, op: m[2] === '!=' ? '!=' : '=', value: m[3]!.trim() });
  }
  return out;
}

export function matchesFields(o: KubeObject, selector: FieldSelector): boolean {
  return selector.every((t) => ((FIELDS[t.field]!(o) ?? '') === t.value) === (t.op === '='));
}

/** kube-apiserver's default `--min-request-timeout` (a watch without `timeoutSeconds` ends after about that). */
const WATCH_TIMEOUT_DEFAULT_S = 1800;

/** How long a watch runs: its `timeoutSeconds` (at most an hour), else the default. */
export function watchTimeoutMs(query: URLSearchParams): number {
  const s = Number(query.get('timeoutSeconds') ?? WATCH_TIMEOUT_DEFAULT_S);
  return (Number.isFinite(s) && s > 0 ? Math.min(s, 3600) : WATCH_TIMEOUT_DEFAULT_S) * 1000;
}

/** The ERROR event's Status of a watch from a resourceVersion whose changes have left the store's history. */
export function tooOldResourceVersion(requested: string, oldest: number): KubeObject {
  return statusFailure(410, 'Expired', `too old resource version: ${requested} (${oldest})`);
}

/**
 * Whether the request asks for a watch: `watch` present with any value but "0" or "false" (any case), as
 * apimachinery's `Convert_Slice_string_To_bool` reads a query parameter (an empty value is true).
 */
export function watchRequested(query: URLSearchParams): boolean {
  const v = query.get('watch');
  return v !== null && v !== '0' && v.toLowerCase() !== 'false';
}

/**
 * The request's `labelSelector` and `fieldSelector` as one filter, or the error of a field selector naming a
 * field outside `fields` (kube-apiserver: 400 BadRequest).
 */
export function selectorFilter(
  query: URLSearchParams,
  fields: readonly string[] = Object.keys(FIELDS),
): ((o: KubeObject) => boolean) | { error: string } {
  const parsed = parseFieldSelector(query.get('fieldSelector'), fields);
  if ('error' in parsed) return parsed;
  const labels = query.get('labelSelector');
  return (o) => matchesLabelSelector(metaOf(o).labels, labels) && matchesFields(o, parsed);
}

/** One change as a watch sends it. */
export interface WatchChange<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: T;
}

/**
 * What a watch whose selector is `matches` sends for a change (k8s.io/apiserver `storage/cacher/cache_watcher.go`
 * convertToWatchEvent): an object that starts matching is ADDED, one that stops matching is DELETED (with its
 * previous content, stamped by `restamp` with the change's resourceVersion), one that matches before and after is
 * MODIFIED; null when it matches neither before nor after. `prev` is the object before a MODIFIED change; a
 * DELETED change's object is the deleted object itself.
 */
export function selectedChange<T>(
  change: WatchChange<T> & { prev?: T | undefined },
  matches: (o: T) => boolean,
  restamp: (prev: T) => T,
): WatchChange<T> | null {
  const prev = change.type === 'DELETED' ? change.object : change.prev;
  const now = change.type !== 'DELETED' && matches(change.object);
  const before = prev !== undefined && matches(prev);
  if (now) return { type: before ? 'MODIFIED' : 'ADDED', object: change.object };
  if (!before) return null;
  return { type: 'DELETED', object: change.type === 'DELETED' ? change.object : restamp(prev) };
}

/** The storage key order of a list: namespace, then name. */
export function keyOf(o: KubeObject): string {
  const m = metaOf(o);
  return m.namespace ? `${m.namespace}/${m.name}` : m.name;
}

export interface ContinueToken {
  rv: number;
  start: string;
}

/** The token kube-apiserver sends: base64 of `{"v":"meta.k8s.io/v1","rv":<rv>,"start":"<last key>\u0000"}`. */
export function encodeContinue(rv: number, lastKey: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start: `${lastKey}\u0000` })).toString('base64');
}

export function decodeContinue(token: string): ContinueToken | null {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as {
      v?: string;
      rv?: number;
      start?: string;
    };
    if (
      parsed.v !== 'meta.k8s.io/v1' ||
      typeof parsed.rv !== 'number' ||
      typeof parsed.start !== 'string' ||
      parsed.start === ''
    )
      return null;
    return { rv: parsed.rv, start: parsed.start.replace(/\u0000$/, '') };
  } catch {
    return null;
  }
}

export type PageResult =
  | { ok: true; items: KubeObject[]; continue?: string; remainingItemCount?: number }
  | { ok: false; code: 400 | 410; reason: string; message: string };

/**
 * One page of `items` (already filtered): sorted by key, starting after the token's key, at most `limit`
 * (0 or absent: all). `oldestRv`: a token older than this is expired.
 */
export function paginate(
  items: readonly KubeObject[],
  opts: { limit?: string | null; continue?: string | null; resourceVersion: number; oldestRv: number },
): PageResult {
  const sorted = [...items].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
  let start = 0;
  let rv = opts.resourceVersion;
  if (opts.continue) {
    const token = decodeContinue(opts.continue);
    if (!token)
      return {
        ok: false,
        code: 400,
        reason: 'BadRequest',
        message: 'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
      };
    if (token.rv < opts.oldestRv) {
      return {
        ok: false,
        code: 410,
        reason: 'Expired',
        message:
          'The provided continue parameter is too old to display a consistent list result. You can start a ' +
          'new list without the continue parameter, or use the continue token in this response to retrieve the ' +
          'remainder of the results. Continuing with the provided token results in an inconsistent list - ' +
          'objects that were created, modified, or deleted between the time the first chunk was returned and ' +
          'now may show up in the list.',
      };
    }
    rv = token.rv;
    start = sorted.findIndex((o) => keyOf(o) > token.start);
    if (start < 0) start = sorted.length;
  }
  const limit = Number(opts.limit ?? 0);
  if (!Number.isInteger(limit) || limit <= 0 || start + limit >= sorted.length)
    return { ok: true, items: sorted.slice(start) };
  const page = sorted.slice(start, start + limit);
  return {
    ok: true,
    items: page,
    continue: encodeContinue(rv, keyOf(page[page.length - 1]!)),
    remainingItemCount: sorted.length - start - limit,
  };
}
