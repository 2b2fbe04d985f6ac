/**
 * What grpc-js reports for each failure mode, measured with real TLS on 127.0.0.1, and how the client
 * classifies it (see the module comment of src/talos/errors.ts for the findings).
 */
import t, { type TAP } from 'tap';

/** The assertions helpers use (a subtest has them all). */
type Asserts = Pick<TAP, 'equal' | 'match' | 'notMatch' | 'ok' | 'notOk' | 'comment'>;
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { generateCa, generateTalosCa, issueLeafCert, issueTalosClientCert, keyPemForTls } from '../../src/pki/index.js';
import { TalosClient } from '../../src/talos/client.js';
import {
  TalosApiError,
  classifyGrpcError,
  cleanTlsMessage,
  redact,
  type TalosErrorKind,
} from '../../src/talos/errors.js';
import { clientConfig, closedPort, makePki, startTalosServer, type TestPki } from './fixtures/server.js';

const NODE = '10.5.0.7';

const warnings: Array<{ name: string; code?: string; message: string }> = [];
process.on('warning', (w: Error & { code?: string }) =>
  warnings.push({ name: w.name, code: w.code, message: w.message }),
);

let pki: TestPki;
t.before(async () => {
  pki = await makePki();
});

function statusError(code: grpc.status, details: string): Error {
  return Object.assign(new Error(details), { code, details });
}

/** `node` '' talks to the endpoint itself. */
async function callError(client: TalosClient, node: string = NODE): Promise<TalosApiError> {
  const err = await client.version(node, { timeoutMs: 10_000 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof TalosApiError)) throw new Error(`expected a TalosApiError, got ${String(err)}`);
  return err;
}

