/**
 * A full Talos + Kubernetes rotation on a document-style (v1.14) lab, then a rollback from its end; the
 * lab's ledger judges both runs against the plans' proofs. The lab folder is kept as a git repository
 * throughout (issue 10 items 1 and 3: what `git add -A` would publish, backups, the merged kubeconfig; see
 * fixtures/git-repository.ts), on the same run.
 */
import t from 'tap';
import { fullRotationThenRollback } from './fixtures/full-rotation.js';
import { GitRepositoryChecks } from './fixtures/git-repository.js';
import { requirePrerequisites } from './fixtures/proc.js';

await requirePrerequisites(t);
t.test('full rotation, then rollback from the end (document style), in a git repository', (t) =>
  fullRotationThenRollback(t, 'document', (lab) => new GitRepositoryChecks(lab)),
);
