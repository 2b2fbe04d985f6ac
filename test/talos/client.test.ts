/**
 * Every client method against a gRPC server built from the project's protos, with real mutual TLS on
 * 127.0.0.1 (certificates from src/pki).
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { parse as parseYaml } from 'yaml';
import { Secret } from '../../src/domain/secret.js';
import { TalosApiError } from '../../src/talos/errors.js';
import { TalosClient, parseEndpoint } from '../../src/talos/client.js';
import { createKubeconfigArchive } from '../../src/talos/kubeconfig-archive.js';
import {
  talosProtos,
  type ApplyConfigurationRequest,
  type Resource,
  type StateServiceHandlers,
  type WatchRequest,
  type WatchResponse,
} from '../../src/talos/proto.js';
import { clientConfig, closedPort, makePki, startTalosServer, type TestPki } from './fixtures/server.js';

const protos = talosProtos();
const NODE = '10.5.0.2';
const CONFIG_YAML = 'version: v1alpha1\nmachine:\n  type: controlplane\n  ca:\n    crt: Q1JU\n    key: S0VZ\n';
const KUBECONFIG = 'apiVersion: v1\nkind: Config\ncurrent-context: admin@talos-default\n';
const CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIBCA==\n-----END CERTIFICATE-----\n';
const KEY_PEM = '-----BEGIN ED25519 PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END ED25519 PRIVATE KEY-----\n';

function resource(namespace: string, type: string, id: string, spec: Uint8Array, version = '1'): Resource {
  return {
    metadata: { namespace, type, id, version, phase: 'running', owner: 'test' },
    spec: { proto_spec: spec, yaml_spec: '' },
  };
}

const serviceResource = (running: boolean, healthy: boolean) =>
  resource('runtime', 'Services.v1alpha1.talos.dev', 'kubelet', protos.specs.service.encode({ running, healthy }));

/** Records what each handler saw. */
interface Seen {
  nodes: Array<string | undefined>;
  apply?: ApplyConfigurationRequest;
  watches: WatchRequest[];
  watchCancelled: number;
}

let pki: TestPki;
const seen: Seen = { nodes: [], watches: [], watchCancelled: 0 };
/** Makes Get of OSRootSecrets answer a truncated spec. */
let osRootGarbage = false;
/** Test-controlled behaviour of the Watch handler. */
let watchScript: (call: grpc.ServerWritableStream<WatchRequest, WatchResponse>) => void = () => {};

/** An error grpc-js's server turns into the given status. */
function statusError(code: grpc.status, details: string): Error {
  return Object.assign(new Error(details), { code, details });
}

function nodeOf(call: { metadata: grpc.Metadata }): string | undefined {
  const v = call.metadata.get('node');
  return v.length === 0 ? undefined : String(v[0]);
}

