/**
 * Writes a CA state into a machine config: the one place that edits config text. Edits are byte-range
 * splices located from the parse, never a re-serialisation, so comments, quoting and key order survive;
 * every result is re-read and checked against the request before it is returned.
 */
import { isMap, isScalar, type Node, type Scalar, type YAMLMap, type YAMLSeq } from 'yaml';

import { API_KINDS, type ApiKind } from '../domain/types.js';
import { encodeField, samePem } from './ca-pem.js';
import { machineTypeOf, readSite, roleOf, siteOf, type CaSite, type SiteContents } from './ca-sites.js';
import { MachineConfigText } from './config-text.js';
import { isEmptyNode, pairOf } from './documents.js';
import { mcError } from './errors.js';
import {
  applyEdits,
  columnOf,
  nodeLineEnd,
  insertLinesText,
  lineStartOf,
  spaces,
  startsLine,
  type Edit,
  type Newline,
} from './source-text.js';
import {
  blockScalarContentColumn,
  dashOffsets,
  detectIndentStyle,
  isBlockMap,
  isBlockScalar,
  isBlockSeq,
  keyStart,
  pairEnd,
  valueEnd,
  type AnyPair,
  type IndentStyle,
} from './yaml-layout.js';
import { verifyPatched } from './ca-patch-check.js';
import { entryPem, planTarget, type AcceptedTarget, type CaChange, type Target } from './ca-target.js';

export type { CaChange, CaWrite } from './ca-target.js';

interface Ctx {
  src: string;
  nl: Newline;
  indent: IndentStyle;
  source: string | undefined;
}

/**
 * Return `configYaml` with the CA fields of the given APIs set to the requested state.
 *
 * Minimal edit: the config is never re-serialised. The parser's node ranges locate the CA fields, and only
 * those byte ranges are replaced (a changed value, a list rebuilt from the source text of the entries that
 * stay plus rendered new ones, a key inserted after its sibling at the sibling's indentation, a key removed
 * with its lines), so comments, quoting, key order, other documents and separators stay as they were.
 * Returns the input string itself when the config already holds that state. The result is re-parsed and
 * must read back as requested with nothing outside the CA fields changed (MC_INTERNAL otherwise).
 */
export function patchCaState(configYaml: string, change: CaChange, source?: string): string {
  return patchConfig(new MachineConfigText(configYaml, source), change).text;
}

/**
 * patchCaState over a MachineConfigText: the same edits, made from `config`'s parse; the result carries the
 * parse made to verify it, so a chain of patches parses each config once. Returns `config` itself when it
 * already holds the requested state.
 */
export function patchConfig(config: MachineConfigText, change: CaChange): MachineConfigText {
  const { text: configYaml, source } = config;
  const cfg = config.parsed;
  const role = roleOf(machineTypeOf(cfg));
  const edits: Edit[] = [];
  const expected = new Map<ApiKind, Target>();
  for (const api of API_KINDS) {
    const write = change[api];
    if (!write) continue;
    const site = siteOf(cfg, api, role);
    const contents = readSite(site, source);
    const target = planTarget(site, contents, write, role, source);
    const ctx: Ctx = {
      src: configYaml,
      nl: cfg.nl,
      indent: detectIndentStyle(configYaml, cfg.documents, site.document),
      source,
    };
    edits.push(...issuingEdits(ctx, site, contents, target), ...acceptedEdits(ctx, site, contents, target));
    expected.set(api, target);
  }
  if (edits.length === 0) return config;
  const out = applyEdits(configYaml, edits);
  return verifyPatched(config, out, expected, source);
}

// ---------------------------------------------------------------------------------------------------
// Issuing CA field

