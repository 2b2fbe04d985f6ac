/**
 * `rotate init`: read a live cluster and write the desired-state file that matches it (and its CA
 * certificates under pki/), so that day one on a real cluster starts from "no changes". The I/O half;
 * what to declare is decided by src/desired/init-proposal.ts, the text by init-render.ts.
 *
 * Keys: init references the secrets bundle (`--secrets`) or key files the operator names (`--key`), matched
 * by public key. `--extract-keys` copies a control plane's issuing keys out of its machine config into
 * pki/NAME.key (0600), as `talosctl gen secrets --from-controlplane-config` does: an explicit, named action.
 * Without any, an issuing authority is written without a key: valid while the cluster issues from it
 * (apply escrows its key from a control plane's config), so a rotation to a new CA needs only the new key.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RotateError } from '../../../domain/errors.js';
import { resolveParallelism } from '../../../domain/parallelism.js';
import { Secret } from '../../../domain/secret.js';
import type { ApiKind } from '../../../domain/types.js';
import { shortFingerprint } from '../../../domain/types.js';
import { DesiredStateError, SCHEMA_URL, validateDesiredFile } from '../../../desired/index.js';
import { proposeDesiredState, type InitCa, type InitProposal } from '../../../desired/init-proposal.js';
import { renderInitDesiredState, type InitKeyRef } from '../../../desired/init-render.js';
import { commaList } from '../../../cluster/session/cluster-overrides.js';
import { readCaKey } from '../../../machineconfig/index.js';
import { declaredVips } from '../../../machineconfig/vips.js';
import { observeNodes, type ListedNode, type LiveNode } from '../../../cluster/observe-cluster.js';
import { loadCa, parseCaCertificate, privateKeyPemForNode } from '../../../pki/index.js';
import { parsePrivateKey } from '../../../pki/keys.js';
import { TalosClient } from '../../../talos/client.js';
import { getBundleCa, loadSecretsBundle } from '../../../talos/secrets-bundle.js';
import { getContext, loadTalosconfig, resolveTalosconfigPath } from '../../../talos/talosconfig.js';
import type { ClusterMember } from '../../../talos/resources.js';
import { pathExists, writeFileAtomic } from '../../../util/atomic-file.js';
import { printJson, printResult } from '../../output.js';

export interface InitOptions {
  file: string;
  secrets?: string | undefined;
  key?: string[] | undefined;
  extractKeys: boolean;
  talosconfig?: string | undefined;
  context?: string | undefined;
  endpoints?: string[] | undefined;
  controlPlanes?: string[] | undefined;
  workers?: string[] | undefined;
  kubeconfig: string;
  parallelism?: number | undefined;
  force: boolean;
  json: boolean;
}

/** A path as the desired-state file should reference it: relative to its folder when below it. */
function referenceFrom(dir: string, target: string): string {
  const rel = path.relative(dir, target);
  return rel.startsWith('..') || path.isAbsolute(rel) ? target : `./${rel.split(path.sep).join('/')}`;
}

/**
 * The address init lists a discovered member by: its first IPv4 address that is no VIP, else its first that is no VIP.
 */
function memberAddress(m: ClusterMember, vips: ReadonlySet<string> = new Set()): string | undefined {
  const own = m.addresses.filter((a) => !vips.has(a));
  return own.find((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a)) ?? own[0];
}

/**
 * The VIPs the control planes' configs declare: discovery lists a VIP among its holder's addresses, often
 * first (siderolabs/talos #10357), and a VIP is never a node. Each control plane is read through any of
 * its addresses (a VIP reaches its holder too).
 */
async function declaredVipsOf(client: TalosClient, members: readonly ClusterMember[]): Promise<Set<string>> {
  const vips = new Set<string>();
  for (const m of members.filter((x) => x.machineType !== 'worker')) {
    const via = memberAddress(m)!;
    try {
      const { yaml } = await client.getMachineConfig(via, { timeoutMs: 15_000 });
      for (const ip of declaredVips(yaml, `the machine config of ${via}`)) vips.add(ip);
    } catch {
      // Unreadable here: observeNodes reads every node again and reports it properly.
    }
  }
  return vips;
}

