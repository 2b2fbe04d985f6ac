/**
 * The PATCH bodies kube-apiserver accepts (pure): JSON merge patch (RFC 7386,
 * `application/merge-patch+json`), strategic merge patch (`application/strategic-merge-patch+json`, what
 * kubectl sends for `rollout restart`: `{"spec":{"template":{"metadata":{"annotations":{...}}}}}`) and
 * JSON patch (RFC 6902, `application/json-patch+json`).
 *
 * Strategic merge as `k8s.io/apimachinery/pkg/util/strategicpatch` applies it to the built-in types: maps
 * merge recursively and `null` deletes a key; lists whose field has a patch merge key in the Go types
 * (containers, initContainers, volumes, env, volumeMounts by `name`; ports by `containerPort`) merge by
 * that key; other lists are replaced. The `$patch: replace|delete` directive is honoured; the `$setElementOrder`
 * and `$retainKeys` directives are accepted and ignored (they only order or prune, which the lab does not need).
 */

import { statusFailure, type KubeObject } from './objects.js';

type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

export type PatchType = 'merge' | 'strategic' | 'json';

/** The patch type of a Content-Type header (null: kube-apiserver answers 415 UnsupportedMediaType). */
export function patchTypeOf(contentType: string | undefined): PatchType | null {
  const base = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (base === 'application/merge-patch+json') return 'merge';
  if (base === 'application/strategic-merge-patch+json') return 'strategic';
  if (base === 'application/json-patch+json') return 'json';
  return null;
}

/** RFC 7386. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: Record<string, Json> = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Patch merge keys of list fields in the core/apps types the lab serves (field name → key). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  env: 'name',
  volumeMounts: 'mountPath',
  ports: 'containerPort',
  imagePullSecrets: 'name',
  tolerations: 'key',
};

function strategicList(field: string, target: Json, patch: Json[]): Json[] {
  const key = MERGE_KEYS[field];
  if (!key || !Array.isArray(target)) return clone(patch).filter((e) => !(isObject(e) && e.$patch === 'delete'));
  const out = clone(target) as Json[];
  for (const el of patch) {
    if (!isObject(el) || !(key in el)) {
      out.push(clone(el));
      continue;
    }
    const at = out.findIndex((t) => isObject(t) && t[key] === el[key]);
    if (el.$patch === 'delete') {
      if (at >= 0) out.splice(at, 1);
    } else if (at >= 0) out[at] = strategicMerge(out[at], el);
    else out.push(strategicMerge({}, el));
  }
  return out;
}

/** Strategic merge patch of a built-in object. */
export function strategicMerge(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _, ...rest } = patch;
    return clone(rest);
  }
  if (patch.$patch === 'delete') return {};
  const out: Record<string, Json> = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (
      k === '$patch' ||
      k === '$retainKeys' ||
      k.startsWith('$setElementOrder/') ||
      k.startsWith('$deleteFromPrimitiveList/')
    )
      continue;
    if (v === null) delete out[k];
    else if (Array.isArray(v)) out[k] = strategicList(k, out[k], v);
    else if (isObject(v)) out[k] = strategicMerge(out[k], v);
    else out[k] = v;
  }
  return out;
}

export class JsonPatchError extends Error {}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new JsonPatchError(`invalid JSON pointer ${JSON.stringify(path)}`);
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: Json, tokens: string[], path: string): { parent: Record<string, Json> | Json[]; last: string } {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (isObject(cur)) cur = cur[t];
    else cur = undefined;
    if (cur === undefined) throw new JsonPatchError(`doc is missing path: "${path}"`);
  }
  if (!Array.isArray(cur) && !isObject(cur)) throw new JsonPatchError(`doc is missing path: "${path}"`);
  return { parent: cur, last: tokens[tokens.length - 1]! };
}

function getAt(doc: Json, path: string): Json {
  let cur = doc;
  for (const t of pointer(path)) {
    cur = Array.isArray(cur) ? cur[Number(t)] : isObject(cur) ? cur[t] : undefined;
    if (cur === undefined) throw new JsonPatchError(`doc is missing path: "${path}"`);
  }
  return cur;
}

