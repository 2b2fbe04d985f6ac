/** The shape of an event or question registry entry, and the text helpers the entries share. */
import type { EventCode, EventDataMap, EventLevel, EventType, GateCheck, QuestionMap, QuestionType } from './types.js';

/** What every registry entry has, for data of type D. */
interface SpecOf<D> {
  code: EventCode;
  description: string;
  /** One line per data field, for the docs (the type makes the list complete). */
  fields: { [F in keyof D]-?: string };
  message(data: D): string;
}

export interface EventSpec<K extends EventType> extends SpecOf<EventDataMap[K]> {
  level: EventLevel;
}

export interface QuestionSpec<K extends QuestionType> extends SpecOf<QuestionMap[K]> {
  default: boolean;
}

export const plural = (n: number, word: string, many = `${word}s`) => `${n} ${n === 1 ? word : many}`;

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  return s % 60 === 0 ? `${s / 60}m` : `${Math.floor(s / 60)}m${s % 60}s`;
}

export const ROLE_PLURAL = { controlplane: 'control planes', worker: 'workers' } as const;

export const PHASE_TEXT = {
  sending: 'applying config',
  verifying: 'verifying the new config',
  'waiting-for-kubelet': 'waiting for the kubelet to restart',
  retrying: 'retrying',
} as const;

export const SKIP_TEXT = {
  'already-at-target': 'already at the target',
  'done-in-earlier-attempt': 'done in an earlier attempt',
  'not-in-step': 'not changed by this step',
} as const;

export const GATE_TEXT = { talos: 'the Talos API on every node', kubernetes: 'every Kubernetes Node Ready' } as const;

export const ERROR_FIELD = '`{code, message, hint?}` of the error';
export const CHECK_FIELD = '`talos` or `kubernetes` (a step may have both), or null for the whole gate';
export const gateName = (d: { stepId: string; check: GateCheck | null }) =>
  `step ${d.stepId}: ${d.check ? `${d.check} gate` : 'gate'}`;

/** Every event's entry: the registry's type, of which each family file holds a part. */
export type EventSpecs = { [K in EventType]: EventSpec<K> };
