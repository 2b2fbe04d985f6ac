/**
 * Machine-readable output, as Terraform's `-json` UI: one JSON object per line on stdout, the first a
 * `version` message. Every line has `@level`, `@message`, `@module`, `@timestamp`, `type` and `code`, then
 * the event's data fields. Consumers must ignore unknown types and fields (minor `ui` version bumps add
 * them; a major bump breaks them). Never asks: questions are printed as `question` lines and answered with
 * their default (or yes with --auto-approve), which a `question-answered` line reports.
 */
import { TOOL_VERSION } from '../../version.js';
import { safeEvent, safeQuestion } from '../guard.js';
import type { EventSink, Question, RotateEvent } from '../types.js';
import { answerWithoutAsking } from './answer.js';
import type { OutputStream } from './stream.js';

/** The machine-readable UI's version: minor for additions, major for incompatible changes. */
export const JSON_UI_VERSION = '1.0';
export const JSON_MODULE = 'talos-rotate';

const TERRAFORM_LEVEL = { debug: 'debug', info: 'info', warn: 'warn', error: 'error', result: 'info' } as const;

export interface JsonLinesSinkOptions {
  out: OutputStream;
  autoApprove?: boolean;
  now?: () => Date;
}

export class JsonLinesSink implements EventSink {
  readonly #opts: JsonLinesSinkOptions;
  #started = false;

  constructor(opts: JsonLinesSinkOptions) {
    this.#opts = opts;
  }

  #line(fields: Record<string, unknown>): void {
    if (!this.#started) {
      this.#started = true;
      const time = (this.#opts.now ?? (() => new Date()))().toISOString();
      this.#opts.out.write(
        `${JSON.stringify({
          '@level': 'info',
          '@message': `talos-rotate ${TOOL_VERSION}`,
          '@module': JSON_MODULE,
          '@timestamp': time,
          type: 'version',
          talos_rotate: TOOL_VERSION,
          ui: JSON_UI_VERSION,
        })}\n`,
      );
    }
    this.#opts.out.write(`${JSON.stringify(fields)}\n`);
  }

  emit(event: RotateEvent): void {
    const e = safeEvent(event);
    this.#line({
      ...(e.data as object),
      '@level': TERRAFORM_LEVEL[e.level],
      '@message': e.message,
      '@module': JSON_MODULE,
      '@timestamp': e.time,
      type: e.type,
      code: e.code,
    });
  }

  async ask(question: Question): Promise<boolean> {
    const q = safeQuestion(question);
    const time = (this.#opts.now ?? (() => new Date()))().toISOString();
    this.#line({
      ...(q.data as object),
      '@level': 'info',
      '@message': q.message,
      '@module': JSON_MODULE,
      '@timestamp': time,
      type: 'question',
      code: q.code,
      question: q.type,
      default: q.default,
    });
    return answerWithoutAsking(q, this.#opts.autoApprove ?? false, (e) => this.emit(e));
  }
}
