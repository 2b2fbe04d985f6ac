/**
 * Interop, our tool first: after `rotate apply` of a full rotation on a document-style lab, the real talosctl
 * (v1.14 line) reaches every node with the talosconfig apply wrote, and `talosctl rotate-ca` rotates both CAs
 * again (the other direction is in rotate-ca-document.test.ts). See fixtures/rotate-ca.ts.
 */
import t from 'tap';
import { requirePrerequisites } from '../apply/e2e/fixtures/proc.js';
import { talosctlAfterRotateApply } from './fixtures/rotate-ca.js';

await requirePrerequisites(t);
t.test('rotate apply, then talosctl rotate-ca (document lab, v1.14 line)', (t) =>
  talosctlAfterRotateApply(t, 'document'),
);
