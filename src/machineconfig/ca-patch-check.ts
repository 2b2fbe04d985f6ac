/**
 * The self-check of every patched config: it must parse, read back as the requested CA state, and be
 * unchanged outside the CA fields; MC_INTERNAL otherwise (nothing is applied).
 */
import { isDeepStrictEqual } from 'node:util';
import type { Document } from 'yaml';

import { API_KINDS, type ApiKind } from '../domain/types.js';
import { samePem } from './ca-pem.js';
import type { ApiCaState } from './ca-state.js';
import { acceptedFingerprints, type Target } from './ca-target.js';
import { MachineConfigText } from './config-text.js';
import { documentOrigin, parseMachineConfig, type ParsedMachineConfig } from './documents.js';
import { mcError } from './errors.js';

export function verifyPatched(
  before: MachineConfigText,
  out: string,
  expected: Map<ApiKind, Target>,
  source: string | undefined,
): MachineConfigText {
  const fail = (what: string) =>
    mcError(
      'MC_INTERNAL',
      source,
      `the patched config does not read back as requested (${what})`,
      'nothing was applied; report it with the config layout (not its secrets)',
    );
  let after: MachineConfigText;
  let state;
  try {
    after = new MachineConfigText(out, source, parseMachineConfig(out, source));
    state = after.caState;
  } catch {
    throw fail('the result does not parse');
  }
  const prev = before.caState;
  if (state.machineType !== prev.machineType || state.kubernetes.style !== prev.kubernetes.style)
    throw fail('machine type or CA style');
  for (const api of API_KINDS) {
    const target = expected.get(api);
    const got: ApiCaState = state[api];
    if (!target) {
      if (!sameApiState(got, prev[api])) throw fail(`${api} CAs changed though not requested`);
      continue;
    }
    if ((got.issuing?.fingerprint ?? null) !== (target.issuing?.fingerprint ?? null)) throw fail(`${api} issuing CA`);
    if (target.issuing && got.issuing?.hasKey !== (target.issuing.key.kind === 'key'))
      throw fail(`${api} issuing key presence`);
    if (
      !isDeepStrictEqual(
        got.accepted.map((c) => c.fingerprint),
        acceptedFingerprints(target.accepted),
      )
    )
      throw fail(`${api} accepted CAs`);
    if ((got.unterminated ?? []).length > 0) throw fail(`${api} PEM text without a final newline`);
    if (target.issuing?.key.kind === 'key') {
      const key = after.caKey(api);
      if (!key || !samePem(key.reveal(), target.issuing.key.pem)) throw fail(`${api} issuing key`);
    }
  }
  let same: boolean;
  try {
    same = isDeepStrictEqual(
      withoutCaFieldsOf(before.parsed, prev.kubernetes.style),
      withoutCaFieldsOf(after.parsed, prev.kubernetes.style),
    );
  } catch {
    throw fail('documents cannot be compared');
  }
  if (!same) throw fail('content outside the CA fields changed');
  return after;
}

/**
 * Every document as plain data without the CA fields, remembered per parsed document (a shifted copy counts
 * as its original: same text, same data), so a document a patch left as it was yields the very same value
 * before and after and the comparison passes it by identity. Never modified once made.
 */
const strippedMemo = new WeakMap<Document.Parsed, { style: 'legacy' | 'document'; value: unknown }>();

function withoutCaFieldsOf(cfg: ParsedMachineConfig, style: 'legacy' | 'document'): unknown[] {
  return cfg.documents.map((d) => {
    const origin = documentOrigin(d.doc).doc;
    const hit = strippedMemo.get(origin);
    if (hit && hit.style === style) return hit.value;
    const value = withoutCaFields(d.doc.toJS(), d.kind, style);
    strippedMemo.set(origin, { style, value });
    return value;
  });
}

function sameApiState(a: ApiCaState, b: ApiCaState): boolean {
  const key = (s: ApiCaState) => [
    s.issuing?.fingerprint ?? null,
    s.issuing?.hasKey ?? null,
    s.accepted.map((c) => c.fingerprint),
  ];
  return isDeepStrictEqual(key(a), key(b));
}

function withoutCaFields(js: unknown, kind: string | null, style: 'legacy' | 'document'): unknown {
  if (typeof js !== 'object' || js === null) return js;
  // A fresh value of this call's toJS, so the fields are dropped in place (no copy).
  const copy = js as Record<string, unknown>;
  const drop = (obj: unknown, ...keys: string[]) => {
    if (typeof obj === 'object' && obj !== null) for (const k of keys) delete (obj as Record<string, unknown>)[k];
  };
  if (kind === null) {
    drop(copy['machine'], 'ca', 'acceptedCAs');
    if (style === 'legacy') drop(copy['cluster'], 'ca', 'acceptedCAs');
  } else if (kind === 'KubeAPIServerCAConfig') {
    drop(copy, 'issuingCA', 'acceptedCAs');
  }
  return copy;
}