export async function runInit(args: InitOptions): Promise<void> {
  const file = path.resolve(args.file);
  const dir = path.dirname(file);
  const pkiDir = path.join(dir, 'pki');
  if (!args.force && (await pathExists(file))) {
    throw new RotateError('INIT_FILE_EXISTS', `${args.file} already exists; init does not overwrite it`, {
      hint:
        'choose another -f FILE, or pass --force to replace it (certificates under pki/ are replaced too; ' +
        'key files never are)',
    });
  }

  // The operator's credentials, resolved as talosctl does.
  const resolved = resolveTalosconfigPath({ flag: args.talosconfig, env: process.env, home: os.homedir() });
  const talosconfig = await loadTalosconfig(resolved.path);
  const context = getContext(talosconfig, args.context);
  const endpoints = commaList(args.endpoints) ?? context.endpoints;
  const client = new TalosClient({ endpoints, caPem: context.caPem, certPem: context.certPem, key: context.key });
  const label = `talosconfig ${resolved.path} (context ${context.name})`;
  try {
    // Nodes: as listed, or as the cluster's discovery lists its members.
    const explicitCps = commaList(args.controlPlanes);
    const explicitWorkers = commaList(args.workers);
    let listed: ListedNode[];
    let discovered: ClusterMember[] | null = null;
    let skippedVips: string[] = [];
    if (explicitCps || explicitWorkers) {
      if (!explicitCps || explicitCps.length === 0) {
        throw new RotateError('CLI_USAGE', '--workers was given without --control-planes', {
          hint: 'list the control planes too, or neither to discover every node',
        });
      }
      listed = [
        ...explicitCps.map((address) => ({ address, role: 'controlplane' as const })),
        ...(explicitWorkers ?? []).map((address) => ({ address, role: 'worker' as const })),
      ];
    } else {
      discovered = await discoverMembers(client, endpoints, label);
      const vips = await declaredVipsOf(client, discovered);
      skippedVips = [...vips].filter((v) => discovered!.some((m) => m.addresses.includes(v)));
      listed = discovered.map((m) => ({
        address: memberAddress(m, vips)!,
        role: m.machineType === 'worker' ? ('worker' as const) : ('controlplane' as const),
      }));
    }
    const { nodes } = await observeNodes(client, listed, {
      parallelism: resolveParallelism(args.parallelism, listed.length),
      talosconfigLabel: label,
    });

    const proposal = proposeDesiredState(
      nodes.map((n) => ({ address: n.address, role: n.ca.role, talos: n.ca.talos, kubernetes: n.ca.kubernetes })),
      (pem) => parseCaCertificate(pem, 'a CA in a machine config'),
    );
    const nodeAddresses = new Set(nodes.map((n) => n.address));
    const endpointsNotNodes = endpoints.filter((e) => !nodeAddresses.has(e.replace(/:\d+$/, '')));

    const keys = await resolveKeys(args, proposal, nodes, pkiDir);
    const certificates: Record<string, string> = {};
    for (const ca of proposal.cas) certificates[ca.name] = referenceFrom(dir, path.join(pkiDir, `${ca.name}.crt`));

    const text = renderInitDesiredState({
      schema: fileURLToPath(SCHEMA_URL),
      talosconfig: args.talosconfig ? referenceFrom(dir, path.resolve(args.talosconfig)) : null,
      context: context.name,
      endpoints,
      endpointsNotNodes,
      kubeconfig: referenceFrom(dir, path.resolve(dir, args.kubeconfig)),
      controlPlanes: nodes.filter((n) => n.ca.role === 'controlplane').map((n) => n.address),
      workers: nodes.filter((n) => n.ca.role === 'worker').map((n) => n.address),
      discovered: discovered !== null,
      secretsBundle: args.secrets ? referenceFrom(dir, path.resolve(args.secrets)) : null,
      proposal,
      certificates,
      keys: Object.fromEntries([...keys].map(([name, k]) => [name, k.ref])),
      now: new Date(),
    });

    const written = await writeFiles(args, file, pkiDir, proposal, keys, text);
    report(args, { file, proposal, discovered, skippedVips, listed, endpointsNotNodes, keys, written });
  } finally {
    client.close();
  }
}

