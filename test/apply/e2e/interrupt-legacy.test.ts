/** Ctrl-C during a legacy-style rotation: what is in flight finishes, exit 130, `interrupted`, resumed. */
import t from 'tap';
import { interruptThenResume } from './fixtures/interrupt.js';
import { requirePrerequisites } from './fixtures/proc.js';

await requirePrerequisites(t);
t.test('SIGINT during step 2, then resumed (legacy style)', (t) => interruptThenResume(t, 'legacy'));