/** No key material in anything a user sees. */
function assertNoKeyMaterial(t: Asserts, err: TalosApiError, keys: string[]): void {
  const visible = `${err.message}\n${err.hint}\n${err.detail}`;
  t.notMatch(visible, /PRIVATE KEY/, 'no PEM key label');
  for (const key of keys) {
    for (const line of key.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----')))
      t.notOk(visible.includes(line), 'no key body');
  }
}

function expectKind(t: Asserts, err: TalosApiError, kind: TalosErrorKind, endpoint: string): void {
  t.equal(err.kind, kind, `kind ${kind}`);
  t.equal(err.node, NODE);
  t.equal(err.endpoint, endpoint);
  t.match(err.message, NODE, 'message names the node');
  t.match(err.message, endpoint, 'message names the endpoint');
  t.ok(err.hint && err.hint.length > 20, 'has a hint');
  t.comment(`grpc ${err.grpcCode}: detail=${JSON.stringify(err.detail)}`);
  t.comment(`message: ${err.message}`);
}

t.test('server certificate from a CA the talosconfig does not trust (same subject O=talos)', async (t) => {
  const other = await generateTalosCa();
  const srv = await startTalosServer({
    serverCert: pki.server,
    clientCaPem: pki.ca.certPem,
    machine: { Version: (_c, cb) => cb(null, {}) },
  });
  const client = new TalosClient(clientConfig(pki, [srv.endpoint], other.certPem));
  try {
    const err = await callError(client);
    expectKind(t, err, 'tls-untrusted-server', srv.endpoint);
    t.equal(err.grpcCode, grpc.status.UNAVAILABLE, 'grpc-js reports UNAVAILABLE');
    t.match(err.detail, /self-signed certificate in certificate chain|unable to verify|certificate signature failure/);
    t.match(err.hint, /CA does not match the node's issuing CA/);
    assertNoKeyMaterial(t, err, [pki.client.key.reveal()]);
  } finally {
    client.close();
    srv.close();
  }
});

t.test('server certificate from a CA with another subject', async (t) => {
  const other = await generateCa({ algorithm: 'ed25519', organizations: ['elsewhere'] });
  const srv = await startTalosServer({ serverCert: pki.server, clientCaPem: pki.ca.certPem });
  const client = new TalosClient(clientConfig(pki, [srv.endpoint], other.certPem));
  try {
    const err = await callError(client);
    expectKind(t, err, 'tls-untrusted-server', srv.endpoint);
    // The server sends its chain (leaf + CA), so OpenSSL reports the self-signed CA it cannot anchor.
    t.match(err.detail, /unable to (verify|get local issuer)|self-signed certificate in certificate chain/);
  } finally {
    client.close();
    srv.close();
  }
});

t.test('server certificate without the endpoint address', async (t) => {
  const wrongIp = await issueLeafCert(pki.ca, {
    commonName: 'node',
    usages: ['serverAuth'],
    ipAddresses: ['10.9.9.9'],
  });
  const srv = await startTalosServer({ serverCert: wrongIp, clientCaPem: pki.ca.certPem });
  const client = new TalosClient(clientConfig(pki, [srv.endpoint]));
  try {
    const err = await callError(client);
    expectKind(t, err, 'tls-untrusted-server', srv.endpoint);
    t.match(err.detail, /127\.0\.0\.1 is not in the cert's list: 10\.9\.9\.9/);
    t.match(err.hint, /certSANs/);
  } finally {
    client.close();
    srv.close();
  }
});

t.test('expired server certificate', async (t) => {
  const expired = await issueLeafCert(pki.ca, {
    usages: ['serverAuth'],
    ipAddresses: ['127.0.0.1'],
    now: new Date(Date.now() - 3 * 3_600_000),
    validityMs: 3_600_000,
  });
  const srv = await startTalosServer({ serverCert: expired, clientCaPem: pki.ca.certPem });
  const client = new TalosClient(clientConfig(pki, [srv.endpoint]));
  try {
    const err = await callError(client);
    expectKind(t, err, 'tls-untrusted-server', srv.endpoint);
    t.match(err.detail, /expired/);
    t.match(err.hint, /clock/);
  } finally {
    client.close();
    srv.close();
  }
});

t.test(
  'client certificate the server does not accept (grpc-js server: silent close after the handshake)',
  async (t) => {
    const stranger = await generateTalosCa();
    const strangerClient = await issueTalosClientCert(stranger, { roles: ['os:admin'] });
    const srv = await startTalosServer({
      serverCert: pki.server,
      clientCaPem: pki.ca.certPem,
      machine: { Version: (_c, cb) => cb(null, {}) },
    });
    const client = new TalosClient({
      endpoints: [srv.endpoint],
      caPem: pki.ca.certPem,
      certPem: strangerClient.certPem,
      key: strangerClient.key,
    });
    try {
      const err = await callError(client);
      expectKind(t, err, 'tls-client-rejected', srv.endpoint);
      t.equal(err.grpcCode, grpc.status.UNAVAILABLE);
      t.match(err.detail, /Failed to connect/, 'grpc-js only says "Failed to connect"');
      t.match(err.hint, /client certificate/);
      assertNoKeyMaterial(t, err, [strangerClient.key.reveal()]);
    } finally {
      client.close();
      srv.close();
    }
  },
);

t.test('client certificate refused with a TLS alert, as a Go server (real Talos) does', async (t) => {
  // .ci/run installs openssl where it is missing: this test fails, never skips, without it.
  t.equal(spawnSync('openssl', ['version']).status, 0, 'the openssl binary is installed');
  // openssl s_server with -verify_return_error sends an alert on a bad client certificate, like Go's
  // crypto/tls (which sends bad_certificate); a Node/grpc-js server cannot be made to.
  const dir = mkdtempSync(join(tmpdir(), 'talos-alert-'));
  const stranger = await generateTalosCa();
  const strangerClient = await issueTalosClientCert(stranger, { roles: ['os:admin'] });
  writeFileSync(join(dir, 'server.crt'), pki.server.certPem, { mode: 0o600 });
  writeFileSync(join(dir, 'server.key'), keyPemForTls(pki.server.key), { mode: 0o600 });
  writeFileSync(join(dir, 'ca.crt'), pki.ca.certPem, { mode: 0o600 });
  const port = await closedPort();
  let server: ChildProcess | undefined;
  try {
    server = spawn(
      'openssl',
      [
        's_server',
        '-accept',
        `127.0.0.1:${port}`,
        '-cert',
        'server.crt',
        '-key',
        'server.key',
        '-CAfile',
        'ca.crt',
        '-Verify',
        '1',
        '-verify_return_error',
        '-alpn',
        'h2',
        '-quiet',
      ],
      { cwd: dir, stdio: 'ignore' },
    );
    await waitForPort(port);
    const client = new TalosClient({
      endpoints: [`127.0.0.1:${port}`],
      caPem: pki.ca.certPem,
      certPem: strangerClient.certPem,
      key: strangerClient.key,
    });
    try {
      const err = await callError(client);
      expectKind(t, err, 'tls-client-rejected', `127.0.0.1:${port}`);
      t.match(err.detail, /alert unknown ca/);
    } finally {
      client.close();
    }
  } finally {
    server?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = netConnect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

t.test('closed port', async (t) => {
  const endpoint = `127.0.0.1:${await closedPort()}`;
  const client = new TalosClient(clientConfig(pki, [endpoint]));
  try {
    const err = await callError(client);
    expectKind(t, err, 'unreachable', endpoint);
    t.equal(err.grpcCode, grpc.status.UNAVAILABLE);
    t.match(err.detail, /ECONNREFUSED/);
    t.match(err.hint, /firewall/);
    t.notMatch(err.message, /Resolution note|No connection established/, 'grpc-js boilerplate is trimmed');
  } finally {
    client.close();
  }
});

t.test('statuses returned by the server', async (t) => {
  let next: { code: grpc.status; details: string } = { code: grpc.status.OK, details: '' };
  const srv = await startTalosServer({
    serverCert: pki.server,
    clientCaPem: pki.ca.certPem,
    machine: { Version: (_call, cb) => cb(statusError(next.code, next.details)) },
  });
  const client = new TalosClient(clientConfig(pki, [srv.endpoint]));
  const cases: Array<[grpc.status, string, TalosErrorKind, string, RegExp]> = [
    [grpc.status.PERMISSION_DENIED, 'not authorized', 'permission-denied', 'TALOS_PERMISSION_DENIED', /os:admin/],
    [
      grpc.status.PERMISSION_DENIED,
      'no request forwarding',
      'permission-denied',
      'TALOS_PERMISSION_DENIED',
      /control-plane nodes as talosconfig endpoints/,
    ],
    [
      grpc.status.INVALID_ARGUMENT,
      'node metadata must be single-valued',
      'invalid-argument',
      'TALOS_INVALID_ARGUMENT',
      /refused/,
    ],
    [grpc.status.NOT_FOUND, 'resource not found', 'not-found', 'TALOS_NOT_FOUND', /does not exist/],
    [
      grpc.status.UNIMPLEMENTED,
      'kubeconfig is only available on control plane nodes',
      'unimplemented',
      'TALOS_UNIMPLEMENTED',
      /control-plane node/,
    ],
    [grpc.status.UNIMPLEMENTED, 'unknown method', 'unimplemented', 'TALOS_UNIMPLEMENTED', /Talos version/],
    [
      grpc.status.FAILED_PRECONDITION,
      'machine is in maintenance mode',
      'failed-precondition',
      'TALOS_FAILED_PRECONDITION',
      /state/,
    ],
    [
      grpc.status.UNAVAILABLE,
      'connection error: desc = "transport: Error while dialing: dial tcp 10.5.0.7:50000: connect: no route to host"',
      'unreachable',
      'TALOS_UNREACHABLE',
      /reachable from/,
    ],
    [grpc.status.INTERNAL, 'boom', 'other', 'TALOS_API_ERROR', /retry/],
  ];
  try {
    for (const [code, details, kind, rotateCode, hint] of cases) {
      next = { code, details };
      const err = await callError(client);
      expectKind(t, err, kind, srv.endpoint);
      t.equal(err.code, rotateCode);
      t.equal(err.grpcCode, code);
      t.match(err.message, details, 'server message kept');
      t.match(err.hint, hint);
    }
    // Without a node the message names the endpoint alone.
    next = { code: grpc.status.PERMISSION_DENIED, details: 'not authorized' };
    const own = await callError(client, '');
    t.equal(own.node, undefined);
    t.match(own.message, `endpoint ${srv.endpoint}`);
    // Key material echoed by a server is redacted.
    next = {
      code: grpc.status.INVALID_ARGUMENT,
      details: `bad config: key: ${Buffer.from(keyPemForTls(pki.client.key)).toString('base64')}`,
    };
    const echoed = await callError(client);
    assertNoKeyMaterial(t, echoed, [
      pki.client.key.reveal(),
      Buffer.from(keyPemForTls(pki.client.key)).toString('base64'),
    ]);
    t.match(echoed.message, /\(redacted\)/);
  } finally {
    client.close();
    srv.close();
  }
});

t.test('failover reports the most telling error', async (t) => {
  const dead = `127.0.0.1:${await closedPort()}`;
  const denying = await startTalosServer({
    serverCert: pki.server,
    clientCaPem: pki.ca.certPem,
    machine: { Version: (_c, cb) => cb(statusError(grpc.status.PERMISSION_DENIED, 'not authorized')) },
  });
  const other = await makePki();
  const untrusted = await startTalosServer({ serverCert: other.server, clientCaPem: pki.ca.certPem });
  try {
    const c1 = new TalosClient(clientConfig(pki, [dead, denying.endpoint]));
    const e1 = await callError(c1);
    c1.close();
    t.equal(e1.kind, 'permission-denied', 'the endpoint that answered wins over the dead one');
    t.equal(e1.endpoint, denying.endpoint);
    t.equal(e1.alsoTried[0]?.endpoint, dead);
    t.match(e1.message, `also tried through ${dead}: no answer (endpoint down, or the node not reachable from it)`);

    const c2 = new TalosClient(clientConfig(pki, [dead, untrusted.endpoint]));
    const e2 = await callError(c2);
    c2.close();
    t.equal(e2.kind, 'tls-untrusted-server', 'a TLS problem wins over unreachability');
    t.equal(e2.endpoint, untrusted.endpoint);
  } finally {
    denying.close();
    untrusted.close();
  }
});

t.test('errors carried in common.Metadata and broken kubeconfig archives name the node', async (t) => {
  const srv = await startTalosServer({
    serverCert: pki.server,
    clientCaPem: pki.ca.certPem,
    machine: {
      Version: (_c, cb) =>
        cb(null, {
          messages: [
            { metadata: { hostname: NODE, error: 'rpc error: not ready', status: { code: 9, message: 'not ready' } } },
          ],
        }),
      Kubeconfig: (call) => {
        call.write({ bytes: Buffer.from('definitely not gzip') });
        call.end();
      },
    },
  });
  const client = new TalosClient(clientConfig(pki, [srv.endpoint]));
  try {
    const e1 = await callError(client);
    t.equal(e1.kind, 'failed-precondition');
    t.match(e1.message, /not ready/);
    const e2 = (await client.kubeconfig(NODE).catch((e: unknown) => e)) as Error & { code?: string };
    t.equal(e2.code, 'TALOS_KUBECONFIG_ARCHIVE');
    t.match(e2.message, `node ${NODE} via endpoint ${srv.endpoint}`);
    const e3 = (await client.version(NODE).catch((e: unknown) => e)) as TalosApiError;
    t.equal(e3.node, NODE);
  } finally {
    client.close();
    srv.close();
  }
});

t.test('the client sends no SNI for IP endpoints and the host name for DNS endpoints', async (t) => {
  const server = await issueLeafCert(pki.ca, {
    usages: ['serverAuth'],
    ipAddresses: ['127.0.0.1'],
    dnsNames: ['localhost'],
  });
  const seen: Array<string | false | null> = [];
  const tlsServer = tls.createServer(
    { cert: server.certPem, key: keyPemForTls(server.key), ALPNProtocols: ['h2'], requestCert: false },
    (socket) => {
      seen.push(socket.servername);
      socket.destroy();
    },
  );
  await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', () => r()));
  const port = (tlsServer.address() as { port: number }).port;
  try {
    for (const endpoint of [`127.0.0.1:${port}`, `localhost:${port}`]) {
      const client = new TalosClient(clientConfig(pki, [endpoint]));
      try {
        await callError(client);
      } finally {
        client.close();
      }
    }
    t.same(seen.slice(0, 1), [false], 'no SNI for an IP address (RFC 6066)');
    t.ok(seen.includes('localhost'), 'SNI for a DNS name');
  } finally {
    tlsServer.close();
  }
});

t.test('classification details (pure)', async (t) => {
  const ctx = { method: '/machine.MachineService/Version', node: NODE, endpoint: '10.5.0.2:50000' };
  // A Go server's alert after the TLS 1.3 handshake.
  const alert =
    '80:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad ' +
    'certificate:../ssl/record/rec_layer_s3.c:1605:SSL alert number 42\n';
  const e1 = classifyGrpcError(
    {
      code: 14,
      details: `No connection established. Last error: Error: ${alert} (2026-01-01T00:00:00.000Z). Resolution note: `,
    },
    {
      ...ctx,
      tls: { outcome: 'error', code: 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', message: alert, afterHandshake: true },
    },
  );
  t.equal(e1.kind, 'tls-client-rejected');
  t.match(e1.message, /sslv3 alert bad certificate/);
  t.notMatch(e1.message, /rec_layer|SSL routines/, 'OpenSSL noise removed');
  t.equal(cleanTlsMessage(alert), 'sslv3 alert bad certificate');
  // A stale observation from an earlier attempt does not explain a later refused connection.
  const e2 = classifyGrpcError(
    {
      code: 14,
      details: 'No connection established. Last error: Error: connect ECONNREFUSED 10.5.0.2:50000. Resolution note: ',
    },
    {
      ...ctx,
      tls: {
        outcome: 'error',
        code: 'SELF_SIGNED_CERT_IN_CHAIN',
        message: 'self-signed certificate in certificate chain',
        afterHandshake: false,
      },
    },
  );
  t.equal(e2.kind, 'unreachable');
  t.equal(e2.detail, 'connect ECONNREFUSED 10.5.0.2:50000');
  // "Failed to connect" without a completed handshake is plain unreachability.
  const e3 = classifyGrpcError(
    { code: 14, details: 'No connection established. Last error: Failed to connect (2026-01-01T00:00:00.000Z)' },
    ctx,
  );
  t.equal(e3.kind, 'unreachable');
  t.equal(classifyGrpcError({ code: 4, details: 'Deadline exceeded' }, ctx).kind, 'deadline');
  t.equal(classifyGrpcError({ code: 1, details: 'Cancelled on client' }, ctx).kind, 'cancelled');
  t.equal(classifyGrpcError({ code: 16, details: 'no client cert' }, ctx).kind, 'permission-denied');
});

t.test('redact removes PEM blocks and long base64 runs', async (t) => {
  const pem = keyPemForTls(pki.client.key);
  t.equal(redact(`x ${pem} y`), 'x (PEM redacted)\n y');
  t.equal(redact('key: ' + 'A'.repeat(80)), 'key: (redacted)');
  t.equal(
    redact('short base64 QUJD and a path /machine.MachineService/Version'),
    'short base64 QUJD and a path /machine.MachineService/Version',
  );
  t.equal(redact('-----BEGIN PRIVATE KEY-----\nMC4CAQ'), '(PEM redacted)', 'truncated PEM too');
});

t.test('no DEP0123 (IP address as TLS server name) warning was emitted', async (t) => {
  t.same(
    warnings.filter((w) => w.code === 'DEP0123'),
    [],
  );
});
