/**
 * How far V8 lets the heap grow past what survived the last full collection, for the long-running
 * commands (apply, rollback). V8's default factor goes up to 4× for a process that allocates fast, and an
 * apply allocates in bursts (journal writes, config reads) around a live set of about 70 MB at 200 nodes:
 * its heap reached 250 MB of which two thirds was garbage, freed only when the process went idle. The run
 * waits on the cluster most of the time, so a few more full collections cost little.
 */
import { setV8Flag } from './v8-flags.js';

export const APPLY_HEAP_GROWING_PERCENT = 50;

/**
 * Caps the heap's growth factor at 1 + percent/100 (V8 `--heap-growing-percent`; read at every GC), where the
 * build checked that this V8 knows the flag (v8-flags.ts); true if it was set.
 */
export function keepHeapTight(percent: number = APPLY_HEAP_GROWING_PERCENT): boolean {
  return setV8Flag('heap-growing-percent', percent);
}