const stateHandlers: StateServiceHandlers = {
  Get: (call, cb) => {
    seen.nodes.push(nodeOf(call));
    const { namespace, type, id } = call.request;
    const key = `${namespace}/${type}/${id}`;
    switch (key) {
      case 'config/MachineConfigs.config.talos.dev/v1alpha1':
        return cb(null, {
          resource: resource(
            namespace!,
            type!,
            id!,
            protos.specs.machineConfig.encode({ yaml_marshalled: Buffer.from(CONFIG_YAML) }),
            '42',
          ),
        });
      case 'secrets/OSRootSecrets.secrets.talos.dev/os':
        if (osRootGarbage)
          return cb(null, { resource: resource(namespace!, type!, id!, Buffer.from([0x0a, 0x10, 0x01])) });
        return cb(null, {
          resource: resource(
            namespace!,
            type!,
            id!,
            protos.specs.osRoot.encode({
              issuing_ca: { crt: Buffer.from(CA_PEM), key: Buffer.from(KEY_PEM) },
              accepted_c_as: [{ crt: Buffer.from(CA_PEM) }],
              cert_sani_ps: [{ ip: Buffer.from([10, 5, 0, 2]) }],
              token: 'abc.def',
            }),
          ),
        });
      case 'secrets/KubernetesRootSecrets.secrets.talos.dev/k8s':
        return cb(null, {
          resource: resource(
            namespace!,
            type!,
            id!,
            protos.specs.kubernetesRoot.encode({
              name: 'talos-default',
              endpoint: { full_path: 'https://10.5.0.1:6443' },
              issuing_ca: { crt: Buffer.from(CA_PEM), key: Buffer.from(KEY_PEM) },
              service_account: { key: Buffer.from(KEY_PEM) },
              accepted_c_as: [{ crt: Buffer.from(CA_PEM) }],
            }),
          ),
        });
      case 'runtime/Services.v1alpha1.talos.dev/kubelet':
        return cb(null, { resource: serviceResource(true, true) });
      case 'config/MachineConfigs.config.talos.dev/yaml-only': {
        const r = resource(namespace!, type!, id!, new Uint8Array(), '5');
        r.spec!.yaml_spec = `${JSON.stringify(CONFIG_YAML)}\n`;
        return cb(null, { resource: r });
      }
      default:
        return cb({ code: grpc.status.NOT_FOUND, details: `resource ${type} ${id} doesn't exist` });
    }
  },
  List: (call) => {
    seen.nodes.push(nodeOf(call));
    if (call.request.type !== 'Members.cluster.talos.dev') {
      call.emit(
        'error',
        statusError(grpc.status.PERMISSION_DENIED, `resource type "${call.request.type}" is not supported`),
      );
      return;
    }
    call.write({
      resource: resource(
        'cluster',
        'Members.cluster.talos.dev',
        'cp-1',
        protos.specs.member.encode({
          node_id: 'id-cp-1',
          addresses: [{ ip: Buffer.from([10, 5, 0, 2]) }, { ip: Buffer.from([0xfd, 0, ...Array(13).fill(0), 2]) }],
          hostname: 'cp-1',
          machine_type: 'TYPE_CONTROL_PLANE',
          operating_system: 'Talos (v1.9.5)',
          control_plane: { api_server_port: 6443 },
        }),
      ),
    });
    call.write({
      resource: resource(
        'cluster',
        'Members.cluster.talos.dev',
        'w-1',
        protos.specs.member.encode({
          node_id: 'id-w-1',
          addresses: [{ ip: Buffer.from([10, 5, 0, 3]) }],
          hostname: 'w-1',
          machine_type: 'TYPE_WORKER',
        }),
      ),
    });
    call.end();
  },
  Watch: (call) => {
    seen.nodes.push(nodeOf(call));
    seen.watches.push(call.request);
    call.on('cancelled', () => seen.watchCancelled++);
    watchScript(call);
  },
};

t.before(async () => {
  pki = await makePki();
});

async function withServer(fn: (client: TalosClient, endpoint: string) => Promise<void>): Promise<void> {
  const srv = await startTalosServer({
    serverCert: pki.server,
    clientCaPem: pki.ca.certPem,
    machine: {
      Version: (call, cb) => {
        seen.nodes.push(nodeOf(call));
        cb(null, {
          messages: [
            {
              version: {
                tag: 'v1.9.5',
                sha: 'abcdef',
                built: 'today',
                go_version: 'go1.23',
                os: 'Talos',
                arch: 'amd64',
              },
              platform: { name: 'metal', mode: 'metal' },
              features: { rbac: true },
            },
          ],
        });
      },
      ApplyConfiguration: (call, cb) => {
        seen.nodes.push(nodeOf(call));
        seen.apply = call.request;
        cb(null, {
          messages: [
            {
              mode: call.request.mode,
              mode_details: 'Applied configuration without a reboot',
              warnings: ['deprecated field'],
            },
          ],
        });
      },
      Kubeconfig: (call) => {
        seen.nodes.push(nodeOf(call));
        const gz = createKubeconfigArchive(KUBECONFIG);
        const third = Math.ceil(gz.length / 3);
        for (let i = 0; i < gz.length; i += third) call.write({ bytes: Buffer.from(gz.subarray(i, i + third)) });
        call.end();
      },
    },
    state: stateHandlers,
  });
  const client = new TalosClient(clientConfig(pki, [srv.endpoint]));
  try {
    await fn(client, srv.endpoint);
  } finally {
    client.close();
    srv.close();
  }
}

