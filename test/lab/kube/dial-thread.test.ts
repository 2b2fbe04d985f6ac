/**
 * The Kubernetes side's dialer (src/lab/kube/dial-thread.ts): a request made on the dial thread reads as the
 * same outcome as one made on the lab's thread, kept connections keep one socket and report its close, the
 * listener's notes still name a refusal's reason, and a thread that fails hands its work back.
 */
import t, { type TAP } from 'tap';
import { once } from 'node:events';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { generateKubernetesCa, issueLeafCert, keyPemForTls } from '../../../src/pki/index.js';
import { kubeDialer, type KubeDialer } from '../../../src/lab/kube/dial-thread.js';
import type { KubeJob } from '../../../src/lab/kube/dial.js';
import { VerdictNotes } from '../../../src/lab/kube/tls-outcome.js';
import { closedPort } from '../../talos/fixtures/server.js';

/** An HTTPS server on 127.0.0.1 that answers 200, or 401 to `/refuse` (noting why, as the apiserver does). */
async function server(t: Pick<TAP, 'teardown'>, notes: VerdictNotes) {
  const ca = await generateKubernetesCa();
  const serving = await issueLeafCert(ca, {
    commonName: 'apiserver',
    usages: ['serverAuth'],
    ipAddresses: ['10.96.0.1'],
  });
  const sockets = new Set<Socket>();
  let connections = 0;
  const srv = https.createServer({ cert: serving.certPem, key: keyPemForTls(serving.key) }, (req, res) => {
    if (req.url === '/refuse') {
      notes.record(req.socket.remoteAddress, req.socket.remotePort, { kind: 'trust', reason: 'unknown-ca' });
      res.writeHead(401).end('{}');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ path: req.url }));
  });
  srv.on('secureConnection', (s: Socket) => {
    connections += 1;
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    srv.close();
  });
  const { port } = srv.address() as AddressInfo;
  return {
    port,
    caPem: ca.certPem,
    connections: () => connections,
    dropAll: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

const job = (port: number, ca: string, extra: Partial<KubeJob> = {}): KubeJob => ({
  from: '127.0.0.1',
  to: '127.0.0.1',
  port,
  tls: { ca },
  method: 'GET',
  path: '/version',
  timeoutMs: 3_000,
  verifyHost: '10.96.0.1',
  ...extra,
});

for (const threaded of [false, true]) {
  const name = threaded ? 'on the dial thread' : "on the lab's thread";
  const make = (notes: VerdictNotes): KubeDialer => kubeDialer(notes, () => undefined, threaded ? undefined : null);

  t.test(`requests ${name}: answers, refusals with the listener's reason, an untrusted server`, async (t) => {
    const notes = new VerdictNotes();
    const srv = await server(t, notes);
    const dialer = make(notes);
    t.teardown(() => dialer.close());
    t.equal(dialer.threaded, threaded);
    t.same(await dialer.request(job(srv.port, srv.caPem)).done, {
      kind: 'ok',
      status: 200,
      body: { path: '/version' },
    });
    t.same(
      await dialer.request(job(srv.port, srv.caPem, { path: '/refuse' })).done,
      { kind: 'trust', refusedBy: 'server', reason: 'unknown-ca' },
      "a 401 takes the listener's note",
    );
    const other = await generateKubernetesCa();
    t.same(
      await dialer.request(job(srv.port, other.certPem)).done,
      { kind: 'trust', refusedBy: 'client', reason: 'unknown-ca' },
      'a serving certificate the client does not trust',
    );
    t.same(
      await dialer.request(job(srv.port, srv.caPem, { verifyHost: '10.96.0.2' })).done,
      { kind: 'trust', refusedBy: 'client', reason: 'hostname-mismatch' },
      'a serving certificate for another name',
    );
    t.same(
      await dialer.request(job(await closedPort(), srv.caPem)).done,
      { kind: 'unavailable', reason: 'connection refused' },
      'nothing listening',
    );
  });

  t.test(`kept connections ${name}: one socket, its close reported once, a closed one ends requests`, async (t) => {
    const notes = new VerdictNotes();
    const srv = await server(t, notes);
    const dialer = make(notes);
    t.teardown(() => dialer.close());
    let closes = 0;
    const conn = dialer.connection(() => (closes += 1));
    for (let i = 0; i < 3; i++)
      t.match(await dialer.request(job(srv.port, srv.caPem, { connection: conn.id })).done, { kind: 'ok' });
    t.equal(srv.connections(), 1, 'three requests, one handshake');
    srv.dropAll();
    for (let i = 0; i < 200 && closes === 0; i++) await new Promise((r) => setTimeout(r, 10));
    t.equal(closes, 1, 'the close is reported');
    t.same(
      await dialer.request(job(srv.port, srv.caPem, { connection: conn.id })).done,
      { kind: 'unavailable', reason: 'connection closed' },
      'a request on the closed connection ends as unavailable',
    );
    const next = dialer.connection(() => (closes += 1));
    t.match(await dialer.request(job(srv.port, srv.caPem, { connection: next.id })).done, { kind: 'ok' });
    t.equal(srv.connections(), 2, 'a new connection connects anew');
    next.close();
    await new Promise((r) => setTimeout(r, 50));
    t.equal(closes, 1, 'a connection the client closed is not reported');
  });

  t.test(`a CSR watch ${name} ends with the first decided event, or null when the server ends it`, async (t) => {
    const ca = await generateKubernetesCa();
    const serving = await issueLeafCert(ca, { commonName: 'a', usages: ['serverAuth'], ipAddresses: ['10.96.0.1'] });
    const srv = https.createServer({ cert: serving.certPem, key: keyPemForTls(serving.key) }, (req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write(`${JSON.stringify({ type: 'ADDED', object: { status: {} } })}\n`);
      if (req.url === '/decided')
        res.write(`${JSON.stringify({ type: 'MODIFIED', object: { status: { certificate: 'Yw==' } } })}\n`);
      else res.end();
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    t.teardown(() => {
      srv.closeAllConnections();
      srv.close();
    });
    const { port } = srv.address() as AddressInfo;
    const dialer = make(new VerdictNotes());
    t.teardown(() => dialer.close());
    t.same(await dialer.request(job(port, ca.certPem, { path: '/decided', until: 'csr-decided' })).done, {
      kind: 'ok',
      status: 200,
      body: { type: 'MODIFIED', object: { status: { certificate: 'Yw==' } } },
    });
    t.same(await dialer.request(job(port, ca.certPem, { path: '/ended', until: 'csr-decided' })).done, {
      kind: 'ok',
      status: 200,
      body: null,
    });
  });
}

t.test('an aborted request ends at once as unavailable', async (t) => {
  const port = await closedPort();
  const dialer = kubeDialer(new VerdictNotes());
  t.teardown(() => dialer.close());
  const handle = dialer.request(job(port, ''));
  handle.abort();
  t.same(await handle.done, { kind: 'unavailable', reason: 'aborted' });
});

t.test('a thread that fails hands its work back to the lab thread, and says so', async (t) => {
  const notes = new VerdictNotes();
  const srv = await server(t, notes);
  const logged: string[] = [];
  // The thread fails while it loads; a request and a kept connection are already handed to it.
  const dialer = kubeDialer(
    notes,
    (m) => logged.push(m),
    () => new Worker('setTimeout(() => { throw new Error("cannot load") }, 50)', { eval: true }),
  );
  t.teardown(() => dialer.close());
  let closed = false;
  const conn = dialer.connection(() => (closed = true));
  const lost = await dialer.request(job(srv.port, srv.caPem, { connection: conn.id })).done;
  t.same(lost, { kind: 'unavailable', reason: 'the dial thread stopped' }, 'what was in flight ends as unavailable');
  t.ok(closed, 'its kept connection is reported closed');
  t.notOk(dialer.threaded, 'no thread any more');
  t.match(logged.join('\n'), /Kubernetes dial thread stopped \(cannot load\)/);
  const again = dialer.connection(() => undefined);
  t.match(
    await dialer.request(job(srv.port, srv.caPem, { connection: again.id })).done,
    { kind: 'ok' },
    'later requests run here',
  );
});
