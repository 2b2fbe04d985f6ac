/**
 * ApplyConfiguration on emulated nodes, driven by OUR client: error codes, dry run, the modes, the
 * certificate refresh after a Talos CA change (new connections see the new certificate, open ones survive),
 * and a broken CA accepted like Talos accepts it.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { generateTalosCa } from '../../../src/pki/index.js';
import { TalosApiError } from '../../../src/talos/errors.js';
import { addAccepted, setMachineCa, setRaw } from './fixtures/patch.js';
import { eventually, failure, startTestLab, type TestLab } from './fixtures/lab.js';

let lab: TestLab;

t.before(async () => {
  lab = await startTestLab({ controlPlanes: 2, workers: 1, style: 'legacy' });
});
t.teardown(() => lab.stop());

t.test('validation errors reach the operator with Talos codes', async (t) => {
  const c = lab.client();
  const cp = lab.cluster.controlPlanes[0]!;
  const w = lab.cluster.workers[0]!;
  const e1 = await failure(
    c.applyConfiguration(cp.address, setMachineCa(cp.config, lab.secrets.os.certPem, null), { mode: 'NO_REBOOT' }),
  );
  t.equal(e1.grpcCode, 3);
  t.match(e1.detail, /issuing CA key is required for controlplane nodes \(\.machine\.ca\.key\)/);
  const e2 = await failure(
    c.applyConfiguration(w.address, setMachineCa(w.config, lab.secrets.os.certPem, lab.secrets.os.key.reveal()), {
      mode: 'NO_REBOOT',
    }),
  );
  t.equal(e2.kind, 'invalid-argument');
  t.match(e2.detail, /issuing Talos API CA key is not allowed on non-controlplane nodes/);
  const e3 = await failure(
    c.applyConfiguration(w.address, 'apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: x\n', { mode: 'NO_REBOOT' }),
  );
  t.match(e3.detail, /doesn't contain v1alpha1 config/);
  const e4 = await failure(
    c.applyConfiguration(w.address, setRaw(w.config, ['machine', 'ca', 'crt'], '%%%'), { mode: 'NO_REBOOT' }),
  );
  t.match(e4.detail, /illegal base64 data at input byte 0/);
  // A v1.13.9 node does not know the v1.14 KubeAPIServerCAConfig kind (the lab answers as v1.13.9 here).
  const doc = `apiVersion: v1alpha1\nkind: KubeAPIServerCAConfig\nacceptedCAs:\n    - |\n${lab.secrets.k8s.certPem
    .trimEnd()
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n')}\n`;
  const e5 = await failure(c.applyConfiguration(w.address, `${w.config}---\n${doc}`, { mode: 'NO_REBOOT' }));
  t.equal(e5.grpcCode, 3);
  t.match(
    e5.detail,
    new RegExp(
      /error decoding document v1alpha1\/KubeAPIServerCAConfig\/ \(line \d+\): "KubeAPIServerCAConfig" /.source +
        /"v1alpha1": not registered/.source,
    ),
  );
  t.equal(w.configVersion, 1, 'nothing was applied');
});

t.test(
  "dry run answers the would-be mode and Talos's config diff (keys not redacted), and applies nothing",
  async (t) => {
    const c = lab.client();
    const cp = lab.cluster.controlPlanes[1]!;
    const extra = await generateTalosCa();
    const before = await c.getMachineConfig(cp.address);
    const r = await c.applyConfiguration(cp.address, addAccepted(cp.config, extra.certPem), {
      mode: 'AUTO',
      dryRun: true,
    });
    t.equal(r.mode, 'NO_REBOOT');
    // pkg/machinery/textdiff (neticdk/go-stdlib UnifiedFormatter): `--- a`, `+++ b`, then the hunks.
    t.match(
      r.modeDetails,
      new RegExp(
        /^Dry run summary:\nApplied configuration without a reboot \(skipped in dry-run\)\.\nConfig /.source +
          /diff:\n\n--- a\n\+\+\+ b\n@@ -\d+,\d+ \+\d+,\d+ @@\n/.source,
      ),
    );
    t.match(r.modeDetails, /\+\s+acceptedCAs:/);
    // generateDiff diffs the full documents: a new issuing CA shows with its key, as Talos shows it.
    const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
    const issue = await c.applyConfiguration(cp.address, setMachineCa(cp.config, extra.certPem, extra.key.reveal()), {
      mode: 'NO_REBOOT',
      dryRun: true,
    });
    t.ok(issue.modeDetails.includes(`+        key: ${b64(extra.key.reveal())}\n`), 'the new key, not redacted');
    const same = await c.applyConfiguration(cp.address, cp.config, { mode: 'NO_REBOOT', dryRun: true });
    t.match(same.modeDetails, /Config diff:\n\nNo changes\.$/);
    const after = await c.getMachineConfig(cp.address);
    t.equal(after.version, before.version);
    t.equal(after.yaml, before.yaml);
  },
);

t.test(
  'NO_REBOOT applies and re-issues certificates: new connections see the new one, open ones keep working',
  async (t) => {
    const cp = lab.cluster.controlPlanes[1]!;
    const OLD = lab.secrets.os;
    const NEW = await generateTalosCa();
    const admin = lab.client();
    const oldOnly = lab.client({ endpoints: [cp.address] });
    t.equal((await oldOnly.version()).tag, 'v1.13.9', 'a connection trusting only the old CA is open');
    const before = await lab.servedCertificate(cp.address, OLD.certPem);
    t.ok(before.verify(new X509Certificate(OLD.certPem).publicKey));

    // Swap the issuing CA (old one kept as accepted): the node signs its certificates with NEW from now on.
    const swapped = addAccepted(setMachineCa(cp.config, NEW.certPem, NEW.key.reveal()), OLD.certPem);
    const r = await admin.applyConfiguration(cp.address, swapped, { mode: 'NO_REBOOT' });
    t.equal(r.mode, 'NO_REBOOT');
    t.equal(r.modeDetails, 'Applied configuration without a reboot');
    const mc = await admin.getMachineConfig(cp.address);
    t.equal(mc.yaml, swapped, 'MachineConfig round trip: the YAML as submitted');
    t.equal(mc.version, '2', 'version bumped');

    await eventually(
      async () =>
        (await lab.servedCertificate(cp.address, `${OLD.certPem}${NEW.certPem}`)).verify(
          new X509Certificate(NEW.certPem).publicKey,
        ),
      5_000,
      'the new certificate',
    );
    // The already-open connection survives (setSecureContext only affects new connections).
    t.equal((await oldOnly.version()).tag, 'v1.13.9', 'the open connection keeps working');
    // A new connection trusting only OLD is refused by its own client.
    const fresh = lab.client({ endpoints: [cp.address] });
    const e = await failure(fresh.version());
    t.equal(e.kind, 'tls-untrusted-server');
    fresh.close();
    // Trusting NEW works, with the old admin certificate (OLD is still accepted).
    const next = lab.client({ endpoints: [cp.address], caPem: NEW.certPem });
    t.equal((await next.version()).tag, 'v1.13.9');
    const osRoot = await admin.getOsRootSecrets(cp.address);
    t.equal(osRoot.issuingCa?.certPem, NEW.certPem);
    t.same(osRoot.acceptedCas, [OLD.certPem, NEW.certPem], 'accepted list, then the issuing certificate');
  },
);

t.test('concurrent applies on one node: FailedPrecondition', async (t) => {
  const w = lab.cluster.workers[0]!;
  const c = lab.client();
  lab.cluster.timings.applyLatencyMs = 300;
  try {
    const results = await Promise.allSettled([
      c.applyConfiguration(w.address, w.config, { mode: 'NO_REBOOT' }),
      new Promise((r) => setTimeout(r, 50)).then(() =>
        c.applyConfiguration(w.address, w.config, { mode: 'NO_REBOOT' }),
      ),
    ]);
    t.equal(results[0].status, 'fulfilled');
    t.equal(results[1].status, 'rejected');
    const e = (results[1] as PromiseRejectedResult).reason as TalosApiError;
    t.equal(e.kind, 'failed-precondition');
    t.equal(e.detail, 'another apply configuration is already in progress');
  } finally {
    lab.cluster.timings.applyLatencyMs = 0;
  }
});

t.test('TRY activates, then rolls back after the timeout; a later NO_REBOOT cancels the rollback', async (t) => {
  const w = lab.cluster.workers[0]!;
  const c = lab.client();
  const original = w.config;
  const extra = await generateTalosCa();
  const tried = addAccepted(original, extra.certPem);
  const r = await c.applyConfiguration(w.address, tried, { mode: 'TRY', tryModeTimeoutMs: 400 });
  t.equal(r.mode, 'TRY');
  t.equal(
    r.modeDetails,
    'Applied configuration without a reboot\n' +
      "The config is applied in 'try' mode and will be automatically reverted back in 400ms",
  );
  t.equal(w.config, tried, 'active at once');
  await eventually(() => w.config === original, 5_000, 'the rollback');
  t.pass('rolled back to the persisted config');

  await c.applyConfiguration(w.address, tried, { mode: 'TRY', tryModeTimeoutMs: 300 });
  await c.applyConfiguration(w.address, tried, { mode: 'NO_REBOOT' });
  await new Promise((r) => setTimeout(r, 600));
  t.equal(w.config, tried, 'no rollback after a non-TRY apply');
  await c.applyConfiguration(w.address, original, { mode: 'NO_REBOOT' });
});

t.test('STAGED persists for the next boot only', async (t) => {
  const w = lab.cluster.workers[0]!;
  const c = lab.client();
  const extra = await generateTalosCa();
  const staged = addAccepted(w.config, extra.certPem);
  const before = w.configVersion;
  const r = await c.applyConfiguration(w.address, staged, { mode: 'STAGED' });
  t.equal(r.mode, 'STAGED');
  t.equal(r.modeDetails, 'Staged configuration to be applied after the next reboot');
  t.equal(w.configVersion, before, 'not active');
  t.not(w.config, staged);
  w.setDown(true);
  w.setDown(false);
  await eventually(() => w.config === staged, 5_000, 'the staged config after a reboot');
  await eventually(
    async () =>
      await c.version(w.address).then(
        () => true,
        () => false,
      ),
    10_000,
    'the worker back up',
  );
  t.equal(w.roots.talos.trusted.length, 2);
});

t.test('a broken CA is accepted, and the node keeps serving what it had', async (t) => {
  const cp = lab.cluster.controlPlanes[0]!;
  const c = lab.client();
  const before = await lab.servedCertificate(cp.address, lab.secrets.os.certPem);
  const garbage = Buffer.from('-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n').toString(
    'base64',
  );
  const broken = setRaw(cp.config, ['machine', 'ca', 'crt'], garbage);
  const r = await c.applyConfiguration(cp.address, broken, { mode: 'NO_REBOOT' });
  t.equal(r.mode, 'NO_REBOOT', 'Talos takes it');
  t.ok(cp.roots.talos.error, 'certificate generation cannot use it');
  await new Promise((r) => setTimeout(r, 200));
  const after = await lab.servedCertificate(cp.address, lab.secrets.os.certPem);
  t.equal(after.fingerprint256, before.fingerprint256, 'the old certificate is still served');
  t.equal((await c.version(lab.workers[0])).tag, 'v1.13.9', 'and it still proxies with its old credentials');
  // The COSI resource shows the material as written.
  const osRoot = await c.getOsRootSecrets(cp.address);
  t.match(osRoot.acceptedCas.at(-1) ?? '', /bm90IGEgY2VydA==/);
});

t.test('a dry run diffs against the config active now: after an apply, against the applied one', async (t) => {
  const c = lab.client();
  const w = lab.cluster.workers[0]!;
  const original = w.config;
  const extra = await generateTalosCa();
  const crt = Buffer.from(extra.certPem, 'utf8').toString('base64');
  const next = addAccepted(original, extra.certPem);
  const lineWith = (details: string, sign: '+' | '-') =>
    details.split('\n').some((l) => l.startsWith(sign) && l.includes(crt));
  const first = await c.applyConfiguration(w.address, next, { mode: 'NO_REBOOT', dryRun: true });
  t.ok(lineWith(first.modeDetails, '+'), 'the new accepted CA is added');
  t.equal(
    (await c.applyConfiguration(w.address, original, { mode: 'NO_REBOOT', dryRun: true })).modeDetails.endsWith(
      'No changes.',
    ),
    true,
    'the active config against itself',
  );
  await c.applyConfiguration(w.address, next, { mode: 'NO_REBOOT' });
  t.equal(w.config, next, 'applied');
  const again = await c.applyConfiguration(w.address, next, { mode: 'NO_REBOOT', dryRun: true });
  t.match(again.modeDetails, /Config diff:\n\nNo changes\.$/, 'the applied config is the new base');
  const back = await c.applyConfiguration(w.address, original, { mode: 'NO_REBOOT', dryRun: true });
  t.ok(lineWith(back.modeDetails, '-'), 'going back removes it');
  t.notOk(lineWith(back.modeDetails, '+'));
});
