/**
 * Live progress on a terminal, in talosctl's words: a `> step 2/3: …` header per step, a permanent
 * `  - 127.0.0.10: OK` line per node, and below them one redrawn status line per node (or gate) in flight,
 * with a spinner and the time spent. The live lines are erased and redrawn in place (cursor up, clear to
 * end of screen) and cut to the terminal width so they never wrap. Results go to stdout, the rest to the
 * terminal on stderr. On a stream that is not a terminal it is a PlainSink.
 * `rotate plan` gets one such live line per phase that goes node by node (`reading nodes 57/200`).
 */
import { createInterface } from 'node:readline';
import { hintOf, safeEvent, safeQuestion } from '../guard.js';
import { formatMs, makeEvent } from '../registry.js';
import type { EventSink, Question, RotateEvent } from '../types.js';
import { answerWithoutAsking } from './answer.js';
import { PlainSink } from './plain.js';
import type { InputStream, OutputStream } from './stream.js';

export interface TtySinkOptions {
  /** stdout: results. */
  out: OutputStream;
  /** The terminal (stderr): progress, live lines, prompts. */
  err: OutputStream;
  /** Where answers are read from; no input (or not a terminal): questions get their default. */
  input?: InputStream;
  autoApprove?: boolean;
  verbose?: boolean;
  /** Spinner/elapsed-time redraw period; 0 disables the timer (tests). Default 100 ms. */
  refreshMs?: number;
  now?: () => number;
}

const gateLabel = (check: string | null) => (check ? `${check} gate` : 'gate');
const checks = (n: number) => (n === 1 ? '1 check' : `${n} checks`);

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const CSI = '\x1b[';

interface LiveEntry {
  text: string;
  since: number;
}

export class TtySink implements EventSink {
  readonly #opts: TtySinkOptions;
  readonly #fallback: PlainSink | null;
  readonly #live = new Map<string, LiveEntry>();
  readonly #now: () => number;
  #drawn = 0;
  #frame = 0;
  #timer: NodeJS.Timeout | null = null;
  #prompting = false;
  #closed = false;

  constructor(opts: TtySinkOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#fallback = opts.err.isTTY ? null : new PlainSink(opts);
  }

  /** True when rendering live (the error stream is a terminal). */
  get live(): boolean {
    return this.#fallback === null;
  }

  emit(event: RotateEvent): void {
    if (this.#fallback) return this.#fallback.emit(event);
    const e = safeEvent(event);
    if (e.level === 'debug' && !this.#opts.verbose) return;
    const lines = this.#apply(e);
    if (lines === null) return;
    if (e.level === 'result') {
      this.#erase();
      this.#opts.out.write(`${e.message}\n`);
      this.#draw();
      return;
    }
    this.#print(lines);
  }

  /** Update the live entries for `e` and return the permanent lines it prints (null: not even a redraw). */
  #apply(e: RotateEvent): string[] | null {
    const hint = hintOf(e);
    const withHint = (line: string) => (hint ? [line, `      hint: ${hint}`] : [line]);
    switch (e.type) {
      case 'step-start':
        return [`> step ${e.data.index}/${e.data.total}: ${e.data.title}`];
      case 'step-skipped':
        return [`> step ${e.data.index}/${e.data.total}: ${e.data.title} (skipped: ${e.data.reason})`];
      case 'wave-start':
        return [];
      case 'step-complete':
        // Any gate line of the step ends with it (a gate with several checks reports each).
        this.#live.delete(`gate:${e.data.stepId}`);
        return [];
      case 'node-started':
        this.#live.set(`node:${e.data.address}`, { text: `${e.data.address}: applying config`, since: this.#now() });
        return [];
      case 'node-progress':
      case 'kubelet-restart':
      case 'static-pods': {
        const entry = this.#live.get(`node:${e.data.address}`);
        if (entry) {
          entry.text = e.message;
          return [];
        }
        return e.type !== 'node-progress' ? [`  - ${e.message}`] : [];
      }
      case 'node-retry': {
        const entry = this.#live.get(`node:${e.data.address}`);
        if (entry) entry.text = `${e.data.address}: retrying (attempt ${e.data.attempt + 1})`;
        return [`  ! ${e.message}`];
      }
      case 'node-done':
        this.#live.delete(`node:${e.data.address}`);
        return [`  - ${e.data.address}: OK`];
      case 'node-skipped':
        this.#live.delete(`node:${e.data.address}`);
        return [`  - ${e.message}`];
      case 'node-failed':
        this.#live.delete(`node:${e.data.address}`);
        return withHint(`  - ${e.data.address}: FAILED: ${e.data.error.message}`);
      case 'gate-start':
        this.#live.set(`gate:${e.data.stepId}`, {
          text: `gate: ${e.message.replace(`step ${e.data.stepId}: `, '')}`,
          since: this.#now(),
        });
        return [];
      case 'gate-attempt': {
        const label = gateLabel(e.data.check);
        const entry = this.#live.get(`gate:${e.data.stepId}`);
        const text =
          e.data.ok || !e.data.problem
            ? `${label}: check ${e.data.attempt} passed`
            : `${label}: check ${e.data.attempt}: ${e.data.problem.message}`;
        if (entry) entry.text = text;
        else this.#live.set(`gate:${e.data.stepId}`, { text, since: this.#now() });
        return [];
      }
      case 'gate-passed':
        if (e.data.check === null) this.#live.delete(`gate:${e.data.stepId}`);
        return [`  - ${gateLabel(e.data.check)}: OK (${checks(e.data.attempts)}, ${formatMs(e.data.durationMs)})`];
      case 'gate-failed':
        this.#live.delete(`gate:${e.data.stepId}`);
        return withHint(
          `  - ${gateLabel(e.data.check)}: FAILED after ${checks(e.data.attempts)}: ${e.data.error.message}`,
        );
      case 'output-written':
      case 'configmap-written':
      case 'workload':
      case 'key-escrowed':
        return [`  ${e.message}`];
      case 'run-interrupted':
      case 'run-failed':
        this.#live.clear();
        return withHint(`${e.level === 'error' ? 'error' : 'warning'}: ${e.message}`);
      case 'warning':
      case 'plan-warning':
        return withHint(`warning: ${e.message} [${e.data.warningCode}]`);
      case 'plan-progress': {
        // One live line per phase, gone when the phase ends (the screen then holds the plan alone). An
        // update waits for the timer's next redraw (every node of a large cluster would redraw otherwise).
        const key = `plan:${e.data.phase}`;
        if (e.data.done >= e.data.total) return this.#live.delete(key) ? [] : null;
        const text = `${e.data.phase} ${e.data.done}/${e.data.total}`;
        const entry = this.#live.get(key);
        if (!entry) this.#live.set(key, { text, since: this.#now() - e.data.elapsedMs });
        else {
          entry.text = text;
          if (this.#timer) return null;
        }
        return [];
      }
      case 'error':
        return withHint(`error[${e.data.error.code}]: ${e.message}`);
      default:
        return withHint(
          e.level === 'error' ? `error: ${e.message}` : e.level === 'warn' ? `warning: ${e.message}` : e.message,
        );
    }
  }

