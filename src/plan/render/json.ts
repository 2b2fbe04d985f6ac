/**
 * The JSON plan document (docs/plan-format.md): what `rotate plan --json` prints and `rotate apply` reads.
 */
import { RotateError } from '../../domain/errors.js';
import { PLAN_FORMAT_VERSION, type Plan } from '../model/plan.js';

export function renderPlanJson(plan: Plan): string {
  return `${JSON.stringify(plan, null, 2)}\n`;
}

/** Parse a plan document, refusing another format version or a document that is not a plan. */
export function parsePlanDocument(text: string, source = 'plan'): Plan {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new RotateError('PLAN_FORMAT_INVALID', `${source} is not JSON`, {
      hint: 'pass the file written by `rotate plan --out`',
      cause: err,
    });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new RotateError('PLAN_FORMAT_INVALID', `${source} is not a plan document`, {
      hint: 'pass the file written by `rotate plan --out`',
    });
  }
  const d = doc as Record<string, unknown>;
  if (d.formatVersion !== PLAN_FORMAT_VERSION) {
    throw new RotateError(
      'PLAN_FORMAT_UNSUPPORTED',
      `${source} has formatVersion ${JSON.stringify(d.formatVersion)}; ` +
        `this version of talos-rotate reads ${PLAN_FORMAT_VERSION}`,
      {
        hint: 'make a new plan with this version of talos-rotate',
      },
    );
  }
  for (const key of ['steps', 'notices', 'initialProof'] as const) {
    if (!Array.isArray(d[key]))
      throw new RotateError('PLAN_FORMAT_INVALID', `${source}: field ${key} must be a list`, {
        hint: 'the file was edited or truncated; make a new plan',
      });
  }
  for (const key of ['changes', 'applyable'] as const) {
    if (typeof d[key] !== 'boolean')
      throw new RotateError('PLAN_FORMAT_INVALID', `${source}: field ${key} must be true or false`, {
        hint: 'the file was edited or truncated; make a new plan',
      });
  }
  if (typeof d.basedOn !== 'object' || d.basedOn === null) {
    throw new RotateError('PLAN_FORMAT_INVALID', `${source}: field basedOn is missing`, {
      hint: 'the file was edited or truncated; make a new plan',
    });
  }
  return doc as Plan;
}
