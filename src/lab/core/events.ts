/** Listening to a lab node's events for the lifetime of a component. */
import type { EventEmitter } from 'node:events';

/** Adds each listener to `emitter`, in order; returns the functions that remove them again. */
export function subscribe(
  emitter: EventEmitter,
  listeners: Record<string, (...args: never[]) => void>,
): Array<() => void> {
  return Object.entries(listeners).map(([event, listener]) => {
    const l = listener as (...args: unknown[]) => void;
    emitter.on(event, l);
    return () => emitter.off(event, l);
  });
}
