/**
 * SIGKILL at three points of a document-style rotation, stale-lock unlocks, and a resume to the end.
 * One layout is enough: killing, lock breaking, resuming and re-planning never look at the layout, which
 * lives in reading and patching machine configs (test/machineconfig/, and saved-plan-legacy.test.ts /
 * full-document.test.ts end to end). Legacy-style runs stopped and resumed: interrupt-legacy (SIGINT),
 * node-gone-legacy (SIGKILL after step 1); killed mid-step 2, then rolled back: rollback-midrun-legacy.
 */
import t from 'tap';
import { crashesThenResume } from './fixtures/crash-resume.js';
import { requirePrerequisites } from './fixtures/proc.js';

await requirePrerequisites(t);
t.test('killed between steps, mid-step and between patch and reply; resumed to the end (document style)', (t) =>
  crashesThenResume(t, 'document'),
);
