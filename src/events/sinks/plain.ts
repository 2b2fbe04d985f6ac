/**
 * One line per event for logs (CI, pipes): `TIME LEVEL message [CODE]` on stderr, a hint on the next line,
 * results alone on stdout. Never asks: questions get their default (or yes with --auto-approve).
 */
import { hintOf, safeEvent } from '../guard.js';
import type { EventSink, Question, RotateEvent } from '../types.js';
import { answerWithoutAsking } from './answer.js';
import type { OutputStream } from './stream.js';

export interface PlainSinkOptions {
  out: OutputStream;
  err: OutputStream;
  autoApprove?: boolean;
  /** Also print debug events. */
  verbose?: boolean;
}

export class PlainSink implements EventSink {
  readonly #opts: PlainSinkOptions;

  constructor(opts: PlainSinkOptions) {
    this.#opts = opts;
  }

  emit(event: RotateEvent): void {
    const e = safeEvent(event);
    if (e.level === 'debug' && !this.#opts.verbose) return;
    if (e.level === 'result') {
      this.#opts.out.write(`${e.message}\n`);
      return;
    }
    const hint = hintOf(e);
    // A warning carries one code: its own (`warningCode`), not also the event's generic one.
    const code = e.type === 'warning' ? e.data.warningCode : e.code;
    this.#opts.err.write(
      `${e.time} ${e.level.toUpperCase().padEnd(5)} ${e.message} ` +
        `[${code}]\n${hint ? `${' '.repeat(e.time.length + 7)}hint: ${hint}\n` : ''}`,
    );
  }

  async ask(question: Question): Promise<boolean> {
    return answerWithoutAsking(question, this.#opts.autoApprove ?? false, (e) => this.emit(e));
  }
}
