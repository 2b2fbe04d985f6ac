/**
 * The three config changes of a rotate-ca flow (add NEW as accepted, make NEW issuing with OLD accepted,
 * drop OLD), on every fixture layout and for both PKIs, checked against the list evolutions of
 * talos-behaviour.md §2.2/§2.3, for minimal edits, idempotence, and that workers never receive a key.
 */
import t from 'tap';

import type { Secret } from '../../src/domain/secret.js';
import type { ApiKind, Fingerprint } from '../../src/domain/types.js';
import { patchCaState, readCaKey, readCaState, type CaWrite } from '../../src/machineconfig/index.js';
import { encodeTalosBase64Pem, generateKubernetesCa, generateTalosCa, type CaMaterial } from '../../src/pki/index.js';
import {
  changesOutsideCaFields,
  FIXTURES,
  keyMaterialOf,
  loadFixture,
  type FixtureName,
} from '../fixtures/machineconfig/helpers.js';

const NEW: Record<ApiKind, CaMaterial> = {
  talos: await generateTalosCa(),
  kubernetes: await generateKubernetesCa(),
};

interface Step {
  name: string;
  write: CaWrite;
  issuing: Fingerprint | null;
  accepted: Fingerprint[];
}

function flowSteps(
  name: FixtureName,
  api: ApiKind,
): { steps: Step[]; start: { issuing: Fingerprint | null; accepted: Fingerprint[] } } {
  const src = loadFixture(name);
  const s = readCaState(src)[api];
  const role = readCaState(src).role;
  const fresh = NEW[api];
  const documentWorker = api === 'kubernetes' && s.issuing === null;
  const old = documentWorker ? s.accepted[0]! : s.issuing!;
  const extras = (documentWorker ? s.accepted.slice(1) : s.accepted).map((c) => c.certPem);
  const extraFps = (documentWorker ? s.accepted.slice(1) : s.accepted).map((c) => c.fingerprint);
  const oldKey = readCaKey(src, api);
  const issuingOld = { certPem: old.certPem, ...(role === 'controlplane' ? { key: oldKey! } : {}) };
  // The new key is passed to workers too: the patcher must drop it.
  const issuingNew = { certPem: fresh.certPem, key: fresh.key };
  const [O, N] = [old.fingerprint, fresh.fingerprint];
  if (documentWorker) {
    // talos-behaviour.md §2.3: worker multidoc evolution [OLD] → [OLD, NEW] → [NEW, OLD] → [NEW].
    return {
      start: { issuing: null, accepted: [O, ...extraFps] },
      steps: [
        {
          name: 'add NEW as accepted',
          write: { issuing: issuingOld, accepted: [...extras, fresh.certPem] },
          issuing: null,
          accepted: [O, ...extraFps, N],
        },
        {
          name: 'make NEW issuing, OLD accepted',
          write: { issuing: issuingNew, accepted: [...extras, old.certPem] },
          issuing: null,
          accepted: [N, ...extraFps, O],
        },
        {
          name: 'drop OLD',
          write: { issuing: issuingNew, accepted: extras },
          issuing: null,
          accepted: [N, ...extraFps],
        },
      ],
    };
  }
  // talos-behaviour.md §2.2: [] → [NEW] → [OLD] with ca=NEW → []; pre-existing extra accepted CAs are kept.
  return {
    start: { issuing: O, accepted: extraFps },
    steps: [
      {
        name: 'add NEW as accepted',
        write: { issuing: issuingOld, accepted: [...extras, fresh.certPem] },
        issuing: O,
        accepted: [...extraFps, N],
      },
      {
        name: 'make NEW issuing, OLD accepted',
        write: { issuing: issuingNew, accepted: [...extras, old.certPem] },
        issuing: N,
        accepted: [...extraFps, O],
      },
      { name: 'drop OLD', write: { issuing: issuingNew, accepted: extras }, issuing: N, accepted: extraFps },
    ],
  };
}

