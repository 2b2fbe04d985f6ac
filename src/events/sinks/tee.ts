/** Send every event to a sink and to observers (e.g. the state store's noteEvent); questions go to the sink. */
import type { EventSink, Question, RotateEvent } from '../types.js';
import { safeEvent } from '../guard.js';

export function teeSink(sink: EventSink, ...observers: ((event: RotateEvent) => void)[]): EventSink {
  return {
    emit(event: RotateEvent): void {
      const e = safeEvent(event);
      sink.emit(e);
      for (const observe of observers) {
        try {
          observe(e);
        } catch {
          // An observer must not stop the run or the other sinks.
        }
      }
    },
    ask: (question: Question) => sink.ask(question),
    close: () => sink.close?.(),
  };
}
