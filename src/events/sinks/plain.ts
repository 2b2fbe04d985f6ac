/**
 * One line per event for logs (CI, pipes): `TIME LEVEL message [CODE]` on stderr, a hint on the next line,
 * results alone on stdout (planning progress only now and then, see #logsProgress). Never asks: questions get
 * their default (or yes with --auto-approve).
 */
import { hintOf, safeEvent, warningCodeOf } from '../guard.js';
import type { EventDataMap, EventSink, Question, RotateEvent } from '../types.js';
import { answerWithoutAsking } from './answer.js';
import type { OutputStream } from './stream.js';

export interface PlainSinkOptions {
  out: OutputStream;
  err: OutputStream;
  autoApprove?: boolean;
  /** Also print debug events, and every planning-progress event. */
  verbose?: boolean;
}

const PROGRESS_LOG_EVERY_MS = 10_000;

export class PlainSink implements EventSink {
  readonly #opts: PlainSinkOptions;
  /** Per planning phase, the elapsed time of its last progress line. */
  readonly #progressLogged = new Map<string, number>();

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
    if (e.type === 'plan-progress' && !this.#opts.verbose && !this.#logsProgress(e.data)) return;
    const hint = hintOf(e);
    // A warning carries one code: its own (`warningCode`), not also the event's generic one.
    const code = warningCodeOf(e) ?? e.code;
    this.#opts.err.write(
      `${e.time} ${e.level.toUpperCase().padEnd(5)} ${e.message} ` +
        `[${code}]\n${hint ? `${' '.repeat(e.time.length + 7)}hint: ${hint}\n` : ''}`,
    );
  }

  /**
   * Planning progress in a log: nothing for a phase that ends within 10 s (a small cluster's log has no extra
   * line), else a line about every 10 s (the job is alive, and how far it is) and one when the phase ends.
   */
  #logsProgress(d: EventDataMap['plan-progress']): boolean {
    const last = this.#progressLogged.get(d.phase);
    if (d.done >= d.total) {
      this.#progressLogged.delete(d.phase);
      return last !== undefined;
    }
    if (d.elapsedMs - (last ?? 0) < PROGRESS_LOG_EVERY_MS) return false;
    this.#progressLogged.set(d.phase, d.elapsedMs);
    return true;
  }

  async ask(question: Question): Promise<boolean> {
    return answerWithoutAsking(question, this.#opts.autoApprove ?? false, (e) => this.emit(e));
  }
}
