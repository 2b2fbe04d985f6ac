// Loaded with `--cli-node-flags=--import=<this file>` by bench/apply-scale.mjs: samples the CLI's
// process.memoryUsage() every second into BENCH_MEM_LOG (JSON lines), to tell V8 heap from native memory.
import { appendFileSync } from 'node:fs';

const file = process.env.BENCH_MEM_LOG;
if (file) {
  const t0 = Date.now();
  const mb = (n) => Math.round(n / 1048576);
  setInterval(() => {
    const m = process.memoryUsage();
    appendFileSync(
      file,
      `${JSON.stringify({
        s: Math.round((Date.now() - t0) / 1000),
        rss: mb(m.rss),
        heapTotal: mb(m.heapTotal),
        heapUsed: mb(m.heapUsed),
        external: mb(m.external),
        arrayBuffers: mb(m.arrayBuffers),
      })}\n`,
    );
  }, 1000).unref();
}