t.test('parseEndpoint: host, host:port, [v6]:port, bare v6, https URL; port 50000 by default', async (t) => {
  t.same(parseEndpoint('10.5.0.2'), { host: '10.5.0.2', port: 50000, address: '10.5.0.2:50000' });
  t.same(parseEndpoint('10.5.0.2:50001'), { host: '10.5.0.2', port: 50001, address: '10.5.0.2:50001' });
  t.same(parseEndpoint('cp.Example.com'), { host: 'cp.example.com', port: 50000, address: 'cp.example.com:50000' });
  t.same(parseEndpoint('https://cp.example.com:443'), {
    host: 'cp.example.com',
    port: 443,
    address: 'cp.example.com:443',
  });
  t.same(parseEndpoint('https://10.5.0.2'), { host: '10.5.0.2', port: 50000, address: '10.5.0.2:50000' });
  t.same(parseEndpoint('[fd00::2]:50000'), { host: 'fd00::2', port: 50000, address: '[fd00::2]:50000' });
  t.same(parseEndpoint('[fd00::2]'), { host: 'fd00::2', port: 50000, address: '[fd00::2]:50000' });
  t.same(parseEndpoint('fd00::2'), { host: 'fd00::2', port: 50000, address: '[fd00::2]:50000' });
  t.same(parseEndpoint('https://[fd00::2]:6000'), { host: 'fd00::2', port: 6000, address: '[fd00::2]:6000' });
  for (const bad of ['', 'host:port', 'host:70000', 'https://h/path', 'bad host', 'fd00::zz', '[fd00::2]x']) {
    t.throws(() => parseEndpoint(bad), { code: 'TALOS_ENDPOINT_INVALID' }, JSON.stringify(bad));
  }
});

t.test('version: node metadata reaches the server; omitted node talks to the endpoint itself', async (t) => {
  await withServer(async (client) => {
    seen.nodes = [];
    const v = await client.version(NODE);
    t.same(v, {
      tag: 'v1.9.5',
      sha: 'abcdef',
      built: 'today',
      goVersion: 'go1.23',
      os: 'Talos',
      arch: 'amd64',
      platform: { name: 'metal', mode: 'metal' },
      rbac: true,
    });
    await client.version();
    await client.version('');
    t.same(seen.nodes, [NODE, undefined, undefined]);
  });
});

t.test(
  'applyConfiguration: data/mode/dry_run/try_mode_timeout arrive; mode, details and warnings come back',
  async (t) => {
    await withServer(async (client) => {
      const res = await client.applyConfiguration(NODE, CONFIG_YAML, { mode: 'NO_REBOOT' });
      t.same(res, {
        mode: 'NO_REBOOT',
        modeDetails: 'Applied configuration without a reboot',
        warnings: ['deprecated field'],
      });
      t.equal(Buffer.from(seen.apply!.data!).toString(), CONFIG_YAML);
      t.equal(seen.apply!.mode, 'NO_REBOOT');
      t.equal(seen.apply!.dry_run, false);
      t.equal(seen.apply!.try_mode_timeout, null);
      t.equal(seen.nodes.at(-1), NODE);

      const tried = await client.applyConfiguration(NODE, new TextEncoder().encode(CONFIG_YAML), {
        mode: 'TRY',
        dryRun: true,
        tryModeTimeoutMs: 90_250,
      });
      t.equal(tried.mode, 'TRY');
      t.equal(seen.apply!.dry_run, true);
      t.same(seen.apply!.try_mode_timeout, { seconds: 90, nanos: 250_000_000 });
    });
  },
);

t.test('kubeconfig: chunks of a gzip tar are joined and unpacked', async (t) => {
  await withServer(async (client) => {
    t.equal(await client.kubeconfig(NODE), KUBECONFIG);
    t.equal(seen.nodes.at(-1), NODE);
  });
});

