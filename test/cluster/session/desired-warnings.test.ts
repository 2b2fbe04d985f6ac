/** relevantDesiredWarnings: an unused authority is worth a warning only while a node still trusts it. */
import t from 'tap';
import type { DesiredState, Diagnostic } from '../../../src/desired/types.js';
import type { LiveNode } from '../../../src/cluster/observe-cluster.js';
import { relevantDesiredWarnings, splitDesiredWarnings } from '../../../src/cluster/session/build-plan.js';

const diag = (code: string, path: string): Diagnostic =>
  ({
    severity: 'warning',
    code,
    file: 'rotate.yaml',
    line: 1,
    column: 1,
    path,
    pointer: '',
    message: 'm',
  }) as Diagnostic;
const desired = {
  authorities: { old: { certificate: { fingerprint: 'aa' } }, gone: { certificate: { fingerprint: 'bb' } } },
} as unknown as DesiredState;
const node = (fps: string[]): LiveNode =>
  ({
    ca: {
      talos: { issuing: { fingerprint: fps[0] }, accepted: fps.slice(1).map((f) => ({ fingerprint: f })) },
      kubernetes: { issuing: null, accepted: [] },
    },
  }) as unknown as LiveNode;

t.test('kept while a node trusts the CA, dropped once none does; other warnings untouched', async (t) => {
  const ws = [
    diag('DESIRED_UNUSED_AUTHORITY', 'authorities.old'),
    diag('DESIRED_UNUSED_AUTHORITY', 'authorities.gone'),
    diag('DESIRED_CA_EXPIRING', 'authorities.gone.certificate'),
  ];
  t.same(
    relevantDesiredWarnings(ws, desired, [node(['cc', 'aa'])]).map((w) => w.path),
    ['authorities.old', 'authorities.gone.certificate'],
  );
  t.same(
    relevantDesiredWarnings(ws, desired, [node(['cc'])]).map((w) => w.path),
    ['authorities.gone.certificate'],
  );
  t.same(
    relevantDesiredWarnings(ws, desired, []).map((w) => w.path),
    ['authorities.gone.certificate'],
  );
});

t.test(
  'apply says the cluster-independent warnings at once and keeps the unused-authority ones for after observation',
  async (t) => {
    const ws = [
      diag('DESIRED_UNUSED_AUTHORITY', 'authorities.old'),
      diag('DESIRED_CA_EXPIRING', 'authorities.gone.certificate'),
    ];
    const { now, afterObserve } = splitDesiredWarnings(ws);
    t.same(
      now.map((w) => w.code),
      ['DESIRED_CA_EXPIRING'],
    );
    t.same(
      afterObserve.map((w) => w.code),
      ['DESIRED_UNUSED_AUTHORITY'],
    );
  },
);
