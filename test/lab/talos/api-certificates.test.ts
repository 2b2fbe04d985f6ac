/**
 * `secrets/ApiCertificates.secrets.talos.dev/api` in the lab, read with our client: apid's certificates as
 * it serves them. Control planes: their OSRoot trusted set, their own server and proxy client certificates.
 * Workers: what trustd returned (the bundle = that control plane's trusted set, a server certificate signed
 * by its issuing CA, no client certificate). The resource changes, and watchers get UPDATED, when a
 * worker re-registers after its Talos CA config changed.
 */
import { createHash, X509Certificate } from 'node:crypto';
import t from 'tap';
import { fingerprintOfPem, generateTalosCa, isSignedBy } from '../../../src/pki/index.js';
import type { ApiCertificatesWatchEvent, Watch } from '../../../src/talos/client.js';
import type { ApiCertificates } from '../../../src/talos/resources.js';
import { TalosApiError } from '../../../src/talos/errors.js';
import { addAccepted } from './fixtures/patch.js';
import { eventually, startTestLab, type TestLab } from './fixtures/lab.js';

let lab: TestLab;

t.before(async () => {
  lab = await startTestLab({ controlPlanes: 2, workers: 2, style: 'document' });
});
t.teardown(() => lab.stop());

const fps = (c: ApiCertificates) => c.acceptedCAs.map((a) => a.fingerprint);
/** SHA-256 of each certificate in one entry, split here with plain regexes (not the tool's PEM reader). */
const entryFps = (entry: string) =>
  [...entry.matchAll(/-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=\n]+?)\n-----END CERTIFICATE-----\n/g)].map((m) =>
    createHash('sha256')
      .update(Buffer.from(m[1]!.replace(/\n/g, ''), 'base64'))
      .digest('hex'),
  );

/** `p`, or a failure after `ms` (a watch that never delivers must fail the test, not hang it). */
function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

t.test(
  'a control plane: its trusted set, its server certificate (the one apid serves), its proxy client certificate',
  async (t) => {
    const c = lab.client();
    const cp = lab.cluster.controlPlanes[1]!;
    const certs = await c.getApiCertificates(cp.address);
    t.same(
      fps(certs),
      cp.roots.talos.trusted.map((ca) => ca.fingerprint),
      'accepted = OSRoot trusted set',
    );
    t.same(fps(certs), [lab.secrets.os.fingerprint]);
    t.same(certs.acceptedEntries.map(entryFps), [[lab.secrets.os.fingerprint]], 'one entry per CA');
    t.ok(
      certs.server && isSignedBy(certs.server.certPem, lab.secrets.os.certPem),
      'server certificate signed by its issuing CA',
    );
    t.ok(certs.server?.key, 'with its key (sensitive resource)');
    t.equal(`${certs.server?.key}`, '(sensitive)');
    t.ok(
      (await lab.servedCertificate(cp.address)).raw.equals(new X509Certificate(certs.server!.certPem).raw),
      'exactly the certificate apid serves',
    );
    t.match(new X509Certificate(certs.client!.certPem).subject, /O=os:impersonator/, 'client = the proxy certificate');
    t.ok(isSignedBy(certs.client!.certPem, lab.secrets.os.certPem));
    t.equal(certs.skipVerifyingClientCert, false);
    t.match(certs.version, /^\d+$/);
  },
);

t.test('a worker: the bundle trustd returned and the certificate it signed; no client certificate', async (t) => {
  const c = lab.client();
  const w = lab.cluster.workers[0]!;
  const certs = await c.getApiCertificates(w.address);
  t.equal(certs.client, null, 'workers cannot proxy');
  t.same(fps(certs), [lab.secrets.os.fingerprint]);
  t.same(certs.acceptedEntries.map(entryFps), [[lab.secrets.os.fingerprint]], 'one entry: the bundle');
  t.ok(isSignedBy(certs.server!.certPem, lab.secrets.os.certPem), 'signed by a trustd');
  t.ok(
    (await lab.servedCertificate(w.address)).raw.equals(new X509Certificate(certs.server!.certPem).raw),
    'exactly the certificate apid serves',
  );
});