for (const name of FIXTURES) {
  for (const api of ['talos', 'kubernetes'] as const) {
    t.test(`${name}: ${api} CA rotation flow`, async (t) => {
      let cfg = loadFixture(name);
      const initial = readCaState(cfg);
      const other: ApiKind = api === 'talos' ? 'kubernetes' : 'talos';
      const isCp = initial.role === 'controlplane';
      const { steps, start } = flowSteps(name, api);
      t.equal(initial[api].issuing?.fingerprint ?? null, start.issuing);
      t.same(
        initial[api].accepted.map((c) => c.fingerprint),
        start.accepted,
      );
      const newKeyMaterial = keyMaterialOf([NEW[api].key.reveal()]);

      for (const step of steps) {
        const out = patchCaState(cfg, { [api]: step.write }, '10.5.0.9');
        t.not(out, cfg, `${step.name}: config changed`);
        const s = readCaState(out);
        t.equal(s[api].issuing?.fingerprint ?? null, step.issuing, `${step.name}: issuing CA`);
        t.same(
          s[api].accepted.map((c) => c.fingerprint),
          step.accepted,
          `${step.name}: accepted list`,
        );
        t.same(s[other], initial[other], `${step.name}: the other PKI is untouched`);
        t.equal(s.machineType, initial.machineType);
        t.equal(s.kubernetes.style, initial.kubernetes.style);
        if (s[api].issuing) t.equal(s[api].issuing.hasKey, isCp, `${step.name}: key only on control planes`);
        if (isCp && step.issuing === NEW[api].fingerprint) {
          t.equal(readCaKey(out, api)?.reveal(), NEW[api].key.reveal(), `${step.name}: new key written`);
        }
        if (!isCp) {
          t.equal(readCaKey(out, api), null, `${step.name}: worker has no key`);
          for (const k of newKeyMaterial)
            t.notOk(out.includes(k), `${step.name}: no new key material in a worker config`);
        }
        t.same(changesOutsideCaFields(cfg, out), [], `${step.name}: only CA-field lines changed`);
        t.equal(
          patchCaState(out, { [api]: step.write }),
          out,
          `${step.name}: applying again returns the identical string`,
        );
        cfg = out;
      }
    });
  }
}

t.test('legacy control plane: the talos-behaviour.md §2.2 list evolution, literally', async (t) => {
  let cfg = loadFixture('legacy-controlplane');
  const s0 = readCaState(cfg);
  const OLD = s0.talos.issuing!;
  const oldKey = readCaKey(cfg, 'talos') as Secret;
  const N = NEW.talos;
  const lists: string[][] = [s0.talos.accepted.map((c) => c.fingerprint)];
  const issuers: string[] = [OLD.fingerprint];
  for (const write of [
    { issuing: { certPem: OLD.certPem, key: oldKey }, accepted: [N.certPem] },
    { issuing: { certPem: N.certPem, key: N.key }, accepted: [OLD.certPem] },
    { issuing: { certPem: N.certPem, key: N.key }, accepted: [] },
  ]) {
    cfg = patchCaState(cfg, { talos: write });
    const s = readCaState(cfg);
    lists.push(s.talos.accepted.map((c) => c.fingerprint));
    issuers.push(s.talos.issuing!.fingerprint);
  }
  t.same(lists, [[], [N.fingerprint], [OLD.fingerprint], []]);
  t.same(issuers, [OLD.fingerprint, OLD.fingerprint, N.fingerprint, N.fingerprint]);
  t.notMatch(
    cfg.slice(cfg.indexOf('\nmachine:'), cfg.indexOf('\ncluster:')),
    /acceptedCAs/,
    'an emptied .machine.acceptedCAs is removed, as Talos omits it',
  );
});

t.test('legacy worker after the swap looks exactly like Talos writes it', async (t) => {
  const cfg = loadFixture('legacy-worker');
  const s0 = readCaState(cfg);
  const N = NEW.talos;
  const out = patchCaState(cfg, {
    talos: {
      issuing: { certPem: N.certPem, key: N.key },
      accepted: [...s0.talos.accepted.map((c) => c.certPem), s0.talos.issuing!.certPem],
    },
  });
  // Quoting of the crt value is kept; the key stays "".
  t.match(
    out,
    `\n  ca:\n    crt: "${encodeTalosBase64Pem(N.certPem)}"\n    key: ""\n  acceptedCAs:\n` +
      `  # an extra CA this worker also trusts\n  - crt: `,
  );
  t.ok(
    out.includes(`  - crt: ${encodeTalosBase64Pem(s0.talos.issuing!.certPem)}\n  certSANs: []\n`),
    'old CA appended after the kept entry',
  );
});

t.test('both PKIs in one patch', async (t) => {
  const cfg = loadFixture('document-controlplane');
  const s0 = readCaState(cfg);
  const out = patchCaState(cfg, {
    talos: { issuing: { certPem: s0.talos.issuing!.certPem }, accepted: [NEW.talos.certPem] },
    kubernetes: { issuing: { certPem: s0.kubernetes.issuing!.certPem }, accepted: [NEW.kubernetes.certPem] },
  });
  const s = readCaState(out);
  t.same(
    s.talos.accepted.map((c) => c.fingerprint),
    [NEW.talos.fingerprint],
  );
  t.same(
    s.kubernetes.accepted.map((c) => c.fingerprint),
    [NEW.kubernetes.fingerprint],
  );
  t.equal(
    readCaKey(out, 'talos')?.reveal(),
    readCaKey(cfg, 'talos')?.reveal(),
    'unchanged issuing CA keeps its key without passing it',
  );
  t.same(changesOutsideCaFields(cfg, out), []);
});