t.test('COSI Get/List and the typed helpers', async (t) => {
  await withServer(async (client) => {
    const raw = await client.getResource(NODE, 'config', 'MachineConfigs.config.talos.dev', 'v1alpha1');
    t.equal(raw.metadata?.version, '42');
    t.same(await client.getMachineConfig(NODE), { yaml: CONFIG_YAML, version: '42' });
    const yamlOnly = await client.getResource(NODE, 'config', 'MachineConfigs.config.talos.dev', 'yaml-only');
    t.equal(parseYaml(yamlOnly.spec!.yaml_spec!), CONFIG_YAML, 'fixture sanity');

    const os = await client.getOsRootSecrets(NODE);
    t.equal(os.issuingCa?.certPem, CA_PEM);
    t.ok(os.issuingCa?.key instanceof Secret);
    t.equal(os.issuingCa?.key?.reveal(), KEY_PEM);
    t.same(os.acceptedCas, [CA_PEM]);
    t.same(os.certSanIps, ['10.5.0.2']);
    t.equal(os.token.reveal(), 'abc.def');
    t.notMatch(JSON.stringify(os), /PRIVATE KEY|abc\.def/);

    const k8s = await client.getKubernetesRootSecrets(NODE);
    t.equal(k8s.name, 'talos-default');
    t.equal(k8s.endpoint, 'https://10.5.0.1:6443');
    t.equal(k8s.issuingCa?.key?.reveal(), KEY_PEM);
    t.ok(k8s.serviceAccountKey instanceof Secret);
    t.same(k8s.acceptedCas, [CA_PEM]);

    const members = await client.listMembers(NODE);
    t.same(members, [
      {
        id: 'cp-1',
        nodeId: 'id-cp-1',
        addresses: ['10.5.0.2', 'fd00::2'],
        hostname: 'cp-1',
        machineType: 'controlplane',
        operatingSystem: 'Talos (v1.9.5)',
        apiServerPort: 6443,
      },
      {
        id: 'w-1',
        nodeId: 'id-w-1',
        addresses: ['10.5.0.3'],
        hostname: 'w-1',
        machineType: 'worker',
        operatingSystem: '',
        apiServerPort: null,
      },
    ]);
    const listed = await client.listResources(NODE, 'cluster', 'Members.cluster.talos.dev');
    t.same(
      listed.map((r) => r.metadata?.id),
      ['cp-1', 'w-1'],
    );

    t.same(await client.getKubeletService(NODE), { id: 'kubelet', running: true, healthy: true, unknown: false });
    t.ok(
      seen.nodes.slice(-8).every((n) => n === NODE),
      'every call carried the node metadata',
    );
  });
});

t.test('Get/List failures and undecodable specs name the node', async (t) => {
  await withServer(async (client, endpoint) => {
    const notFound = await client
      .getResource(NODE, 'secrets', 'KubernetesRootSecrets.secrets.talos.dev', 'nope')
      .catch((e: unknown) => e);
    t.ok(notFound instanceof TalosApiError);
    t.equal((notFound as TalosApiError).kind, 'not-found');
    t.equal((notFound as TalosApiError).node, NODE);
    t.equal((notFound as TalosApiError).endpoint, endpoint);
    t.match((notFound as TalosApiError).message, `node ${NODE}`);

    const denied = await client.listResources(NODE, 'secrets', 'Unknown.talos.dev').catch((e: unknown) => e);
    t.equal((denied as TalosApiError).kind, 'permission-denied');
    t.match((denied as TalosApiError).message, /not supported/);

    osRootGarbage = true;
    const garbage = (await client.getOsRootSecrets(NODE).catch((e: unknown) => e)) as TalosApiError;
    osRootGarbage = false;
    t.ok(garbage instanceof TalosApiError);
    t.equal(garbage.kind, 'other');
    t.match(
      garbage.message,
      new RegExp(
        /OSRootSecrets\.secrets\.talos\.dev\/os: its spec is not a valid /.source +
          /talos\.resource\.definitions\.secrets\.OSRootSpec/.source,
      ),
    );
    t.match(garbage.message, `node ${NODE}`);
  });
});

