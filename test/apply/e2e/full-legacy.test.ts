/**
 * A full Talos + Kubernetes rotation on a legacy-style (v1.13 `.cluster.ca`) lab; the lab's ledger judges
 * the run against the plan's proofs. No rollback from the end here: a rollback plans from the nodes'
 * trust as read, whatever the layout, and the layout lives in reading and patching machine configs. The
 * rollback from the end of a full rotation runs on the document-style lab (full-document.test.ts); a
 * legacy-style rollback, putting the old CAs and their keys back into `.cluster.ca` / `.machine.ca`, in
 * rollback-midrun-legacy.test.ts.
 */
import t from 'tap';
import { fullRotationThenRollback } from './fixtures/full-rotation.js';
import { requirePrerequisites } from './fixtures/proc.js';

await requirePrerequisites(t);
t.test('full rotation (legacy style)', (t) => fullRotationThenRollback(t, 'legacy', undefined, { rollback: false }));
