/**
 * SIGKILL in the middle of a legacy-style rotation, then `rotate rollback` back to the original trust.
 * One layout is enough: the rollback plans from the nodes' trust as read, whatever the layout (reading and
 * patching both layouts: test/machineconfig/; a document-style rollback end to end: full-document.test.ts;
 * a document-style run killed mid-step 2: crash-document.test.ts).
 */
import t from 'tap';
import { crashThenRollback } from './fixtures/crash-rollback.js';
import { requirePrerequisites } from './fixtures/proc.js';

await requirePrerequisites(t);
t.test('killed mid-step 2, then rolled back (legacy style)', (t) => crashThenRollback(t, 'legacy'));
