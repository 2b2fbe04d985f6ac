/**
 * Edits of a desired-state file that commands make for the user (`rotate ca new -f FILE`): pure, on the
 * text. Like the machine-config patcher, it never re-serialises the document: it replaces exactly the
 * source ranges it changes (the issuing name, the accepted list) and inserts one line for the new
 * authority, so comments, quoting, flow-list spacing and key order elsewhere stay byte for byte.
 * The caller validates the file before and after.
 */
import {
  isMap,
  isScalar,
  isSeq,
  parseDocument,
  type Node,
  type Pair,
  type Scalar,
  type YAMLMap,
  type YAMLSeq,
} from 'yaml';
import { RotateError, internalError } from '../domain/errors.js';
import type { ApiKind } from '../domain/types.js';
import {
  applyEdits,
  columnOf,
  detectNewline,
  insertLinesText,
  spaces,
  type Edit,
} from '../machineconfig/source-text.js';
import { isBlockMap, isBlockSeq, pairEnd, valueEnd, type AnyPair } from '../machineconfig/yaml-layout.js';

/**
 * `define`: only add the authority. `issuing`: make it issuing and drop the previous issuing CA (a full
 * rotation in one edit). `staged`: make it issuing and keep the previous one accepted (the first commit of
 * a staged rotation; a later edit empties `accepted`).
 */
export type AuthorityUse = 'define' | 'issuing' | 'staged';

export interface NewAuthority {
  api: ApiKind;
  name: string;
  /** As written in the file: relative to the file's folder where possible. */
  certificate: string;
  /** Null: the authority is defined without a key (an accepted-only CA needs none). */
  keyFile: string | null;
  use: AuthorityUse;
}

export interface AuthorityEdit {
  text: string;
  /** The authority that issued before (null for `define`). */
  previousIssuing: string | null;
}

function editError(file: string, message: string, hint: string): RotateError {
  return new RotateError('CA_DESIRED_EDIT', `${file}: ${message}`, { hint });
}

const FIX_FIRST = 'fix the file first: `rotate validate -f FILE` shows where';

/** A scalar as YAML source: plain when that reads back as the same string, else double-quoted. */
function scalarText(value: string): string {
  return /^[A-Za-z0-9_./][A-Za-z0-9_./-]*$/.test(value) && !/^(true|false|null|yes|no|on|off|~|[0-9.]+)$/i.test(value)
    ? value
    : JSON.stringify(value);
}

/** A flow list in the spacing the file already uses for this list (`[a, b]` or `[ a, b ]`). */
function flowListText(names: readonly string[], padded: boolean): string {
  if (names.length === 0) return '[]';
  const inner = names.map(scalarText).join(', ');
  return padded ? `[ ${inner} ]` : `[${inner}]`;
}

function pairOf(map: YAMLMap, key: string): AnyPair | undefined {
  return map.items.find((p) => isScalar(p.key) && (p.key as Scalar).value === key) as AnyPair | undefined;
}

function range(node: Node): [number, number] {
  if (!node.range) throw internalError('DESIRED_INTERNAL', 'a YAML node without a source range');
  return [node.range[0], node.range[1]];
}

