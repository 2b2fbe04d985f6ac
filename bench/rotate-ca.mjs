#!/usr/bin/env node
// talos-rotate against the real `talosctl rotate-ca`, head to head in the same labs and the same run.
// For each Kubernetes CA style (legacy lab + talosctl v1.13 line, document lab + v1.14 line) and each API
// (Talos, Kubernetes), on a fresh lab each time (BENCH_SIZE control planes + workers, default 3+2):
//   - `rotate apply` of a rotation of that API only (new CA issuing, the old one dropped), and
//   - `talosctl rotate-ca --dry-run=false` of that API only, with explicit node lists;
// and reports wall time, the ledger (Talos-edge trust failures, NotReady events, kubelet → apiserver
// rejections, pod → apiserver failures), the kubelet restarts (count, longest, summed node-seconds), and
// whether the lab ended with only the new CA. Then, per tool, the same rotation killed with SIGKILL after
// the first node changed and run again with the same inputs: "resumed" when the second run ends with only
// the new CA everywhere. talosctl's binaries come from scripts/build-talosctl.mjs (`npm test` builds them).
// Not a test: it prints figures. Environment: BENCH_SIZE, BENCH_STYLES (legacy,document), BENCH_APIS
// (talos,kubernetes), BENCH_TIMEOUT_S (per run, default 600), BENCH_KILL=0 to leave out the kill runs.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lastStepHeader, rotateCaArgs, talosctlFor } from './lib/talosctl.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const rotateBin = join(repo, 'bin', 'rotate');
const { labInspect } = await import(join(repo, 'dist', 'lab', 'process', 'control-client.js'));
const [cps, workers] = (process.env.BENCH_SIZE ?? '3+2').split('+').map(Number);
const styles = (process.env.BENCH_STYLES ?? 'legacy,document').split(',');
const apis = (process.env.BENCH_APIS ?? 'talos,kubernetes').split(',');
const timeoutS = Number(process.env.BENCH_TIMEOUT_S ?? 600);
const withKill = process.env.BENCH_KILL !== '0';
const TALOS_EDGES = ['operator-apid', 'apid-proxy', 'worker-trustd'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (n, d = 1) => (n === null || n === undefined ? 'n/a' : n.toFixed(d));

/** Runs a command; resolves with exit code/signal and output. `onSpawn` gets the child (for the kill runs). */
function run(cmd, args, { onSpawn, timeoutMs = timeoutS * 1000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        timedOut,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    onSpawn?.(child);
  });
}

async function mustRotate(args) {
  const r = await run(rotateBin, args);
  if (r.code !== 0) throw new Error(`rotate ${args.join(' ')} exited ${r.code}:\n${r.stderr.slice(0, 3000)}`);
  return r;
}

/** What a failed run said last: talosctl's last step header, or the last line of our stderr. */
const lastWords = (tool, r) =>
  tool === 'talosctl' ? `last step: ${lastStepHeader(r.stdout)}` : r.stderr.trim().split('\n').pop();

/** A fresh lab with a desired state rotating `api` only (its new CA issuing, the lab CA no longer accepted). */
async function freshLab(style, api) {
  const root = mkdtempSync(join(tmpdir(), `bench-rotate-ca-${style}-${api}-`));
  chmodSync(root, 0o700);
  const dir = join(root, 'lab');
  await mustRotate([
    'lab',
    'up',
    '--dir',
    dir,
    '--detach',
    '--control-planes',
    String(cps),
    '--workers',
    String(workers),
    '--kubernetes-ca-style',
    style,
  ]);
  const labFile = JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8'));
  const name = api === 'talos' ? 'talos-next' : 'k8s-next';
  await mustRotate(['ca', 'new', '--api', api, '--name', name, '--dir', join(dir, 'pki'), '--json']);
  let text = readFileSync(join(dir, 'rotate.yaml'), 'utf8');
  const [issuingLine, keyLine] =
    api === 'talos'
      ? ['  issuing: talos-lab\n', '    key: { secretsBundle: ./secrets.yaml, entry: os }\n']
      : ['  issuing: kubernetes-lab\n', '    key: { secretsBundle: ./secrets.yaml, entry: k8s }\n'];
  for (const needle of [issuingLine, keyLine, 'authorities:\n'])
    if (!text.includes(needle)) throw new Error(`lab rotate.yaml lacks ${JSON.stringify(needle)}`);
  text = text
    .replace(issuingLine, `  issuing: ${name}\n`)
    .replace(keyLine, '')
    .replace(
      'authorities:\n',
      `authorities:\n  ${name}: { certificate: pki/${name}.crt, key: { file: pki/${name}.key } }\n`,
    );
  const desired = join(dir, `rotate-${api}.yaml`);
  writeFileSync(desired, text);
  const before = await labInspect(labFile);
  const oldFp = before.nodes.find((n) => n.role === 'controlplane')[api].issuing;
  return { root, dir, labFile, desired, oldFp, startSeq: maxSeq(before) };
}

async function down(lab) {
  await run(rotateBin, ['lab', 'down', '--dir', lab.dir], { timeoutMs: 60_000 }).catch(() => undefined);
  rmSync(lab.root, { recursive: true, force: true });
}

function maxSeq(report) {
  const seqs = [...report.recent.trustFailures, ...report.recent.notReady, ...report.recent.configChanges].map(
    (e) => e.seq,
  );
  return seqs.length ? Math.max(...seqs) : 0;
}

function rotateArgs(lab) {
  return ['apply', '-f', lab.desired, '--auto-approve', '--state', join(lab.root, 'state.json')];
}

function talosctlArgs(lab, api, talosconfig) {
  return rotateCaArgs({ talosconfig, nodes: lab.labFile.nodes, apis: [api], out: join(lab.root, 'talosconfig.new') });
}

