/**
 * Starting one of the lab's helper threads (its dial threads) from the module beside the caller: tsc's output
 * and the bundle have the `.js` file. The sources (tests) run under tsx, whose loader a worker thread does not
 * inherit on Node 20: the thread then registers it before it imports the `.ts` source.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * Labs of this many nodes or more make their own client dials on dial threads; below it those dials are
 * few, and a thread would cost more than it saves.
 */
export const DIAL_THREAD_MIN_NODES = 20;

/** `js`: the entry's `.js` URL, resolved against the caller's `import.meta.url`. */
export function startModuleWorker(js: URL): Worker {
  if (existsSync(fileURLToPath(js))) return new Worker(js);
  const ts = JSON.stringify(new URL(js.href.replace(/\.js$/, '.ts')).href);
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${ts}); });`, {
    eval: true,
  });
}
