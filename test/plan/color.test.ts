import t from 'tap';
import { colorizePlanText, colorWanted } from '../../src/plan/render/color.js';

t.test('diff lines, step headers and verdicts are coloured; nothing else changes', async (t) => {
  const text = [
    '> step 1/2: talos-accept',
    '  - 127.0.0.10 (cp-1): talos +accept x',
    '      @@ machine.acceptedCAs',
    '      + - crt: certificate a',
    '      - - crt: certificate b',
    '  proof: safe (3 state(s))',
    'Verdict: unsafe. This plan cannot be applied.',
  ].join('\n');
  const out = colorizePlanText(text).split('\n');
  t.equal(out[0], '\x1b[1m> step 1/2: talos-accept\x1b[0m');
  t.equal(out[1], '  - 127.0.0.10 (cp-1): talos +accept x', 'a node line is not a removal');
  t.equal(out[2], '\x1b[36m      @@ machine.acceptedCAs\x1b[0m');
  t.equal(out[3], '\x1b[32m      + - crt: certificate a\x1b[0m');
  t.equal(out[4], '\x1b[31m      - - crt: certificate b\x1b[0m');
  t.equal(out[5], '\x1b[32m  proof: safe (3 state(s))\x1b[0m');
  t.equal(out[6], '\x1b[31mVerdict: unsafe. This plan cannot be applied.\x1b[0m');
  t.equal(colorizePlanText(text).replace(/\x1b\[[0-9]+m/g, ''), text, 'the same text without the escapes');
});

t.test('colour only on a terminal, without NO_COLOR, and not for TERM=dumb', async (t) => {
  t.equal(colorWanted({ isTTY: true }, {}), true);
  t.equal(colorWanted({ isTTY: false }, {}), false);
  t.equal(colorWanted({}, {}), false);
  t.equal(colorWanted({ isTTY: true }, { NO_COLOR: '1' }), false);
  t.equal(colorWanted({ isTTY: true }, { NO_COLOR: '' }), true, 'an empty NO_COLOR does not count (no-color.org)');
  t.equal(colorWanted({ isTTY: true }, { TERM: 'dumb' }), false);
});