/** RFC 6902: add, remove, replace, move, copy, test. */
export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw new JsonPatchError('a JSON patch must be an array of operations');
  let doc = clone(target);
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string')
      throw new JsonPatchError('each operation needs op and path');
    const { op, path } = raw as { op: string; path: string };
    const tokens = pointer(path);
    const write = (value: Json, insert: boolean): void => {
      if (tokens.length === 0) {
        doc = clone(value);
        return;
      }
      const { parent, last } = parentOf(doc, tokens, path);
      if (Array.isArray(parent)) {
        const i = last === '-' ? parent.length : Number(last);
        if (!Number.isInteger(i) || i < 0 || i > parent.length || (!insert && i >= parent.length))
          throw new JsonPatchError(`index out of range at "${path}"`);
        if (insert) parent.splice(i, 0, clone(value));
        else parent[i] = clone(value);
      } else {
        if (!insert && !(last in parent))
          throw new JsonPatchError(`replace operation does not apply: doc is missing key: ${path}`);
        parent[last] = clone(value);
      }
    };
    const remove = (): Json => {
      const { parent, last } = parentOf(doc, tokens, path);
      if (Array.isArray(parent)) {
        const i = Number(last);
        if (!Number.isInteger(i) || i < 0 || i >= parent.length)
          throw new JsonPatchError(`index out of range at "${path}"`);
        return parent.splice(i, 1)[0];
      }
      if (!(last in parent))
        throw new JsonPatchError(`remove operation does not apply: doc is missing path: "${path}"`);
      const v = parent[last];
      delete parent[last];
      return v;
    };
    if (op === 'add') write(raw.value, true);
    else if (op === 'replace') write(raw.value, false);
    else if (op === 'remove') remove();
    else if (op === 'test') {
      if (JSON.stringify(getAt(doc, path)) !== JSON.stringify(raw.value))
        throw new JsonPatchError(`testing value ${path} failed`);
    } else if (op === 'copy' || op === 'move') {
      if (typeof raw.from !== 'string') throw new JsonPatchError(`${op} needs from`);
      const from = raw.from;
      const value = getAt(doc, from);
      if (op === 'move') {
        const saved = tokens.splice(0, tokens.length, ...pointer(from));
        remove();
        tokens.splice(0, tokens.length, ...saved);
      }
      write(value, true);
    } else throw new JsonPatchError(`Unexpected kind: ${op}`);
  }
  return doc;
}

export function applyPatch(type: PatchType, target: Json, patch: Json): Json {
  return type === 'merge'
    ? mergePatch(target, patch)
    : type === 'strategic'
      ? strategicMerge(target, patch)
      : jsonPatch(target, patch);
}

/**
 * The 415 of a PATCH whose Content-Type is no patch type, with the list kube-apiserver names (endpoints
 * `installer.go`, in its order; the lab applies all but server-side apply, which it answers with this too).
 */
export function unsupportedPatchStatus(): KubeObject {
  return statusFailure(
    415,
    'UnsupportedMediaType',
    'the body of the request was in an unknown format - accepted media types include: ' +
      'application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, ' +
      'application/apply-patch+yaml',
  );
}

/**
 * A PATCH request's body applied to the stored object as kube-apiserver's patch handler does: the patched
 * object, or the Status to answer with (415 for a patch type the lab does not serve, such as server-side
 * apply; 422 for a JSON patch that fails, a failed `test` among them).
 */
export function patchedObject(
  contentType: string | undefined,
  target: Json,
  patch: Json,
): { object: Json } | { failure: KubeObject } {
  const type = patchTypeOf(contentType);
  if (!type) return { failure: unsupportedPatchStatus() };
  try {
    return { object: applyPatch(type, target, patch) };
  } catch (err) {
    if (err instanceof JsonPatchError) return { failure: statusFailure(422, 'Invalid', err.message) };
    throw err;
  }
}
