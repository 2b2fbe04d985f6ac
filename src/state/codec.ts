/**
 * State document ⇄ text. Reading refuses another stateVersion and a damaged document with errors that
 * name the file and say how to recover (the backup); writing refuses a document that does not conform or
 * that holds key material, so neither can reach the disk. With a state key configured the text on disk is
 * sealed (encryption.ts): checks run on the plain document, sealing is the last step.
 */
import { RotateError } from '../domain/errors.js';
import { TOOL_VERSION } from '../version.js';
import { openIfSealed, sealIfConfigured } from './encryption.js';
import { containsKeyMaterial } from './key-material.js';
import { stateDocumentProblems } from './schema.js';
import { STATE_VERSION, type StateDocument } from './types.js';

/** How to name a state in messages: its file (or `(memory)`) and where its backup is, if any. */
export interface StateLocation {
  file: string;
  backup: string | null;
}

function recoveryHint(where: StateLocation): string {
  if (!where.backup) return `move ${where.file} away to start a new state (the runs recorded in it are lost)`;
  return (
    `the previous good version is kept in ${where.backup}: check it with \`rotate state show --state ${where.backup}\`, ` +
    `then restore it with \`cp ${where.backup} ${where.file}\` (keep the damaged file aside); ` +
    `without a good backup, move ${where.file} away to start a new state (the runs recorded in it are lost)`
  );
}

function corrupt(where: StateLocation, what: string): RotateError {
  return new RotateError('STATE_CORRUPT', `state file ${where.file} is damaged: ${what}`, { hint: recoveryHint(where) });
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
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw corrupt(where, 'it is not a JSON object');
  const version = (value as Record<string, unknown>).stateVersion;
  if (version !== STATE_VERSION) {
    if (typeof version === 'number') {
      const writer = (value as Record<string, unknown>).toolVersion;
      throw new RotateError(
        'STATE_VERSION_UNSUPPORTED',
        `state file ${where.file} has stateVersion ${version}; talos-rotate ${TOOL_VERSION} reads stateVersion ${STATE_VERSION}`,
        {
          hint:
            version > STATE_VERSION
              ? `it was written by a newer talos-rotate${typeof writer === 'string' ? ` (${writer})` : ''}: use that version or a later one`
              : 'it was written by an older talos-rotate that this version cannot read: use that version to finish or roll back its runs',
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
  const problems = stateDocumentProblems(doc);
  if (problems.length > 0) {
    throw new RotateError('STATE_INVALID_WRITE', `refusing to write an invalid state document to ${where.file}: ${problems.slice(0, 3).join('; ')}`, {
      hint: 'this is a bug in talos-rotate; the state on disk was not changed',
      source: 'internal',
    });
  }
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  if (containsKeyMaterial(text)) {
    throw new RotateError('STATE_KEY_MATERIAL', `refusing to write key material into the state ${where.file}`, {
      hint: 'this is a bug in talos-rotate; the state on disk was not changed',
      source: 'internal',
    });
  }
  return sealIfConfigured(text, 'state');
}