async function discoverMembers(
  client: TalosClient,
  endpoints: readonly string[],
  label: string,
): Promise<ClusterMember[]> {
  let members: ClusterMember[];
  try {
    members = await client.listMembers(undefined, { timeoutMs: 15_000 });
  } catch (err) {
    const message = RotateError.is(err) ? err.message : (err as Error).message;
    throw new RotateError(
      'INIT_DISCOVERY_FAILED',
      `cannot list the cluster members through ${endpoints.join(', ')} with the ${label}: ${message}`,
      {
        hint:
          'check the endpoints and the talosconfig, or list the nodes yourself with --control-planes A,B ' +
          '--workers C,D',
        source: 'cluster',
      },
    );
  }
  const unusable = members.filter((m) => m.machineType === 'unknown' || !memberAddress(m));
  if (members.length === 0 || unusable.length > 0) {
    const why =
      members.length === 0
        ? 'discovery lists no members (is cluster discovery disabled?)'
        : `members ${unusable.map((m) => m.hostname || m.id).join(', ')} have no address or no machine type`;
    throw new RotateError('INIT_DISCOVERY_INCOMPLETE', `${why}; init will not guess the node list`, {
      hint: 'list every node with --control-planes A,B --workers C,D',
    });
  }
  return members;
}

interface ResolvedKey {
  ref: InitKeyRef;
  /** A key init copies out of a machine config; written with the other files. */
  extracted?: { path: string; pem: Secret };
}