/**
 * Only one CA of `api` left anywhere, and not the old one: the union of every node's issuing and accepted
 * CAs is that one certificate (a stray CA from an interrupted run counts against it).
 */
function onlyOneNewCa(report, api, oldFp) {
  const all = new Set(report.nodes.flatMap((n) => [n[api].issuing, ...n[api].accepted].filter(Boolean)));
  return all.size === 1 && !all.has(oldFp);
}

/** The ledger and kubelet figures of a run, and whether every node now trusts only one new CA of that API. */
async function figures(lab, api, wallS) {
  const r = await labInspect(lab.labFile);
  const talosEdge = TALOS_EDGES.reduce((s, e) => s + r.trustFailures[e], 0);
  const restarts = [];
  const open = new Map();
  for (const e of r.kubelets.log) {
    if (e.seq <= lab.startSeq) continue;
    if (e.event === 'stopped' && !open.has(e.node)) open.set(e.node, Date.parse(e.at));
    if (e.event === 'running' && open.has(e.node)) {
      restarts.push((Date.parse(e.at) - open.get(e.node)) / 1000);
      open.delete(e.node);
    }
  }
  const rotated = onlyOneNewCa(r, api, lab.oldFp);
  return {
    wallS,
    talosEdge,
    notReady: r.notReadyEvents,
    kubeletRejections: r.trustFailures['kubelet-apiserver'],
    podFailures: r.trustFailures['pod-apiserver'],
    kubeletRestarts: restarts.length,
    kubeletLongestS: restarts.length ? Math.max(...restarts) : 0,
    kubeletDownS: restarts.reduce((a, b) => a + b, 0),
    rotated,
  };
}

async function timed(cmd, args) {
  const t0 = performance.now();
  const r = await run(cmd, args);
  return { r, wallS: (performance.now() - t0) / 1000 };
}

/** One clean run of a tool; the lab is fresh and brought down after. */
async function cleanRun(tool, style, api) {
  const lab = await freshLab(style, api);
  try {
    const { r, wallS } =
      tool === 'rotate'
        ? await timed(rotateBin, rotateArgs(lab))
        : await timed(talosctlFor(style).path, talosctlArgs(lab, api, join(lab.dir, 'talosconfig')));
    const f = await figures(lab, api, wallS);
    const ok = r.code === 0 && f.rotated;
    const why = ok ? '' : ` (exit ${r.code ?? r.signal}${r.timedOut ? ', timed out' : ''}; ${lastWords(tool, r)})`;
    return { ...f, ok, why };
  } finally {
    await down(lab);
  }
}

/** Kill -9 after the first node changed its config, then the same command again: does it finish the rotation? */
async function killRun(tool, style, api) {
  const lab = await freshLab(style, api);
  try {
    const cmd = tool === 'rotate' ? rotateBin : talosctlFor(style).path;
    const args = tool === 'rotate' ? rotateArgs(lab) : talosctlArgs(lab, api, join(lab.dir, 'talosconfig'));
    let killed = false;
    const first = await run(cmd, args, {
      onSpawn: (child) => {
        void (async () => {
          while (child.exitCode === null && child.signalCode === null) {
            const r = await labInspect(lab.labFile).catch(() => null);
            if (r && r.configChanges > 0) {
              killed = child.kill('SIGKILL');
              return;
            }
            await sleep(50);
          }
        })();
      },
    });
    if (!killed) return { resumed: 'n/a', detail: `finished before any node changed (exit ${first.code})` };
    const second = await run(cmd, args);
    const r = await labInspect(lab.labFile);
    const cas = new Set(r.nodes.flatMap((n) => [n[api].issuing, ...n[api].accepted].filter(Boolean)));
    const resumed = second.code === 0 && onlyOneNewCa(r, api, lab.oldFp);
    const detail = resumed
      ? 'second run finished the rotation: one new CA on every node'
      : `second run exit ${second.code ?? second.signal}; ${cas.size} ${api} CA(s) left across the nodes` +
        `${cas.has(lab.oldFp) ? ', the old one among them' : ''}; ${lastWords(tool, second)}`;
    return { resumed: resumed ? 'yes' : 'no', detail };
  } finally {
    await down(lab);
  }
}

process.stdout.write(
  `node ${process.version}, load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}, labs of ${cps}+${workers}\n`,
);
let failures = 0;
for (const style of styles) {
  const tc = talosctlFor(style);
  for (const api of apis) {
    for (const tool of ['rotate', 'talosctl']) {
      const label = `${style} lab, ${api} CA, ${tool === 'rotate' ? 'rotate apply' : `talosctl ${tc.tag} rotate-ca`}`;
      const f = await cleanRun(tool, style, api);
      if (!f.ok) failures += 1;
      process.stdout.write(
        `figure: ${label}: ${f.ok ? 'completed' : 'FAILED'}${f.why} in ${fmt(f.wallS)} s; ` +
          `Talos-edge failures ${f.talosEdge}, NotReady ${f.notReady}, ` +
          `kubelet rejections ${f.kubeletRejections}, pod-apiserver failures ${f.podFailures}; ` +
          `kubelet restarts ${f.kubeletRestarts} ` +
          `(longest ${fmt(f.kubeletLongestS, 2)} s, ${fmt(f.kubeletDownS, 2)} node-s)\n`,
      );
      if (withKill) {
        const k = await killRun(tool, style, api);
        process.stdout.write(
          `figure: ${label}: SIGKILL after the first node changed, then run again: ` +
            `resumed ${k.resumed} (${k.detail})\n`,
        );
      }
    }
  }
}
process.exitCode = failures ? 1 : 0;
