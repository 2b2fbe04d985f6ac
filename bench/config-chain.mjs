#!/usr/bin/env node
// The CPU `rotate plan` spends deriving each step's config of a full rotation, in-process and without a lab:
// chainConfigs (patch, the patch's self-check parse, redaction) over 200 lab-generated configs (3 control
// planes + 197 workers, document layout), both CAs in 4 steps (accept both → issue both → drop Talos's →
// drop Kubernetes's), 800 configs. Process CPU is measured (less sensitive to the machine's load than wall
// time); BENCH_RUNS timed runs after 2 warm-ups, median reported. Runs dist/ (`npm run build` first). Not a
// test: it prints figures.
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const load = async (p) => import(pathToFileURL(join(dist, p)).href);
const { generateLabSecrets } = await load('lab/setup/secrets.js');
const { generateMachineConfig } = await load('lab/setup/machineconfig.js');
const { readCaState } = await load('machineconfig/index.js');
const { CaCatalog } = await load('cluster/session/ca-catalog.js');
const { chainConfigs } = await load('cluster/session/config-chain.js');
const { generateKubernetesCa, generateTalosCa } = await load('pki/index.js');

const runs = Number(process.env.BENCH_RUNS ?? 6);
const secrets = await generateLabSecrets({ serviceAccountKey: 'ecdsa-p256' });
const next = { talos: await generateTalosCa(), kubernetes: await generateKubernetesCa() };
const catalog = new CaCatalog();
for (const api of ['talos', 'kubernetes']) catalog.add(api, next[api].fingerprint, next[api].certPem);

const configs = new Map();
const targets = new Map();
for (let i = 0; i < 200; i++) {
  const address = `127.9.0.${i + 10}`;
  const config = generateMachineConfig(secrets, {
    role: i < 3 ? 'controlplane' : 'worker',
    style: 'document',
    hostname: `node-${i}`,
    address,
    clusterName: 'bench',
    clusterEndpoint: 'https://127.9.0.3:6443',
  });
  configs.set(address, config);
  const state = readCaState(config);
  catalog.addConfig(state);
  const t = { accept: {}, issue: {}, drop: {} };
  for (const api of ['talos', 'kubernetes']) {
    const s = state[api];
    const fresh = next[api].fingerprint;
    const accepted = s.accepted.map((c) => c.fingerprint);
    if (s.issuing) {
      const cur = s.issuing.fingerprint;
      t.accept[api] = { issuing: cur, accepted: [...accepted, fresh] };
      t.issue[api] = { issuing: fresh, accepted: [cur, ...accepted] };
      t.drop[api] = { issuing: fresh, accepted: [] };
    } else {
      // a document-style worker: its current CA heads acceptedCAs
      t.accept[api] = { issuing: null, accepted: [...accepted, fresh] };
      t.issue[api] = { issuing: null, accepted: [fresh, ...accepted] };
      t.drop[api] = { issuing: null, accepted: [fresh] };
    }
  }
  targets.set(address, t);
}
const addresses = [...configs.keys()];
const step = (id, target) => ({ id, nodes: addresses.map((address) => ({ address, target: target(address) })) });
const plan = {
  steps: [
    step('accept', (a) => targets.get(a).accept),
    step('issue', (a) => targets.get(a).issue),
    step('drop-talos', (a) => ({ talos: targets.get(a).drop.talos })),
    step('drop-kubernetes', (a) => ({ kubernetes: targets.get(a).drop.kubernetes })),
  ].map((s, i) => ({ ...s, index: i + 1 })),
};
const keyFor = async (api) => next[api].key;

const cpuMs = [];
let produced = 0;
for (let r = 0; r < runs + 2; r++) {
  const c0 = process.cpuUsage();
  const chained = await chainConfigs(plan, configs, catalog, keyFor);
  const c = process.cpuUsage(c0);
  produced = chained.length;
  if (r >= 2) cpuMs.push((c.user + c.system) / 1000);
}
cpuMs.sort((a, b) => a - b);
process.stdout.write(
  `config chain, 200 nodes × 4 steps (${produced} configs), load average ${loadavg()[0].toFixed(2)}: ` +
    `CPU ${cpuMs.map((x) => x.toFixed(0)).join(' / ')} ms\n` +
    `figure: 200 nodes: config chain median CPU ${cpuMs[Math.floor(cpuMs.length / 2)].toFixed(0)} ms (n=${runs})\n`,
);