function issuingEdits(ctx: Ctx, site: CaSite, contents: SiteContents, target: Target): Edit[] {
  const pair = contents.issuingPair;
  const want = target.issuing;
  if (!want) {
    // Nothing to keep: drop the field if it holds anything (a worker-style `issuingCA` on a worker too).
    return pair && !isEmptyNode(pair.value) ? [removePair(ctx, pair)] : [];
  }
  const cur = contents.issuing;
  // A certificate without its final newline is rewritten too (talos-behaviour.md §5.1).
  const certChanged = cur?.fingerprint !== want.fingerprint || !contents.issuingTerminated;
  const map = pair?.value;
  const certPair = isMap(map) ? pairOf(map, site.certField) : undefined;
  const keyPair = isMap(map) ? pairOf(map, 'key') : undefined;
  const keyText = isScalar(keyPair?.value) && typeof keyPair.value.value === 'string' ? keyPair.value.value : '';
  const keyChanged =
    want.key.kind === 'key'
      ? !contents.issuingKey || !samePem(contents.issuingKey.reveal(), want.key.pem)
      : keyText !== '';
  if (!certChanged && !keyChanged) return [];

  const bodyCol = (p: AnyPair): number => columnOf(ctx.src, keyStart(p)) + ctx.indent.unit;
  if (pair && isBlockMap(map) && certPair && isScalar(certPair.value) && startsLine(ctx.src, keyStart(certPair))) {
    // Splice inside the existing mapping: only the values that change.
    const fieldCol = columnOf(ctx.src, keyStart(certPair));
    const edits: Edit[] = [];
    if (certChanged)
      edits.push(replaceValue(ctx, certPair, encodeField(want.certPem, site.encoding), site.encoding, fieldCol));
    if (want.key.kind === 'key' && keyChanged) {
      const value = encodeField(want.key.pem, site.encoding);
      if (keyPair && (isScalar(keyPair.value) || keyPair.value === null) && startsLine(ctx.src, keyStart(keyPair))) {
        edits.push(replaceValue(ctx, keyPair, value, site.encoding, fieldCol));
      } else if (!keyPair) {
        edits.push(insertAfter(ctx, certPair, renderField(ctx, fieldCol, 'key', value, site.encoding)));
      } else {
        return [replacePairValue(ctx, pair, renderIssuingBody(ctx, site, bodyCol(pair), want))];
      }
    } else if (want.key.kind === 'empty') {
      // Workers carry `key: ""` exactly as Talos writes them; a key found there is dropped.
      if (keyPair && keyText !== '') edits.push(replaceValue(ctx, keyPair, '', 'base64', fieldCol));
      else if (!keyPair && certChanged && site.encoding === 'base64')
        edits.push(insertAfter(ctx, certPair, [`${spaces(fieldCol)}key: ""`]));
    }
    return edits;
  }
  if (pair) return [replacePairValue(ctx, pair, renderIssuingBody(ctx, site, bodyCol(pair), want))];
  const parent = requireBlockParent(ctx, site);
  const col = childColumn(ctx, parent);
  const anchor = lastPresent(parent, site.issuingAfter);
  const lines = [`${spaces(col)}${site.issuingKey}:`, ...renderIssuingBody(ctx, site, col + ctx.indent.unit, want)];
  return [anchor ? insertAfter(ctx, anchor, lines) : insertAtMapEnd(ctx, parent, lines)];
}

function renderIssuingBody(ctx: Ctx, site: CaSite, col: number, want: NonNullable<Target['issuing']>): string[] {
  const lines = renderField(ctx, col, site.certField, encodeField(want.certPem, site.encoding), site.encoding);
  if (want.key.kind === 'key')
    lines.push(...renderField(ctx, col, 'key', encodeField(want.key.pem, site.encoding), site.encoding));
  else if (site.encoding === 'base64') lines.push(`${spaces(col)}key: ""`);
  return lines;
}

/** `name: value` at `col`; PEM values as a literal block scalar indented one unit deeper. */
function renderField(ctx: Ctx, col: number, name: string, value: string, encoding: 'base64' | 'pem'): string[] {
  if (encoding === 'base64') return [`${spaces(col)}${name}: ${value === '' ? '""' : value}`];
  return [`${spaces(col)}${name}: |`, ...pemLines(value).map((l) => spaces(col + ctx.indent.unit) + l)];
}

function pemLines(pem: string): string[] {
  return pem.replace(/\s+$/, '').split(/\r?\n/);
}

/**
 * Replace a scalar value in place. Base64 keeps the quoting style found there; PEM becomes (or stays) a
 * literal block scalar, reusing the content indentation already in use.
 */
