/** Public surface of apply's progress reporting: event types, the code registry, the sinks. */
export type * from './types.js';
export { EVENTS, QUESTIONS, makeEvent, makeQuestion, formatMs, type EventSpec, type QuestionSpec } from './registry.js';
export { safeEvent, safeQuestion } from './guard.js';
export { renderEventsDoc } from './docs.js';
export { PlainSink, type PlainSinkOptions } from './sinks/plain.js';
export { JsonLinesSink, JSON_UI_VERSION, JSON_MODULE, type JsonLinesSinkOptions } from './sinks/json-lines.js';
export { TtySink, type TtySinkOptions } from './sinks/tty.js';
export { RecordingSink } from './sinks/recording.js';
export { teeSink } from './sinks/tee.js';
export { selectSink, detectCi, type SelectSinkOptions } from './sinks/select.js';
export type { OutputStream, InputStream } from './sinks/stream.js';
