// Loaded with NODE_OPTIONS=--import (where --cpu-prof is not allowed) by bench/apply-scale.mjs
// --lab-cpu-prof-dir: CPU-profiles the lab daemon (only it) and writes the profile when it exits.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.BENCH_LAB_CPU_PROF_DIR;
if (dir && /daemon\.js$/.test(process.argv[1] ?? '')) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  process.on('exit', () => {
    session.post('Profiler.stop', (err, res) => {
      if (!err) writeFileSync(join(dir, `lab-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