t.test(
  'watchKubeletService: ready, then CREATED / DESTROYED / CREATED, then cancellation reaches the server',
  async (t) => {
    await withServer(async (client) => {
      let serverCall: grpc.ServerWritableStream<WatchRequest, WatchResponse> | undefined;
      watchScript = (call) => {
        serverCall = call;
        call.write({}); // "watch is ready"
      };
      seen.watches = [];
      seen.watchCancelled = 0;
      const watch = client.watchKubeletService(NODE);
      await watch.ready;
      t.equal(watch.node, NODE);
      t.same(seen.watches[0], {
        namespace: 'runtime',
        type: 'Services.v1alpha1.talos.dev',
        id: 'kubelet',
        options: seen.watches[0]!.options,
        api_version: 1,
      });
      t.equal(seen.watches[0]!.options?.tail_events, 0);
      t.equal(seen.nodes.at(-1), NODE);

      const it = watch[Symbol.asyncIterator]();
      serverCall!.write({ event: [{ event_type: 'CREATED', resource: serviceResource(true, true) }] });
      t.same((await it.next()).value, {
        type: 'CREATED',
        service: { id: 'kubelet', running: true, healthy: true, unknown: false },
      });
      // Two events in one response, as a server may batch them.
      serverCall!.write({
        event: [
          { event_type: 'DESTROYED', resource: serviceResource(true, false) },
          { event_type: 'CREATED', resource: serviceResource(true, true) },
        ],
      });
      t.same((await it.next()).value, {
        type: 'DESTROYED',
        service: { id: 'kubelet', running: true, healthy: false, unknown: false },
      });
      t.same((await it.next()).value, {
        type: 'CREATED',
        service: { id: 'kubelet', running: true, healthy: true, unknown: false },
      });
      // A tombstone without spec decodes to service null.
      serverCall!.write({ event: [{ event_type: 'DESTROYED', resource: { metadata: { id: 'kubelet' } } }] });
      t.same((await it.next()).value, { type: 'DESTROYED', service: null });

      const pending = it.next();
      watch.close();
      t.same(await pending, { value: undefined, done: true }, 'a pending next() ends on close');
      t.same(await it.next(), { value: undefined, done: true });
      await new Promise((r) => setTimeout(r, 200));
      t.equal(seen.watchCancelled, 1, 'the server saw the cancellation');
    });
  },
);

t.test('watchResource: whole type (no id), breaking out of for-await cancels', async (t) => {
  await withServer(async (client) => {
    watchScript = (call) => {
      call.write({});
      call.write({ event: [{ event_type: 'CREATED', resource: serviceResource(true, true) }] });
      call.write({
        event: [{ event_type: 'UPDATED', resource: serviceResource(true, false), old: serviceResource(true, true) }],
      });
    };
    seen.watches = [];
    seen.watchCancelled = 0;
    const watch = client.watchResource(NODE, 'runtime', 'Services.v1alpha1.talos.dev');
    const types: unknown[] = [];
    for await (const e of watch) {
      types.push(e.type);
      if (e.type === 'UPDATED') {
        t.equal(e.old?.metadata?.id, 'kubelet');
        break;
      }
    }
    t.same(types, ['CREATED', 'UPDATED']);
    t.equal(seen.watches[0]!.id, undefined, 'no id on the wire for a type watch');
    await new Promise((r) => setTimeout(r, 200));
    t.equal(seen.watchCancelled, 1);
  });
});

t.test('a watch that dies surfaces an error instead of hanging', async (t) => {
  await withServer(async (client) => {
    // Server fails the stream after ready.
    let serverCall: grpc.ServerWritableStream<WatchRequest, WatchResponse> | undefined;
    watchScript = (call) => {
      serverCall = call;
      call.write({});
    };
    const w1 = client.watchKubeletService(NODE);
    await w1.ready;
    const next = w1[Symbol.asyncIterator]().next();
    serverCall!.emit('error', statusError(grpc.status.UNAVAILABLE, 'connection to node lost'));
    const err1 = await next.catch((e: unknown) => e);
    t.ok(err1 instanceof TalosApiError);
    t.equal((err1 as TalosApiError).kind, 'unreachable');
    t.match((err1 as TalosApiError).message, /connection to node lost/);
    t.match((err1 as TalosApiError).message, NODE);

    // Server ends the stream cleanly (node going away): still an error for the watcher.
    const w2 = client.watchKubeletService(NODE);
    await w2.ready;
    const it2 = w2[Symbol.asyncIterator]();
    serverCall!.end();
    const err2 = await it2.next().catch((e: unknown) => e);
    t.match(String((err2 as Error).message), /ended unexpectedly/);

    // ERRORED event (api_version 1).
    const w3 = client.watchKubeletService(NODE);
    await w3.ready;
    serverCall!.write({ event: [{ event_type: 'ERRORED', error: 'watch buffer overrun' }] });
    const err3 = await w3[Symbol.asyncIterator]()
      .next()
      .catch((e: unknown) => e);
    t.match(String((err3 as Error).message), /watch buffer overrun/);

    // Refused before ready: `ready` rejects and iteration throws the same error.
    watchScript = (call) => call.emit('error', statusError(grpc.status.PERMISSION_DENIED, 'not authorized'));
    const w4 = client.watchKubeletService(NODE);
    const readyErr = await w4.ready.catch((e: unknown) => e);
    t.equal((readyErr as TalosApiError).kind, 'permission-denied');
    const iterErr = await w4[Symbol.asyncIterator]()
      .next()
      .catch((e: unknown) => e);
    t.equal(iterErr, readyErr);

    // Deadline bounds a watch.
    watchScript = (call) => call.write({});
    const w5 = client.watchKubeletService(NODE, { timeoutMs: 300 });
    await w5.ready;
    const err5 = await w5[Symbol.asyncIterator]()
      .next()
      .catch((e: unknown) => e);
    t.equal((err5 as TalosApiError).kind, 'deadline');
  });
});

