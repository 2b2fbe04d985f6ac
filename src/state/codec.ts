/**
 * State document ⇄ text. Reading refuses another stateVersion and a damaged document with errors that
 * name the file and say how to recover (the backup); writing refuses a document that does not conform or
 * that holds key material, so neither can reach the disk. With a state key configured the text on disk is
 * sealed (encryption.ts): checks run on the plain document, sealing is the last step.
 */
import { randomBytes } from 'node:crypto';
import { RotateError } from '../domain/errors.js';
import { TOOL_VERSION } from '../version.js';
import { configuredStateCipher, openIfSealed, sealIfConfigured } from './encryption.js';
import { containsKeyMaterial } from './key-material.js';
import { stateDocumentProblems } from './schema.js';
import { STATE_VERSION, type Run, type StateDocument } from './types.js';

/** How to name a state in messages: its file (or `(memory)`) and where its backup is, if any. */
export interface StateLocation {
  file: string;
  backup: string | null;
}

function recoveryHint(where: StateLocation): string {
  if (!where.backup) return `move ${where.file} away to start a new state (the runs recorded in it are lost)`;
  return (
    `the previous good version is kept in ${where.backup}: ` +
    `check it with \`rotate state show --state ${where.backup}\`, ` +
    `then restore it with \`cp ${where.backup} ${where.file}\` (keep the damaged file aside); ` +
    `without a good backup, move ${where.file} away to start a new state (the runs recorded in it are lost)`
  );
}

function corrupt(where: StateLocation, what: string): RotateError {
  return new RotateError('STATE_CORRUPT', `state file ${where.file} is damaged: ${what}`, {
    hint: recoveryHint(where),
  });
}

/** JSON.parse's complaint without the snippet of input it may quote (the file might hold anything). */
function jsonProblem(text: string, err: unknown): string {
  if (text.trim() === '') return 'it is empty';
  const message = err instanceof Error ? err.message : '';
  if (/end of JSON input/.test(message)) return 'it ends in the middle (truncated)';
  const position = /position (\d+)/.exec(message);
  return position ? `it is not valid JSON (error at character ${position[1]})` : 'it is not valid JSON';
}

