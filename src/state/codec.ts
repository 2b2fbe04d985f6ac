/**
 * State document ⇄ text. Reading refuses another stateVersion and a damaged document with errors that
 * name the file and say how to recover (the backup); writing refuses a document that does not conform or
 * that holds key material, so neither can reach the disk. With a state key configured the text on disk is
 * sealed (encryption.ts): checks run on the plain document, sealing is the last step.
 */
import { RotateError } from '../domain/errors.js';
import { TOOL_VERSION } from '../version.js';
import { configuredStateCipher, openIfSealed, sealIfConfigured } from './encryption.js';
import { containsKeyMaterial } from './key-material.js';
import { stateDocumentProblems } from './schema.js';
import { STATE_VERSION, type StateDocument } from './types.js';
import { runPlans } from './runs.js';

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
    .map((part) => (typeof part === 'string' ? part : indentedPlanText(part.plan, part.indent)))
    .join('');
  // Sealed last, when a state key is configured (encryption.ts): every check above ran on the plain text.
  return sealIfConfigured(`${text}\n`, 'state');
}

/**
 * serializeState's text as UTF-8 bytes, with each plan's bytes encoded once: at 200 nodes a state is
 * about 2.4 MB, most of it the plan, written after every node event (about 2,000 times in a full
 * rotation), and encoding all of it each time was a sixth of the CLI's CPU in an apply.
 */
export function encodeState(doc: StateDocument, where: StateLocation): Buffer {
  if (configuredStateCipher()) return Buffer.from(serializeState(doc, where), 'utf8');
  const chunks = stateParts(doc, where).map((part) =>
    typeof part === 'string' ? Buffer.from(part, 'utf8') : indentedPlanBytes(part.plan, part.indent),
  );
  chunks.push(NEWLINE);
  return Buffer.concat(chunks);
}

const NEWLINE = Buffer.from('\n');

/** A run's plan in the state text: its JSON text, indented to its place (`indent`). */
type StatePart = string | { plan: object; indent: string };

/** The checked document as JSON text with each recorded plan's place left to fill. */
function stateParts(doc: StateDocument, where: StateLocation): StatePart[] {
  const problems = stateDocumentProblems(doc);
  if (problems.length > 0) {
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
  // The runs' plans are most of a state and never change once recorded: each is serialized and checked
  // for key material once (planText), the rest of the document on every write. No key material can span
  // the seam: a plan's text is a whole JSON value and the patterns hold no JSON punctuation.
  const plans: string[] = [];
  const skeleton = JSON.stringify(
    {
      ...doc,
      runs: doc.runs.map((run) => ({
        ...run,
        plan: planToken(plans, run.plan),
        resumes: run.resumes.map((r) =>
          r.replanned ? { ...r, replanned: { ...r.replanned, plan: planToken(plans, r.replanned.plan) } } : r,
        ),
      })),
    },
    null,
    2,
  );
  if (containsKeyMaterial(skeleton)) throw keyMaterial();
  const recorded: object[] = [];
  for (const plan of doc.runs.flatMap((run) => runPlans(run))) {
    if (planText(plan) === null) throw keyMaterial();
    recorded.push(plan);
  }
  // Each token stands alone as a string value at the end of a `"plan": ` line: the plan's text goes there,
  // indented as JSON.stringify indents a nested value (every line of it shifted by the line's indent).
  const parts: StatePart[] = [];
  let from = 0;
  for (const m of skeleton.matchAll(/^( *)"plan": "\\u0000plan:(\d+)"/gm)) {
    const indent = m[1]!;
    parts.push(`${skeleton.slice(from, m.index)}${indent}"plan": `, { plan: recorded[Number(m[2])]!, indent });
    from = m.index + m[0].length;
  }
  parts.push(skeleton.slice(from));
  return parts;
}

function planToken(plans: string[], _plan: unknown): string {
  plans.push('');
  return `\u0000plan:${plans.length - 1}`;
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
 * The plan's text indented for its place in the state, computed once per plan and indent (and its UTF-8
 * bytes once, when a file is written): re-indenting a 2 MB plan on every journal write (hundreds per run at
 * 200 nodes) was over a quarter of the CLI's own CPU in an apply, and as much garbage again as the document.
 */
const indentedPlans = new WeakMap<object, Map<string, { text: string; bytes?: Buffer }>>();

function indentedPlan(plan: object, indent: string): { text: string; bytes?: Buffer } {
  let byIndent = indentedPlans.get(plan);
  if (!byIndent) indentedPlans.set(plan, (byIndent = new Map()));
  let entry = byIndent.get(indent);
  if (entry === undefined) {
    entry = { text: planText(plan)!.replace(/\n/g, `\n${indent}`) };
    byIndent.set(indent, entry);
  }
  return entry;
}

function indentedPlanText(plan: object, indent: string): string {
  return indentedPlan(plan, indent).text;
}

function indentedPlanBytes(plan: object, indent: string): Buffer {
  const entry = indentedPlan(plan, indent);
  return (entry.bytes ??= Buffer.from(entry.text, 'utf8'));
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
}
