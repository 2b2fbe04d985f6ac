/**
 * A full Talos + Kubernetes rotation on a document-style (v1.14) lab, then a rollback from its end; the
 * lab's ledger judges both runs against the plans' proofs.
 */
import t from 'tap';
import { fullRotationThenRollback } from './fixtures/full-rotation.js';
import { requirePrerequisites } from './fixtures/proc.js';

await requirePrerequisites(t);
t.test('full rotation, then rollback from the end (document style)', (t) => fullRotationThenRollback(t, 'document'));