export function parseStateText(sealedOrPlain: string, where: StateLocation): StateDocument {
  const text = openIfSealed(sealedOrPlain, 'state', `state file ${where.file}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw corrupt(where, jsonProblem(text, err));
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw corrupt(where, 'it is not a JSON object');
  const version = (value as Record<string, unknown>).stateVersion;
  if (version !== STATE_VERSION) {
    if (typeof version === 'number') {
      const writer = (value as Record<string, unknown>).toolVersion;
      throw new RotateError(
        'STATE_VERSION_UNSUPPORTED',
        `state file ${where.file} has stateVersion ${version}; talos-rotate ${TOOL_VERSION} reads ` +
          `stateVersion ${STATE_VERSION}`,
        {
          hint:
            version > STATE_VERSION
              ? `it was written by a newer talos-rotate${typeof writer === 'string' ? ` (${writer})` : ''}: ` +
                'use that version or a later one'
              : 'it was written by an older talos-rotate that this version cannot read: ' +
                'use that version to finish or roll back its runs',
        },
      );
    }
    throw corrupt(where, 'it has no stateVersion (is it a state file?)');
  }
  const problems = stateDocumentProblems(value);
  if (problems.length > 0) throw corrupt(where, problems.slice(0, 3).join('; '));
  return value as StateDocument;
}

/** The document as written to disk; an internal error for a non-conforming document or any key material. */
export function serializeState(doc: StateDocument, where: StateLocation): string {
  const text = stateParts(doc, where)
    .map((part) => (typeof part === 'string' ? part : part.text))
    .join('');
  // Sealed last, when a state key is configured (encryption.ts): every check above ran on the plain text.
  return sealIfConfigured(`${text}\n`, 'state');
}

/**
 * serializeState's text as UTF-8 bytes, in chunks to write one after the other, where the parts that never
 * change (recorded plans, finished runs) are encoded once and never copied: at 200 nodes a run is about
 * 2.4 MB, most of it the plan, and the state is written after every node event (about 2,000 times in a full
 * rotation).
 */
export function encodeState(doc: StateDocument, where: StateLocation): Buffer[] {
  if (configuredStateCipher()) return [Buffer.from(serializeState(doc, where), 'utf8')];
  const chunks = stateParts(doc, where).map((part) =>
    typeof part === 'string' ? Buffer.from(part, 'utf8') : (part.bytes ??= Buffer.from(part.text, 'utf8')),
  );
  chunks.push(NEWLINE);
  return chunks;
}

const NEWLINE = Buffer.from('\n');

/** Text of the state made for this write, or a piece that never changes (its bytes encoded once). */
type StatePart = string | Piece;
interface Piece {
  readonly text: string;
  bytes?: Buffer;
}

/** Runs that can no longer change unless copied first (runs.ts editRun): frozen, checked and validated once. */
const FINISHED: ReadonlySet<Run['status']> = new Set(['complete', 'rolled-back']);
const frozenRuns = new WeakSet<Run>();
/**
 * The step records, their node records and the `before` lists of runs still in progress, frozen once written
 * in full: an edit copies what it changes (runs.ts editStep, editNode), and the parts no edit touched since the
 * last write are shared by the next document, validated, checked and serialized once. At 200 nodes a run holds
 * about 1,000 node records, and a node event changes one of them.
 */
const frozenParts = new WeakSet<object>();

/**
 * The checked document as parts of its JSON text (indent 2). Recorded plans and finished runs never change,
 * nor do the step records, node records and `before` lists of runs in progress once written (an edit
 * copies them first): each is serialized, checked for key material and validated once, the rest on every
 * write. No key material can span a seam: each part is a whole JSON value and the patterns hold no JSON
 * punctuation.
 */
function stateParts(doc: StateDocument, where: StateLocation): StatePart[] {
  const live = doc.runs.filter((run) => !frozenRuns.has(run)).map(unfrozenView);
  if (stateDocumentProblems({ ...doc, runs: live }).length > 0) {
    const problems = stateDocumentProblems(doc);
    throw new RotateError(
      'STATE_INVALID_WRITE',
      `refusing to write an invalid state document to ${where.file}: ${problems.slice(0, 3).join('; ')}`,
      {
        hint: 'the state on disk was not changed',
        source: 'internal',
      },
    );
  }
  const keyMaterial = (): RotateError =>
    new RotateError('STATE_KEY_MATERIAL', `refusing to write key material into the state ${where.file}`, {
      hint: 'the state on disk was not changed',
      source: 'internal',
    });
  const tokens = new Tokens(keyMaterial);
  const skeleton = JSON.stringify(
    { ...doc, runs: doc.runs.map((run) => (frozenRuns.has(run) ? tokens.run(run) : tokens.shellOf(run))) },
    null,
    2,
  );
  if (containsKeyMaterial(skeleton)) throw keyMaterial();
  const parts = tokens.split(skeleton);
  // Written once in full (validated and checked above): from now on shared by the copies made for edits.
  const freeze = (part: object) => {
    if (frozenParts.has(part)) return;
    deepFreeze(part);
    frozenParts.add(part);
  };
  for (const run of doc.runs) {
    if (frozenRuns.has(run)) continue;
    freeze(run.before);
    for (const step of run.steps) {
      if (frozenParts.has(step)) continue;
      step.nodes.forEach(freeze);
      freeze(step);
    }
    if (!FINISHED.has(run.status)) continue;
    deepFreeze(run);
    frozenRuns.add(run);
  }
  return parts;
}

/** A run in progress without its frozen parts (validated when they were written in full), for validation. */
function unfrozenView(run: Run): Run {
  const steps = run.steps
    .filter((step) => !frozenParts.has(step))
    .map((step) => ({ ...step, nodes: step.nodes.filter((node) => !frozenParts.has(node)) }));
  return { ...run, steps, before: frozenParts.has(run.before) ? [] : run.before };
}

/**
 * Placeholders for the parts made once: a recorded plan or a run's frozen `before` in place of its value, a
 * finished run or a frozen step or node record in place of itself. Each stands alone as a string value at the
 * end of a line (`"plan": `, `"before": ` or an element of `runs`, `steps` or `nodes`); the nonce keeps any
 * string of the document from being taken for one.
 */
class Tokens {
  readonly #parts: ((indent: string) => StatePart[])[] = [];
  readonly #nonce = randomBytes(8).toString('hex');
  readonly #keyMaterial: () => RotateError;

  constructor(keyMaterial: () => RotateError) {
    this.#keyMaterial = keyMaterial;
  }

  #token(part: (indent: string) => StatePart[]): string {
    return `\u0000part:${this.#nonce}:${this.#parts.push(part) - 1}`;
  }

  /** A run with its plans and frozen parts as placeholders. */
  shellOf(run: Run): object {
    const plan = (p: object) => this.#token((indent) => [indentedPlan(p, indent, this.#keyMaterial)]);
    const frozen = <T extends object>(value: T): T | string =>
      frozenParts.has(value) ? this.#token((indent) => [frozenPartText(value, indent, this.#keyMaterial)]) : value;
    return {
      ...run,
      plan: plan(run.plan),
      before: frozen(run.before),
      steps: run.steps.map((step) =>
        frozenParts.has(step) ? frozen(step) : { ...step, nodes: step.nodes.map(frozen) },
      ),
      resumes: run.resumes.map((r) =>
        r.replanned ? { ...r, replanned: { ...r.replanned, plan: plan(r.replanned.plan) } } : r,
      ),
    };
  }

  run(run: Run): string {
    return this.#token((indent) => runPieces(run, indent, this.#keyMaterial));
  }

  /**
   * `text` with each placeholder's part put in its place, indented as JSON.stringify indents a nested
   * value (every line of it shifted by the line's indent).
   */
  split(text: string): StatePart[] {
    const parts: StatePart[] = [];
    const re = new RegExp(`^( *)("(?:plan|before)": )?"\\\\u0000part:${this.#nonce}:(\\d+)"`, 'gm');
    let from = 0;
    for (const m of text.matchAll(re)) {
      const indent = m[1]!;
      parts.push(`${text.slice(from, m.index)}${indent}${m[2] ?? ''}`, ...this.#parts[Number(m[3])]!(indent));
      from = m.index + m[0].length;
    }
    parts.push(text.slice(from));
    return parts;
  }
}

/** A finished run's parts at `indent`, made once per run and indent. */
const runTexts = new WeakMap<object, Map<string, Piece[]>>();

function runPieces(run: Run, indent: string, keyMaterial: () => RotateError): Piece[] {
  return oncePerIndent(runTexts, run, indent, () => {
    const tokens = new Tokens(keyMaterial);
    const text = JSON.stringify(tokens.shellOf(run), null, 2).replace(/\n/g, `\n${indent}`);
    // The run was checked with the rest of the document when it was written in full; this text, which is
    // what reaches the disk from now on, is checked too (once).
    if (containsKeyMaterial(text)) throw keyMaterial();
    return tokens.split(text).map((part) => (typeof part === 'string' ? { text: part } : part));
  });
}

/** A frozen step record's, node record's or `before` list's text at `indent`, made and checked once each. */
const frozenPartTexts = new WeakMap<object, Map<string, Piece>>();

function frozenPartText(part: object, indent: string, keyMaterial: () => RotateError): Piece {
  return oncePerIndent(frozenPartTexts, part, indent, () => {
    const text = JSON.stringify(part, null, 2).replace(/\n/g, `\n${indent}`);
    if (containsKeyMaterial(text)) throw keyMaterial();
    return { text };
  });
}

/** `make()` for (`key`, `indent`), remembered while `key` lives. */
function oncePerIndent<T>(cache: WeakMap<object, Map<string, T>>, key: object, indent: string, make: () => T): T {
  let byIndent = cache.get(key);
  if (!byIndent) cache.set(key, (byIndent = new Map()));
  let value = byIndent.get(indent);
  if (value === undefined) {
    value = make();
    byIndent.set(indent, value);
  }
  return value;
}

/** A plan's JSON text (indent 2), or null when it holds key material; computed once per plan object. */
const planTexts = new WeakMap<object, string | null>();

function planText(plan: object): string | null {
  let text = planTexts.get(plan);
  if (text === undefined) {
    const json = JSON.stringify(plan, null, 2);
    text = containsKeyMaterial(json) ? null : json;
    // A plan recorded in a state is never edited in place (a replan replaces it); freeze it so that an
    // edit would fail loudly instead of leaving this text stale.
    deepFreeze(plan);
    planTexts.set(plan, text);
  }
  return text;
}

/**
 * The plan's text indented for its place in the state, made once per plan and indent: re-indenting a 2 MB
 * plan on every journal write (hundreds per run at 200 nodes) was over a quarter of the CLI's own CPU in an
 * apply, and as much garbage again as the document itself.
 */
const indentedPlans = new WeakMap<object, Map<string, Piece>>();

function indentedPlan(plan: object, indent: string, keyMaterial: () => RotateError): Piece {
  return oncePerIndent(indentedPlans, plan, indent, () => {
    const text = planText(plan);
    if (text === null) throw keyMaterial();
    return { text: text.replace(/\n/g, `\n${indent}`) };
  });
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
}