export function addAuthority(text: string, file: string, a: NewAuthority): AuthorityEdit {
  const doc = parseDocument(text, { keepSourceTokens: true });
  if (doc.errors.length > 0)
    throw editError(file, `is not valid YAML (${doc.errors[0]!.message.split('\n')[0]})`, FIX_FIRST);
  const root = doc.contents;
  if (!isBlockMap(root))
    throw editError(
      file,
      'is not a desired-state file (its top level is not a block mapping)',
      'write one first (see the README), or look at `rotate lab up` for an example',
    );
  const nl = detectNewline(text);
  const edits: Edit[] = [];

  const authoritiesPair = pairOf(root, 'authorities');
  const authorities = authoritiesPair?.value ?? null;
  if (authorities !== null && !isMap(authorities)) throw editError(file, '`authorities` is not a mapping', FIX_FIRST);
  if (authorities && pairOf(authorities, a.name)) {
    throw editError(
      file,
      `authorities.${a.name} is already defined`,
      "choose another --name; an authority's name stays bound to its certificate",
    );
  }

  let previousIssuing: string | null = null;
  if (a.use !== 'define') {
    const section = pairOf(root, a.api)?.value;
    if (!isMap(section)) {
      throw editError(
        file,
        `has no \`${a.api}:\` section, so the ${a.api === 'talos' ? 'Talos' : 'Kubernetes'} API CA is not managed ` +
          'by it',
        `add a \`${a.api}:\` section with the current issuing CA first (or leave out --make-issuing to only define ` +
          'the authority)',
      );
    }
    const issuingPair = pairOf(section, 'issuing');
    const issuing = issuingPair?.value;
    if (!isScalar(issuing) || typeof issuing.value !== 'string')
      throw editError(file, `${a.api}.issuing is not a name`, FIX_FIRST);
    previousIssuing = issuing.value;
    const [is, ie] = range(issuing);
    edits.push({ start: is, end: ie, text: scalarText(a.name) });

    const acceptedPair = pairOf(section, 'accepted');
    const accepted = acceptedPair?.value ?? null;
    if (accepted !== null && !isSeq(accepted)) throw editError(file, `${a.api}.accepted is not a list`, FIX_FIRST);
    const names = accepted ? (accepted as YAMLSeq).items.map((i) => (isScalar(i) ? String(i.value) : '')) : [];
    const next = names.filter((n) => n !== a.name && n !== previousIssuing);
    if (a.use === 'staged') next.push(previousIssuing);
    if (accepted && isBlockSeq(accepted) && next.length > 0) {
      // Same dash column, one item per line.
      const items = (accepted as YAMLSeq).items as Node[];
      const first = range(items[0]!)[0];
      const dashCol = columnOf(text, text.lastIndexOf('-', first));
      edits.push({
        start: text.lastIndexOf('-', first),
        end: range(items[items.length - 1]!)[1],
        text: next.map((n, i) => `${i === 0 ? '' : spaces(dashCol)}- ${scalarText(n)}`).join(nl),
      });
    } else if (accepted) {
      const [as, ae] = range(accepted);
      const padded = /^\[ /.test(text.slice(as, ae));
      if (isBlockSeq(accepted)) {
        const items = (accepted as YAMLSeq).items as Node[];
        edits.push({
          start: text.lastIndexOf('-', range(items[0]!)[0]),
          end: range(items[items.length - 1]!)[1],
          text: '[]',
        });
      } else edits.push({ start: as, end: ae, text: flowListText(next, padded) });
    } else if (next.length > 0) {
      const col = columnOf(text, range(issuingPair!.key as Node)[0]);
      const at = pairEnd(text, issuingPair!);
      edits.push({
        start: at,
        end: at,
        text: insertLinesText(text, at, [`${spaces(col)}accepted: ${flowListText(next, false)}`], nl),
      });
    }
  }

  const entry =
    a.keyFile === null
      ? `{ certificate: ${scalarText(a.certificate)} }`
      : `{ certificate: ${scalarText(a.certificate)}, key: { file: ${scalarText(a.keyFile)} } }`;
  if (!authorities) {
    if (authoritiesPair) throw editError(file, '`authorities:` has no value', FIX_FIRST);
    const at = text.length;
    edits.push({ start: at, end: at, text: insertLinesText(text, at, ['authorities:', `  ${a.name}: ${entry}`], nl) });
  } else if (isBlockMap(authorities)) {
    const pairs = authorities.items as Pair<Node, Node | null>[];
    const col = columnOf(text, range(pairs[0]!.key as Node)[0]);
    const at = pairEnd(text, pairs[pairs.length - 1]! as AnyPair);
    edits.push({ start: at, end: at, text: insertLinesText(text, at, [`${spaces(col)}${a.name}: ${entry}`], nl) });
  } else {
    // A flow mapping (`authorities: {}` or `{ a: {...} }`): the new entry goes before its closing brace.
    const pairs = (authorities as YAMLMap).items as AnyPair[];
    if (pairs.length === 0) {
      const [ms, me] = range(authorities as Node);
      edits.push({ start: ms, end: me, text: `{ ${a.name}: ${entry} }` });
    } else {
      const at = valueEnd(pairs[pairs.length - 1]!);
      edits.push({ start: at, end: at, text: `, ${a.name}: ${entry}` });
    }
  }
  return { text: applyEdits(text, edits), previousIssuing };
}