t.test('sensitive: os:reader is not authorized', async (t) => {
  const reader = lab.client({ cert: await lab.clientCert(lab.secrets.os, ['os:reader']) });
  const err = await reader.getApiCertificates(lab.cps[0]).catch((e: unknown) => e);
  t.ok(TalosApiError.isTalosApiError(err));
  t.equal((err as TalosApiError).kind, 'permission-denied');
  t.match((err as TalosApiError).detail, /not authorized/);
});

t.test(
  "a worker's resource changes when its Talos CA config changes: the new bundle is its trustd control plane's " +
    'trusted set',
  async (t) => {
    const c = lab.client();
    const NEW = await generateTalosCa();
    const w = lab.cluster.workers[1]!;
    // Control planes accept NEW first, so that any trustd the worker asks returns a bundle holding it.
    for (const cp of lab.cluster.controlPlanes) {
      const before = await c.getApiCertificates(cp.address);
      await c.applyConfiguration(cp.address, addAccepted(cp.config, NEW.certPem), { mode: 'NO_REBOOT' });
      await eventually(
        async () => (await c.getApiCertificates(cp.address)).version !== before.version,
        10_000,
        `${cp.hostname} re-issued its certificates`,
      );
      const after = await c.getApiCertificates(cp.address);
      t.same(
        fps(after),
        [NEW.fingerprint, lab.secrets.os.fingerprint],
        `${cp.hostname}: accepted NEW, then its issuing CA`,
      );
      t.same(
        after.acceptedEntries.map(entryFps),
        [[NEW.fingerprint], [lab.secrets.os.fingerprint]],
        `${cp.hostname}: one entry per CA`,
      );
      t.not(after.server!.certPem, before.server!.certPem, `${cp.hostname}: new server certificate`);
    }
    const before = await c.getApiCertificates(w.address);
    t.same(fps(before), [lab.secrets.os.fingerprint], 'the worker has not re-registered: its config did not change');

    const watch: Watch<ApiCertificatesWatchEvent> = c.watchApiCertificates(w.address);
    t.teardown(() => watch.close());
    await watch.ready;
    const it = watch[Symbol.asyncIterator]();
    const first = (await within(10_000, it.next(), 'the first watch event')).value as ApiCertificatesWatchEvent;
    t.equal(first.type, 'CREATED', 'the watch starts with the resource as it is');
    t.equal(first.certificates?.version, before.version);

    await c.applyConfiguration(w.address, addAccepted(w.config, NEW.certPem), { mode: 'NO_REBOOT' });
    const next = (await within(10_000, it.next(), 'an UPDATED event after re-registration'))
      .value as ApiCertificatesWatchEvent;
    t.equal(next.type, 'UPDATED', 're-registration updates the resource');
    const updated = next.certificates!;
    t.not(updated.version, before.version, 'a new version');
    t.not(updated.server!.certPem, before.server!.certPem, 'a new trustd-signed certificate');
    const trustedSets = lab.cluster.controlPlanes.map((cp) => cp.roots.talos.trusted.map((ca) => ca.fingerprint));
    t.ok(
      trustedSets.some((set) => JSON.stringify(set) === JSON.stringify(fps(updated))),
      `the bundle ${JSON.stringify(fps(updated).map((f) => f.slice(0, 8)))} is a control plane's trusted set`,
    );
    t.same(new Set(fps(updated)), new Set([NEW.fingerprint, lab.secrets.os.fingerprint]));
    // secrets/api.go generateWorker: ONE entry whose crt is trustd's bundle, the control plane's entries joined.
    t.equal(updated.acceptedEntries.length, 1, 'a worker holds its trust bundle as one entry');
    t.same(
      entryFps(updated.acceptedEntries[0]!),
      [NEW.fingerprint, lab.secrets.os.fingerprint],
      'with both certificates, in the control plane order',
    );
    t.ok(
      isSignedBy(updated.server!.certPem, lab.secrets.os.certPem),
      "signed by the trustd control plane's issuing CA",
    );
    t.equal(fingerprintOfPem(updated.acceptedCAs[0]!.certPem), updated.acceptedCAs[0]!.fingerprint);
    t.same(fps(await c.getApiCertificates(w.address)), fps(updated), 'Get agrees with the watch');
  },
);
