/**
 * serializeState writes each run's plan from a text made once per plan (plans are most of a state and never
 * change once recorded): the output is exactly JSON.stringify's, key material in a plan is still refused,
 * and a recorded plan cannot be edited in place behind the cached text.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryStateStore, MemoryStateBacking, openFileStateStore } from '../../src/state/index.js';
import { encodeState, serializeState } from '../../src/state/codec.js';
import { setStateCipherForTests, STATE_KEY_ENV, stateCipherFromEnv } from '../../src/state/encryption.js';
import type { StateDocument } from '../../src/state/types.js';
import { AFTER_FP, BEFORE_FP, FAKE_KEY_PEM, fullPlan, samplePlan, sampleBefore } from './fixtures/plan.js';

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

t.test("the file's bytes are the text's UTF-8, plan bytes encoded once; sealed with a state key", async (t) => {
  const store = createMemoryStateStore();
  const run = await store.startRun({ operation: 'apply', plan: samplePlan(), before: sampleBefore() });
  await store.replanRun(run.id, fullPlan()).catch(() => undefined);
  const doc = (await store.read())!;
  // Text outside ASCII in a recorded plan and around it: the bytes are UTF-8 on both sides of each plan.
  (doc.runs[0]!.plan as unknown as Record<string, unknown>).note = 'accept → issue → drop — ✓';
  doc.desiredFile = '/tmp/désiré.yaml';
  const expected = Buffer.from(`${JSON.stringify(doc, null, 2)}\n`, 'utf8');
  t.ok(Buffer.concat(encodeState(doc, where)).equals(expected), 'the bytes of JSON.stringify');
  doc.desiredFile = '/tmp/other → file.yaml';
  t.ok(
    Buffer.concat(encodeState(doc, where)).equals(Buffer.from(`${JSON.stringify(doc, null, 2)}\n`, 'utf8')),
    'again, from the cached plan bytes, with the rest of the document changed',
  );
  t.throws(
    () => {
      const bad = structuredClone(doc) as StateDocument;
      (bad.runs[0]!.plan as unknown as Record<string, unknown>).leak = FAKE_KEY_PEM;
      encodeState(bad, where);
    },
    { code: 'STATE_KEY_MATERIAL' },
  );
  setStateCipherForTests(stateCipherFromEnv({ [STATE_KEY_ENV]: 'ab'.repeat(32) }));
  t.teardown(() => setStateCipherForTests(undefined));
  const sealed = Buffer.concat(encodeState(doc, where)).toString('utf8');
  t.not(sealed, `${JSON.stringify(doc, null, 2)}\n`, 'with a state key the bytes are sealed');
  t.notMatch(sealed, /accept → issue/, 'no plain text of the plan in them');
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

t.test('finished runs: written in full once, then from their text; editing one copies it first', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'codec-runs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'x.state.json');
  const store = openFileStateStore(file);
  const onDisk = async () => {
    const doc = (await store.read())!;
    t.equal(
      readFileSync(file, 'utf8'),
      `${JSON.stringify(doc, null, 2)}\n`,
      'the file is JSON.stringify of the document',
    );
    return doc;
  };
  const finish = async (id: string, plan: ReturnType<typeof samplePlan>) => {
    const done = (await store.read())!.runs.find((r) => r.id === id)!.steps.filter((s) => s.status === 'skipped');
    for (const s of plan.steps)
      if (!done.some((d) => d.id === s.id)) await store.markStepSkipped(id, s.id, 'already at target');
    await store.finishRun(id, 'complete');
  };
  const first = samplePlan();
  const a = await store.startRun({ operation: 'apply', plan: first, before: sampleBefore() });
  await finish(a.id, first);
  const second = fullPlan();
  const b = await store.startRun({ operation: 'apply', plan: second, before: sampleBefore() });
  // Run a is finished and no longer last: it is written from its text, followed by a comma.
  await store.markStepSkipped(b.id, second.steps[0]!.id, 'already at target');
  let doc = await onDisk();
  t.same(
    doc.runs.map((r) => r.status),
    ['complete', 'running'],
  );
  await finish(b.id, second);
  t.same(
    (await onDisk()).runs.map((x) => x.status),
    ['complete', 'complete'],
  );
  // Both finished; a rollback of b edits a finished run, which the store copies before editing.
  const r = await store.startRun({
    operation: 'rollback',
    plan: samplePlan(),
    before: sampleBefore(),
    rollbackOf: b.id,
  });
  await store.markRolledBack(b.id);
  doc = await onDisk();
  t.same(
    doc.runs.map((x) => [x.id, x.status]),
    [
      [a.id, 'complete'],
      [b.id, 'rolled-back'],
      [r.id, 'running'],
    ],
    'the edit of the finished run is written',
  );
  // A fresh store reading the same file writes the same text again (its runs sealed on its first write).
  const again = openFileStateStore(file);
  await again.markStepSkipped(r.id, samplePlan().steps[0]!.id, 'already at target');
  const reread = (await again.read())!;
  t.equal(readFileSync(file, 'utf8'), `${JSON.stringify(reread, null, 2)}\n`);
  t.equal(reread.runs[1]!.status, 'rolled-back');
});

t.test(
  'a run in progress: its steps, node records and `before` are written once in full, then shared; edits copy them',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'codec-steps-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'x.state.json');
    const store = openFileStateStore(file);
    const onDisk = async (what: string) => {
      const doc = (await store.read())!;
      t.equal(
        readFileSync(file, 'utf8'),
        `${JSON.stringify(doc, null, 2)}\n`,
        `${what}: JSON.stringify of the document`,
      );
      return doc;
    };
    const plan = fullPlan();
    t.ok(plan.steps.length >= 2 && plan.steps[1]!.nodes.length >= 3, 'several steps of three nodes or more');
    const run = await store.startRun({ operation: 'apply', plan, before: sampleBefore() });
    const [first, second] = plan.steps;
    // Every node event edits a step written (and frozen) by an earlier write: the store copies it first.
    await store.markStepStarted(run.id, first!.id);
    for (const n of first!.nodes) {
      await store.markNodeStarted(run.id, first!.id, n.address, BEFORE_FP);
      await onDisk(`${n.address} started`);
      await store.markNodeDone(run.id, first!.id, n.address, AFTER_FP);
    }
    await store.markGatePassed(run.id, first!.id);
    await store.markStepDone(run.id, first!.id);
    await store.markStepStarted(run.id, second!.id);
    await store.markNodeFailed(run.id, second!.id, second!.nodes[0]!.address, new Error('refused'));
    let doc = await onDisk('a step done, the next one started');
    t.same(
      doc.runs[0]!.steps.slice(0, 2).map((s) => [s.status, s.nodes.map((n) => n.status)]),
      [
        ['done', first!.nodes.map(() => 'done')],
        ['started', second!.nodes.map((_, i) => (i === 0 ? 'failed' : 'pending'))],
      ],
      'each edit landed in its step',
    );
    t.same(doc.runs[0]!.before, sampleBefore(), '`before` as recorded');

    // The public write hands out a copy editable throughout, frozen parts included (no read in between: a
    // read takes the document from the file, unfrozen).
    await store.markNodeStarted(run.id, second!.id, second!.nodes[1]!.address, BEFORE_FP);
    await store.write((d) => {
      d.runs[0]!.steps[0]!.nodes[0]!.attempts += 1;
      d.runs[0]!.before[0]!.nodeId = 'edited';
    });
    doc = await onDisk('after a direct edit of a written step and of `before`');
    t.equal(doc.runs[0]!.steps[0]!.nodes[0]!.attempts, 2);
    t.equal(doc.runs[0]!.before[0]!.nodeId, 'edited');

    // A direct edit written in the same group as a recorder edit (which copied only its step's shell and the one
    // node record it changed) may still edit any node record of that step. No read before: a read takes the
    // document from the file, unfrozen.
    const third = second!.nodes[2]!;
    const attempts = doc.runs[0]!.steps[1]!.nodes[0]!.attempts;
    await store.markNodeStarted(run.id, second!.id, third.address, BEFORE_FP);
    await Promise.all([
      store.markNodeDone(run.id, second!.id, second!.nodes[1]!.address, AFTER_FP),
      store.write((d) => {
        d.runs[0]!.steps[1]!.nodes[0]!.attempts += 10;
      }),
    ]);
    doc = await onDisk('after edits written in one group');
    t.equal(doc.runs[0]!.steps[1]!.nodes[0]!.attempts, attempts + 10, 'the direct edit landed');
    t.same(
      doc.runs[0]!.steps[1]!.nodes.map((n) => n.status),
      ['failed', 'done', 'started'],
      'and the recorder edits',
    );

    // Key material put into a written step is refused, and the state on disk is unchanged.
    const text = readFileSync(file, 'utf8');
    await t.rejects(
      store.write((d) => {
        d.runs[0]!.steps[0]!.nodes[0]!.skipReason = FAKE_KEY_PEM;
      }),
      { code: 'STATE_KEY_MATERIAL' },
    );
    t.equal(readFileSync(file, 'utf8'), text, 'nothing written');

    // A fresh store reading the file carries on from it and writes the same text.
    const again = openFileStateStore(file);
    await again.markNodeDone(run.id, second!.id, third.address, AFTER_FP);
    await again.markNodeStarted(run.id, second!.id, second!.nodes[0]!.address, BEFORE_FP);
    const reread = (await again.read())!;
    t.equal(readFileSync(file, 'utf8'), `${JSON.stringify(reread, null, 2)}\n`);
    t.same(
      reread.runs[0]!.steps[1]!.nodes.map((n) => n.status),
      ['started', 'done', 'done'],
    );
  },
);
