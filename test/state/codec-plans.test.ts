/**
 * serializeState writes each run's plan from a text made once per plan (plans are most of a state and never
 * change once recorded): the output is exactly JSON.stringify's, key material in a plan is still refused,
 * and a recorded plan cannot be edited in place behind the cached text.
 */
import t from 'tap';
import { createMemoryStateStore, MemoryStateBacking } from '../../src/state/index.js';
import { serializeState } from '../../src/state/codec.js';
import type { StateDocument } from '../../src/state/types.js';
import { FAKE_KEY_PEM, fullPlan, samplePlan, sampleBefore } from './fixtures/plan.js';

const where = { file: '(test)', backup: null };

t.test('the text is exactly JSON.stringify of the document, plans of resumes included', async (t) => {
  const backing = new MemoryStateBacking();
  const store = createMemoryStateStore({ backing });
  const run = await store.startRun({ operation: 'apply', plan: samplePlan(), before: sampleBefore() });
  await store.resumeRun(run.id).catch(() => undefined);
  await store.replanRun(run.id, fullPlan()).catch(() => undefined);
  await store.startRun({ operation: 'rollback', plan: fullPlan(), before: sampleBefore(), rollbackOf: run.id });
  const doc = (await store.read())!;
  t.ok(
    doc.runs.some((r) => r.resumes.some((x) => x.replanned)),
    'a replanned resume is in the document',
  );
  t.equal(serializeState(doc, where), `${JSON.stringify(doc, null, 2)}\n`);
  t.equal(backing.text, `${JSON.stringify(JSON.parse(backing.text!), null, 2)}\n`, 'what the store wrote too');
  t.equal(serializeState(doc, where), `${JSON.stringify(doc, null, 2)}\n`, 'and again from the cached plan texts');
});

t.test('key material in a plan is refused; a recorded plan is frozen', async (t) => {
  const store = createMemoryStateStore();
  await store.startRun({ operation: 'apply', plan: samplePlan(), before: sampleBefore() });
  const doc = (await store.read())!;
  const bad = structuredClone(doc) as StateDocument;
  (bad.runs[0]!.plan as unknown as Record<string, unknown>).leak = FAKE_KEY_PEM;
  t.throws(() => serializeState(bad, where), { code: 'STATE_KEY_MATERIAL' });
  serializeState(doc, where);
  t.ok(Object.isFrozen(doc.runs[0]!.plan) && Object.isFrozen(doc.runs[0]!.plan.steps[0]), 'frozen once serialized');
  t.throws(() => {
    (doc.runs[0]!.plan as unknown as Record<string, unknown>).leak = FAKE_KEY_PEM;
  }, TypeError);
});
