/**
 * What `rotate plan` says on stderr while it reads a large cluster (issue 10 item 7), never on stdout (the
 * plan, or its JSON, stays alone there):
 *
 * - on a terminal: one live line (`reading nodes 57/200`), redrawn in place at most every 100 ms and erased
 *   when planning is done, so the screen ends with the plan alone;
 * - anywhere else (a CI log, a pipe, TERM=dumb): nothing for a phase that ends within `everyMs` (10 s), so a
 *   small cluster's log has no extra line; a slower phase gets a plain line every `everyMs` (`plan: reading
 *   nodes 120/200 (10s)`, at the next node done after that), which tells a log reader the job is alive and how far it
 *   is, and one line when that phase ends. No escape sequences there.
 */
import type { PlanProgress } from '../../../cluster/session/build-plan.js';

export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

export interface PlanProgressOptions {
  env?: NodeJS.ProcessEnv;
  /** Milliseconds, monotonic (injected in tests). */
  now?: () => number;
  /** How often a log gets a line while a phase runs (default 10 s). */
  everyMs?: number;
}

export interface PlanProgressReporter {
  update(p: PlanProgress): void;
  /** Planning is over (done or failed): erase the live line. */
  end(): void;
}

const ERASE_LINE = '\r\x1b[2K';

export function planProgress(stream: ProgressStream, opts: PlanProgressOptions = {}): PlanProgressReporter {
  const now = opts.now ?? (() => performance.now());
  const env = opts.env ?? process.env;
  const live = Boolean(stream.isTTY) && env.TERM !== 'dumb';
  const everyMs = opts.everyMs ?? 10_000;
  let phase: PlanProgress['phase'] | null = null;
  let phaseStart = 0;
  let last = -Infinity;
  let logged = false;
  let drawn = false;

  const seconds = (ms: number) => `${Math.round(ms / 1000)}s`;
  return {
    update(p) {
      const t = now();
      if (p.phase !== phase) {
        phase = p.phase;
        phaseStart = t;
        last = live ? -Infinity : t;
        logged = false;
      }
      const finished = p.done >= p.total;
      if (live) {
        if (!finished && t - last < 100) return;
        last = t;
        stream.write(`${ERASE_LINE}${p.phase} ${p.done}/${p.total}`);
        drawn = true;
        return;
      }
      if (finished) {
        if (logged) stream.write(`plan: ${p.phase} ${p.done}/${p.total}, done in ${seconds(t - phaseStart)}\n`);
        return;
      }
      if (t - last >= everyMs) {
        last = t;
        logged = true;
        stream.write(`plan: ${p.phase} ${p.done}/${p.total} (${seconds(t - phaseStart)})\n`);
      }
    },
    end() {
      if (drawn) stream.write(ERASE_LINE);
      drawn = false;
    },
  };
}
