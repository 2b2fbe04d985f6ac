/**
 * A worker powered off while a document-style rotation runs: a safe stop naming the node, the lock refusing
 * a second apply meanwhile, and a resume once the node is back.
 */
import t from 'tap';
import { nodeDownThenResume } from './fixtures/node-down.js';
import { requirePrerequisites } from './fixtures/proc.js';

await requirePrerequisites(t);
t.test('a worker goes down in step 2; the lock is held meanwhile; resumed after --up (document style)', (t) =>
  nodeDownThenResume(t, 'document'),
);