  #width(): number {
    // 0 columns: a terminal that does not say its size (a pseudo-terminal nobody sized, as `script` makes).
    return Math.max(20, (this.#opts.err.columns || 80) - 1);
  }

  #erase(): void {
    if (this.#drawn > 0) this.#opts.err.write(`\r${CSI}${this.#drawn}A${CSI}J`);
    this.#drawn = 0;
  }

  #draw(): void {
    if (this.#prompting || this.#closed) return;
    const width = this.#width();
    const now = this.#now();
    const spinner = SPINNER[this.#frame % SPINNER.length];
    let text = '';
    for (const entry of this.#live.values()) {
      let line = `  ${spinner} ${entry.text} (${formatMs(now - entry.since)})`;
      if ([...line].length > width) line = `${[...line].slice(0, width - 1).join('')}…`;
      text += `${line}\n`;
    }
    if (text) this.#opts.err.write(text);
    this.#drawn = this.#live.size;
    this.#syncTimer();
  }

  #print(lines: string[]): void {
    this.#erase();
    if (lines.length) this.#opts.err.write(`${lines.join('\n')}\n`);
    this.#draw();
  }

  #syncTimer(): void {
    const period = this.#opts.refreshMs ?? 100;
    if (period <= 0) return;
    if (this.#live.size > 0 && !this.#timer && !this.#closed) {
      this.#timer = setInterval(() => {
        this.#frame++;
        this.#erase();
        this.#draw();
      }, period);
      this.#timer.unref();
    } else if (this.#live.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  async ask(question: Question): Promise<boolean> {
    if (this.#fallback) return this.#fallback.ask(question);
    const input = this.#opts.input;
    if (this.#opts.autoApprove || !input || !input.isTTY)
      return answerWithoutAsking(question, this.#opts.autoApprove ?? false, (e) => this.emit(e));
    const q = safeQuestion(question);
    this.#erase();
    this.#prompting = true;
    const rl = createInterface({ input, output: this.#opts.err as NodeJS.WritableStream, terminal: false });
    let answer: boolean;
    try {
      this.#opts.err.write(`${q.message} ${q.default ? '[Y/n]' : '[y/N]'} `);
      const reply = await new Promise<string | null>((resolve) => {
        rl.once('line', resolve);
        rl.once('close', () => resolve(null));
      });
      const text = (reply ?? '').trim().toLowerCase();
      answer = text === '' ? q.default : text === 'y' || text === 'yes';
      if (reply === null) this.#opts.err.write('\n');
    } finally {
      rl.close();
      this.#prompting = false;
    }
    this.emit(makeEvent('question-answered', { question: q.type, answer, source: 'user' }));
    return answer;
  }

  close(): void {
    if (this.#closed) return;
    if (this.#fallback) return void (this.#closed = true);
    this.#erase();
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