function replaceValue(ctx: Ctx, pair: AnyPair, value: string, encoding: 'base64' | 'pem', fieldCol: number): Edit {
  const node = pair.value as Scalar | null;
  if (!node || !node.range || isEmptyNode(node)) {
    // `crt:` with nothing: rewrite the whole line.
    return {
      start: lineStartOf(ctx.src, keyStart(pair)),
      end: pairEnd(ctx.src, pair),
      text: insertLinesText(
        '',
        0,
        renderField(ctx, fieldCol, String((pair.key as Scalar).value), value, encoding),
        ctx.nl,
      ),
    };
  }
  const [start, end] = node.range;
  if (encoding === 'pem') {
    const col = (isBlockScalar(node) ? blockScalarContentColumn(ctx.src, node) : null) ?? fieldCol + ctx.indent.unit;
    const text = ['|', ...pemLines(value).map((l) => spaces(col) + l)].join(ctx.nl) + ctx.nl;
    return { start, end: nodeLineEnd(ctx.src, end), text };
  }
  let text: string;
  if (value === '') text = '""';
  else if (node.type === 'QUOTE_DOUBLE') text = `"${value}"`;
  else if (node.type === 'QUOTE_SINGLE') text = `'${value}'`;
  else text = value;
  // A block scalar's range includes its final line break; keep one.
  if (isBlockScalar(node)) return { start, end: nodeLineEnd(ctx.src, end), text: text + ctx.nl };
  return { start, end, text };
}

// ---------------------------------------------------------------------------------------------------
// Accepted CAs list

function acceptedEdits(ctx: Ctx, site: CaSite, contents: SiteContents, target: Target): Edit[] {
  const next = target.accepted;
  const unchanged = next.length === contents.entries.length && next.every((e, i) => e.from === i && !e.rewrite);
  if (unchanged) return [];
  const pair = contents.acceptedPair;
  if (next.length === 0) return pair ? [removePair(ctx, pair)] : [];
  const seq = pair?.value;
  if (pair && isBlockSeq(seq)) {
    const rebuilt = rebuildSequence(ctx, site, seq, target.accepted);
    if (rebuilt) return [rebuilt];
  }
  if (pair) {
    const dashCol = columnOf(ctx.src, keyStart(pair)) + ctx.indent.seqIndent;
    return [
      replacePairValue(
        ctx,
        pair,
        target.accepted.flatMap((e) => renderItem(site, dashCol, 2, entryPem(e))),
      ),
    ];
  }
  const parent = requireBlockParent(ctx, site);
  const col = childColumn(ctx, parent);
  const anchor = contents.issuingPair ?? lastPresent(parent, site.issuingAfter);
  const lines = [
    'acceptedCAs:',
    ...target.accepted.flatMap((e) => renderItem(site, ctx.indent.seqIndent, 2, entryPem(e))),
  ].map((l) => spaces(col) + l);
  return [anchor ? insertAfter(ctx, anchor, lines) : insertAtMapEnd(ctx, parent, lines)];
}

function renderItem(site: CaSite, dashCol: number, contentOffset: number, certPem: string): string[] {
  const value = encodeField(certPem, site.encoding);
  if (site.itemField) return [`${spaces(dashCol)}- ${site.itemField}: ${value}`];
  return [`${spaces(dashCol)}- |`, ...pemLines(value).map((l) => spaces(dashCol + contentOffset) + l)];
}

/**
 * Rebuild a block sequence from the source text of the items that stay (comments included) plus newly
 * rendered items, so kept entries are byte-identical. Null if the layout is one we do not splice
 * (e.g. `- - x`), in which case the caller rewrites the value whole.
 */
