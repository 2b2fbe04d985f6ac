/** SIGKILL at three points of a document-style rotation, stale-lock unlocks, and a resume to the end. */
import t from 'tap';
import { crashesThenResume } from './fixtures/crash-resume.js';
import { requirePrerequisites } from './fixtures/proc.js';

await requirePrerequisites(t);
t.test('killed between steps, mid-step and between patch and reply; resumed to the end (document style)', (t) =>
  crashesThenResume(t, 'document'),
);
