/**
 * PLAN_REFUSED: a plan whose proof found breakage that the user did not accept. One error for `plan`,
 * `apply` and `rollback`, so the message and the fix read the same wherever the refusal is met.
 */
import { RotateError } from '../../domain/errors.js';
import type { Plan } from '../model/plan.js';

/** Throws PLAN_REFUSED listing every problem when the plan was refused; otherwise does nothing. */
export function refuseIfRefused(plan: Plan): void {
  const refused = plan.refused ?? [];
  if (refused.length === 0) return;
  const problems = `${refused.length} problem${refused.length === 1 ? '' : 's'}`;
  throw new RotateError(
    'PLAN_REFUSED',
    `the desired state cannot be reached safely (${problems}):\n${refused.map((r) => `  - ${r.reason}`).join('\n')}`,
    {
      hint:
        'change the desired state (e.g. keep the old CA accepted for now), ' +
        'or plan and apply with --allow-disruption to accept the breakage the proof names',
    },
  );
}