function rebuildSequence(ctx: Ctx, site: CaSite, seq: YAMLSeq, entries: AcceptedTarget[]): Edit | null {
  const { src } = ctx;
  const dashes = dashOffsets(seq);
  if (!dashes || dashes.length === 0 || !seq.range || !dashes.every((d) => startsLine(src, d))) return null;
  const regionStart = lineStartOf(src, dashes[0]!);
  const regionEnd = nodeLineEnd(src, seq.range[1]);
  const chunks = dashes.map((d, i) => {
    const end = i + 1 < dashes.length ? lineStartOf(src, dashes[i + 1]!) : regionEnd;
    const chunk = src.slice(lineStartOf(src, d), end);
    return chunk.endsWith('\n') ? chunk : chunk + ctx.nl;
  });
  const dashCol = columnOf(src, dashes[0]!);
  let contentOffset = 2;
  for (const item of seq.items as Node[]) {
    if (isBlockScalar(item)) {
      const c = blockScalarContentColumn(src, item);
      if (c !== null && c > dashCol) contentOffset = c - dashCol;
      break;
    }
  }
  let text = entries
    .map((e) =>
      e.from !== null && !e.rewrite
        ? chunks[e.from]!
        : renderItem(site, dashCol, contentOffset, entryPem(e)).join(ctx.nl) + ctx.nl,
    )
    .join('');
  if (!src.slice(regionStart, regionEnd).endsWith('\n')) text = text.replace(/\r?\n$/, '');
  return { start: regionStart, end: regionEnd, text };
}

// ---------------------------------------------------------------------------------------------------
// Pair-level edits

function removePair(ctx: Ctx, pair: AnyPair): Edit {
  const start = keyStart(pair);
  if (!startsLine(ctx.src, start)) throw unsupported(ctx, 'a CA field shares its line with other content');
  return { start: lineStartOf(ctx.src, start), end: pairEnd(ctx.src, pair), text: '' };
}

/**
 * Replace a pair's value with block lines under the key. A block value is replaced line for line; an
 * inline one (`[]`, `{...}`, null) is cut from the key line, keeping a trailing comment there.
 */
function replacePairValue(ctx: Ctx, pair: AnyPair, lines: string[]): Edit {
  const { src, nl } = ctx;
  const value = pair.value;
  const body = lines.join(nl) + nl;
  if ((isBlockMap(value) || isBlockSeq(value)) && value.range && startsLine(src, value.range[0])) {
    return { start: lineStartOf(src, value.range[0]), end: nodeLineEnd(src, value.range[1]), text: body };
  }
  const keyEnd = (pair.key as Node).range![1];
  const colon = src.indexOf(':', keyEnd);
  if (colon < 0) throw unsupported(ctx, 'cannot find the ":" after a CA field key');
  const end = valueEnd(pair);
  const lineEnd = nodeLineEnd(src, Math.max(end, colon + 1));
  let comment = '';
  if (!isBlockScalar(value)) {
    const rest = src.slice(end, lineEnd).replace(/\r?\n$/, '');
    if (/^\s+#/.test(rest)) comment = rest.trimEnd();
  }
  return { start: colon + 1, end: lineEnd, text: comment + nl + body };
}

function insertAfter(ctx: Ctx, anchor: AnyPair, lines: string[]): Edit {
  const pos = pairEnd(ctx.src, anchor);
  return { start: pos, end: pos, text: insertLinesText(ctx.src, pos, lines, ctx.nl) };
}

function insertAtMapEnd(ctx: Ctx, map: YAMLMap, lines: string[]): Edit {
  const last = map.items[map.items.length - 1] as AnyPair;
  return insertAfter(ctx, last, lines);
}

function requireBlockParent(ctx: Ctx, site: CaSite): YAMLMap {
  const parent = site.parent;
  if (!parent || !isBlockMap(parent) || parent.items.length === 0) {
    throw unsupported(
      ctx,
      `${site.path} is missing or not a block mapping, so ${site.path}.${site.issuingKey} cannot be added`,
    );
  }
  const first = parent.items[0]!.key as Node;
  if (!first.range || !startsLine(ctx.src, first.range[0]))
    throw unsupported(ctx, `${site.path} does not start its keys on their own lines`);
  return parent;
}

/** Column at which the keys of a block mapping start. */
function childColumn(ctx: Ctx, map: YAMLMap): number {
  return columnOf(ctx.src, (map.items[0]!.key as Node).range![0]);
}

function lastPresent(map: YAMLMap, keys: readonly string[]): AnyPair | undefined {
  let found: AnyPair | undefined;
  for (const p of map.items as AnyPair[]) {
    if (isScalar(p.key) && keys.includes(String(p.key.value))) found = p;
  }
  return found;
}

function unsupported(ctx: Ctx, what: string) {
  return mcError(
    'MC_UNSUPPORTED_LAYOUT',
    ctx.source,
    `${what}`,
    'rewrite that part of the config in plain block style (one key per line), then run again',
  );
}
