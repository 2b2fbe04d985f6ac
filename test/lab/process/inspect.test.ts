import t from 'tap';
import { parseAllDocuments } from 'yaml';

import { encodeTalosBase64Pem, generateTalosCa } from '../../../src/pki/index.js';
import { interpretRoots } from '../../../src/lab/core/roots.js';
import { assembleLabCluster } from '../../../src/lab/setup/cluster.js';
import { generateLabSecrets } from '../../../src/lab/setup/secrets.js';
import { inspectReportProblems, validateInspectReport } from '../../../src/lab/process/contracts.js';
import { buildInspectReport } from '../../../src/lab/process/inspect.js';
import { renderInspectReport } from '../../../src/lab/process/inspect-render.js';

const secrets = await generateLabSecrets({ serviceAccountKey: 'ecdsa-p256' });
const osFp = secrets.os.fingerprint;
const k8sFp = secrets.k8s.fingerprint;

async function cluster(style: 'legacy' | 'document') {
  return (await assembleLabCluster({ block: '127.250.1', controlPlanes: 2, workers: 1, style, secrets })).cluster;
}

t.test('document style: fingerprints as the configs state them, contract shape', async (t) => {
  const c = await cluster('document');
  const report = buildInspectReport(c, (a) => a !== '127.250.1.12');
  t.same(inspectReportProblems(report), [], 'conforms to the inspect --json contract');
  t.equal(report.nodes.length, 3);
  const [cp, , worker] = report.nodes;
  t.match(cp, { address: '127.250.1.10', role: 'controlplane', hostname: 'cp-1', ready: true });
  t.same(cp!.talos, { issuing: osFp, accepted: [] });
  t.same(cp!.kubernetes, { issuing: k8sFp, accepted: [] });
  t.match(worker, { address: '127.250.1.12', role: 'worker', ready: false });
  t.same(
    worker!.talos,
    { issuing: osFp, accepted: [] },
    'workers carry the Talos CA certificate (no key) in .machine.ca',
  );
  t.same(
    worker!.kubernetes,
    { issuing: null, accepted: [k8sFp] },
    'a document-style worker has no issuing CA, only accepted',
  );
  t.same(report.trustFailures, {
    'operator-apid': 0,
    'apid-proxy': 0,
    'worker-trustd': 0,
    'kubelet-apiserver': 0,
    'client-apiserver': 0,
    'pod-apiserver': 0,
  });
  t.equal(report.notReadyEvents, 0);
  t.equal(report.cluster.endpoint, 'https://127.250.1.3:6443');
});

t.test('legacy style: a worker states the Kubernetes CA certificate in .cluster.ca', async (t) => {
  const c = await cluster('legacy');
  const report = buildInspectReport(c, () => true);
  t.same(report.nodes[2]!.kubernetes, { issuing: k8sFp, accepted: [] });
  t.same(report.nodes[0]!.kubernetes, { issuing: k8sFp, accepted: [] });
});

t.test('an applied config with accepted CAs shows them in config order; the ledger is reported', async (t) => {
  const c = await cluster('legacy');
  const node = c.nodes[0]!;
  const extra1 = await generateTalosCa();
  const extra2 = await generateTalosCa();
  const docs = parseAllDocuments(node.config);
  const list = Array.isArray(docs) ? docs : [docs];
  const v1 = list.find((d) => d.has('machine'))!;
  // The old issuing CA first, then a new one: as Talos keeps them (no reordering by the lab).
  v1.setIn(
    ['machine', 'acceptedCAs'],
    [
      { crt: encodeTalosBase64Pem(extra2.certPem) },
      { crt: encodeTalosBase64Pem(extra1.certPem) },
      { crt: encodeTalosBase64Pem('not a certificate') },
    ],
  );
  const config = list.map((d) => d.toString()).join('---\n');
  node.applyConfig(config, await interpretRoots(config));
  c.ledger.trustFailure({
    edge: 'operator-apid',
    from: 'operator',
    to: node.address,
    reason: 'unknown-ca',
    refusedBy: 'server',
  });
  c.ledger.notReady(c.nodes[2]!.address, null);
  const report = validateInspectReport(JSON.parse(JSON.stringify(buildInspectReport(c, () => true))));
  t.same(report.nodes[0]!.talos.accepted, [extra2.fingerprint, extra1.fingerprint]);
  t.equal(report.nodes[0]!.talos.issuing, osFp);
  t.equal(report.nodes[0]!.talos.unreadable, 1, 'an entry without a certificate is counted, not fingerprinted');
  t.equal(report.nodes[0]!.configVersion, 2);
  t.equal(report.trustFailures['operator-apid'], 1);
  t.equal(report.notReadyEvents, 1);
  t.equal(report.recent.trustFailures[0]!.reason, 'unknown-ca');
  t.equal(report.configChanges, 1, 'the applied config is recorded');
  t.match(report.recent.configChanges[0], {
    node: node.address,
    configVersion: 2,
    talosIssuing: osFp,
    kubernetesIssuing: k8sFp,
  });
  const [change] = report.recent.configChanges;
  t.ok(
    change!.seq < report.recent.trustFailures[0]!.seq &&
      report.recent.trustFailures[0]!.seq < report.recent.notReady[0]!.seq,
    'one sequence orders config changes, trust failures and NotReady events',
  );
  t.same(report.pods, { rootCaConfigMap: [], clients: [] }, 'no Kubernetes side: no pods');
  const text = renderInspectReport(report);
  t.match(text, /127\.250\.1\.10\s+controlplane\s+cp-1\s+yes/);
  t.match(text, new RegExp(`${extra2.fingerprint.slice(0, 16)},${extra1.fingerprint.slice(0, 16)}`));
  t.match(text, /operator-apid\s+1\s+0/);
  t.match(text, /NotReady events: 1/);
});

t.test('the contract validator rejects what consumers could not use', async (t) => {
  const c = await cluster('document');
  const good = JSON.parse(JSON.stringify(buildInspectReport(c, () => true)));
  t.same(inspectReportProblems(good), []);
  /** The fields the cases below break, typed loosely enough to break them. */
  type BreakableNode = {
    role: string;
    ready?: boolean;
    talos: { issuing: string };
    kubernetes: { accepted: string[] };
  };
  type Breakable = {
    trustFailures: Record<string, unknown>;
    nodes: [BreakableNode, BreakableNode, ...BreakableNode[]];
    notReadyEvents: number;
  };
  const broken = (mutate: (r: Breakable) => void) => {
    const copy = JSON.parse(JSON.stringify(good));
    mutate(copy);
    return inspectReportProblems(copy);
  };
  t.not(broken((r) => delete r.trustFailures['apid-proxy']).length, 0, 'a missing edge kind');
  t.not(broken((r) => (r.nodes[0].talos.issuing = 'ABC')).length, 0, 'a fingerprint that is not lowercase hex SHA-256');
  t.not(broken((r) => (r.nodes[0].kubernetes.accepted = [osFp.toUpperCase()])).length, 0, 'uppercase fingerprint');
  t.not(broken((r) => delete r.nodes[1].ready).length, 0, 'ready missing');
  t.not(broken((r) => (r.nodes[0].role = 'init')).length, 0, 'unknown role');
  t.not(broken((r) => (r.notReadyEvents = -1)).length, 0, 'negative count');
  t.throws(() => validateInspectReport({}), { code: 'LAB_INSPECT_INVALID' });
});
