/** SIGKILL in the middle of a legacy-style rotation, then `rotate rollback` back to the original trust. */
import t from 'tap';
import { crashThenRollback } from './fixtures/crash-rollback.js';
import { requirePrerequisites } from './fixtures/proc.js';

await requirePrerequisites(t);
t.test('killed mid-step 2, then rolled back (legacy style)', (t) => crashThenRollback(t, 'legacy'));