/** Key sources for the CAs (none is required); every named source must belong to a CA init declares. */
async function resolveKeys(
  args: InitOptions,
  proposal: InitProposal,
  nodes: readonly LiveNode[],
  pkiDir: string,
): Promise<Map<string, ResolvedKey>> {
  const dir = path.dirname(path.resolve(args.file));
  const keys = new Map<string, ResolvedKey>();
  const byFp = (api: ApiKind, fp: string): InitCa | undefined =>
    proposal.cas.find((c) => c.api === api && c.fingerprint === fp);

  if (args.secrets) {
    const bundle = await loadSecretsBundle(path.resolve(args.secrets));
    let matched = 0;
    for (const [entry, api] of [
      ['os', 'talos'],
      ['k8s', 'kubernetes'],
    ] as const) {
      const ca = getBundleCa(bundle, entry);
      const own = byFp(api, ca.fingerprint);
      if (!own) continue;
      matched++;
      keys.set(own.name, { ref: { secretsBundle: referenceFrom(dir, path.resolve(args.secrets)), entry } });
    }
    if (matched === 0) {
      throw new RotateError(
        'INIT_BUNDLE_NOT_THIS_CLUSTER',
        `--secrets ${args.secrets}: neither its Talos CA (certs.os) nor its Kubernetes CA (certs.k8s) ` +
          'is trusted by any node read',
        {
          hint:
            'pass the secrets bundle this cluster was made with (or leave --secrets out and name key files with ' +
            '--key)',
        },
      );
    }
  }

  for (const keyFile of args.key ?? []) {
    let pem: string;
    try {
      pem = await fs.readFile(path.resolve(keyFile), 'utf8');
    } catch (err) {
      throw new RotateError(
        'INIT_KEY_UNREADABLE',
        `--key ${keyFile}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        { hint: 'check the path and its permissions' },
      );
    }
    parsePrivateKey(new Secret(pem), `--key ${keyFile}`); // one clear error for a file that is not a key
    let owner: InitCa | undefined;
    for (const ca of proposal.cas) {
      const matches = await loadCa(ca.certPem, new Secret(pem), `--key ${keyFile}`).then(
        () => true,
        () => false,
      );
      if (matches) {
        owner = ca;
        break;
      }
    }
    if (!owner) {
      throw new RotateError('INIT_KEY_MATCHES_NOTHING', `--key ${keyFile} is not the key of any CA the nodes trust`, {
        hint:
          'it must be the private key of one of: ' +
          proposal.cas.map((c) => `${c.name} (${shortFingerprint(c.fingerprint)}…)`).join(', '),
      });
    }
    keys.set(owner.name, { ref: { file: referenceFrom(dir, path.resolve(keyFile)), origin: 'key-file' } });
  }

  const missing = (['talos', 'kubernetes'] as const)
    .map((api) => byFp(api, proposal[api].issuing)!)
    .filter((ca) => !keys.has(ca.name));
  if (missing.length > 0 && args.extractKeys) {
    const cp = nodes.find((n) => n.ca.role === 'controlplane')!;
    for (const ca of missing) {
      const key = readCaKey(cp.config, ca.api, `the machine config of ${cp.address}`);
      if (!key)
        throw new RotateError(
          'INIT_NO_KEY_IN_CONFIG',
          `the machine config of ${cp.address} holds no ${ca.api} CA key`,
          { hint: 'name the key with --key FILE or --secrets BUNDLE' },
        );
      await loadCa(ca.certPem, key, `the ${ca.api} CA key in the machine config of ${cp.address}`);
      const keyPath = path.join(pkiDir, `${ca.name}.key`);
      keys.set(ca.name, {
        ref: { file: referenceFrom(dir, keyPath), origin: 'extracted' },
        extracted: { path: keyPath, pem: new Secret(privateKeyPemForNode(key.reveal())) },
      });
    }
  }
  return keys;
}

interface Written {
  created: string[];
  replaced: string[];
}

/**
 * Every refusal is checked before the first write; then certificates, extracted keys (exclusive: a key
 * file is never replaced) and last the desired-state file, which is validated as `rotate validate` would.
 * If it does not validate, what init created is removed and a replaced file is put back.
 */
async function writeFiles(
  args: InitOptions,
  file: string,
  pkiDir: string,
  proposal: InitProposal,
  keys: Map<string, ResolvedKey>,
  text: string,
): Promise<Written> {
  const certs = proposal.cas.map((ca) => ({ path: path.join(pkiDir, `${ca.name}.crt`), text: ca.certPem }));
  const extracted = [...keys.values()].flatMap((k) => (k.extracted ? [k.extracted] : []));
  for (const c of certs) {
    if (!args.force && (await pathExists(c.path)) && (await fs.readFile(c.path, 'utf8')) !== c.text) {
      throw new RotateError(
        'INIT_FILE_EXISTS',
        `${c.path} already exists and holds another certificate; init does not overwrite it`,
        { hint: 'pass --force to replace it, or run init in another folder' },
      );
    }
  }
  const toWrite: typeof extracted = [];
  for (const k of extracted) {
    if (!(await pathExists(k.path))) {
      toWrite.push(k);
      continue;
    }
    // The same key already there (init run again): keep it; anything else is never replaced.
    if ((await fs.readFile(k.path, 'utf8')) !== k.pem.reveal()) {
      throw new RotateError(
        'INIT_FILE_EXISTS',
        `${k.path} already exists and holds another key; init never replaces a key file`,
        { hint: 'move it away, or name it with --key FILE instead of --extract-keys' },
      );
    }
  }
  const previous = (await pathExists(file))
    ? { text: await fs.readFile(file, 'utf8'), mode: (await fs.stat(file)).mode & 0o777 }
    : null;
  const written: Written = { created: [], replaced: [] };
  await fs.mkdir(pkiDir, { recursive: true, mode: 0o700 });
  for (const c of certs) {
    const existed = await pathExists(c.path);
    if (existed && (await fs.readFile(c.path, 'utf8')) === c.text) continue;
    await writeFileAtomic(c.path, c.text, { mode: 0o644 });
    (existed ? written.replaced : written.created).push(c.path);
  }
  for (const k of toWrite) {
    await writeFileAtomic(k.path, k.pem.reveal(), { mode: 0o600, exclusive: true });
    written.created.push(k.path);
  }
  await writeFileAtomic(file, text, { mode: previous?.mode ?? 0o644 });
  (previous ? written.replaced : written.created).push(file);
  const check = await validateDesiredFile(file);
  if (!check.valid) {
    if (previous) await writeFileAtomic(file, previous.text, { mode: previous.mode });
    for (const p of written.created) await fs.rm(p, { force: true });
    throw new DesiredStateError(check.file, check.errors, check.warnings);
  }
  return written;
}

function report(
  args: InitOptions,
  r: {
    file: string;
    proposal: InitProposal;
    discovered: ClusterMember[] | null;
    skippedVips: string[];
    listed: ListedNode[];
    endpointsNotNodes: string[];
    keys: Map<string, ResolvedKey>;
    written: Written;
  },
): void {
  const { proposal } = r;
  const keyOf = (name: string): string => {
    const k = r.keys.get(name)?.ref;
    if (!k) return 'none';
    return 'file' in k
      ? `${k.origin === 'extracted' ? 'copied from the cluster to ' : ''}${k.file}`
      : `${k.secretsBundle} (certs.${k.entry})`;
  };
  if (args.json) {
    printJson({
      file: r.file,
      discovered: r.discovered !== null,
      skippedVips: r.skippedVips,
      controlPlanes: r.listed.filter((n) => n.role === 'controlplane').map((n) => n.address),
      workers: r.listed.filter((n) => n.role === 'worker').map((n) => n.address),
      endpointsNotNodes: r.endpointsNotNodes,
      authorities: proposal.cas.map((c) => ({
        name: c.name,
        api: c.api,
        fingerprint: c.fingerprint,
        notAfter: c.notAfter.toISOString(),
        role: proposal[c.api].issuing === c.fingerprint ? 'issuing' : 'accepted',
        key: r.keys.get(c.name)?.ref ?? null,
      })),
      expiredLeftOut: proposal.expired.map((c) => ({
        api: c.api,
        fingerprint: c.fingerprint,
        notAfter: c.notAfter.toISOString(),
      })),
      disagreements: proposal.disagreements,
      created: r.written.created,
      replaced: r.written.replaced,
    });
    return;
  }
  const lines: string[] = [];
  if (r.discovered) {
    lines.push(`Discovered ${r.discovered.length} node(s) from the cluster's members:`);
    for (const n of r.listed)
      lines.push(`  ${n.role === 'controlplane' ? 'control plane' : 'worker       '}  ${n.address}`);
    for (const v of r.skippedVips)
      lines.push(`  skipped ${v}: a VIP a control plane's config declares, listed among its holder's addresses`);
    lines.push(
      '  A VIP or load balancer is not a node: never add one to controlPlanes or workers (it may stay an endpoint).',
    );
  }
  for (const e of r.endpointsNotNodes)
    lines.push(`Endpoint ${e} is not a node address (a VIP or load balancer?): kept as an endpoint only.`);
  for (const api of ['talos', 'kubernetes'] as const) {
    const mine = proposal.cas.filter((c) => c.api === api);
    lines.push(`${api === 'talos' ? 'Talos API' : 'Kubernetes API'}:`);
    for (const c of mine) {
      lines.push(
        `  ${proposal[api].issuing === c.fingerprint ? 'issuing ' : 'accepted'}  ${c.name}  ` +
          `${shortFingerprint(c.fingerprint)}…  until ${c.notAfter.toISOString().slice(0, 10)}  key: ${keyOf(c.name)}`,
      );
    }
  }
  const keyless = (['talos', 'kubernetes'] as const)
    .map((api) => proposal.cas.find((c) => c.api === api && c.fingerprint === proposal[api].issuing)!)
    .filter((c) => !r.keys.has(c.name));
  if (keyless.length > 0) {
    lines.push(
      `No key source for ${keyless.map((c) => c.name).join(' and ')}: ` +
        `fine while the cluster issues from ${keyless.length > 1 ? 'them' : 'it'} (apply takes the current ` +
        `issuing keys from a control plane's machine config for its escrow, so rotating to a new CA needs only ` +
        `the new key). Making ${keyless.length > 1 ? 'them' : 'it'} issuing again elsewhere needs a key: ` +
        '--secrets, --key or --extract-keys.',
    );
  }
  for (const c of proposal.expired)
    lines.push(
      `Left out: ${c.api} CA ${shortFingerprint(c.fingerprint)}… expired ` +
        `on ${c.notAfter.toISOString().slice(0, 10)}; the plan removes it from the nodes that still list it.`,
    );
  if (proposal.disagreements.length > 0) {
    lines.push('The nodes disagree; the file keeps every CA trusted anywhere, so the plan only adds trust:');
    for (const d of proposal.disagreements) {
      const what = [
        ...(d.missing.length > 0
          ? [
              `lacks ${d.missing
                .map((fp) => proposal.cas.find((c) => c.api === d.api && c.fingerprint === fp)!.name)
                .join(', ')}`,
            ]
          : []),
        ...(d.issuing ? [`uses ${shortFingerprint(d.issuing)}… as its current CA`] : []),
      ];
      lines.push(`  ${d.node} (${d.api}): ${what.join('; ')}`);
    }
  }
  for (const p of r.written.created) lines.push(`Wrote ${p}`);
  for (const p of r.written.replaced) lines.push(`Replaced ${p}`);
  lines.push(
    `Next: rotate plan -f ${args.file}` +
      (proposal.disagreements.length + proposal.expired.length === 0 ? '   (expect: no changes)' : ''),
  );
  printResult(lines.join('\n'));
}
