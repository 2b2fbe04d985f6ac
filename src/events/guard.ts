/**
 * Every sink passes each event through here: an event whose text holds key material is replaced by an
 * `event-withheld` error naming only its code. Event types leave no room for a key; this catches a
 * caller that put one into a message or an error anyway.
 */
import { containsKeyMaterial } from '../state/key-material.js';
import { makeEvent } from './registry.js';
import type { Question, RotateEvent } from './types.js';

export function safeEvent(event: RotateEvent): RotateEvent {
  if (!containsKeyMaterial(`${event.message}\n${JSON.stringify(event.data)}`)) return event;
  return makeEvent('event-withheld', { withheldCode: event.code }, new Date(event.time));
}

/** A question whose prompt holds key material is asked with a neutral prompt. */
export function safeQuestion(question: Question): Question {
  if (!containsKeyMaterial(`${question.message}\n${JSON.stringify(question.data)}`)) return question;
  return { ...question, message: `(question ${question.code} withheld: it held key material)`, data: {} as never };
}

/** The hint of an event's error (or warning), if any: printed on its own line by the text sinks. */
export function hintOf(event: RotateEvent): string | null {
  const data = event.data as { error?: { hint?: string }; hint?: string | null };
  return data.error?.hint ?? (warningCodeOf(event) !== null ? (data.hint ?? null) : null);
}

/** A warning event's own code (apply's `warning`, plan's `plan-warning`); null for any other event. */
export function warningCodeOf(event: RotateEvent): string | null {
  return event.type === 'warning' || event.type === 'plan-warning' ? event.data.warningCode : null;
}
