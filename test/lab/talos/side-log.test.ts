/**
 * The Talos side's diagnostics reach the lab's log (lab.log for a daemon), with a message repeated within a
 * minute left out: a node that cannot register retries every few seconds and would say the same each time.
 */
import t from 'tap';
import { withoutRepeats } from '../../../src/lab/talos/index.js';

t.test('a repeated message is said again only once the window has passed', async (t) => {
  const said: string[] = [];
  let clock = 0;
  const log = withoutRepeats(
    (m) => said.push(m),
    60_000,
    () => clock,
  );
  log('127.0.0.13: cannot create a CSR');
  clock = 5_000;
  log('127.0.0.13: cannot create a CSR');
  log('127.0.0.14: cannot create a CSR');
  clock = 59_999;
  log('127.0.0.13: cannot create a CSR');
  clock = 60_000;
  log('127.0.0.13: cannot create a CSR');
  t.same(said, [
    '127.0.0.13: cannot create a CSR',
    '127.0.0.14: cannot create a CSR',
    '127.0.0.13: cannot create a CSR',
  ]);
});
