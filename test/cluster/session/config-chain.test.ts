/**
 * The configs a plan gives each node: built from the plan's per-node targets with the real patcher, so
 * what `rotate plan` dry-runs and diffs, and what `rotate apply` sends, is exactly the planned trust.
 */
import t from 'tap';
import { asFingerprint, type Fingerprint } from '../../../src/domain/types.js';
import { Secret } from '../../../src/domain/secret.js';
import { readCaState } from '../../../src/machineconfig/index.js';
import { generateKubernetesCa, generateTalosCa } from '../../../src/pki/index.js';
import { CaCatalog } from '../../../src/cluster/session/ca-catalog.js';
import { caChangeFor } from '../../../src/cluster/session/config-chain.js';
import { patchCaState } from '../../../src/machineconfig/index.js';
import { loadFixture } from '../../fixtures/machineconfig/helpers.js';

const noKey = async (): Promise<Secret> => {
  throw new Error('no key should be needed');
};

t.test('document-style worker: the issue target [NEW, OLD] lands in that order (NEW first)', async (t) => {
  const config = loadFixture('document-worker');
  const state = readCaState(config);
  const old = state.kubernetes.accepted[0]!;
  const next = await generateKubernetesCa();
  const catalog = new CaCatalog();
  catalog.addConfig(state);
  catalog.add('kubernetes', next.fingerprint, next.certPem);

  // accept: [OLD] -> [OLD, NEW]
  const accepted = patchCaState(
    config,
    await caChangeFor(
      config,
      { kubernetes: { issuing: null, accepted: [old.fingerprint, next.fingerprint] } },
      catalog,
      noKey,
      'x',
    ),
  );
  t.same(
    readCaState(accepted).kubernetes.accepted.map((c) => c.fingerprint),
    [old.fingerprint, next.fingerprint],
  );
  // issue: [OLD, NEW] -> [NEW, OLD]: the same set in another order must still change the config.
  const issued = patchCaState(
    accepted,
    await caChangeFor(
      accepted,
      { kubernetes: { issuing: null, accepted: [next.fingerprint, old.fingerprint] } },
      catalog,
      noKey,
      'x',
    ),
  );
  t.not(issued, accepted, 'the config changes');
  t.same(
    readCaState(issued).kubernetes.accepted.map((c) => c.fingerprint),
    [next.fingerprint, old.fingerprint],
  );
  t.equal(readCaState(issued).kubernetes.issuing, null, 'still no issuing CA on a worker');
  // drop: [NEW, OLD] -> [NEW]
  const dropped = patchCaState(
    issued,
    await caChangeFor(issued, { kubernetes: { issuing: null, accepted: [next.fingerprint] } }, catalog, noKey, 'x'),
  );
  t.same(
    readCaState(dropped).kubernetes.accepted.map((c) => c.fingerprint),
    [next.fingerprint],
  );
});

t.test('control plane: a key is asked for only when the issuing CA changes', async (t) => {
  const config = loadFixture('legacy-controlplane');
  const state = readCaState(config);
  const cur = state.talos.issuing!;
  const next = await generateTalosCa();
  const catalog = new CaCatalog();
  catalog.addConfig(state);
  catalog.add('talos', next.fingerprint, next.certPem);
  const asked: Fingerprint[] = [];
  const keyFor = async (_api: string, fp: Fingerprint): Promise<Secret> => {
    asked.push(fp);
    return next.key;
  };
  await caChangeFor(
    config,
    { talos: { issuing: cur.fingerprint, accepted: [next.fingerprint] } },
    catalog,
    keyFor,
    'x',
  );
  t.same(asked, [], 'accept keeps the current key');
  const change = await caChangeFor(
    config,
    { talos: { issuing: next.fingerprint, accepted: [cur.fingerprint] } },
    catalog,
    keyFor,
    'x',
  );
  t.same(asked, [asFingerprint(next.fingerprint)], 'issue asks for the new key');
  const issued = patchCaState(config, change);
  t.equal(readCaState(issued).talos.issuing?.fingerprint, next.fingerprint);
  t.equal(readCaState(issued).talos.issuing?.hasKey, true);
});

t.test('worker: never asks for a key', async (t) => {
  const config = loadFixture('legacy-worker');
  const state = readCaState(config);
  const next = await generateTalosCa();
  const catalog = new CaCatalog();
  catalog.addConfig(state);
  catalog.add('talos', next.fingerprint, next.certPem);
  const change = await caChangeFor(
    config,
    { talos: { issuing: next.fingerprint, accepted: [state.talos.issuing!.fingerprint] } },
    catalog,
    noKey,
    'x',
  );
  const patched = patchCaState(config, change);
  t.equal(readCaState(patched).talos.issuing?.fingerprint, next.fingerprint);
  t.equal(readCaState(patched).talos.issuing?.hasKey, false);
});
