/**
 * The in-lab gRPC client's framing, and a round trip against a grpc-js server on a real TLS socket.
 */
import t from 'tap';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { generateTalosCa, issueLeafCert, keyPemForTls } from '../../../src/pki/index.js';
import { talosProtos } from '../../../src/talos/proto.js';
import { frameMessage, GrpcCallError, MessageFramer } from '../../../src/lab/talos/h2-grpc.js';
import { dialLab } from '../../../src/lab/talos/dial.js';
import { randomBlock } from './fixtures/lab.js';

t.test('framing: 5-byte prefix, split and joined chunks', async (t) => {
  const a = frameMessage(Buffer.from('hello'));
  t.same([...a.subarray(0, 5)], [0, 0, 0, 0, 5]);
  const b = frameMessage(Buffer.alloc(0));
  const f = new MessageFramer();
  const all = Buffer.concat([a, b, frameMessage(Buffer.from('x'))]);
  const out = [...f.push(all.subarray(0, 3)), ...f.push(all.subarray(3, 12)), ...f.push(all.subarray(12))];
  t.same(
    out.map((m) => m.toString()),
    ['hello', '', 'x'],
  );
  t.equal(f.pending, 0);
  t.throws(
    () => new MessageFramer().push(Buffer.from([1, 0, 0, 0, 0])),
    GrpcCallError,
    'compressed messages are refused',
  );
});

t.test('unary, server streaming, status and trailers-only errors against grpc-js over TLS', async (t) => {
  const block = randomBlock();
  const host = `${block}.10`;
  const ca = await generateTalosCa();
  const cert = await issueLeafCert(ca, { commonName: 'n', usages: ['serverAuth'], ipAddresses: [host] });
  const protos = talosProtos();
  const server = new grpc.Server();
  server.addService(protos.machineService, {
    Version: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const md = call.metadata.get('x-probe');
      if (md[0] === 'fail') return cb({ code: grpc.status.PERMISSION_DENIED, details: 'not authorized: 100% sure' });
      cb(null, { messages: [{ version: { tag: `v-${String(md[0])}` } }] });
    },
    Kubeconfig: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      call.write({ bytes: Buffer.from('a') });
      call.write({ bytes: Buffer.from('b') });
      call.end();
    },
  } as grpc.UntypedServiceImplementation);
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const tlsServer = tls.createServer({ cert: cert.certPem, key: keyPemForTls(cert.key), ALPNProtocols: ['h2'] }, (s) =>
    injector.injectConnection(s),
  );
  await new Promise<void>((r) => tlsServer.listen(50000, host, r));
  t.teardown(() => {
    tlsServer.close();
    server.forceShutdown();
  });
  const r = await dialLab({ from: `${block}.11`, host, port: 50000, ca: [ca.certPem] });
  t.ok(r.ok);
  if (!r.ok) return;
  t.equal(r.socket.localAddress, `${block}.11`, 'bound to the dialling node');
  const v = await r.session.unary(protos.machineService.Version, {}, { 'x-probe': 'one' });
  t.equal(v.messages?.[0]?.version?.tag, 'v-one');
  await t.rejects(
    r.session.unary(protos.machineService.Version, {}, { 'x-probe': 'fail' }),
    new GrpcCallError(7, 'not authorized: 100% sure'),
  );
  const chunks: string[] = [];
  await r.session.call(protos.machineService.Kubeconfig, {}, {}, (m) => chunks.push(Buffer.from(m.bytes!).toString()));
  t.same(chunks, ['a', 'b']);
  await t.rejects(r.session.unary(protos.stateService.Get, {}, {}), { code: 12 }, 'unknown method: Unimplemented');
  r.session.destroy();
  const refused = await dialLab({ from: `${block}.11`, host: `${block}.99`, port: 50000, ca: [ca.certPem] });
  t.match(refused, { ok: false, kind: 'unavailable' });
});
