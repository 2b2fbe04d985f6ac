/**
 * Real `talosctl rotate-ca` (v1.14 line) against a document-style lab (KubeAPIServerCAConfig): the
 * Talos API, then the Kubernetes API, judged by the lab's ledger; then `rotate plan` naming talosctl's new
 * CAs plans no node change, only removing the old Kubernetes CA from extension-apiserver-authentication
 * (which the apiservers keep after talosctl dropped it). See fixtures/rotate-ca.ts.
 */
import t from 'tap';
import { requirePrerequisites } from '../apply/e2e/fixtures/proc.js';
import { talosctlRotatesBoth } from './fixtures/rotate-ca.js';

await requirePrerequisites(t);
t.test('talosctl rotate-ca, Talos API then Kubernetes API (document lab, v1.14 line)', (t) =>
  talosctlRotatesBoth(t, 'document'),
);