t.test('cancellation and deadlines of unary calls', async (t) => {
  const srv = await startTalosServer({
    serverCert: pki.server,
    clientCaPem: pki.ca.certPem,
    machine: { Version: () => {} }, // never answers
  });
  const client = new TalosClient(clientConfig(pki, [srv.endpoint]));
  try {
    const ac = new AbortController();
    const p = client.version(NODE, { signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    const err = await p.catch((e: unknown) => e);
    t.equal((err as TalosApiError).kind, 'cancelled');
    t.match((err as TalosApiError).message, NODE);

    const already = await client.version(NODE, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    t.equal((already as TalosApiError).kind, 'cancelled');

    const late = await client.version(NODE, { timeoutMs: 200 }).catch((e: unknown) => e);
    t.equal((late as TalosApiError).kind, 'deadline');
    t.equal((late as TalosApiError).code, 'TALOS_DEADLINE');

    const byDate = await client.version(NODE, { deadline: new Date(Date.now() + 200) }).catch((e: unknown) => e);
    t.equal((byDate as TalosApiError).kind, 'deadline');
  } finally {
    client.close();
    srv.close();
  }
  await t.rejects(client.version(NODE), { code: 'TALOS_CLIENT_CLOSED' });
});

t.test('several endpoints: fails over from a dead endpoint, URL-form endpoints work', async (t) => {
  await withServer(async (_client, endpoint) => {
    const dead = `127.0.0.1:${await closedPort()}`;
    const client = new TalosClient(clientConfig(pki, [dead, `https://${endpoint}`]));
    try {
      t.equal((await client.version(NODE)).tag, 'v1.9.5');
      t.equal(client.endpoints[0]!.address, dead);
      // The watch fails over too.
      watchScript = (call) => call.write({});
      const watch = client.watchKubeletService(NODE);
      await watch.ready;
      watch.close();
    } finally {
      client.close();
    }
    // All endpoints dead: the error lists them.
    const dead2 = `127.0.0.1:${await closedPort()}`;
    const none = new TalosClient(clientConfig(pki, [dead, dead2]));
    try {
      const err = (await none.version(NODE).catch((e: unknown) => e)) as TalosApiError;
      t.equal(err.kind, 'unreachable');
      t.match(err.message, /also tried/);
      t.equal(err.alsoTried.length, 1);
    } finally {
      none.close();
    }
  });
});

t.test('trusts a CA bundle (old + new CA during a swap)', async (t) => {
  const old = await makePki();
  await withServer(async (_client, endpoint) => {
    const bundle = old.ca.certPem.trimEnd() + '\n' + pki.ca.certPem;
    const client = new TalosClient(clientConfig(pki, [endpoint], bundle));
    try {
      t.equal((await client.version(NODE)).tag, 'v1.9.5');
    } finally {
      client.close();
    }
  });
});

t.test('client construction errors never show the key', async (t) => {
  const base = clientConfig(pki, ['127.0.0.1']);
  t.throws(() => new TalosClient({ ...base, endpoints: [] }), { code: 'TALOS_ENDPOINT_INVALID' });
  t.throws(() => new TalosClient({ ...base, caPem: 'nothing here' }), { code: 'TALOS_CLIENT_CREDENTIALS' });
  const other = await makePki();
  let err: unknown;
  try {
    new TalosClient({ ...base, key: other.client.key });
  } catch (e) {
    err = e;
  }
  t.match(err, { code: 'TALOS_CLIENT_CREDENTIALS' }, 'mismatched key is refused');
  const text = `${(err as Error).message} ${(err as { hint?: string }).hint}`;
  t.notMatch(text, /PRIVATE KEY|MC4CAQ/);
  t.notMatch(text, other.client.key.reveal().split('\n')[1]!);
});
