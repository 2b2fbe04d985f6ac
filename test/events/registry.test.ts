import t from 'tap';
import { EVENTS, QUESTIONS, makeEvent, makeQuestion, type EventType } from '../../src/events/index.js';
import { sampleEvents } from './fixtures/script.js';

const CODE = /^TR_(APPLY|PLAN)_([IWE])(\d{4})$/;
/** Area and number: a number is used once per area, whatever its letter. */
const numberOf = (code: string) => code.replace(CODE, '$1 $3');
const LETTER_LEVELS = { I: ['info', 'result', 'debug'], W: ['warn'], E: ['error'] } as const;

t.test('every code is well formed, unique, and its letter matches its level', async (t) => {
  const seen = new Map<string, string>();
  for (const [type, spec] of Object.entries(EVENTS)) {
    const m = CODE.exec(spec.code);
    t.ok(m, `${type}: ${spec.code} is TR_<APPLY|PLAN>_<I|W|E>nnnn`);
    t.ok(
      (LETTER_LEVELS[m![2] as 'I' | 'W' | 'E'] as readonly string[]).includes(spec.level),
      `${type}: ${spec.code} fits level ${spec.level}`,
    );
    t.notOk(
      seen.has(numberOf(spec.code)),
      `${type}: number ${numberOf(spec.code)} not used by ${seen.get(numberOf(spec.code))}`,
    );
    seen.set(numberOf(spec.code), type);
    t.ok(spec.description.length > 10, `${type} has a description`);
  }
  for (const [type, spec] of Object.entries(QUESTIONS)) {
    t.match(spec.code, CODE);
    t.notOk(seen.has(numberOf(spec.code)), `question ${type}: its code is unique`);
    seen.set(numberOf(spec.code), type);
    t.equal(spec.default, false, `${type}: a confirmation defaults to no`);
  }
});

t.test('the codes the issue names exist with their meaning', async (t) => {
  t.equal(EVENTS['run-start'].code, 'TR_APPLY_I1001');
  const expected: EventType[] = [
    'step-start',
    'node-started',
    'node-done',
    'node-skipped',
    'node-failed',
    'kubelet-restart',
    'gate-attempt',
    'gate-passed',
    'gate-failed',
    'output-written',
    'run-complete',
    'run-interrupted',
    'warning',
    'error',
  ];
  for (const type of expected) t.ok(EVENTS[type], type);
  t.equal(EVENTS['run-complete'].level, 'result', 'the outcome is a result (stdout)');
});

t.test('makeEvent fills code, level, time and the message from the data', async (t) => {
  const e = makeEvent(
    'node-failed',
    { stepId: 's', address: '127.0.0.10', error: { code: 'X', message: 'it broke', hint: 'fix it' } },
    new Date(0),
  );
  t.same(e, {
    type: 'node-failed',
    code: 'TR_APPLY_E3901',
    level: 'error',
    time: '1970-01-01T00:00:00.000Z',
    message: '127.0.0.10: FAILED: it broke',
    data: { stepId: 's', address: '127.0.0.10', error: { code: 'X', message: 'it broke', hint: 'fix it' } },
  });
  const q = makeQuestion('confirm-apply', { steps: 3, nodes: 5, verdict: 'safe' });
  t.match(q, {
    type: 'confirm-apply',
    code: 'TR_APPLY_I8101',
    default: false,
    message: 'Apply 3 steps changing 5 nodes (verdict: safe)?',
  });
  t.equal(makeQuestion('confirm-apply', { steps: 1, nodes: 1, verdict: 'safe' }, { default: true }).default, true);
});

t.test('every sample message is one line of text from its data', async (t) => {
  for (const e of sampleEvents()) {
    t.notMatch(e.message, /\n|undefined|\[object/, `${e.type}: ${e.message}`);
  }
  const escrow = sampleEvents().find((e) => e.type === 'key-escrowed')!;
  t.equal(
    escrow.message,
    'escrowed: talos new-issuing key bbbbbbbbbbbbbbbb in /x/state/keys/talos-bbbbbbbbbbbbbbbb.key',
  );
});

t.test('no event or question has a field that could hold a key', async (t) => {
  const suspicious = /(^|[a-z])(Key|Secret|Pem|Private)|^(key|secret|pem|private)/;
  for (const [type, spec] of [...Object.entries(EVENTS), ...Object.entries(QUESTIONS)]) {
    for (const field of Object.keys(spec.fields)) t.notMatch(field, suspicious, `${type}.${field}`);
  }
});
