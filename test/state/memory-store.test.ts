import t from 'tap';
import { MemoryStateBacking, beforeFromObserved, createMemoryStateStore } from '../../src/state/index.js';
import { K_OLD, T_OLD, sampleNodes } from './fixtures/plan.js';
import { describeStateStore } from './fixtures/conformance.js';

describeStateStore(t, async () => {
  const backing = new MemoryStateBacking();
  return {
    open: (options = {}) => createMemoryStateStore({ ...options, backing }),
    damage: async (text) => {
      backing.text = text;
    },
    raw: async () => backing.text,
    rawBackup: async () => backing.backupText,
    file: '(memory)',
    backup: '(memory backup)',
  };
});

t.test('beforeFromObserved keeps what a rollback needs from each observed node', async (t) => {
  const [cp] = sampleNodes();
  t.same(beforeFromObserved([cp!]), [
    {
      address: '127.0.0.10',
      nodeId: cp!.nodeId,
      role: 'controlplane',
      talos: { issuing: T_OLD, accepted: [] },
      kubernetes: { issuing: K_OLD, accepted: [], style: 'legacy' },
      configDigest: 'digest-127.0.0.10',
    },
  ]);
});
