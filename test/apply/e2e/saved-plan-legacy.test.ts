/**
 * Approval and saved plans on a legacy-style lab: refusals that change nothing, then `rotate apply PLANFILE`.
 * That run is also the legacy-style full rotation judged end to end (ledger, static pods, final trust, no change
 * planned afterwards), which full-legacy.test.ts did on a lab of its own (see fixtures/saved-plan.ts).
 */
import t from 'tap';
import { requirePrerequisites } from './fixtures/proc.js';
import { savedPlans } from './fixtures/saved-plan.js';

await requirePrerequisites(t);
t.test('needs approval; a stale saved plan is refused; a fresh one is applied (legacy style)', (t) =>
  savedPlans(t, 'legacy'),
);
