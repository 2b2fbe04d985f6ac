/**
 * What `rotate plan` says while it reads a large cluster (issue 10 item 7): `plan-progress` events to the
 * command's event sink, on stderr, never on stdout (the plan, or its JSON, stays alone there). The sink
 * renders them: a live line per phase on a terminal, erased when the phase ends; in a log, nothing for a phase
 * that ends within 10 s and a line about every 10 s for a slower one (src/events/sinks).
 */
import type { PlanProgress } from '../../../cluster/session/build-plan.js';
import { makeEvent, type EventSink } from '../../../events/index.js';

/** `buildPlan`'s progress callback, as events with the time spent in each phase. */
export function planProgressEvents(
  sink: EventSink,
  /** Milliseconds, monotonic (injected in tests). */
  now: () => number = () => performance.now(),
): (p: PlanProgress) => void {
  let phase: PlanProgress['phase'] | null = null;
  let phaseStart = 0;
  return (p) => {
    const t = now();
    if (p.phase !== phase) {
      phase = p.phase;
      phaseStart = t;
    }
    sink.emit(
      makeEvent('plan-progress', {
        phase: p.phase,
        done: p.done,
        total: p.total,
        elapsedMs: Math.round(t - phaseStart),
      }),
    );
  };
}
